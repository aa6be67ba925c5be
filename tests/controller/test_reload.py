"""Configuration reload without a restart (SIGHUP, `hallq reload`): a new service takes effect and no command sent
during the reload is lost; an invalid file is refused with the same one-line error as at start and the hall keeps
running on the previous configuration."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
import yaml

from controller.reload import PID_FILE, _read_result
from hallq.mqtt import CommandError
from tests.conftest import REPO, Hall


def reload_cli(hall: Hall, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hallq", "reload", "--config", str(hall.config_path), "--data",
                           str(hall.data_dir), "--timeout", "30", *extra], cwd=REPO, capture_output=True, text=True,
                          timeout=60)


def test_new_service_takes_effect_without_losing_a_command(hall: Hall) -> None:
    hall.start_controller()
    with hall.client("kiosk") as c:
        with pytest.raises(CommandError) as e:
            c.command("issue", service="passport")
        assert e.value.code == "UNKNOWN_SERVICE"
        pid = int((hall.data_dir / PID_FILE).read_text())
        assert pid == hall.controller.proc.pid if hall.controller.proc else False
        new: dict[str, Any] = yaml.safe_load(hall.config_path.read_text(encoding="utf-8"))
        new["services"].append({"id": "passport", "prefix": "P", "name": {"zh": "出入境", "mn": "ᠫᠠᠰᠫᠣᠷᠲ"}})
        new["windows"][1]["services"].append("passport")
        hall.config_path.write_text(yaml.safe_dump(new, allow_unicode=True), encoding="utf-8")
        replies: list[dict[str, Any]] = []
        stop = threading.Event()

        def keep_issuing() -> None:
            with hall.client("kiosk-2") as k:
                while not stop.is_set():
                    replies.append(k.request("issue", service="general", timeout_s=30))

        t = threading.Thread(target=keep_issuing)
        t.start()
        try:
            time.sleep(0.3)        # commands are flowing when the reload starts
            r = reload_cli(hall)
            time.sleep(0.3)
        finally:
            stop.set()
            t.join(60)
        assert r.returncode == 0, r.stderr
        assert "runs the new configuration" in r.stdout
        assert replies and all(x["ok"] for x in replies)
        numbers = [x["result"]["ticket"]["number"] for x in replies]
        assert numbers == [f"A{i:03d}" for i in range(1, len(numbers) + 1)]      # none lost, none twice
        p = c.command("issue", service="passport")["ticket"]
        assert p["number"] == "P001"
        assert c.command("login", window="2", staff="S002")["window"]["status"] == "idle"
        assert c.command("call", window="2")["ticket"]["number"] == "P001"
    assert "configuration reloaded" in hall.controller.log()


def test_invalid_file_is_refused_and_the_hall_keeps_running(hall: Hall) -> None:
    hall.start_controller()
    good = hall.config_path.read_text(encoding="utf-8")
    bad: dict[str, Any] = yaml.safe_load(good)
    bad["services"][0]["prefx"] = "Q"          # a typo
    hall.config_path.write_text(yaml.safe_dump(bad, allow_unicode=True), encoding="utf-8")
    r = reload_cli(hall)
    at_start = subprocess.run([sys.executable, "-m", "hallq", "controller", "--config", str(hall.config_path),
                               "--data", str(hall.tmp / "other")], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == at_start.returncode == 2
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and "Traceback" not in r.stderr
    assert r.stderr.split("config error: ")[1] == at_start.stderr.split("config error: ")[1]
    assert "services[0].prefx" in r.stderr
    # SIGHUP straight to the controller: refused in its log, the hall runs on
    assert hall.controller.proc is not None
    before = _read_result(hall.data_dir / "hallq.sqlite3").get("n", 0)
    os.kill(hall.controller.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 20
    while _read_result(hall.data_dir / "hallq.sqlite3").get("n", 0) == before:
        assert time.monotonic() < deadline, hall.controller.log()
        time.sleep(0.05)
    res = _read_result(hall.data_dir / "hallq.sqlite3")
    assert res["ok"] is False and "services[0].prefx" in res["error"]
    assert "reload refused" in hall.controller.log()
    with hall.client("kiosk") as c:
        assert c.command("issue", service="general")["ticket"]["number"] == "A001"
    # a change a running controller cannot take
    moved: dict[str, Any] = yaml.safe_load(good)
    moved["hall"]["id"] = "another-hall"
    hall.config_path.write_text(yaml.safe_dump(moved, allow_unicode=True), encoding="utf-8")
    r = reload_cli(hall)
    assert r.returncode == 2 and "hall.id cannot change while the controller runs" in r.stderr
    assert hall.controller.proc.poll() is None
