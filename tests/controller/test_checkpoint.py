"""Signed checkpoints (CONTRACT §3.8), key files beside the config, log segments, the ticket-code key out of
the database, and a log written by the controller before all this (commit f17c2c1) that must still verify
and replay."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from controller.checkpoint import message, sign, signature_ok
from controller.engine import ticket_code
from controller.service import ControllerService
from controller.store import DB_NAME, EventStore, StoredCommand, StoreError
from hallq.broker import Mosquitto
from hallq.config import load_config
from hallq.keys import KeyFileError, key_id, load_signing_key
from hallq.mqtt import BlockingClient
from tests.conftest import REPO, ControllerProc, FixedClock, small_hall

FIXTURES = Path(__file__).parent / "fixtures"
OLD_LOG = FIXTURES / "old-log-f17c2c1.sqlite3"
OLD_SECRET = "fa716266e81ec944998c2a58324985ae535c128210949e13ac1b8f65fa659ba1"   # what f17c2c1 kept in meta
AT = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def write_config(tmp: Path, **extra: object) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "hall.yaml"
    path.write_text(yaml.safe_dump(small_hall(**extra), allow_unicode=True), encoding="utf-8")
    return path


def audit(data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hallq", "audit", "verify", "--data", str(data), *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=60)


# -- the signature --------------------------------------------------------------------------------
def test_signature_vector_verifies_independently() -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    cp = sign(key, "test-hall", "0123456789abcdef", 1000, "ab" * 32, "2026-11-23T09:00:00+08:00")
    assert cp == {"hall": "test-hall", "log": "0123456789abcdef", "seq": 1000, "hash": "ab" * 32,
                  "at": "2026-11-23T09:00:00+08:00", "key": "56475aa75463474c",
                  "sig": "JG8ERa98mfdzTgBTmd8nnx3rO8YjuhNah04PSayZdUCTca18/O1a9OczaQEqtSnl4n66KG3nt/nmM4SyGTYvBA=="}
    raw = base64.b64decode("A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=")
    assert raw == key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert cp["key"] == hashlib.sha256(raw).hexdigest()[:16], "key = first 16 hex of SHA-256 of the raw key"
    signed = ("test-hall\n0123456789abcdef\n1000\n" + "ab" * 32 + "\n2026-11-23T09:00:00+08:00").encode("utf-8")
    assert message("test-hall", "0123456789abcdef", 1000, "ab" * 32, "2026-11-23T09:00:00+08:00") == signed
    Ed25519PublicKey.from_public_bytes(raw).verify(base64.b64decode(cp["sig"]), signed)   # raises if wrong
    pub = Ed25519PublicKey.from_public_bytes(raw)
    assert signature_ok(cp, pub)
    for field, value in (("seq", 1001), ("hash", "ac" * 32), ("at", "2026-11-23T09:00:01+08:00"),
                         ("log", "0123456789abcdee"), ("hall", "other-hall")):
        assert not signature_ok({**cp, field: value}, pub), f"a changed {field} must not verify"


def test_signing_key_is_made_once_0600_with_its_pub_beside(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit-signing.key"
    key = load_signing_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    pub = (tmp_path / "keys" / "audit-signing.key.pub").read_text()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert pub == base64.b64encode(raw).decode() + "\n"
    again = load_signing_key(path)
    assert key_id(again.public_key().public_bytes_raw()) == key_id(raw), "the second start keeps the key"
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="readable by others"):
        load_signing_key(path)
    path.chmod(0o600)
    path.write_text("not a key")
    with pytest.raises(KeyFileError, match=str(path)):
        load_signing_key(path)


def test_a_pinned_key_that_is_not_the_signing_key_stops_the_controller(tmp_path: Path) -> None:
    other = base64.b64encode(bytes(32)).decode()
    config = write_config(tmp_path, audit={"public_key": other})
    svc = ControllerService(load_config(config), tmp_path / "data", FixedClock(AT), snapshots=False)
    with pytest.raises(StoreError, match="audit.public_key"):
        svc.open()
    svc.close()
    proc = subprocess.run([sys.executable, "-m", "hallq", "controller", "--config", str(config), "--data",
                           str(tmp_path / "data")], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "audit.public_key" in proc.stderr and "Traceback" not in proc.stderr


# -- segments and the ticket-code key -----------------------------------------------------------------
def test_fresh_log_gets_a_segment_and_the_ticket_key_lives_beside_the_config(tmp_path: Path) -> None:
    config = write_config(tmp_path / "etc")
    data = tmp_path / "data"
    svc = ControllerService(load_config(config), data, FixedClock(AT), snapshots=False)
    svc.open()
    out = svc.engine.handle("issue", {"service": "general"}, AT)
    written = svc.store.append([(out.events, StoredCommand("x1", "issue", out.reply))], AT)
    log_id = svc.store.log
    assert len(log_id) == 16 and written[0][0]["log"] == log_id
    svc.close()
    key_file = tmp_path / "etc" / "ticket-code.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    secret = bytes.fromhex(key_file.read_text().strip())
    assert out.reply["result"]["code"] == ticket_code(secret, AT.date(), "A001")
    db = sqlite3.connect(data / DB_NAME)
    assert db.execute("SELECT value FROM meta WHERE key = 'ticket_secret'").fetchone() is None
    db.close()
    assert secret.hex().encode() not in (data / DB_NAME).read_bytes()
    svc = ControllerService(load_config(config), data, FixedClock(AT), snapshots=False)
    svc.open()
    assert svc.store.log == log_id, "a restart of the same data directory keeps its segment"
    assert svc.engine.secret == secret
    svc.close()


def test_a_restored_backup_starts_a_new_segment(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    data = tmp_path / "data"
    svc = ControllerService(load_config(config), data, FixedClock(AT), snapshots=False)
    svc.open()
    for i in range(3):
        out = svc.engine.handle("issue", {"service": "general"}, AT)
        svc.store.append([(out.events, StoredCommand(f"a{i}", "issue", out.reply))], AT)
        if i == 0:
            svc.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            shutil.copy(data / DB_NAME, tmp_path / "backup.sqlite3")
        svc.checkpoints.due(AT, svc.engine.state.today)
    first = svc.store.log
    svc.checkpoints.stop(AT)
    svc.close()
    shutil.copy(tmp_path / "backup.sqlite3", data / DB_NAME)
    for extra in ("-wal", "-shm"):
        (data / (DB_NAME + extra)).unlink(missing_ok=True)
    store = EventStore(data).open()
    assert store.log == first and store.head_seq == 1
    store.close()
    svc = ControllerService(load_config(config), data, FixedClock(AT), snapshots=False)
    svc.open()
    assert svc.store.log != first
    reason = svc.store.db.execute("SELECT after, reason FROM segments ORDER BY n DESC LIMIT 1").fetchone()
    assert reason[0] == 1 and "restored" in reason[1] and "seq 3" in reason[1], reason
    out = svc.engine.handle("issue", {"service": "general"}, AT)
    ev = svc.store.append([(out.events, StoredCommand("b1", "issue", out.reply))], AT)[0][0]
    assert ev["seq"] == 2 and ev["log"] == svc.store.log, "the new seq 2 is told apart from the lost one"
    svc.close()


# -- the log of an earlier version ------------------------------------------------------------------
def test_a_log_written_before_segments_still_verifies_and_replays(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(OLD_LOG, data / DB_NAME)
    res = audit(data)
    assert res.returncode == 0 and "intact, 12 records" in res.stdout, res.stderr
    config = write_config(tmp_path)
    svc = ControllerService(load_config(config), data, FixedClock(AT), snapshots=False)
    svc.open()
    assert svc.engine.secret.hex() == OLD_SECRET, "the database's secret moved to the key file: codes stay valid"
    assert (tmp_path / "ticket-code.key").read_text().strip() == OLD_SECRET
    assert svc.store.get_meta("ticket_secret") is None
    st = svc.engine.state
    a1 = st.ticket(AT.date(), "A001")
    assert a1 is not None and a1.status.value == "finished", "replayed from the old events"
    old = svc.store.command("old-0")
    assert old is not None and old.reply["result"]["code"] == ticket_code(svc.engine.secret, AT.date(), "A001")
    out = svc.engine.handle("issue", {"service": "tax"}, AT)
    ev = svc.store.append([(out.events, StoredCommand("new-1", "issue", out.reply))], AT)[0]
    assert ev[-1]["log"] == svc.store.log and ev[0]["seq"] == 13
    assert all("log" not in e for e in svc.store.events() if e["seq"] <= 12), "old events stay as they were"
    cps = svc.checkpoints.stop(AT)
    svc.close()
    assert OLD_SECRET.encode() not in (data / DB_NAME).read_bytes(), "no copy of the secret left in the file"
    assert [c["seq"] for c in cps] == [12, ev[-1]["seq"]], "the old tail is signed at start, the head at stop"
    res = audit(data, "--config", str(config))
    assert res.returncode == 0, res.stderr
    assert "2 checkpoints in the log" in res.stdout and "1 stored replies match" in res.stdout, res.stdout


# -- a running controller over a real broker ------------------------------------------------------------
def test_running_controller_publishes_signed_checkpoints(tmp_path: Path) -> None:
    broker = Mosquitto(workdir=tmp_path / "broker").start()
    every = 3
    config = write_config(tmp_path / "etc", mqtt={"host": "127.0.0.1", "port": broker.port},
                          audit={"checkpoint_every": every})
    cfg = load_config(config)
    data = tmp_path / "data"
    proc = ControllerProc(config, data, tmp_path / "controller.log")
    topic = cfg.topic("audit", "checkpoint")
    c = BlockingClient(cfg, "t", (topic, cfg.topic("controller", "status")))
    try:
        c.connect()
        proc.start()
        c.wait_for(cfg.topic("controller", "status"), lambda b: b.get("state") == "online", timeout_s=30)
        for _ in range(7):
            c.command("issue", service="general")
        c.command("login", window="1", staff="S001")
        c.command("call", window="1")
        c.wait_for(topic, lambda b: b["seq"] >= 7, timeout_s=10)
        assert proc.proc is not None
        proc.proc.send_signal(signal.SIGTERM)
        assert proc.proc.wait(30) == 0
        c.wait_for(cfg.topic("controller", "status"), lambda b: b.get("state") == "offline", timeout_s=10)
        received = [m.json() for m in c.received if m.topic == topic]
    finally:
        c.close()
        proc.kill()
        broker.stop()
    store = EventStore(data).open()
    head, log_id = store.head_seq, store.log
    store.close()
    raw = base64.b64decode((tmp_path / "etc" / "audit-signing.key.pub").read_text())
    pub = Ed25519PublicKey.from_public_bytes(raw)
    seqs = [cp["seq"] for cp in received]
    assert seqs == sorted(seqs) and len(seqs) >= 3, seqs
    assert seqs[:-1] == list(range(every, every * len(seqs[:-1]) + 1, every)), \
        f"a checkpoint every {every} events exactly, also inside a command's several events: {seqs}"
    assert received[-1]["seq"] == head and received[-1]["log"] == log_id, "the clean stop covers the newest event"
    for cp in received:
        assert set(cp) == {"hall", "log", "seq", "hash", "at", "key", "sig"}
        assert cp["key"] == hashlib.sha256(raw).hexdigest()[:16]
        pub.verify(base64.b64decode(cp["sig"]), f"{cp['hall']}\n{cp['log']}\n{cp['seq']}\n{cp['hash']}\n{cp['at']}"
                   .encode())
    held = tmp_path / "held.jsonl"
    held.write_text("".join(json.dumps(cp) + "\n" for cp in received))
    res = audit(data, "--config", str(config), "--against", str(held))
    assert res.returncode == 0, res.stderr
    assert f"{len(received)} held elsewhere verified" in res.stdout
    assert not (data / "audit-signing.key").exists() and (tmp_path / "etc" / "audit-signing.key").exists()


def test_a_day_change_is_checkpointed_at_once(tmp_path: Path) -> None:
    config = write_config(tmp_path)     # checkpoint_every 1000: only the day change makes one
    svc = ControllerService(load_config(config), tmp_path / "data", FixedClock(AT), snapshots=False)
    svc.open()
    out = svc.engine.handle("issue", {"service": "general"}, AT)
    svc.store.append([(out.events, StoredCommand("d1", "issue", out.reply))], AT)
    assert svc.checkpoints.due(AT, svc.engine.state.today) == []
    nxt = AT.replace(day=24, hour=8)
    out = svc.engine.handle("issue", {"service": "general"}, nxt)
    assert any(e["type"] == "day.closed" for e in out.events)
    svc.store.append([(out.events, StoredCommand("d2", "issue", out.reply))], nxt)
    cps = svc.checkpoints.due(nxt, svc.engine.state.today)
    assert [(c["seq"], c["hash"], c["at"]) for c in cps] == [(svc.store.head_seq, svc.store.head_hash,
                                                              nxt.isoformat())]
    svc.close()


def test_a_segment_a_restore_tool_began_is_kept(tmp_path: Path) -> None:
    """`hallq restore` begins the new segment itself; the controller's own check adds no second one."""
    config = write_config(tmp_path)
    data = tmp_path / "data"
    svc = ControllerService(load_config(config), data, FixedClock(AT), snapshots=False)
    svc.open()
    for i in range(2):
        out = svc.engine.handle("issue", {"service": "general"}, AT)
        svc.store.append([(out.events, StoredCommand(f"a{i}", "issue", out.reply))], AT)
        if i == 0:
            svc.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            shutil.copy(data / DB_NAME, tmp_path / "backup.sqlite3")
    svc.checkpoints.stop(AT)
    svc.close()
    shutil.rmtree(data)
    data.mkdir()
    shutil.copy(tmp_path / "backup.sqlite3", data / DB_NAME)
    store = EventStore(data).open()
    restored = store.start_segment("restored from a backup")
    store.close()
    svc = ControllerService(load_config(config), data, FixedClock(AT), snapshots=False)
    svc.open()
    assert svc.store.log == restored
    svc.close()


