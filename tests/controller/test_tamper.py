"""Tamper suite: every way of rewriting the log is named by `hallq audit verify` (run as the CLI) — by the
chain, by a stored checkpoint's signature and hash, or, where only an outside copy can tell, by `--against`."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from controller.service import ControllerService
from controller.store import DB_NAME, GENESIS, StoredCommand, chain_hash
from hallq.config import load_config
from tests.conftest import REPO, FixedClock, small_hall

AT = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
COMMANDS: list[tuple[str, dict[str, Any]]] = [("issue", {"service": "general"})] * 6 + [
    ("login", {"window": "1", "staff": "S001"}), ("call", {"window": "1"}), ("finish", {"window": "1"}),
    ("rate", {"ticket": "A001", "level": 1, "window": "1"}), ("ticket", {"number": "A002"}),
    ("call", {"window": "1"}), ("finish", {"window": "1"}), ("call", {"window": "1"})]
EVERY = 4


def build_hall(tmp: Path, commands: list[tuple[str, dict[str, Any]]] = COMMANDS) -> tuple[Path, Path, Path]:
    """A controller's log written the worker's way (engine, durable append, checkpoints after each batch, one
    at the clean stop). Returns (config file, data dir, the published checkpoints as a file held elsewhere)."""
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "hall.yaml"
    text = yaml.safe_dump(small_hall(audit={"checkpoint_every": EVERY}), allow_unicode=True)
    config.write_text(text, encoding="utf-8")
    data = tmp / "data"
    published = run_controller(config, data, commands, AT)
    held = tmp / "held-elsewhere.jsonl"
    held.write_text("".join(json.dumps(cp) + "\n" for cp in published), encoding="utf-8")
    return config, data, held


def run_controller(config: Path, data: Path, commands: list[tuple[str, dict[str, Any]]],
                   at: datetime) -> list[dict[str, Any]]:
    svc = ControllerService(load_config(config), data, FixedClock(at), config.read_text(encoding="utf-8"),
                            snapshots=False)
    svc.open()
    published = svc.checkpoints.due(at, svc.engine.state.today)
    now = at
    for i, (name, args) in enumerate(commands):
        now = at + timedelta(seconds=i)
        out = svc.engine.handle(name, args, now)
        svc.store.append([(out.events, StoredCommand(f"c{i}-{at:%H%M}", name, out.reply))], now)
        published += svc.checkpoints.due(now, svc.engine.state.today)
    published += svc.checkpoints.stop(now)
    svc.close()
    return published


def audit(data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hallq", "audit", "verify", "--data", str(data), *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=60)


def sql(data: Path, script: str) -> None:
    db = sqlite3.connect(data / DB_NAME)
    db.executescript(script)
    db.commit()
    db.close()


def rechain(data: Path, from_seq: int = 1) -> None:
    """What an intruder without the key can do: recompute every hash from `from_seq` and the head marker."""
    db = sqlite3.connect(data / DB_NAME)
    row = db.execute("SELECT hash FROM events WHERE seq = ?", (from_seq - 1,)).fetchone()
    prev = row[0] if row else GENESIS
    seq = from_seq - 1
    for seq, at, type_, body in db.execute("SELECT seq, at, type, body FROM events WHERE seq >= ? ORDER BY seq",
                                           (from_seq,)).fetchall():
        h = chain_hash(prev, seq, at, type_, body)
        db.execute("UPDATE events SET prev = ?, hash = ? WHERE seq = ?", (prev, h, seq))
        prev = h
    db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('head', ?)", (f"{seq}:{prev}",))
    db.commit()
    db.close()


def seq_of(data: Path, where: str) -> int:
    db = sqlite3.connect(data / DB_NAME)
    row = db.execute(f"SELECT seq FROM events WHERE {where} ORDER BY seq LIMIT 1").fetchone()
    db.close()
    assert row is not None, where
    return int(row[0])


def log_id(data: Path) -> str:
    db = sqlite3.connect(data / DB_NAME)
    row = db.execute("SELECT log FROM segments ORDER BY n DESC LIMIT 1").fetchone()
    db.close()
    return str(row[0])


def checkpoint_seqs(held: Path) -> list[int]:
    return [json.loads(line)["seq"] for line in held.read_text(encoding="utf-8").splitlines()]


def first_after(held: Path, seq: int) -> int:
    """The seq of the first published checkpoint at or after `seq`."""
    return min(s for s in checkpoint_seqs(held) if s >= seq)


def refused(res: subprocess.CompletedProcess[str], *words: str) -> str:
    """The one stderr line of a failed audit, checked for `words`."""
    assert res.returncode == 1, f"expected exit 1 (not intact), got {res.returncode}: {res.stdout}{res.stderr}"
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and "NOT intact" in lines[0], res.stderr
    for w in words:
        assert w in lines[0], f"expected {w!r} in: {lines[0]}"
    return lines[0]


@pytest.fixture
def hall(tmp_path: Path) -> tuple[Path, Path, Path]:
    return build_hall(tmp_path)


def test_an_untouched_log_verifies_with_every_key_source(hall: tuple[Path, Path, Path]) -> None:
    config, data, held = hall
    res = audit(data)
    assert res.returncode == 0, res.stderr
    assert "the copy this data directory recorded at start" in res.stdout
    assert "intact," in res.stdout.splitlines()[-1]
    res = audit(data, "--config", str(config), "--against", str(held))
    assert res.returncode == 0, res.stderr
    assert f"{config.parent / 'audit-signing.key.pub'}" in res.stdout, res.stdout
    n_held = len(held.read_text().splitlines())
    assert f"and {n_held} held elsewhere verified" in res.stdout
    assert "stored replies match" in res.stdout


def test_edited_record(hall: tuple[Path, Path, Path]) -> None:
    _, data, _ = hall
    seq = seq_of(data, "type = 'evaluation.recorded'")
    sql(data, "UPDATE events SET body = replace(body, '\"level\":1', '\"level\":5') WHERE type = 'evaluation.recorded'")
    refused(audit(data), f"record seq {seq}", "edited")


def test_deleted_record(hall: tuple[Path, Path, Path]) -> None:
    _, data, _ = hall
    sql(data, "DELETE FROM events WHERE seq = 4")
    refused(audit(data), "record seq 5", "seq 4 missing", "removed")


def test_reordered_records(hall: tuple[Path, Path, Path]) -> None:
    _, data, _ = hall
    sql(data, "UPDATE events SET seq = -seq WHERE seq IN (2, 3); UPDATE events SET seq = 3 WHERE seq = -2; "
              "UPDATE events SET seq = 2 WHERE seq = -3")
    refused(audit(data), "record seq 2", "reordered")


def test_truncated_log_with_its_head_moved_is_caught_by_a_checkpoint(hall: tuple[Path, Path, Path]) -> None:
    """The tail removed and the head marker set to the new end: the chain alone looks whole."""
    _, data, held = hall
    cut = checkpoint_seqs(held)[1] + 1
    sql(data, f"DELETE FROM events WHERE seq > {cut}")
    rechain(data, cut)
    line = refused(audit(data), f"log {log_id(data)} seq {first_after(held, cut)}", f"the log ends at seq {cut}")
    assert "checkpoint" in line


def test_truncated_log_and_its_checkpoints_is_caught_by_a_copy_held_elsewhere(hall: tuple[Path, Path, Path]) -> None:
    config, data, held = hall
    cut = checkpoint_seqs(held)[1] + 1
    sql(data, f"DELETE FROM events WHERE seq > {cut}; DELETE FROM checkpoints WHERE seq > {cut}; "
              f"DELETE FROM commands WHERE seq > {cut}")
    rechain(data, cut)
    assert audit(data).returncode == 0, "without a copy held elsewhere a clean cut cannot be told"
    refused(audit(data, "--config", str(config), "--against", str(held)),
            f"log {log_id(data)} seq {first_after(held, cut)}", "held-elsewhere.jsonl line",
            f"the log ends at seq {cut}")


def test_emptied_log(hall: tuple[Path, Path, Path]) -> None:
    config, data, held = hall
    sql(data, "DELETE FROM events; DELETE FROM meta WHERE key = 'head'")
    refused(audit(data), "the log ends at seq 0", f"log {log_id(data)} seq {checkpoint_seqs(held)[0]}")
    sql(data, "DELETE FROM checkpoints; DELETE FROM commands")
    assert audit(data).returncode == 0, "an empty log with nothing else is a fresh one"
    refused(audit(data, "--config", str(config), "--against", str(held)), f"log {log_id(data)} seq",
            "emptied")


def test_removed_log_is_reported_against_a_held_copy(hall: tuple[Path, Path, Path]) -> None:
    config, data, held = hall
    (data / DB_NAME).unlink()
    res = audit(data, "--config", str(config), "--against", str(held))
    assert res.returncode != 0 and "no event log" in res.stderr and "reached seq" in res.stderr, res.stderr


def test_rewritten_and_rechained_log_is_caught_by_a_checkpoint(hall: tuple[Path, Path, Path]) -> None:
    """A 差评 turned into a 5, every hash from there recomputed and the head marker moved (no key needed)."""
    _, data, held = hall
    seq = seq_of(data, "type = 'evaluation.recorded'")
    sql(data, "UPDATE events SET body = replace(body, '\"level\":1', '\"level\":5') WHERE type = 'evaluation.recorded'")
    rechain(data, seq)
    refused(audit(data), f"checkpoint log {log_id(data)} seq {first_after(held, seq)}", "rewritten")


def test_rewritten_log_with_its_checkpoints_removed_is_caught_against_a_held_copy(
        hall: tuple[Path, Path, Path]) -> None:
    config, data, held = hall
    seq = seq_of(data, "type = 'evaluation.recorded'")
    sql(data, "UPDATE events SET body = replace(body, '\"level\":1', '\"level\":5') WHERE type = 'evaluation.recorded';"
              f"DELETE FROM checkpoints WHERE seq >= {seq}")
    rechain(data, seq)
    assert audit(data).returncode == 0
    refused(audit(data, "--config", str(config), "--against", str(held)),
            f"checkpoint log {log_id(data)} seq {first_after(held, seq)}", "rewritten")


def test_forged_checkpoint_signature(hall: tuple[Path, Path, Path]) -> None:
    _, data, held = hall
    seq = checkpoint_seqs(held)[1]
    sql(data, f"UPDATE checkpoints SET at = '2026-11-24T09:00:00+08:00' WHERE seq = {seq}")
    refused(audit(data), f"seq {seq}", "signature does not verify")


def test_a_replaced_recorded_key_is_caught_with_the_config(hall: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """An intruder re-signs with a key of his own and puts its public key in the data directory: only the
    config's key tells."""
    config, data, _ = hall
    _, other_data, _ = build_hall(tmp_path / "other")
    shutil.copy(other_data / DB_NAME, data / DB_NAME)
    assert audit(data).returncode == 0
    refused(audit(data, "--config", str(config)), "signed by key", "not by")


