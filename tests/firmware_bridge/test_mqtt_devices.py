"""MQTT-native devices through the bridge: JSON events become commands, acks and state/show come back.

Run open (anonymous broker) and secure (mosquitto from the generated config; the evaluator and the LED
board as device principals of their own, the bridge and the controller with their credentials).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hallq.broker import Mosquitto
from hallq.mqtt import BlockingClient
from tests.conftest import REPO, ControllerProc, Hall, small_hall
from tests.secure_hall import secure_hall

DEVICES = {"mqtt": [{"id": "ev-1", "kind": "evaluator", "window": "1"},
                    {"id": "led-1", "kind": "led", "window": "1"}]}
PRINCIPALS = [{"id": "kiosk-1", "role": "kiosk"}, {"id": "bridge-1", "role": "bridge"},
              {"id": "ev-1", "role": "device", "window": "1"}, {"id": "led-1", "role": "device", "window": "1"}]


class Clients:
    """Who sends what: the evaluator device, the board device, and a kiosk issuing tickets."""

    def __init__(self, ev: BlockingClient, led: BlockingClient, kiosk: BlockingClient) -> None:
        self.ev, self.led, self.kiosk = ev, led, kiosk


def _bridge(tmp: Path, config: Path, extra: tuple[str, ...]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "hallq", "bridge", "--config", str(config), "--data",
                             str(tmp / "bridge"), *extra], cwd=REPO, env=dict(os.environ),
                            stderr=open(tmp / "bridge.log", "ab"), start_new_session=True)  # noqa: SIM115


@contextmanager
def _open_hall(tmp: Path, broker: Mosquitto) -> Iterator[tuple[Clients, Any]]:
    hall = Hall(tmp, broker, small_hall(broker.port, devices=DEVICES))
    hall.start_controller()
    bridge = _bridge(tmp, hall.config_path, ())
    t = hall.cfg.topic
    try:
        with hall.client("dev", (t("#"),)) as c:
            c.wait_for(t("bridge", "status"), lambda b: b["state"] == "online", timeout_s=30)
            yield Clients(c, c, c), hall.cfg
    finally:
        bridge.send_signal(signal.SIGTERM)
        bridge.wait(15)
        hall.controller.kill()


@contextmanager
def _secure_hall(tmp: Path) -> Iterator[tuple[Clients, Any]]:
    base = small_hall(devices=DEVICES)
    base["security"] = {"mode": "secure", "device_login": "id", "principals": PRINCIPALS}
    with secure_hall(tmp, base) as h, ExitStack() as stack:
        t = h.cfg.topic
        controller = ControllerProc(h.config_path, Path(h.cfg.data_dir), tmp / "controller.log",
                                    ("--credentials", str(h.credentials("controller"))))
        stack.callback(controller.kill)
        kiosk = stack.enter_context(h.client("kiosk-1", "kiosk", (t("controller", "status"), t("event", "#"))))
        t0 = datetime.now(UTC) - timedelta(milliseconds=5)
        controller.start()
        kiosk.wait_for(t("controller", "status"),
                       lambda b: b.get("state") == "online" and datetime.fromisoformat(b["at"]) >= t0, timeout_s=30)
        ev = stack.enter_context(h.client("ev-1", "ev", (t("device", "ev-1", "#"),)))
        led = stack.enter_context(h.client("led-1", "led", (t("device", "led-1", "#"),)))
        bridge = _bridge(tmp, h.config_path, ("--credentials", str(h.credentials("bridge-1"))))

        def stop() -> None:
            bridge.send_signal(signal.SIGTERM)
            bridge.wait(15)

        stack.callback(stop)
        # the bridge is up once it answers: the retained window state reaches the evaluator's topic
        ev.wait_for(t("device", "ev-1", "state"), lambda b: b.get("window") == "1", timeout_s=30)
        yield Clients(ev, led, kiosk), h.cfg


@pytest.mark.parametrize("mode", ["open", "secure"])
def test_network_evaluator_and_board(tmp_path: Path, mosquitto: Mosquitto, mode: str) -> None:
    hall = _open_hall(tmp_path, mosquitto) if mode == "open" else _secure_hall(tmp_path)
    with hall as (c, cfg):
        t = cfg.topic
        c.kiosk.command("issue", service="general")
        ev = t("device", "ev-1", "event")
        c.ev.publish(ev, {"event_id": "boot1-1", "type": "login", "staff": "S001"})
        c.ev.publish(ev, {"event_id": "boot1-2", "type": "key", "key": "call"})
        c.ev.publish(ev, {"event_id": "boot1-2", "type": "key", "key": "call"})   # a resend: same id
        show = c.led.wait_for(t("device", "led-1", "show"), lambda b: True)
        assert show["text"] == "请A001号到1号窗口" and show["ticket"] == "A001"
        c.ev.publish(ev, {"event_id": "boot1-3", "type": "key", "key": "finish"})
        c.ev.wait_for(t("device", "ev-1", "state"), lambda b: b["status"] == "rating" and b["ticket"] == "A001")
        c.ev.publish(ev, {"event_id": "boot1-4", "type": "rate", "level": 4})
        ack = c.ev.wait_for(t("device", "ev-1", "ack"), lambda b: b["event_id"] == "boot1-4")
        assert ack["ok"] and ack["command"] == "rate"
        c.ev.publish(ev, {"event_id": "boot1-5", "type": "rate", "level": 9})
        bad = c.ev.wait_for(t("device", "ev-1", "ack"), lambda b: b["event_id"] == "boot1-5")
        assert bad["ok"] is False and bad["code"] == "BAD_REQUEST"
        c.kiosk.wait_for(t("event", "ticket.called"), lambda b: b["ticket"] == "A001")
        called = [m for m in c.kiosk.received if m.topic.endswith("/event/ticket.called")]
        assert len(called) == 1, "the resent call event was executed once"
        ticket = c.kiosk.command("ticket", number="A001")["ticket"]
        assert ticket["status"] == "finished" and ticket["rated"], ticket
        if mode == "secure":
            rated = c.kiosk.wait_for(t("event", "evaluation.recorded"), lambda b: b["ticket"] == "A001")
            assert rated["principal"] == "bridge-1" and rated["level"] == 4
