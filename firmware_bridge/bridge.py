"""The bridge process: one master thread per bus (hallbus or legacy keypads), and the asyncio side that
turns device events into controller commands and controller state into STATE/SHOW/BITMAP/BEEP frames and
keypad displays (CONTRACT §4, "What the bridge does").
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any

from firmware_bridge.boards import board_lines, pack_rows, render_calls
from firmware_bridge.hallbus.messages import EVENT, DeviceEvent, Show
from firmware_bridge.inflight import InflightStore
from firmware_bridge.keypad.master import Keypad, KeypadMaster
from firmware_bridge.keypad.messages import digits_of
from firmware_bridge.keypad.pinentry import refusal_display
from firmware_bridge.mapping import (
    Command,
    called_of,
    command_for,
    json_event,
    login_refusal_show,
    redacted,
    show_frame,
    state_frame,
    window_state_of,
)
from firmware_bridge.master import BusMaster, Device
from hallq import sdnotify
from hallq.api import BadPayload, DropLog, decode_object
from hallq.config import BusConfig, ConfigError, HallConfig, MqttDeviceConfig
from hallq.mqtt import CommandClient, CommandError, Message, MqttLink, topics_for

log = logging.getLogger("hallq.bridge")
RATING_BOOST_S = 90.0
EVENT_MAX_BYTES = 4096          # an MQTT device's event is a few dozen bytes
STATE_MAX_BYTES = 64 * 1024     # a Window or a ticket.called event is well under 1 kB
UNAVAILABLE_RETRY_S = (0.5, 1.0, 2.0, 5.0)   # back-off while the controller cannot make commands durable


def bridge_scope(cfg: HallConfig) -> tuple[str | None, list[BusConfig], list[MqttDeviceConfig]]:
    """This bridge's principal (None in an open hall), its buses and its MQTT-native devices.

    In a secure hall the credentials' user must be a principal of role bridge; its `buses` (default all)
    are the buses it runs, and it serves `devices.mqtt` when it has no `buses` list (as the controller's
    authorization counts the windows it may act for, controller/authz.py)."""
    principal = topics_for(cfg).principal
    if principal is None:
        return None, list(cfg.devices.buses), list(cfg.devices.mqtt)
    p = cfg.security.principal(principal)
    if p is None or p.role != "bridge":
        what = "not in security.principals" if p is None else f"of role {p.role}"
        raise ConfigError("<config>", "mqtt.credentials", f"the credentials are those of {principal!r}, {what}; "
                          "a bridge runs as a principal of role bridge")
    buses = [b for b in cfg.devices.buses if p.buses is None or b.id in p.buses]
    return principal, buses, list(cfg.devices.mqtt) if p.buses is None else []


class Bridge:
    def __init__(self, cfg: HallConfig, data_dir: Path) -> None:
        self.cfg = cfg
        self.topics = topics_for(cfg)
        self.principal, self.buses, mqtt_devices = bridge_scope(cfg)
        self.window_ids = frozenset(w.id for w in cfg.windows)
        self.drops = DropLog("bridge")
        self.inflight = InflightStore(data_dir / "inflight.sqlite3")
        self.masters: list[BusMaster] = []
        self.keypads: list[KeypadMaster] = []
        self.recent_calls: list[dict[str, Any]] = []   # newest first, one per ticket (bitmap hall boards)
        self.windows: dict[str, dict[str, Any]] = {}
        self.seen_calls: deque[tuple[str, int]] = deque(maxlen=256)   # (log, seq) of recent ticket.called
        self.loop: asyncio.AbstractEventLoop | None = None
        self.link: MqttLink | None = None
        self.client: CommandClient | None = None
        self.executed: list[tuple[str, str, dict[str, Any]]] = []   # (device, command, outcome) for logs
        self.mqtt_devices = {d.id: d for d in mqtt_devices}
        self.refusal_shown: set[str] = set()     # devices showing a refused login
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def topic(self, *parts: str) -> str:
        return self.cfg.topic(*parts)

    @property
    def status_topic(self) -> str:
        """The bridge's own presence: `bridge/status` in an open hall; in a secure hall, where only the
        controller writes outside `cmd/` and `device/`, the principal's `device/{P}/status`."""
        if self.principal is None:
            return self.topic("bridge", "status")
        return self.topics.device(self.principal, "status")

    async def run(self, stop: asyncio.Event) -> None:
        self.loop = asyncio.get_running_loop()
        self.inflight.open()
        status = self.status_topic
        # one persistent session per bridge: two bridges of one hall (other buses, other principals) never
        # share a client id, or the broker would disconnect one whenever the other connects
        client_id = f"hallq-bridge-{self.cfg.hall.id}" + (f"-{self.principal}" if self.principal else "")

        def online() -> None:
            self._publish(status, {"state": "online"}, retain=True)
            sdnotify.ready(f"online: {len(self.buses)} buses, {len(self.mqtt_devices)} MQTT devices")

        self.link = MqttLink(self.cfg, client_id, clean=False, will=(status, {"state": "lost"}), on_connected=online)
        self.client = CommandClient(self.link, "bridge")
        self.link.subscribe(self.client.reply_topic, 1)
        self.link.subscribe(self.topics.state_window("+"), 1)
        self.link.subscribe(self.topics.event("ticket.called"), 1)
        for dev_id in self.mqtt_devices:
            self.link.subscribe(self.topics.device(dev_id, "event"), 1)
        await self.link.start()
        pin_login = self.cfg.secure and self.cfg.security.device_login == "pin"
        for bus in self.buses:
            if bus.is_keypad:
                k = KeypadMaster(bus, self._on_event, self._on_status, pin_login=pin_login)
                self.keypads.append(k)
                k.start()
            else:
                m = BusMaster(bus, self._on_event, self._on_status)
                self.masters.append(m)
                m.start()
        dispatcher = asyncio.create_task(self._dispatch())
        await stop.wait()
        dispatcher.cancel()
        for m in self.masters:
            await asyncio.to_thread(m.stop)
        for k in self.keypads:
            await asyncio.to_thread(k.stop)
        await self.link.stop(final=(status, {"state": "offline"}))
        self.inflight.close()

    def _publish(self, topic: str, body: dict[str, Any], retain: bool = False) -> None:
        if self.link is not None:
            self.link.publish(topic, body, retain=retain)

    # -- bus thread -> loop ------------------------------------------------------------------------
    def _on_event(self, dev: Device | Keypad, ev: DeviceEvent) -> concurrent.futures.Future[Any]:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(self._execute(dev, ev), self.loop)

    def _on_status(self, dev: Device | Keypad) -> None:
        assert self.loop is not None
        buses = [(m.bus.id, m.devices.get(dev.cfg.address)) for m in self.masters] + \
            [(k.bus.id, k.devices.get(dev.cfg.address)) for k in self.keypads]
        body: dict[str, Any] = {"state": "online" if dev.online else "offline", "kind": dev.cfg.kind,
                                "bus": next((bid for bid, d in buses if d is dev), None),
                                "address": dev.cfg.address, "window": dev.cfg.window,
                                "at": datetime.now().astimezone().isoformat()}
        if dev.info is not None:
            body |= {"uid": dev.info.uid.hex(), "fw": f"{dev.info.fw_major}.{dev.info.fw_minor}"}
        self.loop.call_soon_threadsafe(self._publish, self.topic("device", dev.id, "status"), body, True)

    async def _execute(self, dev: Device | Keypad, ev: DeviceEvent) -> dict[str, Any]:
        """Run one bus device event as a controller command; returns once the controller replied."""
        outcome = await self._run(dev.id, dev.cfg.window, ev, None)
        if ev.type == EVENT.LOGIN and outcome.get("command") == "login":
            self._login_outcome(dev, outcome)
        return outcome

    def _login_outcome(self, dev: Device | Keypad, outcome: dict[str, Any]) -> None:
        """A refused login is shown on the device that sent it (a keypad: a code on its digits; an
        evaluator: a line of text); the next successful login clears it."""
        if outcome.get("ok"):
            if dev.id in self.refusal_shown:
                self.refusal_shown.discard(dev.id)
                for m in self.masters:
                    if m.devices.get(dev.cfg.address) is dev:
                        m.show(dev.cfg.address, Show(0, "", gb18030=dev.cfg.encoding == "gb18030"))
            return
        code = str(outcome.get("code"))
        self.refusal_shown.add(dev.id)
        for km in self.keypads:
            if km.devices.get(dev.cfg.address) is dev:
                km.show_overlay(dev.cfg.address, refusal_display(code, dev.cfg.digits))
        for m in self.masters:
            if m.devices.get(dev.cfg.address) is dev:
                m.show(dev.cfg.address, login_refusal_show(code, dev.cfg.encoding == "gb18030"))
                if dev.cfg.beep_ms:
                    m.beep(dev.cfg.address, dev.cfg.beep_ms)

    async def _run(self, device: str, window: str | None, ev: DeviceEvent, cmd_id: str | None) -> dict[str, Any]:
        """The command of a device event, sent until the controller replies (same id on every retry).

        `cmd_id` None: the id comes from the in-flight store (bus devices). Returns the outcome.
        """
        if window is None:
            log.warning("device %s has no window in the config: %s acknowledged without effect", device, ev)
            return {"ok": False, "code": "NO_WINDOW"}
        shown = self.windows.get(window, {})
        cmd = command_for(ev, window, shown.get("ticket") if shown.get("status") in ("rating", "serving") else None,
                          list(self.cfg.evaluation.bad_reasons))
        if not isinstance(cmd, Command):
            log.warning("device %s: %s — %s acknowledged without effect", device, cmd, ev)
            return {"ok": False, "code": "IGNORED", "message": cmd}
        # the in-flight store keeps the event without its PIN: the device presents the whole event again
        # after a restart, so the PIN comes back with it and is never written down
        cid = cmd_id or await asyncio.to_thread(self.inflight.command_id, device, ev.without_pin().encode())
        assert self.client is not None
        unavailable = 0
        while True:
            try:
                result = await self.client.call(cmd.name, cmd_id=cid, timeout_s=5.0, **cmd.args)
                outcome: dict[str, Any] = {"ok": True, "command": cmd.name, "result": result}
                log.info("device %s: %s -> ok", device, cmd)
                break
            except CommandError as e:
                if e.code == "TIMEOUT":
                    log.warning("device %s: %s not answered yet; retrying with the same id %s", device, cmd.name,
                                cid)
                    continue
                if e.code == "UNAVAILABLE":
                    # not executed, not remembered (CONTRACT §3.1): the device's event stays unacknowledged
                    # and the same command id is sent again until the controller can make it durable
                    wait = UNAVAILABLE_RETRY_S[min(unavailable, len(UNAVAILABLE_RETRY_S) - 1)]
                    if unavailable == 0 or wait == UNAVAILABLE_RETRY_S[-1] and unavailable % 12 == 0:
                        log.warning("device %s: controller unavailable for %s (%s); the event stays "
                                    "unacknowledged, retrying with the same id %s", device, cmd.name, e.message, cid)
                    unavailable += 1
                    await asyncio.sleep(wait)
                    continue
                outcome = {"ok": False, "command": cmd.name, "code": e.code, "message": e.message}
                log.info("device %s: %s -> %s: %s", device, cmd, e.code, e.message)
                break
        self.executed.append((device, cmd.name, outcome))
        return outcome

    async def _mqtt_event(self, device: str, body: Any) -> None:
        """An event of an MQTT-native device (docs/devices-mqtt.md); the outcome goes to its `ack` topic."""
        dev = self.mqtt_devices.get(device)
        if dev is None:
            log.warning("event from device %s, which is not in devices.mqtt — ignored", device)
            return
        try:
            event_id, ev = json_event(body)
        except ValueError as e:
            self.drops.drop(f"device/{device}/event", f"bad event {str(redacted(body))[:200]}: {e}")
            if isinstance(body, dict) and isinstance(body.get("event_id"), str):
                self._publish(self.topic("device", device, "ack"), {"event_id": body["event_id"], "ok": False,
                                                                    "code": "BAD_REQUEST", "message": str(e)})
            return
        async with self._locks.setdefault(device, asyncio.Lock()):  # FIFO: one device's events in order
            outcome = await self._run(device, dev.window, ev, f"{device}:{event_id}")
        self._publish(self.topic("device", device, "ack"), {"event_id": event_id, **outcome})

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)  # keep a reference until done (the loop holds only weak ones)
        task.add_done_callback(self._tasks.discard)

    # -- controller -> devices ---------------------------------------------------------------------
    async def _dispatch(self) -> None:
        assert self.link is not None and self.client is not None
        while True:
            msg = await self.link.messages.get()
            if self.client.deliver(msg):
                continue
            try:
                self._message(msg)
            except Exception as e:   # noqa: BLE001 (one bad message never stops the bridge's key presses)
                log.exception("bridge: a message on %s could not be handled", msg.topic[:200])
                self.drops.drop(msg.topic[:200], f"handling failed: {type(e).__name__}")

    def _message(self, msg: Message) -> None:
        """One message from the broker: decoded by the guarded decoder, its shape checked, or dropped."""
        route = self.topics.parse(msg.topic)
        source = msg.topic[:200]
        limit = EVENT_MAX_BYTES if route.kind == "device" else STATE_MAX_BYTES
        if not msg.payload:
            return      # a retained message being cleared
        try:
            body = decode_object(msg.payload, max_bytes=limit)
        except BadPayload as e:
            self.drops.drop(source, str(e))
            return
        if route.kind == "device" and route.leaf == "event" and route.name in self.mqtt_devices:
            self._spawn(self._mqtt_event(route.name, body))
        elif route.kind == "state" and route.name.startswith("window/"):
            w = window_state_of(body, route.name.removeprefix("window/"), self.window_ids)
            if isinstance(w, str):
                self.drops.drop(source, w)
            else:
                self._window_state(w)
        elif route.kind == "event" and route.name == "ticket.called":
            ev = called_of(body, self.window_ids)
            if isinstance(ev, str):
                self.drops.drop(source, ev)
            else:
                self._called(ev)
        else:
            self.drops.drop(source, "not a topic the bridge reads")

    def _devices(self, window: str | None, kinds: tuple[str, ...]) -> list[tuple[BusMaster, Device]]:
        return [(m, d) for m in self.masters for d in m.devices.values()
                if d.cfg.kind in kinds and d.cfg.window == window]

    def _window_state(self, w: dict[str, Any]) -> None:
        wid = str(w["id"])
        self.windows[wid] = w
        frame = state_frame(w)
        boost = RATING_BOOST_S if w.get("status") == "rating" else 0.0
        for m, d in self._devices(wid, ("evaluator",)):
            m.set_state(d.cfg.address, frame, boost)
        for md in self.mqtt_devices.values():
            if md.kind == "evaluator" and md.window == wid:
                self._publish(self.topic("device", md.id, "state"), {"window": wid, "status": w.get("status"),
                              "ticket": w.get("ticket"), "staff": w.get("staff")}, retain=True)
        for km in self.keypads:
            for kd in km.devices.values():
                if kd.cfg.window == wid and (w.get("status") == "closed" or w.get("ticket")):
                    km.show_digits(kd.cfg.address, digits_of(str(w.get("ticket") or ""), kd.cfg.digits)
                                   if w.get("ticket") else "")

    def _show_calls(self, m: BusMaster, d: Device) -> None:
        """A bitmap hall board: the latest calls of its windows, newest on top."""
        assert d.cfg.size is not None
        mine = [c for c in self.recent_calls if d.cfg.windows is None or str(c["window"]) in d.cfg.windows]
        pixels = render_calls(mine[:board_lines(d.cfg.size)], d.cfg.size, d.cfg.template)
        m.show_bitmap(d.cfg.address, pack_rows(pixels))

    def _called(self, ev: dict[str, Any]) -> None:
        # a QoS 1 duplicate is dropped by its (log, seq); a seq far ahead (forged) never hides later calls
        key = (str(ev.get("log") or ""), int(ev["seq"]))
        if key[1] and key in self.seen_calls:
            return
        self.seen_calls.append(key)
        window = str(ev["window"])
        self.recent_calls = [ev] + [c for c in self.recent_calls if c["ticket"] != ev["ticket"]][:63]
        for m, d in self._devices(window, ("led",)) + self._devices(None, ("hall_led",)):
            if d.cfg.kind == "hall_led" and d.cfg.windows is not None and window not in d.cfg.windows:
                continue
            if d.cfg.kind == "hall_led" and d.cfg.size is not None:
                self._show_calls(m, d)
                continue
            template = d.cfg.template if d.cfg.kind == "led" else (d.cfg.template or "{number} → {window}")
            m.show(d.cfg.address, show_frame(ev, template, d.cfg.encoding == "gb18030"))
        for m, d in self._devices(window, ("evaluator",)):
            if d.cfg.beep_ms:
                m.beep(d.cfg.address, d.cfg.beep_ms)
        for km in self.keypads:
            for kd in km.devices.values():
                if kd.cfg.window == window:
                    km.show_digits(kd.cfg.address, digits_of(str(ev["ticket"]), kd.cfg.digits))
        for md in self.mqtt_devices.values():
            if (md.kind == "led" and md.window == str(ev["window"])) or md.kind == "hall_led":
                sf = show_frame(ev, None if md.kind == "led" else "{number} → {window}", False)
                self._publish(self.topic("device", md.id, "show"), {"line": sf.line, "text": sf.text,
                                                                    "blink": sf.blink, "ticket": ev["ticket"],
                                                                    "window": ev["window"]})


