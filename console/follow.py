"""The console follows the configuration the controller runs: after `hallq reload` (or SIGHUP, or a restart of the
controller with another file) it takes the newest configuration of the controller's log, read-only, whenever the
controller announces itself on `controller/status` (it does after every reload it accepted; a refused reload
records nothing, so nothing changes). What only the console uses at start stays as it started: its HTTP server
(`console.listen`, `cert`, `key`, `max_connections`), its broker link (`mqtt`) and `--data`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from hallq.config import HallConfig
from hallq.reloading import ConfigFile

LOG_NAME = "hallq.sqlite3"


def log_rows(data_dir: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of a query on the controller's log, opened read-only; [] without a log or when it cannot be read."""
    path = data_dir / LOG_NAME
    if not path.exists():
        return []
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return []
    try:
        return db.execute(sql, params).fetchall()
    except sqlite3.Error:
        return []
    finally:
        db.close()


def newest_config(data_dir: Path) -> tuple[str, str] | None:
    """(SHA-256, text) of the configuration the controller runs: the newest it recorded in its log."""
    rows = log_rows(data_dir, "SELECT sha, text FROM configs ORDER BY n DESC LIMIT 1")
    if not rows or not isinstance(rows[0][1], str):
        return None
    return str(rows[0][0]), rows[0][1]


def text_sha(path: str | Path) -> str | None:
    """The SHA-256 the controller records for a configuration file's text (None when it cannot be read)."""
    return ConfigFile(Path(path)).sha() or None


def unfollowable(started: HallConfig, new: HallConfig) -> list[str]:
    """What differs from the console's start and cannot change under it: its topics, its clock, its security
    mode. A controller running such a configuration was restarted with it; the console needs a restart too."""
    out = []
    if started.hall.id != new.hall.id:
        out.append(f"hall.id {started.hall.id} -> {new.hall.id}")
    if started.hall.timezone != new.hall.timezone:
        out.append(f"hall.timezone {started.hall.timezone} -> {new.hall.timezone}")
    if started.secure != new.secure:
        out.append(f"security.mode {started.security.mode} -> {new.security.mode}")
    return out


def console_config(started: HallConfig, new: HallConfig) -> HallConfig:
    """The hall as `new` has it, with what the console keeps from its start (see the module's docstring)."""
    keep = {k: getattr(started.console, k) for k in ("listen", "cert", "key", "max_connections")}
    out = new.model_copy(update={"mqtt": started.mqtt, "data_dir": started.data_dir,
                                 "console": new.console.model_copy(update=keep)})
    out._source_dir = started._source_dir      # relative paths (a printer's file://…) from the console's config
    return out
