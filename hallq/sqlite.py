"""SQLite opened for durability: WAL and synchronous=FULL, so a commit survives `kill -9` and power loss."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_durable(path: Path, schema: str, *, timeout_s: float = 5.0) -> sqlite3.Connection:
    """An autocommit connection (each statement its own fsync'd transaction unless BEGIN is used)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=timeout_s)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(schema)
    return db