def test_one_large_batch_is_checkpointed_every_n_records(tmp_path: Path) -> None:
    config = write_config(tmp_path, audit={"checkpoint_every": 5})
    svc = ControllerService(load_config(config), tmp_path / "data", FixedClock(AT), snapshots=False)
    svc.open()
    batch = []
    for i in range(23):
        out = svc.engine.handle("issue", {"service": "general"}, AT)
        batch.append((out.events, StoredCommand(f"b{i}", "issue", out.reply)))
    svc.store.append(batch, AT)
    cps = svc.checkpoints.due(AT, svc.engine.state.today)
    assert [c["seq"] for c in cps] == [5, 10, 15, 20]
    assert all(c["hash"] == svc.store.hash_at(c["seq"]) for c in cps)
    assert [c["seq"] for c in svc.checkpoints.stop(AT)] == [23]
    svc.close()
    assert audit(tmp_path / "data", "--config", str(config)).returncode == 0


def test_a_key_that_cannot_be_made_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where the key's folder should be")
    config = write_config(tmp_path, audit={"signing_key": "blocker/audit.key"})
    proc = subprocess.run([sys.executable, "-m", "hallq", "controller", "--config", str(config), "--data",
                           str(tmp_path / "data")], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "cannot create the checkpoint signing key" in proc.stderr and "blocker/audit.key" in proc.stderr


def test_the_days_report_prints_its_checkpoint(tmp_path: Path) -> None:
    import json as _json
    config = write_config(tmp_path)
    data = tmp_path / "data"
    svc = ControllerService(load_config(config), data, FixedClock(AT), config.read_text(encoding="utf-8"),
                            snapshots=False)
    svc.open()
    for i in range(3):
        out = svc.engine.handle("issue", {"service": "general"}, AT)
        svc.store.append([(out.events, StoredCommand(f"r{i}", "issue", out.reply))], AT)
    svc.checkpoints.due(AT, svc.engine.state.today)
    nxt = AT + timedelta(days=1)
    svc.store.append([(svc.engine.tick(nxt), None)], nxt)
    made = svc.checkpoints.due(nxt, svc.engine.state.today)
    assert made, "the day change is checkpointed"
    svc.close()
    out = tmp_path / "r.json"
    r = subprocess.run([sys.executable, "-m", "hallq", "report", "--data", str(data), "--date", AT.date().isoformat(),
                        "--format", "json", "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    cp = _json.loads(out.read_text(encoding="utf-8"))["checkpoint"]
    assert cp == made[-1] and cp["seq"] >= 3
    pub = (tmp_path / "audit-signing.key.pub").read_text().strip()
    assert signature_ok(cp, Ed25519PublicKey.from_public_bytes(base64.b64decode(pub)))
