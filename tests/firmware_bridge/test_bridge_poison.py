"""The bridge against bad messages and an unavailable controller (issue 12).

Poison on every topic the bridge reads (60 kB of nested arrays, lone surrogates, non-UTF-8, wrong shapes,
non-ASCII ticket numbers, a forged `ticket.called` far ahead) is counted and dropped: key presses still
go through at once and the LED boards keep showing the real calls. A controller that answers
`UNAVAILABLE` (CONTRACT §3.1) leaves the device's event unacknowledged; the bridge sends the same command
id again until it is executed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho

from firmware_bridge.hallbus.messages import KEY, WSTATE
from firmware_bridge.sim.bus import SimBus
from firmware_bridge.sim.device import SimEvaluator, SimLed
from hallq.api import decode_object, dumps
from hallq.broker import Mosquitto
from hallq.config import parse_config
from hallq.mqtt import make_client
from tests.conftest import REPO, Hall, small_hall
from tests.firmware_bridge.test_bridge_e2e import until

NESTED = b"[" * 30000 + b"]" * 30000          # 60 kB: a RecursionError in a plain json.loads


def _devices(tmp: Path) -> dict[str, Any]:
    return {"buses": [{"id": "bus1", "port": str(tmp / "ttyBUS"), "reply_timeout_ms": 80, "retries": 3,
                       "devices": [{"address": 3, "kind": "evaluator", "window": "1"},
                                   {"address": 17, "kind": "led", "window": "1"}]}],
            "mqtt": [{"id": "ev-9", "kind": "evaluator", "window": "2"}]}


def _start_bridge(tmp: Path, config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "hallq", "bridge", "--config", str(config), "--data",
                             str(tmp / "bridge")], cwd=REPO, env=dict(os.environ, PYTHONUNBUFFERED="1"),
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "bridge.log", "ab"),  # noqa: SIM115
                            start_new_session=True)


def _stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        p.wait(15)


def test_poison_on_every_topic_never_stalls_key_presses(tmp_path: Path, mosquitto: Mosquitto) -> None:
    ev, led = SimEvaluator(3, uid=bytes(range(8))), SimLed(17)
    bus = SimBus([ev, led], link=tmp_path / "ttyBUS").open()
    hall = Hall(tmp_path, mosquitto, small_hall(mosquitto.port, devices=_devices(tmp_path)))
    hall.start_controller()
    bridge = _start_bridge(tmp_path, hall.config_path)
    t = hall.cfg.topic
    try:
        with hall.client("attacker", (t("device", "ev-9", "ack"), t("bridge", "status"))) as c:
            c.wait_for(t("bridge", "status"), lambda b: b["state"] == "online", timeout_s=30)
            until(lambda: ev.identified, "evaluator identified")
            ev.login("S001")
            until(lambda: ev.state.state == WSTATE.THANKS, "logged in")
            c.command("issue", service="general")
            c.command("issue", service="general")
            poison: list[tuple[str, bytes]] = []
            for topic in (t("state", "window", "1"), t("event", "ticket.called"), t("device", "ev-9", "event")):
                poison += [(topic, NESTED), (topic, b'{"id": "1", "ticket": "\\ud800"}'), (topic, b"\xff\xfe{"),
                           (topic, b"[1, 2]"), (topic, b"not json"), (topic, b'{"x": "' + b"a" * 200_000 + b'"}')]
            poison += [
                (t("state", "window", "1"), dumps({"id": "1", "status": "serving", "ticket": "Ä012", "staff": None})),
                (t("state", "window", "1"), dumps({"id": "2", "status": "serving", "ticket": "A9", "staff": None})),
                (t("state", "window", "1"), dumps({"id": "1", "status": "dancing", "ticket": None, "staff": None})),
                (t("state", "window", "1"), dumps({"id": "1", "status": "idle", "ticket": None, "staff": "S001"})),
                (t("event", "ticket.called"), dumps({"seq": 10**12, "ticket": "Z999", "window": "1", "recall": 0})),
                (t("event", "ticket.called"), dumps({"seq": 7, "ticket": ["A001"], "window": "1"})),
                (t("event", "ticket.called"), dumps({"seq": 8, "ticket": "A001", "window": "99"})),
                (t("device", "ev-9", "event"), dumps({"event_id": ["x"], "type": "key", "key": "call"})),
            ]
            for _round in range(3):
                for topic, payload in poison:
                    c.publish(topic, payload)
            t0 = time.monotonic()
            ev.press(KEY.CALL)
            until(lambda: "A001" in led.text(), f"LED shows A001 after the poison; {tmp_path / 'bridge.log'}")
            assert time.monotonic() - t0 < 5.0, "a key press went through at once"
            ev.press(KEY.CALL)
            until(lambda: "A002" in led.text(), "a forged seq far ahead does not hide the next real call")
            # the MQTT device still works
            c.publish(t("device", "ev-9", "event"), {"event_id": "b1-1", "type": "login", "staff": "S002"})
            ack = c.wait_for(t("device", "ev-9", "ack"), lambda b: b.get("event_id") == "b1-1")
            assert ack["ok"], ack
        assert bridge.poll() is None, (tmp_path / "bridge.log").read_text()[-3000:]
        log = (tmp_path / "bridge.log").read_text()
        assert "dropped a message" in log
        assert "Traceback" not in log, log[-3000:]
        assert log.count("dropped a message") < 40, "logged once per source and reason, not per message"
    finally:
        _stop(bridge)
        hall.controller.kill()
        bus.close()


def test_unavailable_keeps_the_event_unacknowledged_and_retries_with_the_same_id(tmp_path: Path,
                                                                                 mosquitto: Mosquitto) -> None:
    """A fake controller answers `call` UNAVAILABLE twice, then ok: one command id, the event acked last."""
    ev = SimEvaluator(3, uid=bytes(range(8)))
    bus = SimBus([ev], link=tmp_path / "ttyBUS").open()
    devices = {"buses": [{"id": "bus1", "port": str(tmp_path / "ttyBUS"), "reply_timeout_ms": 80,
                          "devices": [{"address": 3, "kind": "evaluator", "window": "1"}]}]}
    cfg_dict = small_hall(mosquitto.port, devices=devices)
    hall = Hall(tmp_path, mosquitto, cfg_dict)
    cfg = parse_config(cfg_dict)
    attempts: list[tuple[str, int]] = []       # (command id, events the device still queues)
    lock = threading.Lock()
    fake = make_client(cfg, "fake-controller", True)

    def on_message(client: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        body = decode_object(bytes(msg.payload))
        if not msg.topic.endswith("/call"):
            return
        with lock:
            attempts.append((body["id"], len(ev.queue)))
            n = len(attempts)
        reply: dict[str, Any] = {"id": body["id"], "ok": False,
                                 "error": {"code": "UNAVAILABLE", "message": "disk full"}} if n <= 2 else \
            {"id": body["id"], "ok": True, "result": {"ticket": None}}
        client.publish(body["reply_to"], dumps(reply), qos=1)

    fake.on_message = on_message
    fake.on_connect = lambda client, *_a: client.subscribe(cfg.topic("cmd", "+"), 1)
    fake.connect(cfg.mqtt.host, cfg.mqtt.port)
    fake.loop_start()
    bridge = _start_bridge(tmp_path, hall.config_path)
    try:
        until(lambda: ev.identified, "evaluator identified", 30)
        ev.press(KEY.CALL)
        until(lambda: len(attempts) >= 3, "the bridge retried after UNAVAILABLE", 30)
        until(lambda: not ev.queue, "the event acknowledged once the call was executed")
        ids = {cid for cid, _q in attempts}
        assert len(ids) == 1, f"one command id for one press: {attempts}"
        assert [q for _cid, q in attempts] == [1, 1, 1], "unacknowledged while the controller was unavailable"
        time.sleep(0.3)
        assert len(attempts) == 3, "not sent again once answered"
        assert "unavailable" in (tmp_path / "bridge.log").read_text()
    finally:
        _stop(bridge)
        fake.loop_stop()
        fake.disconnect()
        bus.close()
