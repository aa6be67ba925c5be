"""The hallbus master of one bus: a port loop around the protocol session (`hallbus/session.py`), in its own
thread. Each turn hands the session what was read and the time, writes what it returns, then reads the port
with a timeout while a reply is awaited, or waits for output (or the next poll) when the line is idle.

Device events are handed to `on_event(device, event)`, which returns a Future; the event is acknowledged to
the device (ACK_EVENT in the next POLL) only when that future is done, so a device's events are executed
strictly in order and none is lost. Output (`set_state`, `show`, `beep`, `show_bitmap`, `broadcast`) may be
queued from any thread and wakes an idle bus at once.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import select
import time
from collections.abc import Callable, Iterable
from typing import Any

from firmware_bridge.hallbus.decoder import stall_timeout_s
from firmware_bridge.hallbus.messages import CMD, EVENT, NAK_REASON, DeviceEvent, Show, StateMsg
from firmware_bridge.hallbus.session import (
    KIND_CODES,
    BadReply,
    Device,
    Duplicate,
    Event,
    EventReceived,
    Identified,
    Nak,
    Offline,
    Online,
    Replaced,
    Session,
)
from firmware_bridge.portmaster import PortMaster
from hallq.config import BusConfig

log = logging.getLogger("hallq.bridge.master")

PTY_STALL_FLOOR_S = 0.01     # ptys and USB adapters deliver bytes in bursts: no stall rule below this

__all__ = ["KIND_CODES", "BusMaster", "Device"]


class BusMaster(PortMaster[Device]):
    """Constructor stores settings; `start()` opens the port and runs the bus thread."""

    def __init__(self, bus: BusConfig, on_event: Callable[[Device, DeviceEvent], concurrent.futures.Future[Any]],
                 on_status: Callable[[Device], None], open_port: Callable[[], Any] | None = None) -> None:
        super().__init__(bus, on_status, open_port)
        self.on_event = on_event
        self.session = Session(bus, stall_s=stall_timeout_s(bus.baud, PTY_STALL_FLOOR_S))
        self.devices = self.session.devices
        self.stats = self.session.stats
        self._rx = b""                        # read from the port, not yet given to the session

    # -- outbox (called from the asyncio side) --------------------------------------------------
    def set_state(self, address: int, msg: StateMsg, boost_s: float = 0.0) -> None:
        with self.lock:
            self.session.set_state(address, msg, time.monotonic(), boost_s)
        self._kick.set()

    def show(self, address: int, msg: Show) -> None:
        with self.lock:
            self.session.show(address, msg)
        self._kick.set()

    def beep(self, address: int, duration_ms: int) -> None:
        with self.lock:
            self.session.beep(address, duration_ms)
        self._kick.set()

    def show_bitmap(self, address: int, rows: tuple[bytes, ...]) -> None:
        """Bitmap boards: the rows to show (sent as BITMAP chunks of the rows that differ)."""
        with self.lock:
            self.session.show_bitmap(address, rows)
        self._kick.set()

    def broadcast(self, cmd: int, payload: bytes) -> None:
        """A request for every device (SEQ 0, no reply; only idempotent commands)."""
        with self.lock:
            self.session.broadcast(cmd, payload)
        self._kick.set()

    # -- the bus thread ------------------------------------------------------------------------
    def _port_opened(self) -> None:
        with self.lock:
            self.session.port_opened()
        self._rx = b""

    def _all_offline(self, why: str) -> None:
        with self.lock:
            events = self.session.port_lost(why)
        self._handle(events)

    def _turn(self) -> None:
        with self.lock:
            step = self.session.step(time.monotonic(), self._rx)
        self._rx = b""
        self._handle(step.events)
        port = self.port
        if step.send:
            port.reset_input_buffer()
            port.write(step.send)
            port.flush()
        if step.listening:
            self._rx = self._read(step.wait_until - time.monotonic())
        elif self.bus.schedule == "weighted":       # v1: output waits for the next poll round
            self._stop.wait(max(0.0, step.wait_until - time.monotonic()))
        elif self._kick.wait(max(0.0, step.wait_until - time.monotonic())):
            self._kick.clear()

    def _read(self, timeout_s: float) -> bytes:
        """Block until some bytes come (then take all that are there) or `timeout_s` passes."""
        port = self.port
        timeout_s = max(0.0, timeout_s)
        try:
            fd = port.fileno()
        except (AttributeError, OSError, ValueError):
            fd = None                               # a port without a file descriptor (pyserial URLs)
        if fd is None:
            port.timeout = timeout_s
            data: bytes = port.read(1)
        else:
            ready, _, _ = select.select([fd], [], [], timeout_s)
            if not ready:
                return b""
            data = port.read(1)                     # the port reads without blocking (timeout 0)
        if data:
            waiting = port.in_waiting
            if waiting:
                data += port.read(waiting)
        return data

    def _executed(self, d: Device, ev: DeviceEvent, _f: concurrent.futures.Future[Any]) -> None:
        with self.lock:
            self.session.event_executed(d.cfg.address, ev)
        self._kick.set()                          # acknowledge it at once

    def _handle(self, events: Iterable[Event]) -> None:
        """What the session reports: logs, device status, and events to execute."""
        for e in events:
            d = e.device
            if isinstance(e, EventReceived):
                future = self.on_event(d, e.event)
                future.add_done_callback(functools.partial(self._executed, d, e.event))
            elif isinstance(e, Online):
                self.on_status(d)
            elif isinstance(e, Offline):
                log.warning("device %s (bus %s, address %d) offline: %s", d.id, self.bus.id, d.cfg.address, e.why)
                self.on_status(d)
            elif isinstance(e, Identified):
                if not e.kind_matches:
                    log.warning("device %s at address %d says it is kind %d, config says %s — check the address",
                                d.id, d.cfg.address, e.info.kind, d.cfg.kind)
                log.info("device %s identified: kind %d fw %d.%d uid %s", d.id, e.info.kind, e.info.fw_major,
                         e.info.fw_minor, e.info.uid.hex())
            elif isinstance(e, Nak):
                if e.reason == NAK_REASON.NOT_IDENTIFIED:
                    log.info("device %s restarted (NAK not identified): identifying again", d.id)
                elif e.cmd == CMD.BITMAP:
                    log.warning("device %s refused BITMAP (NAK %s): is it a bitmap board of size %s? showing "
                                "nothing", d.id, e.reason, d.cfg.size)
                else:
                    log.warning("device %s refused 0x%02X: NAK reason %s", d.id, e.cmd, e.reason)
            elif isinstance(e, BadReply):
                p = e.payload
                shown = p.hex(" ") if e.cmd != CMD.POLL or p[1:2] != bytes((EVENT.LOGIN,)) else \
                    f"{p[:2].hex(' ')} (LOGIN, {len(p) - 2} bytes not shown)"
                log.warning("device %s: unreadable reply to 0x%02X: %s (%s); asking again", d.id, e.cmd, shown,
                            e.error)
            elif isinstance(e, Replaced):
                log.warning("device %s replaced in-flight %s with %s before it was acknowledged", d.id, e.inflight,
                            e.event)
            elif isinstance(e, Duplicate):
                log.info("device %s presented %s again (its acknowledgement was lost): acknowledging it again",
                         d.id, e.event)
