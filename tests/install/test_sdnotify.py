"""sd_notify READY and watchdog pings through a fake NOTIFY_SOCKET, with a real controller process: READY only once
it is online (subscribed, state published), pings from its loop, none while the process is stopped (SIGSTOP)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hallq import sdnotify
from hallq.broker import Mosquitto, free_port
from hallq.config import parse_config
from hallq.mqtt import BlockingClient
from tests.conftest import REPO, small_hall


class FakeSystemd:
    """The unix datagram socket systemd would listen on; collects (monotonic time, message)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.got: list[tuple[float, str]] = []

    def next(self, timeout_s: float) -> str | None:
        """The next message, or None when none comes within `timeout_s`."""
        self.sock.settimeout(timeout_s)
        try:
            data = self.sock.recv(4096)
        except TimeoutError:
            return None
        msg = data.decode()
        self.got.append((time.monotonic(), msg))
        return msg

    def wait_for(self, want: str, timeout_s: float) -> list[str]:
        """Messages up to and including the first holding `want`; AssertionError if it does not come in time."""
        seen: list[str] = []
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            msg = self.next(max(0.01, end - time.monotonic()))
            if msg is None:
                break
            seen.append(msg)
            if want in msg.split("\n"):
                return seen
        raise AssertionError(f"no {want} within {timeout_s} s; got {seen}")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[FakeSystemd]:
    s = FakeSystemd(tmp_path / "notify.sock")
    yield s
    s.close()


def test_notify_is_a_no_op_outside_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    assert sdnotify.notify("READY=1") is False
    assert sdnotify.watchdog_interval() is None, "no socket: no watchdog"


