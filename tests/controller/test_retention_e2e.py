"""Retention with the real controller process, broker, SQLite log and key files: a citizen's identity is kept
and revealed while the day is young; started a month later, the controller logs `identity.purged`, destroys the
day key (its bytes are nowhere in the data directory), the log still verifies and the rater can no longer be
known. A backup made before the purge, restored, is purged again at its first start; a purge logged just before
a crash has its key destroyed at the next start."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from controller.service import ControllerService
from hallq.broker import Mosquitto
from hallq.config import parse_config
from hallq.mqtt import BlockingClient, CommandError
from hallq.sealed import new_private_key_pem, seal
from tests.conftest import REPO, ControllerProc, FixedClock, small_hall

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 8, 3)                                   # a Monday
START = datetime(2026, 8, 3, 9, 0, tzinfo=TZ)
LATER = START + timedelta(days=31)                       # past identity_keep_days (30)
PEM, PUBLIC = new_private_key_pem()


def hallq(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hallq", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


class Run:
    """One controller process on `data` whose clock starts at `at`."""

    def __init__(self, tmp: Path, cfg_path: Path, data: Path, at: datetime, name: str) -> None:
        self.cfg = parse_config(yaml.safe_load(cfg_path.read_text(encoding="utf-8")))
        self.proc = ControllerProc(cfg_path, data, tmp / f"{name}.log", ("--clock", at.isoformat()))
        self.at = at
        self.client = BlockingClient(self.cfg, f"retention-{name}", (self.cfg.topic("controller", "status"),
                                                                     self.cfg.topic("event", "#")))

    def __enter__(self) -> Run:
        self.client.connect()
        self.proc.start()
        try:
            self.client.wait_for(self.cfg.topic("controller", "status"), lambda b: b.get("state") == "online"
                                 and datetime.fromisoformat(b["at"]) >= self.at, timeout_s=30)
        except TimeoutError:
            self.__exit__()
            raise AssertionError("the controller did not come online:\n" + self.proc.log()) from None
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            assert self.proc.stop() == 0, self.proc.log()
        finally:
            self.proc.kill()
            self.client.close()

    def purged(self) -> dict[str, Any]:
        return dict(self.client.wait_for(self.cfg.topic("event", "identity.purged"), timeout_s=30))


@pytest.fixture
def hall_files(tmp_path: Path, mosquitto: Mosquitto) -> tuple[Path, Path]:
    cfg = small_hall(mosquitto.port, evaluation={"identity_keep_days": 30, "rater_public_key": PUBLIC})
    path = tmp_path / "hall.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path, tmp_path / "data"


def test_a_day_is_purged_a_month_later_and_again_after_a_restore(tmp_path: Path, hall_files: tuple[Path, Path]) -> None:
    cfg_path, data = hall_files
    identity = seal(PUBLIC, {"name": "其木格", "idn": "150102195001011234", "iss": "mengsuban"})
    with Run(tmp_path, cfg_path, data, START, "day") as r:
        c = r.client
        number = c.command("issue", service="general", holder="msb:abc", rater=identity)["ticket"]["number"]
        got = c.command("rater_access", ticket=number, by="M01", reason="回访")
        assert got["rater"] == identity
    key_file = data / "privacy" / f"{DAY.isoformat()}.key"
    key = key_file.read_bytes()
    assert len(key) == 64 and key_file.stat().st_mode & 0o777 == 0o600
    assert (data / "privacy").stat().st_mode & 0o777 == 0o700
    backup = hallq("backup", "--data", str(data), "--out", str(tmp_path / "before.tar.gz"))
    assert backup.returncode == 0, backup.stderr

    with Run(tmp_path, cfg_path, data, LATER, "later") as r:
        ev = r.purged()
        assert (ev["date"], ev["identities"], ev["kept_days"]) == (DAY.isoformat(), 1, 30)
        assert not key_file.exists(), "the key is destroyed once the purge is in the log"
        with pytest.raises(CommandError) as e:
            r.client.command("rater_access", ticket=number, date=DAY.isoformat(), by="M01", reason="回访")
        assert e.value.code == "PURGED" and "2026-09-03" in e.value.message
    for f in data.rglob("*"):
        assert not f.is_file() or key not in f.read_bytes(), f"the day key's bytes are still in {f}"
    verify = hallq("audit", "verify", "--data", str(data))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    with Run(tmp_path, cfg_path, data, LATER + timedelta(days=1), "next") as r:
        r.client.command("alerts")           # answered after its batch's events were published ...
        with pytest.raises(TimeoutError):     # ... and none was a second purge of the day
            r.client.wait_for(r.cfg.topic("event", "identity.purged"), timeout_s=0.2)

    restored = tmp_path / "restored"
    res = hallq("restore", str(tmp_path / "before.tar.gz"), "--data", str(restored))
    assert res.returncode == 0, res.stdout + res.stderr
    assert (restored / "privacy" / f"{DAY.isoformat()}.key").read_bytes() == key, "a backup keeps the day key"
    with Run(tmp_path, cfg_path, restored, LATER, "restored") as r:
        assert r.purged()["date"] == DAY.isoformat(), "the restored log forgets the day again"
    assert not (restored / "privacy" / f"{DAY.isoformat()}.key").exists()


def test_a_purge_logged_before_a_crash_destroys_its_key_at_the_next_start(tmp_path: Path) -> None:
    cfg = parse_config(small_hall(evaluation={"identity_keep_days": 30}))
    data = tmp_path / "data"
    svc = ControllerService(cfg, data, FixedClock(START), snapshots=False)
    svc.open()
    out = svc.engine.handle("issue", {"service": "general", "holder": "msb:abc"}, START)
    svc.store.append([(out.events, None)], START)
    assert (data / "privacy" / "2026-08-03.key").exists()
    # what a stop between writing the purge and destroying the key leaves on disk
    purge = svc.engine.purge_due(LATER, svc.keys.days())
    svc.store.append([(purge, None)], LATER)
    svc.close()
    assert (data / "privacy" / "2026-08-03.key").exists()
    again = ControllerService(cfg, data, FixedClock(LATER), snapshots=False)
    again.open()
    try:
        assert not (data / "privacy" / "2026-08-03.key").exists()
        assert again.engine.state.purged == {DAY: LATER.date()}
        assert again.engine.purge_due(LATER, again.keys.days()) == [], "logged once"
    finally:
        again.close()