def test_edited_stored_reply(hall: tuple[Path, Path, Path]) -> None:
    """A stored reply changed (a repeat would get it): its salted hash in the chain no longer matches."""
    _, data, _ = hall
    sql(data, "UPDATE commands SET reply = replace(reply, '\"A002\"', '\"A003\"') WHERE id LIKE 'c10-%'")
    refused(audit(data), "stored reply of command 'c10-0900' (ticket)", "edited")
    _, data2, _ = build_hall(data.parent / "again")
    sql(data2, "UPDATE commands SET reply = replace(reply, '\"ok\":true', '\"ok\":false') WHERE id LIKE 'c0-%'")
    refused(audit(data2), "stored reply of command 'c0-0900' (issue)", "edited")


def test_removed_stored_reply(hall: tuple[Path, Path, Path]) -> None:
    """Without its reply, a repeat of the command would execute again."""
    _, data, _ = hall
    seq = seq_of(data, "type = 'ticket.issued'")
    sql(data, "DELETE FROM commands WHERE id LIKE 'c0-%'")
    refused(audit(data), f"record seq {seq}", "reply was removed")


def test_restored_backup_is_a_new_segment_and_the_old_checkpoints_tell(hall: tuple[Path, Path, Path],
                                                                       tmp_path: Path) -> None:
    """A backup taken early, the hall runs on, the backup is restored and the hall runs again: the restored
    log's new events carry a new segment id, and the checkpoints published before name the divergence."""
    config, data, held = hall
    backup = tmp_path / "backup"
    backup.mkdir()
    # the backup: this hall's log as it was after 5 records (a copy cut back to seq 5, head marker and all)
    shutil.copy(data / DB_NAME, backup / DB_NAME)
    sql(backup, "DELETE FROM events WHERE seq > 5; DELETE FROM checkpoints WHERE seq > 5; "
                "DELETE FROM commands WHERE seq > 5")
    rechain(backup, 6)
    old_log = log_id(data)
    shutil.rmtree(data)
    shutil.copytree(backup, data)
    run_controller(config, data, COMMANDS[5:], AT + timedelta(hours=1))
    assert log_id(data) != old_log, "the restored data directory must start a new segment"
    assert audit(data).returncode == 0, "the restored log is consistent in itself"
    refused(audit(data, "--config", str(config), "--against", str(held)), f"log {old_log} seq {first_after(held, 6)}",
            "another record")


def test_bad_against_file_is_a_clear_usage_error(hall: tuple[Path, Path, Path]) -> None:
    config, data, held = hall
    held.write_text('{"hall": "test-hall"}\nnot json\n', encoding="utf-8")
    res = audit(data, "--against", str(held))
    assert res.returncode == 2 and "line 1" in res.stderr and "missing" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_checkpoints_held_at_a_url(hall: tuple[Path, Path, Path]) -> None:
    """--against also takes the http(s) URL of a copy held elsewhere (the region, the 好差评 platform)."""
    import http.server
    import threading
    config, data, held = hall
    body = held.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server interface)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_a: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/checkpoints.jsonl"
        assert audit(data, "--config", str(config), "--against", url).returncode == 0
        sql(data, "DELETE FROM events; DELETE FROM meta WHERE key = 'head'; DELETE FROM checkpoints; "
                  "DELETE FROM commands")
        refused(audit(data, "--config", str(config), "--against", url), f"log {log_id(data)} seq", "emptied")
    finally:
        server.shutdown()
