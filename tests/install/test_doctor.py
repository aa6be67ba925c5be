"""`hallq doctor` on a healthy secure hall (its broker running, the controller's account, a bus port, paper) and on
a broken one (broker down, a wrong password, a missing port, paper out, a log from a newer hallq, an open hall)."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from controller.store import DB_NAME, LOG_SCHEMA
from tests.conftest import REPO, small_hall
from tests.install.test_backup import small_log
from tests.secure_hall import PRINCIPALS, secure_hall


def doctor(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hallq", "doctor", "--config", str(config), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def lines(out: str) -> dict[str, list[tuple[str, str]]]:
    """check name -> [(level, text)] from the doctor's table."""
    got: dict[str, list[tuple[str, str]]] = {}
    for line in out.splitlines():
        m = re.match(r"^(ok|WARN|FAIL)\s+(\S+(?: \S+)?)\s{2,}(.*)$", line)
        if m:
            got.setdefault(m.group(2).strip(), []).append((m.group(1), m.group(3)))
    return got


def hall_base(tmp: Path) -> dict[str, Any]:
    port = tmp / "bus-1"
    port.write_bytes(b"")
    return small_hall(devices={"buses": [{"id": "1", "port": str(port)}]},
                      kiosks=[{"id": "1", "printer": {"url": "file:///dev/null"}}],
                      security={"mode": "secure", "principals": PRINCIPALS[:4]})


def test_doctor_on_a_healthy_and_a_broken_box(tmp_path: Path) -> None:
    with secure_hall(tmp_path / "hall", hall_base(tmp_path)) as h:
        data = Path(h.cfg.data_dir)
        small_log(data)
        with h.client("kiosk-1") as kiosk:
            kiosk.publish(h.cfg.topic("device", "kiosk-1", "status"),
                          {"state": "online", "kind": "printer", "kiosk": "1", "paper": "ok"}, retain=True)
        creds = str(h.credentials("controller"))
        res = doctor(h.config_path, "--credentials", creds, "--days", "30")
        assert res.returncode == 0, res.stdout + res.stderr
        got = lines(res.stdout)
        assert got["broker"][0][0] == "ok" and "accepts controller" in got["broker"][0][1], got
        assert got["printer"] == [("ok", "kiosk 1: paper ok"), ("ok", "kiosk 1: /dev/null present")]
        assert [lvl for lvl, _ in got["serial"]] == ["ok"] and got["fonts"][0][0] == "ok"
        assert got["event log"][0] == ("ok", f"{data / DB_NAME}: schema {LOG_SCHEMA}")
        assert got["disk"][0][0] == "ok" and "enough for 30 days" in got["disk"][0][1]
        assert got["security"][0][0] == "WARN" and "mqtt.tls is false" in got["security"][0][1]
        assert "FAIL" not in res.stdout and "Traceback" not in res.stderr

        # broken: paper out, a port unplugged, a log from a newer hallq, a wrong password
        with h.client("kiosk-1") as kiosk:
            kiosk.publish(h.cfg.topic("device", "kiosk-1", "status"),
                          {"state": "online", "kind": "printer", "kiosk": "1", "paper": "out"}, retain=True)
        (tmp_path / "bus-1").unlink()
        db = sqlite3.connect(data / DB_NAME)
        db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema', '99')")
        db.commit()
        db.close()
        res = doctor(h.config_path, "--credentials", creds)
        assert res.returncode == 1, res.stdout + res.stderr
        got = lines(res.stdout)
        assert got["printer"][0] == ("FAIL", "kiosk 1: the printer is out of paper — load a new roll")
        assert got["serial"][0][0] == "FAIL" and "is missing — plug in the RS-485 adapter" in got["serial"][0][1]
        assert got["event log"][0][0] == "FAIL" and "written by a newer hallq" in got["event log"][0][1]
        bad = tmp_path / "bad.yaml"
        bad.write_text(yaml.safe_dump({"username": "controller", "password": "wrong"}))
        res = doctor(h.config_path, "--credentials", str(bad), "--no-broker")
        assert "broker" not in lines(res.stdout)
        res = doctor(h.config_path, "--credentials", str(bad))
        got = lines(res.stdout)
        assert got["broker"][0][0] == "FAIL" and "refused controller" in got["broker"][0][1], got
        h.broker.stop()
        res = doctor(h.config_path, "--credentials", creds, "--data", str(tmp_path / "nowhere"))
        got = lines(res.stdout)
        assert res.returncode == 1
        assert got["broker"][0][0] == "FAIL" and "cannot reach the broker" in got["broker"][0][1], got
        assert got["data"][0][0] == "FAIL" and "does not exist" in got["data"][0][1]
        assert re.search(r"^\d+ to fix, \d+ warnings$", res.stdout, re.M)


def test_doctor_warns_about_an_open_hall(tmp_path: Path) -> None:
    cfg = tmp_path / "hall.yaml"
    cfg.write_text(yaml.safe_dump(small_hall(1, data_dir=str(tmp_path / "data")), allow_unicode=True))
    (tmp_path / "data").mkdir()
    res = doctor(cfg, "--no-broker")
    got = lines(res.stdout)
    assert got["security"][0][0] == "WARN" and "the hall is OPEN" in got["security"][0][1]
    assert got["event log"][0][0] == "WARN" and "none yet" in got["event log"][0][1]


def test_doctor_on_personal_data_kept_and_kept_too_long(tmp_path: Path) -> None:
    from datetime import date

    from hallq.config import parse_config
    from ops.doctor import check_privacy

    cfg = parse_config(small_hall(evaluation={"identity_keep_days": 30}))
    data = tmp_path / "data"
    assert check_privacy(cfg, data) == [], "no data directory yet: nothing to say"
    (data / "privacy").mkdir(parents=True)
    (c,) = check_privacy(cfg, data, date(2026, 11, 30))
    level, text = c.level, c.text
    assert level == "ok" and "no citizen's personal data" in text
    for d in ("2026-11-02", "2026-11-30"):
        (data / "privacy" / f"{d}.key").write_bytes(b"k" * 64)
    (c,) = check_privacy(cfg, data, date(2026, 11, 30))
    level, text = c.level, c.text
    assert level == "ok" and "2 days kept (oldest 2026-11-02)" in text
    (data / "privacy" / "2026-10-01.key").write_bytes(b"k" * 64)
    (c,) = check_privacy(cfg, data, date(2026, 11, 30))
    level, text = c.level, c.text
    assert level == "WARN" and "personal data of 1 service day kept past 30 days (oldest 2026-10-01)" in text
