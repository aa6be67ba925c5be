"""An MQTT-native evaluator (docs/devices-mqtt.md): the example a device maker can follow, and the simulator
`hallq sim mqtt-device --config FILE --device ID [--credentials FILE] [--login STAFF [--pin PIN]]`.

It publishes its status (retained, with a last will), sends each event with its own `event_id` and resends
it until the bridge's `ack` arrives (one event at a time), and keeps the `state` the bridge publishes.
In a secure hall it connects as its own principal (role device, id = the device id). Typed on stdin:
`call`, `recall`, `skip`, `finish`, `pause`, `resume`, `transfer tax`, `rate 5 [REASON…]`, `login S001`,
`login S001 1234` (with the staff's PIN), `logout`, `show`. A PIN is never printed or logged.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import sys
import threading
import time
from typing import Any

import paho.mqtt.client as paho

from hallq.api import BadPayload, decode_object, dumps
from hallq.config import HallConfig
from hallq.errors import UsageError
from hallq.mqtt import make_client, topics_for

log = logging.getLogger("hallq.sim.mqtt_device")
RESEND_S = 3.0
KEYS = ("call", "recall", "skip", "finish", "pause", "resume")


class MqttDevice:
    """One network evaluator. `send(event)` blocks until its ack (resending meanwhile) and returns it."""

    def __init__(self, cfg: HallConfig, device: str) -> None:
        self.cfg, self.device = cfg, device
        t = topics_for(cfg)
        self.t_event, self.t_ack = t.device(device, "event"), t.device(device, "ack")
        self.t_state, self.t_status, self.t_show = t.device(device, "state"), t.device(device, "status"), \
            t.device(device, "show")
        self.boot = f"{os.getpid():x}{int(time.time()) & 0xFFFF:x}"
        self._ids = itertools.count(1)
        self.state: dict[str, Any] = {}
        self.shown: list[dict[str, Any]] = []
        self._acks: dict[str, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._ready = threading.Event()
        self._send_lock = threading.Lock()
        self.client = make_client(cfg, f"hallq-device-{device}-{self.boot}", True,
                                  will=(self.t_status, {"state": "lost"}))
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_a: self._ready.set()
        self.client.on_message = self._on_message

    def connect(self, timeout_s: float = 10.0) -> MqttDevice:
        self.client.connect_async(self.cfg.mqtt.host, self.cfg.mqtt.port, keepalive=15)
        self.client.loop_start()
        if not self._ready.wait(timeout_s):
            raise ConnectionError(f"broker {self.cfg.mqtt.host}:{self.cfg.mqtt.port} did not accept device "
                                  f"{self.device} within {timeout_s:g} s")
        return self

    def close(self) -> None:
        self.client.publish(self.t_status, dumps({"state": "offline"}), qos=1, retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: paho.Client, *_a: Any) -> None:
        client.subscribe([(self.t_ack, 1), (self.t_state, 1), (self.t_show, 1)])
        client.publish(self.t_status, dumps({"state": "online", "kind": "evaluator"}), qos=1, retain=True)

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        try:
            body = decode_object(bytes(msg.payload), max_bytes=64 * 1024)
        except BadPayload as e:
            log.warning("device %s: dropped a message on %s: %s", self.device, msg.topic, e)
            return
        with self._cond:
            if msg.topic == self.t_ack and isinstance(body.get("event_id"), str):
                self._acks[body["event_id"]] = body
            elif msg.topic == self.t_state:
                self.state = body
            elif msg.topic == self.t_show:
                self.shown.append(body)
            self._cond.notify_all()

    def send(self, event: dict[str, Any], timeout_s: float = 60.0) -> dict[str, Any]:
        """Send one event (`event_id` added) and resend it until acknowledged; returns the ack."""
        with self._send_lock:                      # one event at a time, in order
            eid = f"{self.boot}-{next(self._ids)}"
            payload = dumps({"event_id": eid, **event})
            deadline = time.monotonic() + timeout_s
            with self._cond:
                while eid not in self._acks:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(f"device {self.device}: no ack for event {eid} within {timeout_s:g} s")
                    self.client.publish(self.t_event, payload, qos=1)
                    self._cond.wait(min(RESEND_S, left))
                return self._acks.pop(eid)

    def login(self, staff: str, pin: str | None = None) -> dict[str, Any]:
        return self.send({"type": "login", "staff": staff, **({"pin": pin} if pin is not None else {})})


def act(dev: MqttDevice, line: str) -> str:
    """One typed line: the ack in a few words (a PIN is never shown)."""
    parts = line.split()
    if not parts:
        return ""
    what, args = parts[0], parts[1:]
    if what == "show":
        return f"state: {dumps(dev.state).decode()}"
    if what in KEYS and not args:
        ev: dict[str, Any] = {"type": "key", "key": what}
    elif what == "transfer" and len(args) == 1:
        ev = {"type": "key", "key": "transfer", "arg": args[0]}
    elif what == "rate" and args and all(a.isdigit() for a in args):
        ev = {"type": "rate", "level": int(args[0]), "reasons": [int(a) for a in args[1:]]}
    elif what == "login" and len(args) in (1, 2):
        ev = {"type": "login", "staff": args[0], **({"pin": args[1]} if len(args) == 2 else {})}
    elif what == "logout" and not args:
        ev = {"type": "logout"}
    else:
        return (f"not understood: type one of {', '.join(KEYS)}, transfer SERVICE, rate N [REASON…], "
                "login STAFF [PIN], logout, show")
    ack = dev.send(ev)
    if ack.get("ok"):
        return f"{ack.get('command')}: ok"
    return f"{ack.get('command', what)}: {ack.get('code')} {ack.get('message', '')}".rstrip()


def run(rest: list[str]) -> int:
    p = argparse.ArgumentParser(prog="hallq sim mqtt-device", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True)
    p.add_argument("--device", required=True, help="the device's id in devices.mqtt")
    p.add_argument("--credentials", help="the device's principal credentials (secure hall)")
    p.add_argument("--login", metavar="STAFF", help="log in as STAFF at start")
    p.add_argument("--pin", help="with --login: the staff's PIN")
    o = p.parse_args(rest)
    from hallq.config import ConfigError, load_config

    try:
        cfg = load_config(o.config).with_credentials(o.credentials)
    except ConfigError as e:
        raise UsageError(f"hallq sim mqtt-device: config error: {e}") from None
    if not any(d.id == o.device for d in cfg.devices.mqtt):
        raise UsageError(f"hallq sim mqtt-device: device {o.device!r} is not in devices.mqtt of {o.config}")
    if o.pin is not None and o.login is None:
        raise UsageError("hallq sim mqtt-device: --pin needs --login STAFF")
    try:
        dev = MqttDevice(cfg, o.device).connect()
    except (ConnectionError, ConfigError) as e:
        raise UsageError(f"hallq sim mqtt-device: {e}") from None
    print(f"device {o.device} connected; type call, rate 5, login S001 1234, show …; Ctrl-D to stop", flush=True)
    try:
        if o.login is not None:
            print(act(dev, f"login {o.login}" + (f" {o.pin}" if o.pin else "")), flush=True)
        for line in sys.stdin:
            out = act(dev, line)
            if out:
                print(out, flush=True)
    except (KeyboardInterrupt, TimeoutError) as e:
        print(f"hallq sim mqtt-device: {e}", file=sys.stderr)
    finally:
        dev.close()
    return 0
