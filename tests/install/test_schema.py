"""Schema versions of the event log: today's logs migrate forward (the old-log fixture), an older hallq refuses a
newer log with a clear error and leaves it untouched."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from controller.audit import verify
from controller.store import DB_NAME, LOG_SCHEMA, EventStore, StoreError, check_schema
from tests.conftest import REPO, small_hall

OLD_LOG = REPO / "tests" / "controller" / "fixtures" / "old-log-f17c2c1.sqlite3"


def _schema(path: Path) -> str | None:
    db = sqlite3.connect(path)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        return None if row is None else str(row[0])
    finally:
        db.close()


def test_a_log_of_the_earlier_release_migrates_forward(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(OLD_LOG, data / DB_NAME)
    assert _schema(data / DB_NAME) is None, "the fixture predates schema versions"
    assert check_schema(data / DB_NAME) == 1
    db = sqlite3.connect(data / DB_NAME)
    before = db.execute("SELECT seq, at, type, body, prev, hash FROM events ORDER BY seq").fetchall()
    db.close()
    store = EventStore(data).open()
    store.close()
    assert _schema(data / DB_NAME) == str(LOG_SCHEMA)
    db = sqlite3.connect(data / DB_NAME)
    after = db.execute("SELECT seq, at, type, body, prev, hash FROM events ORDER BY seq").fetchall()
    cols = {r[1] for r in db.execute("PRAGMA table_info(commands)")}
    db.close()
    assert after == before and len(after) == 12, "migration keeps every record as it was"
    assert {"salt", "seq", "slot"} <= cols
    assert verify(data).ok
    EventStore(data).open().close()            # opening a current log again changes nothing
    assert _schema(data / DB_NAME) == str(LOG_SCHEMA)


def test_an_older_hallq_refuses_a_newer_log_untouched(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(OLD_LOG, data / DB_NAME)
    EventStore(data).open().close()
    db = sqlite3.connect(data / DB_NAME)
    db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema', ?)", (str(LOG_SCHEMA + 1),))
    db.commit()
    db.execute("PRAGMA journal_mode=DELETE")
    db.close()
    digest = hashlib.sha256((data / DB_NAME).read_bytes()).hexdigest()
    with pytest.raises(StoreError, match=f"newer hallq \\(log schema {LOG_SCHEMA + 1}; this hallq reads schema "
                                         f"{LOG_SCHEMA} and older\\)"):
        EventStore(data).open()
    cfg = tmp_path / "hall.yaml"
    cfg.write_text(yaml.safe_dump(small_hall(1), allow_unicode=True), encoding="utf-8")
    res = subprocess.run([sys.executable, "-m", "hallq", "controller", "--config", str(cfg), "--data", str(data)],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stderr
    assert "was written by a newer hallq" in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert hashlib.sha256((data / DB_NAME).read_bytes()).hexdigest() == digest, "the newer log is not written to"
    assert sorted(p.name for p in data.iterdir()) == [DB_NAME]


def test_an_unreadable_schema_value_counts_as_newer(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('schema', 'three')")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer hallq"):
        check_schema(path)
