"""End to end: real mosquitto, real controller, `hallq bridge` on a pty with simulated devices.

Evaluator keys log in, call, recall, finish and rate; the LED board shows the called number; the
evaluator shows the window state; faults (bit errors, unplugging, a silent device) lose nothing.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from firmware_bridge.hallbus.messages import KEY, WSTATE
from firmware_bridge.sim.bus import Faults, SimBus
from firmware_bridge.sim.device import SimEvaluator, SimLed
from hallq.broker import Mosquitto
from hallq.config import parse_config
from tests.conftest import BridgeRunner, Hall, small_hall


def until(cond: Callable[[], Any], what: str, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {what}")


class BridgeHall(BridgeRunner):
    def __init__(self, tmp: Path, broker: Mosquitto, faults: Faults | None = None) -> None:
        self.ev = SimEvaluator(3, uid=bytes(range(8)))
        self.led = SimLed(17)
        self.bus = SimBus([self.ev, self.led], link=tmp / "ttyBUS", faults=faults).open()
        devices = {"buses": [{"id": "bus1", "port": str(tmp / "ttyBUS"), "reply_timeout_ms": 80, "retries": 3,
                              "devices": [{"address": 3, "kind": "evaluator", "window": "1"},
                                          {"address": 17, "kind": "led", "window": "1"}]}]}
        self.hall = Hall(tmp, broker, small_hall(broker.port, devices=devices))
        self.bridge: subprocess.Popen[bytes] | None = None
        self.tmp = tmp

    def start(self) -> None:
        self.hall.start_controller()
        self.start_bridge()

    def close(self) -> None:
        self.stop_bridge()
        self.hall.controller.kill()
        self.bus.close()


@pytest.fixture
def bh(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[BridgeHall]:
    h = BridgeHall(tmp_path, mosquitto)
    yield h
    h.close()


def _status(c: Any, hall: Hall, device: str, state: str) -> None:
    c.wait_for(hall.cfg.topic("device", device, "status"), lambda b: b["state"] == state, timeout_s=30)


def test_keys_drive_the_controller_and_boards(bh: BridgeHall) -> None:
    bh.start()
    h = bh.hall
    with h.client("t", (h.cfg.topic("#"),)) as c:
        _status(c, h, "bus1-3", "online")
        c.command("issue", service="general")
        c.command("issue", service="general")
        bh.ev.login("S001")
        until(lambda: bh.ev.state.state == WSTATE.THANKS and bh.ev.state.staff == "S001", "evaluator logged in")
        bh.ev.press(KEY.CALL)
        until(lambda: "A001" in bh.led.text(), "LED shows A001")
        assert bh.led.text() == "请A001号到1号窗口"
        until(lambda: bh.ev.state.state == WSTATE.SERVING and bh.ev.state.ticket == "A001", "evaluator serving")
        bh.ev.press(KEY.RECALL)
        until(lambda: c.command("ticket", number="A001")["ticket"]["recalls"] == 1, "recall counted", 10)
        bh.ev.press(KEY.FINISH)
        until(lambda: bh.ev.state.state == WSTATE.RATING, "rating prompt on the evaluator")
        bh.ev.rate(5)
        until(lambda: c.command("ticket", number="A001")["ticket"]["rated"], "rating recorded")
        rec = c.wait_for(h.cfg.topic("event", "evaluation.recorded"), lambda b: True)
        assert (rec["ticket"], rec["level"], rec["window"], rec["channel"]) == ("A001", 5, "1", "evaluator")
        until(lambda: not bh.ev.queue, "every event acknowledged", 10)
        assert bh.bridge is not None and bh.bridge.poll() is None, bh.log()


def _after_everything_before(c: Any, h: Any) -> None:
    """Wait until every event the controller published so far has reached `c`: the events of one publisher reach a
    subscriber in order, so a marker event published now arrives after all of them."""
    number = c.command("issue", service="tax")["ticket"]["number"]
    c.wait_for(h.cfg.topic("event", "ticket.issued"), lambda b: b["ticket"] == number, timeout_s=30)


def test_bit_errors_every_press_counts_once(tmp_path: Path, mosquitto: Mosquitto) -> None:
    bh = BridgeHall(tmp_path, mosquitto, Faults(ber=1e-3, drop_rate=0.05))
    try:
        bh.start()
        h = bh.hall
        with h.client("t", (h.cfg.topic("#"),)) as c:
            _status(c, h, "bus1-3", "online")
            for _ in range(12):
                c.command("issue", service="general")
            bh.ev.login("S001")
            for _ in range(10):
                bh.ev.press(KEY.CALL)
            until(lambda: not bh.ev.queue, "all presses acknowledged", 60)
            _after_everything_before(c, h)
            called = [m.json() for m in c.received if m.topic.endswith("/event/ticket.called")]
            assert [e["ticket"] for e in called] == [f"A{i:03d}" for i in range(1, 11)], \
                f"10 presses must call exactly 10 tickets once each; {bh.log()}"
    finally:
        bh.close()


def test_unplug_replug_and_silent_device(bh: BridgeHall) -> None:
    bh.start()
    h = bh.hall
    with h.client("t", (h.cfg.topic("#"),)) as c:
        _status(c, h, "bus1-3", "online")
        bh.bus.unplug()
        _status(c, h, "bus1-3", "offline")
        bh.bus.replug()
        _status(c, h, "bus1-3", "online")
        c.command("issue", service="general")
        bh.ev.login("S001")
        bh.ev.press(KEY.CALL)
        until(lambda: "A001" in bh.led.text(), "LED shows A001 after replug")
        bh.bus.faults.silent = frozenset({17})
        _status(c, h, "bus1-17", "offline")
        bh.bus.faults.silent = frozenset()
        _status(c, h, "bus1-17", "online")


def test_bridge_restart_does_not_execute_twice(bh: BridgeHall) -> None:
    bh.start()
    h = bh.hall
    with h.client("t", (h.cfg.topic("#"),)) as c:
        _status(c, h, "bus1-3", "online")
        for _ in range(3):
            c.command("issue", service="general")
        bh.ev.login("S001")
        until(lambda: bh.ev.state.staff == "S001", "logged in")
        bh.stop_bridge(signal.SIGKILL)
        bh.ev.press(KEY.CALL)
        bh.start_bridge()
        until(lambda: not bh.ev.queue, "press acknowledged after the restart", 30)
        _after_everything_before(c, h)
        called = [m.json()["ticket"] for m in c.received if m.topic.endswith("/event/ticket.called")]
        assert called == ["A001"], called


def test_parse_devices_config() -> None:
    raw = small_hall(devices={"buses": [{"id": "b", "port": "/dev/null", "devices": [
        {"address": 1, "kind": "evaluator", "window": "9"}]}]})
    with pytest.raises(Exception, match="unknown window '9'"):
        parse_config(raw)
    _ = yaml  # the config is YAML on disk in the other tests
