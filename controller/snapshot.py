"""Snapshots of the engine's projections: a cache that spares the controller a full replay at start.

A snapshot is the pickled state, work-order book and rating watch after event `seq`, tagged with
that event's chain hash, the sha of the configuration sections the projections depend on, and the
code version (a hash of the projection source). It lives in `snapshot.sqlite3` beside the event
log, never in it: the log stays the only source of truth (audit, reports), and deleting the
snapshot file is always safe. A snapshot that is unreadable, from other code or configuration, or
whose seq/hash the log does not hold is ignored with a log line saying why; the caller replays.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any

from controller.engine import Engine
from controller.model import Evaluation, Ticket
from hallq.config import HallConfig
from hallq.sqlite import open_durable

log = logging.getLogger("hallq.controller")

SNAPSHOT_DB = "snapshot.sqlite3"
FORMAT = 2   # 2: held tickets, alerts with ids and acknowledgements
KEEP = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
  seq     INTEGER PRIMARY KEY,
  hash    TEXT NOT NULL,
  at      TEXT NOT NULL,
  config  TEXT NOT NULL,
  code    TEXT NOT NULL,
  body    BLOB NOT NULL
);
"""
# modules whose classes are pickled or whose code decides what the projections hold
_SOURCES = ("state.py", "alerts.py", "engine.py", "model.py", "workorders.py", "antifraud.py", "estimate.py",
            "snapshot.py", "events.py")
# attributes rebuilt from the configuration, or caches (the estimator restarts fresh, as after a replay)
_SKIP = frozenset({"cfg", "compact", "_estimator", "_archive_cache", "windows_of", "competing", "staff_names",
                   "_units"})
# the configuration sections the projections depend on (an MQTT or device change keeps the snapshot)
_CONFIG_KEYS = {"hall", "services", "windows", "staff", "rules", "evaluation", "hours", "supervision", "appointments"}


def code_version() -> str:
    h = hashlib.sha256(f"snapshot format {FORMAT}\n".encode())
    here = Path(__file__).resolve().parent
    for name in _SOURCES:
        h.update(name.encode() + b"\0" + (here / name).read_bytes())
    return h.hexdigest()[:16]


def config_sha(cfg: HallConfig) -> str:
    return hashlib.sha256(cfg.model_dump_json(include=_CONFIG_KEYS).encode()).hexdigest()[:16]


def _fields(obj: object) -> dict[str, Any]:
    return {k: v for k, v in vars(obj).items() if k not in _SKIP}


def _values(obj: Any) -> list[Any]:
    return [getattr(obj, f.name) for f in fields(obj)]


def dump(engine: Engine) -> bytes:
    """Tickets and evaluations go as field lists and are rebuilt through their constructors: unpickled
    instances would each carry a full dict, twice the memory of the ones a replay makes."""
    state = _fields(engine.state)
    tickets: dict[tuple[date, str], Ticket] = state.pop("tickets")
    state["tickets"] = [_values(t) for t in tickets.values()]
    state["waiting"] = {sid: [t.key for t in q] for sid, q in state["waiting"].items()}
    state["newest"] = _values(state["newest"]) if state["newest"] is not None else None
    state["evaluations"] = [_values(e) for e in state["evaluations"].values()]
    parts = {"state": state, "orders": _fields(engine.orders), "watch": _fields(engine.watch)}
    return pickle.dumps(parts, protocol=pickle.HIGHEST_PROTOCOL)


def load(body: bytes, cfg: HallConfig, secret: bytes) -> Engine:
    parts = pickle.loads(body)  # our own file in the controller's data directory, trusted like the log
    state = parts["state"]
    tickets = {t.key: t for t in (Ticket(*v) for v in state["tickets"])}
    state["tickets"] = tickets
    state["waiting"] = {sid: [tickets[k] for k in keys] for sid, keys in state["waiting"].items()}
    if state["newest"] is not None:
        newest = Ticket(*state["newest"])
        state["newest"] = tickets.get(newest.key, newest)
    state["evaluations"] = {(e.date, e.ticket): e for e in (Evaluation(*v) for v in state["evaluations"])}
    engine = Engine(cfg, secret)
    for name in ("state", "orders", "watch"):
        vars(getattr(engine, name)).update(parts[name])
    return engine


