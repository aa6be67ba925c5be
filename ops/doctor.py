"""`hallq doctor`: check a hall box and print what to fix — broker and credentials, clock and time zone, disk,
printers' paper, serial ports, Mongolian fonts, the event log's schema, an open hall. Exit 1 if anything FAILs."""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import sqlite3
import subprocess
import threading
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hallq.config import HallConfig

OK, WARN, FAIL = "ok", "WARN", "FAIL"
DAY_BYTES_DEFAULT = 8 << 20      # a league day's log, reports and snapshots with margin (docs/controller.md)


@dataclass(frozen=True)
class Check:
    level: str
    what: str
    text: str


def check_broker(cfg: HallConfig, timeout_s: float = 5.0) -> tuple[list[Check], dict[str, dict[str, Any]]]:
    """Connect as this box's principal; read the retained device statuses (printers' paper) while connected."""
    import paho.mqtt.client as paho

    from hallq.mqtt import make_client, principal_of, topics_for

    who = principal_of(cfg) or ("anonymous" if not cfg.secure else "no credentials")
    where = f"{cfg.mqtt.host}:{cfg.mqtt.port}"
    statuses: dict[str, dict[str, Any]] = {}
    done = threading.Event()
    result: dict[str, Any] = {}
    try:
        c = make_client(cfg, f"hallq-doctor-{os.getpid()}", True, None)
    except Exception as e:  # noqa: BLE001  (a credentials file that cannot be read, a bad CA)
        return [Check(FAIL, "broker", f"cannot set up the MQTT client: {e}")], statuses

    def on_connect(client: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        result["rc"] = rc
        if not (rc != 0 and getattr(rc, "is_failure", True)):
            client.subscribe(topics_for(cfg).device("+", "status"), 1)
        done.set()

    def on_message(_c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        if isinstance(body, dict):
            statuses[msg.topic] = body

    def on_connect_fail(_c: Any, _u: Any) -> None:
        done.set()              # refused at TCP level: no need to wait out the timeout

    c.on_connect = on_connect
    c.on_connect_fail = on_connect_fail
    c.on_message = on_message
    try:
        c.connect_async(cfg.mqtt.host, cfg.mqtt.port, keepalive=10)
        c.loop_start()
        done.wait(timeout_s)
        if done.is_set() and "rc" in result and not (result["rc"] != 0 and getattr(result["rc"], "is_failure", True)):
            threading.Event().wait(0.5)           # the retained statuses follow the subscription
    finally:
        c.disconnect()
        c.loop_stop()
    if "rc" not in result:
        return [Check(FAIL, "broker", f"cannot reach the broker at {where} within {timeout_s:.0f} s — is "
                                      "hallq-broker running (systemctl status hallq-broker), the host/port right, "
                                      "a firewall in the way?")], statuses
    rc = result["rc"]
    if rc != 0 and getattr(rc, "is_failure", True):
        return [Check(FAIL, "broker", f"the broker at {where} refused {who}: {rc} — check --credentials / "
                                      "mqtt.credentials (re-run hallq secure init, then use the new file)")], statuses
    return [Check(OK, "broker", f"{where} accepts {who}" + (" over TLS" if cfg.mqtt.tls else ""))], statuses


def check_paper(statuses: dict[str, dict[str, Any]]) -> list[Check]:
    out = []
    for topic, body in sorted(statuses.items()):
        if body.get("kind") != "printer":
            continue
        kiosk, paper = body.get("kiosk", topic), body.get("paper")
        if paper == "out":
            out.append(Check(FAIL, "printer", f"kiosk {kiosk}: the printer is out of paper — load a new roll"))
        elif paper == "near_end":
            out.append(Check(WARN, "printer", f"kiosk {kiosk}: paper near its end — have a roll ready"))
        elif body.get("state") == "offline":
            out.append(Check(FAIL, "printer", f"kiosk {kiosk}: printer offline ({body.get('detail', '')}) — "
                                              "cable, power, /dev/hallq/printer-*"))
        else:
            out.append(Check(OK, "printer", f"kiosk {kiosk}: paper {paper}"))
    return out


def check_clock(cfg: HallConfig, run: Any = subprocess.run) -> list[Check]:
    out = []
    try:
        res = run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], capture_output=True, text=True,
                  timeout=5, check=False)
        synced = res.stdout.strip() if res.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        synced = ""
    if synced == "yes":
        out.append(Check(OK, "clock", "synchronized with NTP"))
    elif synced == "no":
        out.append(Check(FAIL, "clock", "NOT synchronized with NTP — tickets and reports carry this clock: "
                                        "apt install systemd-timesyncd (or chrony) and set an NTP server the hall "
                                        "network reaches (timedatectl timesync-status)"))
    elif Path("/run/systemd/timesync/synchronized").exists():
        out.append(Check(OK, "clock", "synchronized (systemd-timesyncd)"))
    else:
        out.append(Check(WARN, "clock", "cannot tell whether the clock is synchronized (no timedatectl answer) — "
                                        "check chronyc tracking or timedatectl on the box"))
    now = datetime.now()
    local, hall = now.astimezone().utcoffset(), now.astimezone(ZoneInfo(cfg.hall.timezone)).utcoffset()
    if local != hall:
        out.append(Check(WARN, "timezone", f"the box's time zone (UTC{_off(local)}) is not the hall's "
                                           f"{cfg.hall.timezone} (UTC{_off(hall)}): logs read wrong — "
                                           f"timedatectl set-timezone {cfg.hall.timezone}"))
    else:
        out.append(Check(OK, "timezone", f"box and hall agree ({cfg.hall.timezone})"))
    return out


