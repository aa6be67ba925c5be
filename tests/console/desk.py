"""Console test hall: real mosquitto, the controller and `hallq console` as child processes in their own
process groups, staff passwords set with `hallq staff passwd`, and an httpx client per test."""

from __future__ import annotations

import json
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

from hallq.broker import Mosquitto, free_port
from tests.conftest import REPO, Hall, small_hall

PASSWORDS = {"S001": "window-pass-1", "S002": "window-pass-2", "R001": "reception-pass", "M001": "manager-pass",
             "M002": "manager-pass-2"}


def console_hall(port: int, **extra: Any) -> dict[str, Any]:
    """The small hall with a reception desk and two managers; `extra` adds sections (devices, displays)."""
    cfg = small_hall(port, **extra)
    cfg["staff"] = cfg["staff"] + [
        {"id": "R001", "name": "赵导服", "windows": ["3"], "roles": ["reception"]},
        {"id": "M001", "name": "钱主任", "windows": ["1"], "roles": ["window", "manager"]},
        {"id": "M002", "name": "孙科长", "windows": ["2"], "roles": ["manager"]},
    ]
    return cfg


class ConsoleProc:
    """`python -m hallq console` in its own process group."""

    def __init__(self, hall: Hall, tmp: Path) -> None:
        self.hall, self.tmp = hall, tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / "console.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> ConsoleProc:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hallq", "console", "--config", str(self.hall.config_path), "--data",
             str(self.hall.data_dir), "--listen", f"127.0.0.1:{self.port}"],
            cwd=REPO, env=dict(os.environ, PYTHONUNBUFFERED="1"), stdout=subprocess.DEVNULL,
            stderr=open(self.log_path, "ab"), start_new_session=True)  # noqa: SIM115
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:   # the console prints its address once it serves
            if "serving http" in self.log():
                return self
            if self.proc.poll() is not None:
                raise AssertionError("console exited: " + self.log())
            time.sleep(0.05)
        raise AssertionError("console did not start: " + self.log())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def stream_items(r: httpx.Response) -> Iterator[dict[str, Any]]:
    """The items of an open `/api/stream` response (server-sent events), as they come."""
    for line in r.iter_lines():
        if line.startswith("data: "):
            yield json.loads(line.removeprefix("data: "))


def set_password(hall: Hall, staff: str, password: str) -> None:
    r = subprocess.run([sys.executable, "-m", "hallq", "staff", "passwd", "--config", str(hall.config_path),
                        "--data", str(hall.data_dir), staff], input=password + "\n", text=True,
                       capture_output=True, cwd=REPO, timeout=60)
    assert r.returncode == 0, r.stderr


class Desk:
    """A running console hall: broker, controller, console; `session(staff)` signs in a client. `extra`: more
    config sections for the hall (e.g. `devices`, `displays`)."""

    def __init__(self, tmp: Path, broker: Mosquitto, **extra: Any) -> None:
        self.tmp = tmp
        self.hall = Hall(tmp, broker, console_hall(broker.port, **extra))
        for staff, pw in PASSWORDS.items():
            set_password(self.hall, staff, pw)
        self.hall.start_controller()
        self.console = ConsoleProc(self.hall, tmp)
        try:
            self.console.start()
        except BaseException:   # a console that does not start leaves nothing running
            self.console.stop()
            self.hall.controller.kill()
            raise
        self.url = self.console.url
        self.clients: list[httpx.Client] = []

    def client(self) -> httpx.Client:
        c = httpx.Client(base_url=self.url, timeout=15)
        self.clients.append(c)
        return c

    def session(self, staff: str) -> tuple[httpx.Client, str]:
        c = self.client()
        r = c.post("/api/session", json={"staff": staff, "password": PASSWORDS[staff]})
        assert r.status_code == 200, r.text
        return c, r.json()["csrf"]

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.console.stop()
        self.hall.controller.kill()


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    broker = Mosquitto(workdir=tmp_path / "broker").start()
    try:
        d = Desk(tmp_path, broker)
        try:
            yield d
        finally:
            d.close()
    finally:
        broker.stop()
