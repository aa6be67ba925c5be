"""The manager's console in a secure hall (CONTRACT §5): the console (principal console-1) acts for the signed-in
manager (`actor`), the controller checks the manager role for alerts and work orders, events carry principal and
actor, and whoever appealed cannot decide."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hallq.broker import free_port
from tests.conftest import REPO
from tests.console.desk import PASSWORDS, console_hall
from tests.secure_hall import SecureHall, secure_hall


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "hallq", *args], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=open(log, "ab"), start_new_session=True,  # noqa: SIM115
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))


def stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)


@pytest.fixture
def hall(tmp_path: Path) -> Iterator[tuple[SecureHall, str]]:
    with secure_hall(tmp_path, console_hall(1883)) as h:
        data = h.cfg_dict["data_dir"]
        for staff in ("S001", "R001", "M001", "M002"):
            r = subprocess.run([sys.executable, "-m", "hallq", "staff", "passwd", "--config", str(h.config_path),
                                "--data", data, staff], input=PASSWORDS[staff] + "\n", text=True,
                               capture_output=True, cwd=REPO, timeout=60)
            assert r.returncode == 0, r.stderr
        ctl = start(["controller", "--config", str(h.config_path), "--credentials", str(h.credentials("controller"))],
                    tmp_path / "controller.log")
        port = free_port()
        con = start(["console", "--config", str(h.config_path), "--credentials", str(h.credentials("console-1")),
                     "--listen", f"127.0.0.1:{port}"], tmp_path / "console.log")
        try:
            deadline = time.monotonic() + 30
            while "serving http" not in (tmp_path / "console.log").read_text(errors="replace"):
                assert time.monotonic() < deadline and con.poll() is None, (tmp_path / "console.log").read_text()
                time.sleep(0.05)
            yield h, f"http://127.0.0.1:{port}"
        finally:
            stop(con)
            stop(ctl)


def session(url: str, staff: str) -> tuple[httpx.Client, dict[str, str]]:
    c = httpx.Client(base_url=url, timeout=15)
    r = c.post("/api/session", json={"staff": staff, "password": PASSWORDS[staff]})
    assert r.status_code == 200, r.text
    return c, {"X-CSRF-Token": r.json()["csrf"]}


def wait_ok(fn: Any, timeout_s: float = 20.0) -> httpx.Response:
    """The controller comes online a moment after the console: retry a call until it answers 200."""
    deadline = time.monotonic() + timeout_s
    while True:
        r: httpx.Response = fn()
        if r.status_code == 200 or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


def test_manager_loop_in_a_secure_hall(hall: tuple[SecureHall, str]) -> None:
    h, url = hall
    rc, rh = session(url, "R001")
    t = wait_ok(lambda: rc.post("/api/tickets", json={"service": "general"}, headers=rh)).json()
    wc, wh = session(url, "S001")
    for cmd in ("login", "call", "finish"):
        r = wc.post(f"/api/windows/1/{cmd}", json={}, headers=wh)
        assert r.status_code == 200, r.text
    anon = httpx.Client(base_url=url, timeout=15)
    assert anon.post("/t/rate", json={"q": t["ref"], "level": 1}).status_code == 200
    m1, h1 = session(url, "M001")
    m2, h2 = session(url, "M002")
    with h.client("display-1", subscribe=(h.cfg.topic("event", "#"),)) as watch:
        oid = f"WO-{t['ticket']['date']}-{t['ticket']['number']}"
        deadline = time.monotonic() + 10
        while not m1.get("/api/workorders").json()["orders"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert wc.get("/api/workorders").status_code == 403
        bad = next(a for a in m1.get("/api/alerts").json()["alerts"] if a["kind"] == "bad_review")
        r = m1.post(f"/api/alerts/{bad['id']}/ack", json={"note": "已处理"}, headers=h1)
        assert r.status_code == 200, r.text
        ack = watch.wait_for(h.cfg.topic("event", "alert.acknowledged"))
        assert ack["principal"] == "console-1" and ack["actor"] == "M001"
        r = m1.post(f"/api/workorders/{oid}/verify", json={"note": "核实属实"}, headers=h1)
        assert r.status_code == 200, r.text
        ev = watch.wait_for(h.cfg.topic("event", "workorder.changed"))
        assert (ev["action"], ev["by"], ev["principal"], ev["actor"]) == ("wo_verify", "M001", "console-1", "M001")
        r = m1.post(f"/api/workorders/{oid}/appeal", json={"reason": "恶意差评"}, headers=h1)
        assert r.status_code == 200, r.text
        r = m1.post(f"/api/workorders/{oid}/decide", json={"note": "成立", "uphold": True}, headers=h1)
        assert r.status_code == 409 and r.json()["error"]["code"] == "NOT_ALLOWED"
        r = m2.post(f"/api/workorders/{oid}/decide", json={"note": "不成立", "uphold": False}, headers=h2)
        assert r.status_code == 200 and r.json()["order"]["state"] == "rectifying", r.text
        answer = "已整改，感谢您的监督"
        r = m2.post(f"/api/workorders/{oid}/feedback", json={"note": answer}, headers=h2)
        assert r.status_code == 200, r.text
        assert anon.get("/api/t", params={"q": t["ref"]}).json()["ticket"]["answer"] == answer
    for c in (rc, wc, anon, m1, m2):
        c.close()
