"""The event log: an append-only, hash-chained SQLite (WAL) file, the controller's source of truth.

Each command is one transaction holding its events and its reply (for idempotent repeats);
with `synchronous=FULL` the commit is fsync'd before anyone is told. Every event row carries
the hash of the previous row, and `meta.head` the last seq and hash, so that an edited,
removed, reordered or truncated row is detected by `verify()`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hallq.sqlite import open_durable

GENESIS = "0" * 64
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
  seq   INTEGER PRIMARY KEY,
  at    TEXT NOT NULL,
  type  TEXT NOT NULL,
  body  TEXT NOT NULL,
  prev  TEXT NOT NULL,
  hash  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
  id    TEXT PRIMARY KEY,
  name  TEXT NOT NULL,
  reply TEXT NOT NULL,
  at    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS configs (n INTEGER PRIMARY KEY, at TEXT NOT NULL, sha TEXT NOT NULL, text TEXT NOT NULL);
"""
DB_NAME = "hallq.sqlite3"


def canonical(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def chain_hash(prev: str, seq: int, at: str, type_: str, body: str) -> str:
    return hashlib.sha256(f"{prev}\n{seq}\n{at}\n{type_}\n{body}".encode()).hexdigest()


@dataclass(frozen=True)
class StoredCommand:
    id: str
    name: str
    reply: dict[str, Any]


class StoreError(Exception):
    pass


class EventStore:
    """Constructor stores the path; `open()` creates or opens the database."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        self._db: sqlite3.Connection | None = None
        self.head_seq = 0
        self.head_hash = GENESIS

    def open(self) -> EventStore:
        try:
            db = open_durable(self.path, SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open the event log {self.path}: {e} — check the --data directory") from None
        self._db = db
        row = db.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        if row:
            self.head_seq, self.head_hash = int(row[0]), str(row[1])
        return self

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(f"event log {self.path} is not open")
        return self._db

    # -- writing -------------------------------------------------------------------------------
    def append(self, batch: list[tuple[list[dict[str, Any]], StoredCommand | None]]) -> list[list[dict[str, Any]]]:
        """Write several commands' events and replies in one durable transaction.

        Returns each command's events with their `seq` assigned (the published form).
        """
        db = self.db
        seq, prev = self.head_seq, self.head_hash
        out: list[list[dict[str, Any]]] = []
        rows, cmds = [], []
        for events, cmd in batch:
            done = []
            for ev in events:
                seq += 1
                at, type_ = ev["at"], ev["type"]
                body = canonical({k: v for k, v in ev.items() if k not in ("at", "type", "seq")})
                h = chain_hash(prev, seq, at, type_, body)
                rows.append((seq, at, type_, body, prev, h))
                prev = h
                done.append({"type": type_, "seq": seq, **{k: v for k, v in ev.items() if k != "type"}})
            out.append(done)
            if cmd is not None:
                cmds.append((cmd.id, cmd.name, canonical(cmd.reply), datetime.now().astimezone().isoformat()))
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT INTO events(seq, at, type, body, prev, hash) VALUES (?,?,?,?,?,?)", rows)
            db.executemany("INSERT OR IGNORE INTO commands(id, name, reply, at) VALUES (?,?,?,?)", cmds)
            if rows:
                db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('head', ?)", (f"{seq}:{prev}",))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.head_seq, self.head_hash = seq, prev
        return out

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def record_config(self, text: str) -> None:
        """Keep the configuration this data directory ran with (reports need no --config)."""
        sha = hashlib.sha256(text.encode()).hexdigest()
        row = self.db.execute("SELECT sha FROM configs ORDER BY n DESC LIMIT 1").fetchone()
        if row is None or row[0] != sha:
            self.db.execute("INSERT INTO configs(at, sha, text) VALUES (?, ?, ?)",
                            (datetime.now().astimezone().isoformat(), sha, text))

    def latest_config(self) -> str | None:
        row = self.db.execute("SELECT text FROM configs ORDER BY n DESC LIMIT 1").fetchone()
        return None if row is None else str(row[0])

    def forget_commands_before(self, cutoff: datetime) -> None:
        self.db.execute("DELETE FROM commands WHERE at < ?", (cutoff.isoformat(),))

    # -- reading -------------------------------------------------------------------------------
    def command(self, cid: str) -> StoredCommand | None:
        row = self.db.execute("SELECT id, name, reply FROM commands WHERE id = ?", (cid,)).fetchone()
        return None if row is None else StoredCommand(row[0], row[1], json.loads(row[2]))

    def hash_at(self, seq: int) -> str | None:
        """The chain hash of record `seq`, or None when the log has no such record."""
        row = self.db.execute("SELECT hash FROM events WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else str(row[0])

    def time_at(self, seq: int) -> datetime | None:
        """When record `seq` was written, or None when the log has no such record."""
        row = self.db.execute("SELECT at FROM events WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else datetime.fromisoformat(str(row[0]))

    def events(self, after: int = 0) -> Iterator[dict[str, Any]]:
        cur = self.db.execute("SELECT seq, at, type, body FROM events WHERE seq > ? ORDER BY seq", (after,))
        for seq, at, type_, body in cur:
            yield {"type": type_, "seq": seq, "at": at, **json.loads(body)}


COMMAND_MEMORY = timedelta(hours=48)