def test_ready_once_then_status_and_watchdog_interval(systemd: FakeSystemd, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(systemd.path))
    monkeypatch.setattr(sdnotify, "_ready_sent", False)
    assert sdnotify.ready("online")
    assert systemd.next(2) == "READY=1\nSTATUS=online"
    assert sdnotify.ready("again")
    assert systemd.next(2) == "STATUS=again", "READY is sent once per process"
    monkeypatch.setenv("WATCHDOG_USEC", "3000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval() == 1.5, "pings at half of WatchdogSec"
    monkeypatch.setenv("WATCHDOG_PID", str(os.getppid()))
    assert sdnotify.watchdog_interval() == 1.5, "the kiosk under cage: systemd's main process is our parent"
    monkeypatch.setenv("WATCHDOG_PID", "999999999")
    assert sdnotify.watchdog_interval() is None, "the variables were meant for another process"
    monkeypatch.setenv("WATCHDOG_USEC", "junk")
    monkeypatch.delenv("WATCHDOG_PID")
    assert sdnotify.watchdog_interval() is None


def test_watchdog_task_pings_only_while_the_loop_runs(systemd: FakeSystemd, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(systemd.path))
    monkeypatch.setenv("WATCHDOG_USEC", "100000")      # pings every 50 ms
    monkeypatch.delenv("WATCHDOG_PID", raising=False)

    async def main() -> None:
        dog = sdnotify.watchdog_task()
        assert dog is not None
        await asyncio.sleep(0.3)
        time.sleep(0.5)                      # the loop stalls: a blocking call on it
        await asyncio.sleep(0.2)
        await sdnotify.stop_task(dog)

    reader = threading.Thread(target=lambda: [systemd.next(0.2) for _ in range(400) if not done.is_set()])
    done = threading.Event()
    reader.start()
    try:
        asyncio.run(main())
    finally:
        done.set()
        reader.join(5)
    assert all(m == "WATCHDOG=1" for _, m in systemd.got)
    times = [t for t, _ in systemd.got]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(times) >= 6, times
    assert max(gaps) >= 0.45, "no ping while the loop was stalled"
    assert sorted(gaps)[len(gaps) // 2] < 0.15, "pings every ~50 ms otherwise"


def _start_controller(tmp: Path, port: int, sock: Path, watchdog_usec: int) -> subprocess.Popen[bytes]:
    cfg_path = tmp / "hall.yaml"
    cfg_path.write_text(yaml.safe_dump(small_hall(port), allow_unicode=True), encoding="utf-8")
    env = dict(os.environ, PYTHONUNBUFFERED="1", NOTIFY_SOCKET=str(sock), WATCHDOG_USEC=str(watchdog_usec))
    env.pop("WATCHDOG_PID", None)
    return subprocess.Popen([sys.executable, "-m", "hallq", "controller", "--config", str(cfg_path), "--data",
                             str(tmp / "data")], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(tmp / "controller.log", "ab"), start_new_session=True)  # noqa: SIM115


def test_controller_ready_only_when_online_and_watchdog_stops_when_stalled(tmp_path: Path,
                                                                           systemd: FakeSystemd) -> None:
    port = free_port()
    proc = _start_controller(tmp_path, port, systemd.path, 400_000)      # WatchdogSec=0.4 s: pings every 0.2 s
    broker = Mosquitto(port=port, workdir=tmp_path / "broker")
    try:
        # no broker yet: the loop runs (pings) but the controller does not serve, so no READY
        seen = [systemd.wait_for("WATCHDOG=1", 30)[-1]]
        for _ in range(5):
            msg = systemd.next(2)
            assert msg is not None, "pings go on while it waits for the broker"
            seen.append(msg)
        assert all("READY=1" not in m for m in seen), seen
        broker.start()
        cfg = parse_config(small_hall(port))
        status_topic = cfg.topic("controller", "status")
        with BlockingClient(cfg, "watcher", (status_topic,)) as watcher:
            got = systemd.wait_for("READY=1", 30)
            ready = got[-1]
            assert "STATUS=online: hall test-hall" in ready, ready
            status = watcher.wait_for(status_topic, lambda b: b.get("state") == "online",
                                      timeout_s=10)
            assert status["state"] == "online", "READY came after the controller announced itself online"
            # it answers commands: READY meant it serves
            reply = watcher.request("issue", timeout_s=10, service="general")
            assert reply["ok"], reply
        # a stalled process: no pings (systemd would kill and restart it after WatchdogSec)
        assert systemd.next(2) == "WATCHDOG=1"
        os.killpg(proc.pid, signal.SIGSTOP)
        while systemd.next(0.05) is not None:      # the datagrams already in the socket
            pass
        assert systemd.next(1.2) is None, "a stopped main loop must not ping"
        os.killpg(proc.pid, signal.SIGCONT)
        assert systemd.wait_for("WATCHDOG=1", 5)
        proc.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in systemd.wait_for("STOPPING=1", 10)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        broker.stop()


@pytest.mark.gui
@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs an X display: run under xvfb-run")
def test_kiosk_ready_after_its_first_frame_and_pings_from_the_kivy_loop(tmp_path: Path, systemd: FakeSystemd,
                                                                        mosquitto: Mosquitto) -> None:
    kiosk = {"id": "k1", "printer": {"url": f"sim://sd-printer?out={tmp_path / 'paper'}"}}
    cfg_path = tmp_path / "hall.yaml"
    cfg_path.write_text(yaml.safe_dump(small_hall(mosquitto.port, data_dir=str(tmp_path / "data"), kiosks=[kiosk]),
                                       allow_unicode=True), encoding="utf-8")
    env = dict(os.environ, KIVY_NO_ARGS="1", NOTIFY_SOCKET=str(systemd.path), WATCHDOG_USEC="1000000")
    env.pop("WATCHDOG_PID", None)
    log = tmp_path / "kiosk.log"
    proc = subprocess.Popen([sys.executable, "-m", "hallq", "kiosk", "--config", str(cfg_path), "--kiosk", "k1"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "ab"),  # noqa: SIM115
                            start_new_session=True)
    try:
        got = systemd.wait_for("READY=1", 90)
        assert "STATUS=kiosk k1 on screen" in got[-1], got
        systemd.wait_for("WATCHDOG=1", 5)
        systemd.wait_for("WATCHDOG=1", 5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text(errors="replace")[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.mark.gui
@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs an X display: run under xvfb-run")
def test_call_screen_ready_after_its_first_frame_and_pings_from_kivys_clock(tmp_path: Path, systemd: FakeSystemd,
                                                                          mosquitto: Mosquitto) -> None:
    cfg_path = tmp_path / "hall.yaml"
    cfg_path.write_text(yaml.safe_dump(small_hall(mosquitto.port, data_dir=str(tmp_path / "data")),
                                       allow_unicode=True), encoding="utf-8")
    env = dict(os.environ, KIVY_NO_ARGS="1", NOTIFY_SOCKET=str(systemd.path), WATCHDOG_USEC="1000000")
    env.pop("WATCHDOG_PID", None)
    log = tmp_path / "display.log"
    proc = subprocess.Popen([sys.executable, "-m", "hallq", "display", "--config", str(cfg_path)],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "ab"),  # noqa: SIM115
                            start_new_session=True)
    try:
        got = systemd.wait_for("READY=1", 90)
        assert "STATUS=call screen hall on screen" in got[-1], got
        systemd.wait_for("WATCHDOG=1", 5)
        systemd.wait_for("WATCHDOG=1", 5)
        os.killpg(proc.pid, signal.SIGSTOP)
        while systemd.next(0.05) is not None:
            pass
        assert systemd.next(1.5) is None, "a stopped screen must not ping"
        os.killpg(proc.pid, signal.SIGCONT)
        systemd.wait_for("WATCHDOG=1", 5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