@dataclass(frozen=True)
class Loaded:
    engine: Engine
    seq: int
    hash: str


class SnapshotStore:
    """Constructor stores the path; `open()` creates or opens the snapshot file."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / SNAPSHOT_DB
        self._db: sqlite3.Connection | None = None
        self.code = code_version()

    def open(self) -> SnapshotStore:
        """Open the file; a damaged one is a lost cache: it is removed and started afresh."""
        for attempt in (1, 2):
            try:   # a lost snapshot is only ignored: no fsync per write
                db = open_durable(self.path, SCHEMA, synchronous="NORMAL")
            except sqlite3.Error as e:
                log.warning("snapshot file %s is damaged (%s): removed; the whole event log is replayed", self.path, e)
                if attempt == 2:
                    return self
                for suffix in ("", "-wal", "-shm"):
                    self.path.with_name(SNAPSHOT_DB + suffix).unlink(missing_ok=True)
                continue
            self._db = db
            break
        return self

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def save(self, engine: Engine, cfg: HallConfig, seq: int, hash_: str) -> int:
        """Write a snapshot covering events up to `seq` (whose chain hash is `hash_`); returns its size."""
        if self._db is None:
            return 0
        body = dump(engine)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute("INSERT OR REPLACE INTO snapshots(seq, hash, at, config, code, body) VALUES (?,?,?,?,?,?)",
                             (seq, hash_, datetime.now().astimezone().isoformat(), config_sha(cfg), self.code, body))
            self._db.execute("DELETE FROM snapshots WHERE seq NOT IN "
                             "(SELECT seq FROM snapshots ORDER BY seq DESC LIMIT ?)", (KEEP,))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return len(body)

    def load(self, cfg: HallConfig, secret: bytes, hash_at: Callable[[int], str | None]) -> Loaded | None:
        """The newest snapshot that matches this code, this configuration and the log; None: replay all."""
        if self._db is None:
            return None
        try:
            rows = self._db.execute("SELECT seq, hash, config, code FROM snapshots ORDER BY seq DESC").fetchall()
        except sqlite3.Error as e:
            log.warning("snapshot %s unreadable (%s): ignored, replaying the whole event log", self.path, e)
            return None
        if not rows:
            log.info("no snapshot in %s: replaying the whole event log", self.path)
        want = config_sha(cfg)
        for seq, hash_, conf, code in rows:
            why = ""
            if code != self.code:
                why = f"written by other controller code (version {code}, this is {self.code})"
            elif conf != want:
                why = "written with another hall configuration (services, windows, staff, rules or hours changed)"
            else:
                logged = hash_at(seq)
                if logged is None:
                    why = f"the event log has no record seq {seq} (log replaced or truncated?)"
                elif logged != hash_:
                    why = f"its hash does not match record seq {seq} of the event log (another log?)"
            if not why:
                t0 = time.monotonic()
                try:
                    body = self._db.execute("SELECT body FROM snapshots WHERE seq = ?", (seq,)).fetchone()[0]
                    engine = load(bytes(body), cfg, secret)
                    del body
                except Exception as e:  # a damaged pickle is only a lost cache
                    why = f"cannot be read ({type(e).__name__}: {e})"
                else:
                    log.info("loaded the snapshot after event seq %d from %s in %.2f s", seq, self.path,
                             time.monotonic() - t0)
                    return Loaded(engine, seq, hash_)
            log.warning("snapshot after event seq %d in %s ignored: %s", seq, self.path, why)
        if rows:
            log.warning("no usable snapshot in %s: replaying the whole event log", self.path)
        return None
