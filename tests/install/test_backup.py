"""Backups while the controller runs and restores that refuse what does not verify: the restore drill of issue 16
(a simulated day, a backup at noon while commands flow, the restored log identical up to the backup's seq)."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tarfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from controller.service import ControllerService
from controller.store import DB_NAME, LOG_SCHEMA, StoredCommand
from hallq.broker import Mosquitto
from hallq.config import parse_config
from hallq.mqtt import BlockingClient
from ops.backup import MANIFEST, BackupError, backup, restore
from tests.conftest import REPO, FixedClock, small_hall

ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 23, 8, 30, tzinfo=ZONE)


def hallq(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hallq", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def rows(data: Path, upto: int | None = None) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{data / DB_NAME}?mode=ro", uri=True)
    try:
        return db.execute("SELECT seq, at, type, body, prev, hash FROM events WHERE seq <= ? ORDER BY seq",
                          (upto if upto is not None else 1 << 62,)).fetchall()
    finally:
        db.close()


def small_log(data: Path, n: int = 6) -> None:
    """A short log written by the controller's own service and store (no broker)."""
    svc = ControllerService(parse_config(small_hall()), data, FixedClock(START),
                            yaml.safe_dump(small_hall(), allow_unicode=True), snapshots=False)
    svc.open()
    for i in range(n):
        out = svc.engine.handle("issue", {"service": "general"}, START + timedelta(minutes=i))
        svc.store.append([(out.events, StoredCommand(f"c{i}", "issue", out.reply))], START + timedelta(minutes=i))
    svc.close()


# -- the drill -------------------------------------------------------------------------------------------
def test_restore_drill_backup_at_noon_while_commands_flow(tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg_dict = small_hall(mosquitto.port)
    cfg = parse_config(cfg_dict)
    cfg_path = tmp_path / "hall.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg_dict, allow_unicode=True), encoding="utf-8")
    data = tmp_path / "data"
    clock = f"{START.isoformat()}x7200"        # a second is two hours: noon 1.75 s in, 17:00 4.25 s in
    proc = subprocess.Popen([sys.executable, "-m", "hallq", "controller", "--config", str(cfg_path), "--data",
                             str(data), "--clock", clock], cwd=REPO, env=dict(os.environ, PYTHONUNBUFFERED="1"),
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "controller.log", "ab"),  # noqa: SIM115
                            start_new_session=True)
    replies: list[float] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def flow() -> None:
        try:
            with BlockingClient(cfg, "flow") as c:
                assert c.request("login", window="1", staff="S001", timeout_s=30)["ok"]
                while not stop.is_set():
                    for name, args in (("issue", {"service": "general"}), ("call", {"window": "1"}),
                                       ("finish", {"window": "1"})):
                        c.request(name, timeout_s=10, **args)
                        replies.append(time.monotonic())
        except BaseException as e:  # noqa: BLE001  (reported by the test thread)
            errors.append(e)

    worker = threading.Thread(target=flow)
    try:
        status = cfg.topic("controller", "status")
        with BlockingClient(cfg, "watch", (cfg.topic("event", "#"), status)) as watch:
            watch.wait_for(status, lambda b: b.get("state") == "online", timeout_s=30)
            worker.start()

            def after(hh: int) -> Any:
                return lambda b: datetime.fromisoformat(b["at"]) >= START.replace(hour=hh, minute=0)

            watch.wait_for(cfg.topic("event", "#"), after(12), timeout_s=60)
            before = len(replies)
            t0 = time.monotonic()
            res = hallq("backup", "--data", str(data), "--out", str(tmp_path / "noon.tar.gz"))
            t1 = time.monotonic()
            assert res.returncode == 0, res.stderr
            seq = int(re.search(r"last seq (\d+)", res.stdout).group(1))  # type: ignore[union-attr]
            assert "hash chain intact" in res.stdout, res.stdout
            watch.wait_for(cfg.topic("event", "#"), after(17), timeout_s=60)
        stop.set()
        worker.join(30)
        assert not errors, errors
        during = [t for t in replies[before:] if t0 <= t <= t1]
        assert during, "commands were answered while the backup ran (the controller was not stopped)"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        stop.set()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    full = rows(data)
    assert full[-1][0] > seq + 20, "the day went on after the backup"
    restored = tmp_path / "restored"
    res = hallq("restore", str(tmp_path / "noon.tar.gz"), "--data", str(restored))
    assert res.returncode == 0, res.stderr
    assert f"up to seq {seq}" in res.stdout
    assert rows(restored) == rows(data, seq), "the restored log is the original up to the backup's seq, byte for byte"
    assert hallq("audit", "verify", "--data", str(restored)).returncode == 0
    db = sqlite3.connect(restored / DB_NAME)
    reason = db.execute("SELECT after, reason FROM segments ORDER BY n DESC LIMIT 1").fetchone()
    db.close()
    assert reason[0] == seq and "restored from the backup noon.tar.gz" in reason[1], reason
    assert not (restored / "snapshot.sqlite3").exists(), "the snapshot cache is not part of a backup"


