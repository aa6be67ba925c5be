"""Tamper evidence: edit, delete, reorder or truncate any row -> `hallq audit verify` fails and names it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from controller.audit import verify
from controller.engine import Engine
from controller.store import DB_NAME, EventStore, StoredCommand
from hallq.config import parse_config
from tests.conftest import REPO, small_hall


def _make_log(data: Path, n_issues: int = 6) -> None:
    cfg = parse_config(small_hall())
    eng, store = Engine(cfg), EventStore(data).open()
    now = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    cmds = [("issue", {"service": "general"})] * n_issues + [("login", {"window": "1", "staff": "S001"}),
                                                              ("call", {"window": "1"}), ("finish", {"window": "1"}),
                                                              ("rate", {"ticket": "A001", "level": 1, "window": "1"})]
    for i, (name, args) in enumerate(cmds):
        out = eng.handle(name, args, now + timedelta(seconds=i))
        store.append([(out.events, StoredCommand(f"c{i}", name, out.reply))])
    store.close()


def _audit_cli(data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hallq", "audit", "verify", "--data", str(data)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)


def test_intact_log_verifies(tmp_path: Path) -> None:
    _make_log(tmp_path)
    res = _audit_cli(tmp_path)
    assert res.returncode == 0, res.stderr
    assert "intact, 12 records" in res.stdout, "6 issued, login, called, finished, rated, work order, alert"


@pytest.mark.parametrize(("tamper", "seq", "words"), [
    ("UPDATE events SET body = replace(body, '\"level\":1', '\"level\":5') WHERE type = 'evaluation.recorded'",
     10, "edited"),
    ("UPDATE events SET at = '2026-11-23T08:00:00+08:00' WHERE seq = 3", 3, "edited"),
    ("DELETE FROM events WHERE seq = 4", 5, "removed"),
    ("DELETE FROM events WHERE seq = 11", None, "removed"),
    ("UPDATE events SET body = replace(body, '2026-11-30', '2027-01-29') WHERE type = 'workorder.opened'",
     11, "edited"),
    ("DELETE FROM events WHERE seq = 12", None, "removed"),
    ("UPDATE events SET seq = -seq WHERE seq IN (2, 3); UPDATE events SET seq = 3 WHERE seq = -2; "
     "UPDATE events SET seq = 2 WHERE seq = -3", 2, "reordered"),
])
def test_tampering_is_detected_and_named(tmp_path: Path, tamper: str, seq: int | None, words: str) -> None:
    _make_log(tmp_path)
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.executescript(tamper)
    db.commit()
    db.close()
    res = verify(tmp_path)
    assert not res.ok, f"tampering went unnoticed: {tamper}"
    assert words in res.problem, res.problem
    if seq is not None:
        assert f"seq {seq}" in res.problem, res.problem
    cli = _audit_cli(tmp_path)
    assert cli.returncode != 0 and "NOT intact" in cli.stderr and cli.stderr.count("\n") == 1


def test_rehashed_chain_is_caught_by_the_head_marker(tmp_path: Path) -> None:
    """An edit followed by recomputing every hash still fails: the head marker disagrees."""
    from controller.store import GENESIS, chain_hash

    _make_log(tmp_path)
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute("UPDATE events SET body = replace(body, '\"level\":1', '\"level\":5')")
    prev = GENESIS
    for seq, at, type_, body in db.execute("SELECT seq, at, type, body FROM events ORDER BY seq").fetchall():
        h = chain_hash(prev, seq, at, type_, body)
        db.execute("UPDATE events SET prev = ?, hash = ? WHERE seq = ?", (prev, h, seq))
        prev = h
    db.commit()
    res = verify(tmp_path)
    assert not res.ok and "chain was rewritten" in res.problem, res.problem


def test_missing_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    cli = _audit_cli(tmp_path / "nowhere")
    assert cli.returncode != 0 and "no event log" in cli.stderr


def test_a_config_without_a_public_key_is_a_usage_error(tmp_path: Path) -> None:
    import yaml

    _make_log(tmp_path / "data")
    config = tmp_path / "hall.yaml"
    config.write_text(yaml.safe_dump(small_hall(), allow_unicode=True), encoding="utf-8")
    res = subprocess.run([sys.executable, "-m", "hallq", "audit", "verify", "--data", str(tmp_path / "data"),
                          "--config", str(config)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "audit.public_key" in res.stderr and "audit-signing.key.pub" in res.stderr
