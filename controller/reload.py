"""Configuration reload without stopping the hall: `SIGHUP` to the controller, or `hallq reload`.

The controller reads its config file again and validates it exactly as at start (the same one-line error);
a file that fails, or that changes what a running process cannot change (hall id, time zone, MQTT, data
directory, security mode: restart for those), is refused and the hall runs on with the previous one. A good
file takes effect between two batches of commands: the engine is rebuilt from the log under the new
configuration (commands arriving meanwhile wait in the queue; none is lost), the new text is recorded in the
log's `configs` (its SHA-256 is the trail of who changed what, shown in the console's /config), a fresh
`controller/status` announces it (the console then takes the new configuration) and the state is republished.
`hallq reload` validates the file first, signals the controller named by `DATA/controller.pid` and waits for its
answer, which the controller leaves in the log's meta `reload`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from hallq.config import ConfigError, HallConfig, config_sha, load_config, parse_config_text, read_config_file
from hallq.errors import UsageError

log = logging.getLogger("hallq.controller")

PID_FILE = "controller.pid"
RESULT_META = "reload"


class ReloadRefused(Exception):
    """Why a reload was refused, in one line."""


def fixed_changes(old: HallConfig, new: HallConfig) -> list[str]:
    """The keys that differ but cannot change while the controller runs."""
    out = []
    if old.hall.id != new.hall.id:
        out.append("hall.id")
    if old.hall.timezone != new.hall.timezone:
        out.append("hall.timezone")
    if (old.mqtt.host, old.mqtt.port, old.mqtt.tls) != (new.mqtt.host, new.mqtt.port, new.mqtt.tls):
        out.append("mqtt")
    if old.data_dir != new.data_dir:
        out.append("data_dir")
    if old.secure != new.secure:
        out.append("security.mode")
    return out


def read_new(path: Path, current: HallConfig) -> tuple[HallConfig, str]:
    """The new configuration and its text, validated as at start; ReloadRefused otherwise."""
    try:
        text = read_config_file(path)
        new = load_config(path, text=text)      # the very text validated is the one recorded and hashed
    except ConfigError as e:
        raise ReloadRefused(f"config error: {e}") from None
    fixed = fixed_changes(current, new)
    if fixed:
        raise ReloadRefused(f"{path}: {', '.join(fixed)} cannot change while the controller runs — restart it "
                            "for that")
    if current.mqtt.credentials and not new.mqtt.credentials:     # --credentials given at start stays
        new = new.with_credentials(current.mqtt.credentials)
    return new, text


def apply_reload(svc: Any) -> str | None:
    """Reload `svc` (a ControllerService) from its config file; the error, or None when the new one runs."""
    path: Path | None = getattr(svc, "config_path", None)
    t0 = time.monotonic()
    try:
        if path is None:
            raise ReloadRefused("the controller was started without a config file to read again")
        new, text = read_new(path, svc.cfg)
    except ReloadRefused as e:
        return _refused(svc, str(e))
    old = svc.cfg
    svc.cfg = new
    try:
        svc._rebuild()
    except Exception as e:   # the log does not replay under the new config: back to the old one
        svc.cfg = old
        svc._rebuild()
        return _refused(svc, f"{path}: the event log cannot be replayed under the new configuration ({e})")
    svc.config_text = text
    sha = config_sha(text)
    svc.store.record_config(text)
    _result(svc, {"ok": True, "sha": sha, "error": None})
    if getattr(svc, "link", None) is not None:
        svc._publish_status()      # a fresh status announces the reload (the console reads the new config then)
        svc._published_state.clear()
        svc._publish_state()
    svc.write_snapshot()
    log.info("controller %s: configuration reloaded from %s (sha256 %s) in %.2f s", new.hall.id, path, sha[:16],
             time.monotonic() - t0)
    return None


def _refused(svc: Any, why: str) -> str:
    log.error("controller %s: reload refused, still running the previous configuration: %s", svc.cfg.hall.id, why)
    _result(svc, {"ok": False, "sha": None, "error": why})
    return why


def _result(svc: Any, body: dict[str, Any]) -> None:
    n = _read_result(svc.store.path).get("n", 0) + 1
    try:
        svc.store.set_meta(RESULT_META, json.dumps({"n": n, "at": datetime.now().astimezone().isoformat(), **body},
                                                   ensure_ascii=False))
    except sqlite3.Error as e:
        log.warning("controller %s: could not note the reload's result: %s", svc.cfg.hall.id, e)


def _read_result(db_path: Path) -> dict[str, Any]:
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (RESULT_META,)).fetchone()
        finally:
            db.close()
        out = json.loads(row[0]) if row else {}
        return out if isinstance(out, dict) else {}
    except (sqlite3.Error, ValueError):
        return {}


def write_pid(data_dir: Path) -> None:
    (data_dir / PID_FILE).write_text(f"{os.getpid()}\n", encoding="ascii")


def remove_pid(data_dir: Path) -> None:
    p = data_dir / PID_FILE
    try:
        if p.read_text(encoding="ascii").strip() == str(os.getpid()):
            p.unlink()
    except OSError:
        pass


def run(args: argparse.Namespace) -> int:
    """`hallq reload --config FILE [--data DIR] [--timeout S]`."""
    cfg: HallConfig = args.cfg               # validated by the CLI as at start (a bad file: exit 2 there)
    data = Path(args.data or cfg.data_dir)
    db = data / "hallq.sqlite3"
    if not db.exists():
        raise UsageError(f"--data {data}: no event log here — give the controller's data directory")
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            row = con.execute("SELECT text FROM configs ORDER BY n DESC LIMIT 1").fetchone()
        finally:
            con.close()
    except sqlite3.Error as e:
        raise UsageError(f"{db}: cannot read: {e}") from None
    if row is not None:
        fixed = fixed_changes(parse_config_text(row[0], f"{db} (running config)"), cfg)
        if fixed:
            raise UsageError(f"{args.config}: {', '.join(fixed)} cannot change while the controller runs — "
                             "restart it for that")
    try:
        pid = int((data / PID_FILE).read_text(encoding="ascii").strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        raise UsageError(f"no controller is running for {data} (no live pid in {data / PID_FILE})") from None
    before = _read_result(db).get("n", 0)
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        res = _read_result(db)
        if res.get("n", 0) > before:
            if res.get("ok"):
                print(f"hallq reload: the controller (pid {pid}) runs the new configuration (sha256 {res['sha']})")
                return 0
            raise UsageError(f"the controller refused the new configuration: {res.get('error')}")
        time.sleep(0.1)
    raise UsageError(f"the controller (pid {pid}) did not answer within {args.timeout:g} s — see its log")
