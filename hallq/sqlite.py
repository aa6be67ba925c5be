"""SQLite opened for durability: WAL and synchronous=FULL, so a commit survives `kill -9` and power loss."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_durable(path: Path, schema: str, *, timeout_s: float = 5.0,
                 synchronous: str = "FULL") -> sqlite3.Connection:
    """An autocommit connection (each statement its own fsync'd transaction unless BEGIN is used).

    `synchronous="NORMAL"` is for a cache, whose last write may be lost on power loss (never torn)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=timeout_s)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.executescript(schema)
    except BaseException:
        db.close()
        raise
    return db
