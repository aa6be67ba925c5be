"""Per device, the command id of the event in flight, fsync'd before the command is published, so that
an event presented again (a lost ack, a bridge restart) reuses it and the controller's idempotency makes
every press count exactly once."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from hallq.sqlite import open_durable


class InflightStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    def open(self) -> InflightStore:
        self._db = open_durable(self.path, "CREATE TABLE IF NOT EXISTS inflight (device TEXT PRIMARY KEY, "
                                           "event TEXT NOT NULL, cmd_id TEXT NOT NULL)")
        return self

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def command_id(self, device: str, event: bytes) -> str:
        """The id for this device's event: the stored one if it is the same event, else a new durable one."""
        assert self._db is not None
        row = self._db.execute("SELECT event, cmd_id FROM inflight WHERE device = ?", (device,)).fetchone()
        if row is not None and row[0] == event.hex():
            return str(row[1])
        cid = f"{device}-{uuid.uuid4().hex[:16]}"
        self._db.execute("INSERT OR REPLACE INTO inflight(device, event, cmd_id) VALUES (?, ?, ?)",
                         (device, event.hex(), cid))
        return cid