def _off(td: Any) -> str:
    minutes = int(td.total_seconds() // 60) if td is not None else 0
    return f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def check_data(data: Path, days: int) -> list[Check]:
    from controller.store import DB_NAME, StoreError, check_schema

    if not data.is_dir():
        return [Check(FAIL, "data", f"{data} does not exist — the controller's data directory "
                                    "(systemd makes it: StateDirectory=hallq; or --data)")]
    out = []
    log = data / DB_NAME
    per_day = DAY_BYTES_DEFAULT
    if log.exists():
        try:
            schema = check_schema(log)
            out.append(Check(OK, "event log", f"{log}: schema {schema}"))
            per_day = max(per_day, _bytes_per_day(log))
        except (StoreError, sqlite3.Error) as e:
            out.append(Check(FAIL, "event log", str(e)))
    else:
        out.append(Check(WARN, "event log", f"{log}: none yet (made at the controller's first start)"))
    free = shutil.disk_usage(data).free
    need = per_day * days
    if free < need:
        out.append(Check(FAIL, "disk", f"{data}: {free >> 20} MB free, {days} days need about {need >> 20} MB — "
                                       "free space or move the data directory to a larger disk"))
    else:
        out.append(Check(OK, "disk", f"{data}: {free >> 20} MB free, enough for {days} days "
                                     f"({per_day >> 20} MB a day)"))
    if not os.access(data, os.W_OK):
        out.append(Check(WARN, "data", f"{data} is not writable by this user (the controller runs as hallq)"))
    return out


def check_privacy(cfg: HallConfig, data: Path, today: date | None = None) -> list[Check]:
    """Citizens' personal data: the day keys still kept, and any kept well past evaluation.identity_keep_days
    (an open 差评 work order holds its day; else the controller has not run or cannot delete)."""
    from controller.retention import KEY_DIR

    folder = data / KEY_DIR
    if not folder.is_dir():
        return []
    days = sorted(date.fromisoformat(f.name[:10]) for f in folder.glob("????-??-??.key"))
    keep = cfg.evaluation.identity_keep_days
    if not days:
        return [Check(OK, "privacy", f"no citizen's personal data kept (purged after {keep} days)")]
    today = today or datetime.now(cfg.zone).date()
    late = [d for d in days if (today - d).days > keep + 7]
    if late:
        n = f"{len(late)} service day{'s' * (len(late) > 1)}"
        return [Check(WARN, "privacy", f"personal data of {n} kept past {keep} days (oldest {late[0].isoformat()}): "
                                       "an open 差评 work order holds its day — close it — or the controller has not "
                                       "run since; see docs/privacy.md")]
    return [Check(OK, "privacy", f"personal data of {len(days)} days kept (oldest {days[0].isoformat()}), "
                                 f"each purged {keep} days later")]


def _bytes_per_day(log: Path) -> int:
    db = sqlite3.connect(f"file:{log}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT count(DISTINCT substr(at, 1, 10)) FROM events").fetchone()
        days = int(row[0] or 0)
    finally:
        db.close()
    size = sum(p.stat().st_size for p in log.parent.glob("*.sqlite3*") if p.is_file())
    return size // days if days else 0


def check_ports(cfg: HallConfig) -> list[Check]:
    out = []
    for bus in cfg.devices.buses:
        port = bus.port
        if not port.startswith("/"):
            continue
        if not os.path.exists(port):
            out.append(Check(FAIL, "serial", f"bus {bus.id}: {port} is missing — plug in the RS-485 adapter; "
                                             "`hallq devices scan` names it (udev rules)"))
        elif not os.access(port, os.R_OK | os.W_OK):
            out.append(Check(FAIL, "serial", f"bus {bus.id}: {port} exists but cannot be opened read/write by this "
                                             "user — the hallq user must be in group dialout"))
        else:
            out.append(Check(OK, "serial", f"bus {bus.id}: {port} present"))
    for k in cfg.kiosks:
        for what, url in (("printer", k.printer.url), ("scanner", k.scanner.url)):
            path = url.split("://", 1)[1].split("?", 1)[0] if "://" in url else ""
            if url.split("://", 1)[0] in ("file", "serial", "evdev") and path.startswith("/dev/"):
                if os.path.exists(path):
                    out.append(Check(OK, what, f"kiosk {k.id}: {path} present"))
                else:
                    out.append(Check(FAIL, what, f"kiosk {k.id}: {path} is missing — plug it in; "
                                                 "`hallq devices scan` names it"))
    return out


def check_fonts(run: Any = subprocess.run) -> list[Check]:
    try:
        res = run(["fc-list", ":lang=mn", "family"], capture_output=True, text=True, timeout=10, check=False)
        families = res.stdout if res.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        families = ""
    if "Mongolian" in families or glob.glob("/usr/share/fonts/**/NotoSansMongolian*", recursive=True):
        return [Check(OK, "fonts", "a Mongolian font is installed (Noto Sans Mongolian)")]
    return [Check(FAIL, "fonts", "no Mongolian font: the kiosk shows boxes for ᠮᠣᠩᠭᠣᠯ — apt install fonts-noto-core "
                                 "fonts-noto-cjk")]


def check_security(cfg: HallConfig) -> list[Check]:
    if not cfg.secure:
        return [Check(WARN, "security", "the hall is OPEN: anyone on the LAN can issue, call and rate — "
                                        "security.mode: secure and `hallq secure init` (docs/security.md)")]
    if not cfg.mqtt.tls:
        return [Check(WARN, "security", "mqtt.tls is false: passwords and PINs cross the LAN in clear")]
    return [Check(OK, "security", f"secure hall, {len(cfg.security.principals)} principals, TLS")]


def diagnose(cfg: HallConfig, data: Path, days: int, *, broker: bool = True) -> list[Check]:
    checks = check_security(cfg)
    if broker:
        got, statuses = check_broker(cfg)
        checks += got + check_paper(statuses)
    checks += check_clock(cfg) + check_data(data, days) + check_privacy(cfg, data) + check_ports(cfg) + check_fonts()
    return checks


def run(args: argparse.Namespace) -> int:
    cfg: HallConfig = args.cfg
    mine = cfg.source_dir / "secure" / "credentials" / "controller.yaml"
    if cfg.secure and not cfg.mqtt.credentials and mine.is_file():
        cfg = cfg.with_credentials(str(mine))      # the install's layout: the controller's account sees devices
    data = Path(args.data or cfg.data_dir)
    checks = diagnose(cfg, data, args.days, broker=not args.no_broker)
    width = max(len(c.what) for c in checks)
    for c in checks:
        print(f"{c.level:<4}  {c.what:<{width}}  {c.text}")
    fails = sum(c.level == FAIL for c in checks)
    warns = sum(c.level == WARN for c in checks)
    print(f"{fails} to fix, {warns} warnings" if fails or warns else "all good")
    return 1 if fails else 0