# -- refusals ----------------------------------------------------------------------------------------------
def _rewrite(src: Path, dst: Path, edit: Any) -> None:
    """Copy a backup with `edit(stage_dir, manifest)` applied, the manifest's hashes recomputed (a forger's copy)."""
    stage = dst.parent / "stage"
    with tarfile.open(src) as tar:
        tar.extractall(stage, filter="data")
    manifest = json.loads((stage / MANIFEST).read_text())
    edit(stage, manifest)
    import hashlib

    for name in manifest["files"]:
        manifest["files"][name]["sha256"] = hashlib.sha256((stage / name).read_bytes()).hexdigest()
    (stage / MANIFEST).write_text(json.dumps(manifest))
    with tarfile.open(dst, "w:gz") as tar:
        tar.add(stage / MANIFEST, arcname=MANIFEST)
        for name in manifest["files"]:
            tar.add(stage / name, arcname=name)


def test_restore_refuses_what_does_not_verify(tmp_path: Path) -> None:
    data = tmp_path / "data"
    small_log(data)
    good = tmp_path / "good.tar.gz"
    info = backup(data, good)
    assert info.seq == len(rows(data)) and info.hall == "test-hall"

    # an edited event, re-hashed in the manifest: audit verify names it, nothing is restored
    def edit_event(stage: Path, _m: dict[str, Any]) -> None:
        db = sqlite3.connect(stage / DB_NAME)
        db.execute("UPDATE events SET body = replace(body, 'general', 'tax') WHERE seq = 3")
        db.commit()
        db.close()

    forged = tmp_path / "forged.tar.gz"
    _rewrite(good, forged, edit_event)
    target = tmp_path / "restored"
    res = hallq("restore", str(forged), "--data", str(target))
    assert res.returncode == 1 and "fails audit verify" in res.stderr and "seq 3" in res.stderr, res.stderr
    assert not target.exists(), "a refused restore leaves nothing behind"
    assert not list(tmp_path.glob(".hallq-restore-*"))

    # bytes changed after the manifest was written
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(good) as src, tarfile.open(damaged, "w:gz") as dst:
        for m in src:
            f = src.extractfile(m)
            blob = f.read() if f else b""
            if m.name == DB_NAME:
                blob = blob[:-1] + bytes([blob[-1] ^ 1])
            dst.addfile(m, io.BytesIO(blob))
    with pytest.raises(BackupError, match="does not match its SHA-256"):
        restore(damaged, target)

    # a log from a newer hallq
    def newer(stage: Path, manifest: dict[str, Any]) -> None:
        db = sqlite3.connect(stage / DB_NAME)
        db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema', ?)", (str(LOG_SCHEMA + 1),))
        db.commit()
        db.close()

    future = tmp_path / "future.tar.gz"
    _rewrite(good, future, newer)
    with pytest.raises(BackupError, match=f"newer hallq \\(log schema {LOG_SCHEMA + 1}"):
        restore(future, target)

    # not empty: refused, the old directory untouched
    target.mkdir()
    (target / "keep.txt").write_text("evidence")
    res = hallq("restore", str(good), "--data", str(target))
    assert res.returncode == 1 and "not an empty directory" in res.stderr
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]

    # an empty folder made for the restore (by root, for hallq): filled in place
    empty = tmp_path / "empty"
    empty.mkdir()
    info = restore(good, empty)
    assert info.seq == len(rows(data)) and rows(empty, info.seq) == rows(data)
    assert not [p for p in empty.iterdir() if p.name.startswith(".")]

    # not a backup at all
    (tmp_path / "junk.tar.gz").write_bytes(b"junk")
    res = hallq("restore", str(tmp_path / "junk.tar.gz"), "--data", str(tmp_path / "other"))
    assert res.returncode == 1 and "cannot read it as a hallq backup" in res.stderr and "Traceback" not in res.stderr


def test_backup_refuses_a_damaged_log_and_keeps_n_nightly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    small_log(data)
    out = tmp_path / "nightly"
    out.mkdir()
    for day in (20, 21, 22):                     # three earlier nights
        (out / f"hallq-test-hall-202611{day}T023000.tar.gz").write_bytes(b"old")
    (out / "other-file.txt").write_text("not ours")
    res = hallq("backup", "--data", str(data), "--out-dir", str(out), "--keep", "2")
    assert res.returncode == 0, res.stderr
    kept = sorted(p.name for p in out.glob("hallq-*"))
    assert len(kept) == 2 and kept[0] == "hallq-test-hall-20261122T023000.tar.gz", kept
    assert re.fullmatch(r"hallq-test-hall-\d{8}T\d{6}\.tar\.gz", kept[1]), kept
    assert (out / "other-file.txt").exists()
    kept = kept[1:]
    assert oct(os.stat(out / kept[0]).st_mode & 0o777) == "0o600"
    db = sqlite3.connect(data / DB_NAME)
    db.execute("DELETE FROM events WHERE seq = 2")
    db.commit()
    db.close()
    res = hallq("backup", "--data", str(data), "--out", str(tmp_path / "bad.tar.gz"))
    assert res.returncode == 1 and "fails audit verify" in res.stderr, res.stderr
    assert not (tmp_path / "bad.tar.gz").exists()
    res = hallq("backup", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.tar.gz"))
    assert res.returncode == 1 and "no event log here" in res.stderr
