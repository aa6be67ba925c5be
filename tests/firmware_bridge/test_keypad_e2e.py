"""End to end with legacy keypads: real mosquitto, real controller, `hallq bridge`, a keypad simulator and
a hallbus bus (evaluator that beeps, bitmap hall board) on ptys.

Keys log in, call, recall and finish; the keypad's display shows the called number; a lost echo and a
bridge killed with SIGKILL while a press is in flight still make every press count exactly once.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from firmware_bridge.sim.bus import SimBus
from firmware_bridge.sim.device import SimBitmapBoard, SimEvaluator
from firmware_bridge.sim.keypad import SimKeypad, SimKeypadLink
from hallq.broker import Mosquitto
from tests.conftest import BridgeRunner, Hall, small_hall
from tests.firmware_bridge.test_bridge_e2e import until

CALL, RECALL, FINISH, LOGIN = 1, 2, 4, 0x21
RETRIES = 2


class KeypadHall(BridgeRunner):
    def __init__(self, tmp: Path, broker: Mosquitto) -> None:
        self.kp = SimKeypad(5)
        self.link = SimKeypadLink([self.kp], link=tmp / "ttyKP").open()
        self.ev = SimEvaluator(3)
        self.board = SimBitmapBoard(40, size=(192, 64))
        self.bus = SimBus([self.ev, self.board], link=tmp / "ttyBUS").open()
        devices = {"buses": [
            {"id": "kp", "port": str(tmp / "ttyKP"), "protocol": "legacy-keypad", "reply_timeout_ms": 80,
             "retries": RETRIES, "key_map": {CALL: "call", RECALL: "recall", FINISH: "finish", LOGIN: "login:S001"},
             "devices": [{"address": 5, "kind": "keypad", "window": "1"}]},
            {"id": "bus1", "port": str(tmp / "ttyBUS"), "reply_timeout_ms": 80, "retries": 3,
             "devices": [{"address": 3, "kind": "evaluator", "window": "1", "beep_ms": 200},
                         {"address": 40, "kind": "hall_led", "size": [192, 64]}]}]}
        self.hall = Hall(tmp, broker, small_hall(broker.port, devices=devices))
        self.tmp = tmp
        self.bridge: subprocess.Popen[bytes] | None = None

    def inflight_event(self) -> str | None:
        db = self.tmp / "bridge" / "inflight.sqlite3"
        if not db.exists():
            return None
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            row = con.execute("SELECT event FROM inflight WHERE device = 'kp-5'").fetchone()
        return str(row[0]) if row else None

    def close(self) -> None:
        self.stop_bridge()
        self.hall.controller.kill()
        self.link.close()
        self.bus.close()


@pytest.fixture
def kh(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[KeypadHall]:
    h = KeypadHall(tmp_path, mosquitto)
    yield h
    h.close()


def _called(c: Any) -> list[tuple[str, int]]:
    """(ticket, recall) of every ticket.called, once per seq (QoS 1 may deliver an event twice)."""
    seen = {m.json()["seq"]: (m.json()["ticket"], m.json()["recall"]) for m in c.received
            if m.topic.endswith("/event/ticket.called")}
    return [seen[s] for s in sorted(seen)]


def test_keypad_keys_display_and_a_lost_echo(kh: KeypadHall) -> None:
    h = kh.hall
    h.start_controller()
    kh.start_bridge()
    with h.client("t", (h.cfg.topic("#"),)) as c:
        c.wait_for(h.cfg.topic("device", "kp-5", "status"), lambda b: b["state"] == "online", 30)
        c.command("issue", service="general")
        c.command("issue", service="general")
        kh.kp.press(LOGIN)
        c.wait_for(h.cfg.topic("state", "window", "1"), lambda b: (b.get("staff") or {}).get("id") == "S001", 20)
        kh.kp.press(CALL)
        until(lambda: kh.kp.display == "001", f"keypad shows 001 (shows {kh.kp.display!r}); {kh.log()}")
        until(lambda: kh.ev.beeps == [20], "the evaluator of window 1 beeped 200 ms on the call")
        until(lambda: kh.board.presents > 0 and any(any(r) for r in kh.board.pixels()), "hall board lit")
        kh.board.save_png(kh.tmp / "led-hall.png")
        recall = kh.kp.press(RECALL)
        until(lambda: ("A001", 1) in _called(c), "recall published")
        # the echo follows the publish: wait for it, or the lost echoes below would hit the recall
        until(lambda: recall.press in kh.kp.echoed and not kh.kp.queue, f"recall echoed; {kh.log()}")
        # every echo of the next press is lost on the line: the keypad presents it again, as a duplicate
        kh.link.faults.lose_echoes = RETRIES + 1
        finish = kh.kp.press(FINISH)
        until(lambda: finish.press in kh.kp.echoed, f"finish echoed in the end; {kh.log()}")
        assert kh.link.echoes_lost == RETRIES + 1
        assert kh.kp.presented[finish.press] >= 2, "the keypad must have presented the finish again"
        kh.kp.press(CALL)
        until(lambda: kh.kp.display == "002", "keypad shows 002")
        finished = list({m.json()["seq"]: m.json()["ticket"] for m in c.received
                         if m.topic.endswith("/event/ticket.finished")}.values())
        assert finished == ["A001"], f"one finish press, one finish: {finished}"
        assert _called(c) == [("A001", 0), ("A001", 1), ("A002", 0)], _called(c)
        assert kh.ev.beeps == [20, 20, 20], "every call and recall beeps once"
    assert kh.bridge is not None and kh.bridge.poll() is None, kh.log()


def test_keypad_press_in_flight_survives_kill_9(kh: KeypadHall) -> None:
    h = kh.hall
    h.start_controller()
    kh.start_bridge()
    with h.client("t", (h.cfg.topic("#"),)) as c:
        c.wait_for(h.cfg.topic("device", "kp-5", "status"), lambda b: b["state"] == "online", 30)
        for _ in range(3):
            c.command("issue", service="general")
        kh.kp.press(LOGIN)
        c.wait_for(h.cfg.topic("state", "window", "1"), lambda b: (b.get("staff") or {}).get("id") == "S001", 20)
        until(lambda: not kh.kp.queue, "login acknowledged")
        h.controller.kill()                         # the press cannot be answered: it stays in flight
        press = kh.kp.press(CALL)
        until(lambda: (kh.inflight_event() or "").startswith(f"{press.press:02x}01"),
              "the bridge persisted the press's command id before publishing it")
        kh.stop_bridge(signal.SIGKILL)
        h.start_controller()
        kh.start_bridge()
        until(lambda: press.press in kh.kp.echoed, f"press echoed after the restart; {kh.log()}", 40)
        until(lambda: kh.kp.display == "001", "keypad shows 001")
        assert [t for t, _ in _called(c)] == ["A001"], f"one press, one call: {_called(c)}"
        assert c.command("ticket", number="A002")["ticket"]["status"] == "waiting"
