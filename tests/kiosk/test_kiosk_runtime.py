"""The kiosk's runtime against the real controller and mosquitto, headless (JSON lines on stdin/stdout):
a printer on a pseudo-terminal that runs out of paper, a controller that stalls and comes back.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devices.printer.simulator import Faults, PrinterSimulator, PtyPrinter
from hallq.broker import Mosquitto
from tests.conftest import REPO, Hall, small_hall

OFFLINE = "系统连接中，请稍候"


class HeadlessKiosk:
    """`hallq kiosk --headless` as a child process: send taps, read the views it prints."""

    def __init__(self, h: Hall | Any, stdin: int = subprocess.PIPE, extra: tuple[str, ...] = ()) -> None:
        """`h`: anything with `config_path` and `tmp` (a Hall, a SecureHall); `extra`: e.g. --credentials."""
        self.log = h.tmp / "kiosk.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hallq", "kiosk", "--config", str(h.config_path), "--kiosk", "k1", "--headless",
             *extra], cwd=REPO, env=dict(os.environ, PYTHONUNBUFFERED="1"), stdin=stdin, stdout=subprocess.PIPE,
            stderr=open(self.log, "ab"), text=True, start_new_session=True)  # noqa: SIM115
        self.views: queue.Queue[dict[str, Any]] = queue.Queue()
        self.last: dict[str, Any] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.views.put(json.loads(line))

    def send(self, **cmd: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def wait(self, pred: Callable[[dict[str, Any]], bool], what: str, timeout_s: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        if self.last and pred(self.last):
            return self.last
        while time.monotonic() < deadline:
            try:
                self.last = self.views.get(timeout=0.2)
            except queue.Empty:
                continue
            if pred(self.last):
                return self.last
        raise AssertionError(f"kiosk never showed {what}; last view {self.last}; log:\n"
                             + self.log.read_text(errors="replace")[-3000:])

    def home_online(self) -> dict[str, Any]:
        return self.wait(lambda v: v["screen"] == "home" and OFFLINE not in v["texts"], "home, online")

    def screen(self, name: str, timeout_s: float = 30) -> dict[str, Any]:
        return self.wait(lambda v: v["screen"] == name, f"screen {name}", timeout_s)

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise


@pytest.fixture
def printer(tmp_path: Path) -> Iterator[PrinterSimulator]:
    sim = PrinterSimulator("pty-printer", out_dir=tmp_path / "paper", faults=Faults(paper_out_after=1))
    host = PtyPrinter(sim, link=tmp_path / "ttyPRINTER").open()
    yield sim
    host.close()


@pytest.fixture
def kiosk_hall(tmp_path: Path, mosquitto: Mosquitto, printer: PrinterSimulator) -> Iterator[Hall]:
    kiosk = {"id": "k1", "printer": {"url": f"serial://{tmp_path / 'ttyPRINTER'}?baud=115200", "status_poll_s": 0.5}}
    h = Hall(tmp_path, mosquitto, small_hall(mosquitto.port, data_dir=str(tmp_path / "data"), kiosks=[kiosk]))
    yield h
    h.controller.kill()


def test_paper_runs_out_ticket_kept_alert_raised_reprint(kiosk_hall: Hall, printer: PrinterSimulator) -> None:
    h = kiosk_hall
    with h.client("watch", (h.cfg.topic("event", "alert.raised"), h.cfg.topic("device", "+", "status"))) as c:
        h.start_controller()
        k = HeadlessKiosk(h)
        try:
            k.home_online()
            k.send(tap="lang", arg="zh")
            k.screen("services")
            k.send(tap="service", arg="general")
            done = k.screen("result")
            assert done["texts"][:3] == ["您的号码", "A001", "前面还有 0 人"], done
            near = c.wait_for(h.cfg.topic("device", "k1-printer", "status"), lambda b: b.get("paper") == "near_end")
            assert near["state"] == "online"
            k.send(tap="home")
            k.send(tap="lang", arg="zh")
            k.send(tap="service", arg="tax")
            failed = k.screen("error")
            assert failed["texts"][:3] == ["您的号码", "S001", "号票打印失败：打印机缺纸，请联系工作人员"], failed
            alert = c.wait_for(h.cfg.topic("event", "alert.raised"), lambda b: b.get("kind") == "printer_paper_out")
            assert "k1-printer" in alert["message"]
            printer.load_paper()
            k.send(tap="reprint")
            assert k.screen("result")["texts"][1] == "S001"
        finally:
            assert k.stop() == 0
    assert [j.paper.qr_payloads[0].split(":")[-2] for j in printer.jobs if j.paper and j.paper.qr_payloads] == [
        "A001", "S001"]
    with h.client("check") as c2:
        assert c2.command("ticket", number="S001")["ticket"]["status"] == "waiting"
        with pytest.raises(Exception, match="UNKNOWN_TICKET"):
            c2.command("ticket", number="S002")


def test_stalled_controller_one_tap_one_ticket(kiosk_hall: Hall, printer: PrinterSimulator) -> None:
    """The controller freezes (SIGSTOP) while a tap waits for its ticket: the kiosk retries with the same
    command id; when it resumes, exactly one ticket exists and the kiosk shows it."""
    h = kiosk_hall
    printer.faults.paper_out_after = None
    h.start_controller()
    k = HeadlessKiosk(h)
    try:
        k.home_online()
        k.send(tap="lang", arg="zh")
        k.screen("services")
        assert h.controller.proc is not None
        h.controller.proc.send_signal(signal.SIGSTOP)
        k.send(tap="service", arg="general")
        k.screen("issuing")
        deadline = time.monotonic() + 60      # the kiosk's command timeout passes: it sends the same command again
        while "retrying with the same id" not in k.log.read_text():
            assert time.monotonic() < deadline, "the kiosk never retried its issue:\n" + k.log.read_text()[-3000:]
            time.sleep(0.1)
        h.controller.proc.send_signal(signal.SIGCONT)
        assert k.screen("result", 60)["texts"][1] == "A001"
        k.send(tap="home")
        # the controller dies: the kiosk says so and issues nothing; it comes back by itself
        h.controller.kill()
        k.wait(lambda v: "系统连接中，请稍候" in v["texts"], "the offline banner", 40)
        h.start_controller()
        k.wait(lambda v: "系统连接中，请稍候" not in v["texts"], "the banner gone", 40)
        k.send(tap="lang", arg="zh")
        k.send(tap="service", arg="general")
        assert k.screen("result")["texts"][1] == "A002"
    finally:
        if h.controller.proc and h.controller.proc.poll() is None:
            h.controller.proc.send_signal(signal.SIGCONT)
        assert k.stop() == 0
    assert "retrying with the same id" in k.log.read_text()


def test_broker_restart_banner_then_recovery(kiosk_hall: Hall, printer: PrinterSimulator) -> None:
    h = kiosk_hall
    printer.faults.paper_out_after = None
    h.start_controller()
    k = HeadlessKiosk(h)
    try:
        k.home_online()
        h.broker.stop()
        k.wait(lambda v: "系统连接中，请稍候" in v["texts"], "the offline banner while the broker is down")
        k.send(tap="lang", arg="zh")
        services = k.screen("services")
        assert "系统连接中，请稍候" in services["texts"]
        k.send(tap="service", arg="general")  # disabled while away: nothing is issued
        h.broker.start()
        k.wait(lambda v: v["screen"] == "services" and "系统连接中，请稍候" not in v["texts"], "recovery", 40)
        k.send(tap="service", arg="general")
        assert k.screen("result")["texts"][1] == "A001"
    finally:
        assert k.stop() == 0


def test_headless_without_input_serves_on(kiosk_hall: Hall) -> None:
    """Run with stdin on /dev/null (as `hallq demo --no-gui` does): no input is not an error."""
    kiosk_hall.start_controller()
    k = HeadlessKiosk(kiosk_hall, stdin=subprocess.DEVNULL)
    try:
        k.home_online()
    finally:
        assert k.stop() == 0
    log = k.log.read_text(errors="replace")
    assert "Traceback" not in log and "ERROR" not in log, log[-2000:]
