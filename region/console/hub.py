"""The league console's MQTT side: every hall's presence, bridge link and retained state kept live, and commands
to a hall as principal `region` (through the hall's bridge: `hallq/{hall}/cmd/region/{name}`)."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho

from hallq.api import BadPayload, decode, dumps
from hallq.config.region import RegionConfig
from hallq.mqtt import Credentials
from region.ingest import mqtt_client

log = logging.getLogger("hallq.region.console")


class HubError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class HallLive:
    status: str = "unknown"                   # online / lost / offline / degraded / unknown (nothing heard)
    bridge: str | None = None                 # "1" link up, "0" down (the bridge's notification)
    windows: dict[str, dict[str, Any]] = field(default_factory=dict)
    queues: list[dict[str, Any]] = field(default_factory=list)
    alerts_open: int = 0
    at: str | None = None                     # the newest `at` the hall's controller stamped


def _resolve(fut: asyncio.Future[dict[str, Any]], body: dict[str, Any]) -> None:
    if not fut.done():
        fut.set_result(body)


class Hub:
    def __init__(self, cfg: RegionConfig, cred: Credentials | None) -> None:
        self.cfg = cfg
        self.cred = cred
        self.client_id = f"hallq-region-console-{uuid.uuid4().hex[:8]}"
        self.live: dict[str, HallLive] = {h.id: HallLive() for h in cfg.halls}
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.client: paho.Client | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        c = mqtt_client(self.cfg, self.cred, self.client_id, clean=True)
        c.on_connect = self._on_connect
        c.on_subscribe = lambda *_a: self.connected.set()
        c.on_disconnect = lambda *_a: self.connected.clear()
        c.on_message = self._on_message
        c.connect_async(self.cfg.mqtt.host, self.cfg.mqtt.port, keepalive=self.cfg.mqtt.keepalive_s)
        c.loop_start()
        self.client = c

    def stop(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()

    def _on_connect(self, client: paho.Client, *_a: Any) -> None:
        client.subscribe([("hallq/+/controller/#", 1), ("hallq/+/state/#", 1),
                          (f"hallq/+/reply/region/{self.client_id}/#", 1)])

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        if len(parts) < 4 or parts[1] not in self.live:
            return
        hall = parts[1]
        if parts[2:4] == ["controller", "bridge"]:
            with self.lock:
                self.live[hall].bridge = bytes(msg.payload).decode("ascii", "replace").strip() or None
            return
        try:
            body = decode(bytes(msg.payload))
        except BadPayload:
            return
        if not isinstance(body, dict):
            return
        if parts[2] == "reply":
            fut = self.waiting.get(str(body.get("id")))
            if fut is not None and self.loop is not None:
                self.loop.call_soon_threadsafe(_resolve, fut, body)
            return
        with self.lock:
            lv = self.live[hall]
            if isinstance(body.get("at"), str):
                lv.at = max(lv.at or "", body["at"])
            if parts[2:4] == ["controller", "status"]:
                lv.status = str(body.get("state", "unknown"))
            elif parts[2:4] == ["state", "window"] and len(parts) == 5:
                lv.windows[parts[4]] = body
            elif parts[2:4] == ["state", "queues"]:
                services = body.get("services")
                lv.queues = services if isinstance(services, list) else []
            elif parts[2:4] == ["state", "alerts"]:
                lv.alerts_open = int(body.get("open") or 0)

    def snapshot(self) -> dict[str, HallLive]:
        with self.lock:
            return {k: HallLive(v.status, v.bridge, dict(v.windows), list(v.queues), v.alerts_open, v.at)
                    for k, v in self.live.items()}

    async def command(self, hall: str, name: str, timeout_s: float = 10.0, **args: Any) -> dict[str, Any]:
        """Send `name` to the hall as principal region; its result, or HubError (503 / 504 / the hall's error)."""
        if self.client is None or not self.connected.is_set():
            raise HubError(503, "UNAVAILABLE", "the console has no connection to the regional broker")
        cid = f"rc-{uuid.uuid4().hex[:20]}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[cid] = fut
        try:
            self.client.publish(f"hallq/{hall}/cmd/region/{name}",
                                dumps({"id": cid, "reply_to": f"hallq/{hall}/reply/region/{self.client_id}/{cid}",
                                       **args}), qos=1)
            try:
                reply = await asyncio.wait_for(fut, timeout_s)
            except TimeoutError:
                raise HubError(504, "TIMEOUT", f"hall {hall} did not answer {name} within {timeout_s:g} s "
                               "(its link to the region may be down; the command waits in its bridge)") from None
        finally:
            self.waiting.pop(cid, None)
        if reply.get("ok"):
            return dict(reply.get("result") or {})
        err = reply.get("error") or {}
        code = str(err.get("code", "ERROR"))
        status = 400 if code == "BAD_REQUEST" else 403 if code == "FORBIDDEN" else 404 if code.startswith(
            "UNKNOWN") else 409
        raise HubError(status, code, str(err.get("message", "")))
