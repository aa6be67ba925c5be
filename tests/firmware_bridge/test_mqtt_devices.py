"""MQTT-native devices through the bridge: JSON events become commands, acks and state/show come back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hallq.broker import Mosquitto
from tests.conftest import REPO, Hall, small_hall


def test_network_evaluator_and_board(tmp_path: Path, mosquitto: Mosquitto) -> None:
    devices = {"mqtt": [{"id": "ev-1", "kind": "evaluator", "window": "1"},
                        {"id": "led-1", "kind": "led", "window": "1"}]}
    hall = Hall(tmp_path, mosquitto, small_hall(mosquitto.port, devices=devices))
    hall.start_controller()
    bridge = subprocess.Popen([sys.executable, "-m", "hallq", "bridge", "--config", str(hall.config_path),
                               "--data", str(tmp_path / "bridge")], cwd=REPO, env=dict(os.environ),
                              stderr=open(tmp_path / "bridge.log", "ab"))  # noqa: SIM115
    t = hall.cfg.topic
    try:
        with hall.client("dev", (t("#"),)) as c:
            c.wait_for(t("bridge", "status"), lambda b: b["state"] == "online", timeout_s=30)
            c.command("issue", service="general")
            ev = t("device", "ev-1", "event")
            c.publish(ev, {"event_id": "boot1-1", "type": "login", "staff": "S001"})
            c.publish(ev, {"event_id": "boot1-2", "type": "key", "key": "call"})
            c.publish(ev, {"event_id": "boot1-2", "type": "key", "key": "call"})   # a resend: same id
            show = c.wait_for(t("device", "led-1", "show"), lambda b: True)
            assert show["text"] == "请A001号到1号窗口" and show["ticket"] == "A001"
            c.publish(ev, {"event_id": "boot1-3", "type": "key", "key": "finish"})
            c.wait_for(t("device", "ev-1", "state"), lambda b: b["status"] == "rating" and b["ticket"] == "A001")
            c.publish(ev, {"event_id": "boot1-4", "type": "rate", "level": 4})
            ack = c.wait_for(t("device", "ev-1", "ack"), lambda b: b["event_id"] == "boot1-4")
            assert ack["ok"] and ack["command"] == "rate"
            c.publish(ev, {"event_id": "boot1-5", "type": "rate", "level": 9})
            bad = c.wait_for(t("device", "ev-1", "ack"), lambda b: b["event_id"] == "boot1-5")
            assert bad["ok"] is False and bad["code"] == "BAD_REQUEST"
            called = [m for m in c.received if m.topic.endswith("/event/ticket.called")]
            assert len(called) == 1, "the resent call event was executed once"
            assert c.command("ticket", number="A001")["ticket"]["rated"]
    finally:
        bridge.terminate()
        bridge.wait(15)
