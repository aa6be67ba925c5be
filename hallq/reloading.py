"""A kiosk's or call screen's side of a configuration reload (SIGHUP): the file read again exactly as at start,
and the two files in the process's folder of the data directory by which `hallq reload` finds it and reads its
answer — the shape of the controller's `DATA/controller.pid` and its log's `reload` meta (controller/reload.py).

`DATA/kiosk-ID/kiosk.pid` (`DATA/display-ID/display.pid`) names the running process once it handles SIGHUP;
`reload.json` beside it holds its last answer (`n` counts them). What a running app can take from an edited file
is decided by hallq/config/live.py; applying it is the app's own business (kiosk/runtime.py, display/runtime.py).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from hallq.config import ConfigError, HallConfig, config_sha, load_config, read_config_file
from hallq.errors import UsageError

log = logging.getLogger("hallq.reload")

ANSWER = "reload.json"
APPS = ("kiosk", "display")


@dataclass(frozen=True)
class Loaded:
    cfg: HallConfig
    sha: str


@dataclass(frozen=True)
class ConfigFile:
    """The file a process was started with and its `--credentials`: read again exactly as at start."""

    path: Path
    credentials: str | None = None

    def load(self) -> Loaded:
        """The validated configuration and the SHA-256 of the very text validated; ConfigError otherwise."""
        text = read_config_file(self.path)
        return Loaded(load_config(self.path, text=text).with_credentials(self.credentials), config_sha(text))

    def sha(self) -> str:
        """The SHA-256 of the file as it is now ('' when it cannot be read): what a process says it started with."""
        try:
            return config_sha(read_config_file(self.path))
        except ConfigError:
            return ""


class Follower:
    """A kiosk or call screen as `hallq reload` finds it: its pid file and its answers in DATA/{app}-{id}/."""

    def __init__(self, folder: Path, app: str, ident: str) -> None:
        self.folder, self.app, self.ident = folder, app, ident

    @classmethod
    def of(cls, data_dir: str | Path, app: str, ident: str) -> Follower:
        return cls(Path(data_dir) / f"{app}-{ident}", app, ident)

    @classmethod
    def around(cls, data_dir: str | Path) -> list[Follower]:
        """Every kiosk and call screen that left a pid file in `data_dir` (live or not: see `running`)."""
        return [cls(pid.parent, app, pid.parent.name.removeprefix(f"{app}-"))
                for app in APPS for pid in sorted(Path(data_dir).glob(f"{app}-*/{app}.pid"))]

    @property
    def who(self) -> str:
        return f"{self.app} {self.ident}"

    @property
    def pid_path(self) -> Path:
        return self.folder / f"{self.app}.pid"

    @property
    def answer_path(self) -> Path:
        return self.folder / ANSWER

    # -- the running process's side --------------------------------------------------------------------------
    def claim(self) -> None:
        """Write the pid file: only once SIGHUP is handled (until then a SIGHUP would end the process)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.pid_path.write_text(f"{os.getpid()}\n", encoding="ascii")
        except OSError as e:
            log.warning("%s: cannot write %s (%s): `hallq reload` will not find it; SIGHUP to pid %d still works",
                        self.who, self.pid_path, e.strerror or e, os.getpid())
            return
        atexit.register(self.release)

    def release(self) -> None:
        try:
            if self.pid_path.read_text(encoding="ascii").strip() == str(os.getpid()):
                self.pid_path.unlink()
        except OSError:
            pass

    def answer(self, ok: bool, sha: str | None, error: str | None = None, note: str = "") -> None:
        """Leave the answer to a reload for `hallq reload` (written whole: a reader never sees half of it)."""
        body = {"n": _count(self.last()) + 1, "at": datetime.now().astimezone().isoformat(),
                "pid": os.getpid(), "ok": ok, "sha": sha, "error": error, "note": note}
        tmp = self.folder / f".{ANSWER}.{os.getpid()}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, self.answer_path)
        except OSError as e:
            log.warning("%s: could not note the reload's answer in %s: %s", self.who, self.answer_path, e)

    def last(self) -> dict[str, Any]:
        try:
            out = json.loads(self.answer_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return out if isinstance(out, dict) else {}

    # -- `hallq reload`'s side ---------------------------------------------------------------------------------
    def running(self) -> int | None:
        """The pid of the running process, or None (no file, a dead pid, or a pid another program now has)."""
        try:
            pid = int(self.pid_path.read_text(encoding="ascii").strip())
            os.kill(pid, 0)
        except PermissionError:
            pass                      # alive, as another user: `ask` says so
        except (OSError, ValueError):
            return None
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return pid                # no /proc here: the pid file is all there is
        return pid if b"hallq" in cmd and self.app.encode() in cmd else None

    def ask(self, timeout_s: float) -> dict[str, Any]:
        """SIGHUP the running process and wait for its answer; UsageError when none runs or none answers."""
        pid = self.running()
        if pid is None:
            raise UsageError(f"no {self.who} is running here (no live pid in {self.pid_path})")
        before = _count(self.last())
        try:
            os.kill(pid, signal.SIGHUP)
        except PermissionError:
            raise UsageError(f"{self.who} (pid {pid}) runs as another user: run this as root or as that user") from None
        except ProcessLookupError:
            raise UsageError(f"{self.who} (pid {pid}) ended just now") from None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            res = self.last()
            if _count(res) > before:
                return res
            time.sleep(0.05)
        raise UsageError(f"{self.who} (pid {pid}) did not answer within {timeout_s:g} s — see its log "
                         f"(journalctl -u hallq-{self.app}@{self.ident})")


def _count(answer: dict[str, Any]) -> int:
    n = answer.get("n", 0)
    return n if isinstance(n, int) else 0
