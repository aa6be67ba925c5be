"""Replay stores: remember which credential tokens and appointments were already used, until they expire."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Protocol

from hallq.sqlite import open_durable


class ReplayStore(Protocol):
    def seen_or_add(self, token_id: str, expires_at: datetime) -> bool:
        """True if `token_id` was used before; otherwise record it as used until `expires_at` and return False."""
        ...

    def prune(self, before: datetime) -> int:
        """Forget ids whose `expires_at` is before `before`; return how many were forgotten."""
        ...


def _epoch_s(t: datetime, rounding: Callable[[float], int] = math.ceil) -> int:
    if t.tzinfo is None:
        raise ValueError(f"replay store: time {t.isoformat()} needs a UTC offset")
    return rounding(t.timestamp())


class MemoryReplayStore:
    """A replay store in a dict: for tests and simulators (forgets everything when the process ends)."""

    def __init__(self) -> None:
        self._used: dict[str, int] = {}

    def seen_or_add(self, token_id: str, expires_at: datetime) -> bool:
        if token_id in self._used:
            return True
        self._used[token_id] = _epoch_s(expires_at)
        return False

    def prune(self, before: datetime) -> int:
        cut = _epoch_s(before, math.floor)
        old = [k for k, exp in self._used.items() if exp < cut]
        for k in old:
            del self._used[k]
        return len(old)

    def __len__(self) -> int:
        return len(self._used)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS used_token (
    token_id   TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS used_token_expires ON used_token (expires_at);
"""


class SqliteReplayStore:
    """Used token ids in SQLite (WAL, synchronous=FULL): an id recorded here stays used after `kill -9`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None

    def open(self) -> SqliteReplayStore:
        if self._db is not None:
            return self
        try:
            # autocommit: every INSERT is its own durable transaction, committed before we answer
            db = open_durable(self.path, _SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise OSError(f"replay store {self.path}: cannot open ({e}) — check that the kiosk's data "
                          "directory exists and is writable") from e
        self._db = db
        return self

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> SqliteReplayStore:
        return self.open()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError(f"replay store {self.path}: not open — call open() first")
        return self._db

    def seen_or_add(self, token_id: str, expires_at: datetime) -> bool:
        cur = self._conn().execute("INSERT OR IGNORE INTO used_token (token_id, expires_at) VALUES (?, ?)",
                                   (token_id, _epoch_s(expires_at)))
        return cur.rowcount == 0

    def prune(self, before: datetime) -> int:
        cur = self._conn().execute("DELETE FROM used_token WHERE expires_at < ?", (_epoch_s(before, math.floor),))
        return cur.rowcount

    def __len__(self) -> int:
        row = self._conn().execute("SELECT count(*) FROM used_token").fetchone()
        return int(row[0])
