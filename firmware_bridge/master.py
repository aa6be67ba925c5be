"""The hallbus master of one bus: polling scheduler, request/reply matching by SEQ, retries, identify,
online/offline, and an outbox of STATE/SHOW frames. Runs in its own thread (serial I/O blocks).

Device events are handed to `on_event(device, event)`, which returns a Future; the event is
acknowledged to the device (ACK_EVENT in the next POLL) only when that future is done, so a
device's events are executed strictly in order and none is lost.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import random
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import serial

from firmware_bridge.hallbus.decoder import FrameDecoder, stall_timeout_s
from firmware_bridge.hallbus.frame import NAK, REPLY_BIT, Frame, encode_frame
from firmware_bridge.hallbus.messages import (
    CMD,
    KIND,
    NAK_REASON,
    DeviceEvent,
    IdentifyReply,
    Show,
    StateMsg,
    decode_event,
)
from hallq.config import BusConfig, DeviceConfig

log = logging.getLogger("hallq.bridge.master")

MISSES_OFFLINE = 3
KIND_CODES = {"evaluator": KIND.EVALUATOR, "led": KIND.WINDOW_LED, "hall_led": KIND.HALL_LED, "keypad": KIND.KEYPAD}
# how often each kind of device is polled relative to the others (key presses first)
POLL_WEIGHT = {"evaluator": 4.0, "keypad": 4.0, "led": 0.5, "hall_led": 0.5}
OFFLINE_RETRY_S = 1.0


@dataclass
class Device:
    cfg: DeviceConfig
    id: str
    seq: int = field(default_factory=lambda: random.randint(1, 255))
    identified: bool = False
    online: bool | None = None
    misses: int = 0
    ack: int = 0                                  # ACK_EVENT of the next POLL
    done: DeviceEvent | None = None               # the last event executed
    inflight: DeviceEvent | None = None
    future: concurrent.futures.Future[Any] | None = None
    state_out: StateMsg | None = None             # latest STATE to send
    show_out: dict[int, Show] = field(default_factory=dict)  # latest SHOW per line
    last_poll: float = 0.0
    boost_until: float = 0.0                      # poll more often (rating prompt, recent key)
    info: IdentifyReply | None = None

    def next_seq(self) -> int:
        self.seq = self.seq % 255 + 1
        return self.seq


class BusMaster:
    """Constructor stores settings; `start()` opens the port and runs the bus thread."""

    def __init__(self, bus: BusConfig, on_event: Callable[[Device, DeviceEvent], concurrent.futures.Future[Any]],
                 on_status: Callable[[Device], None], open_port: Callable[[], Any] | None = None) -> None:
        self.bus = bus
        self.on_event = on_event
        self.on_status = on_status
        self.devices = {d.address: Device(d, bus.device_id(d)) for d in bus.devices}
        self._open_port = open_port or self._default_open
        self.port: Any = None
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.decoder = FrameDecoder(stall_timeout_s(bus.baud, 0.01))
        self.timeout_s = bus.reply_timeout_ms / 1000
        self.stats = {"requests": 0, "retries": 0, "timeouts": 0, "bad_replies": 0, "port_errors": 0}

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"bus-{self.bus.id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._close_port()

    def _default_open(self) -> Any:
        port = serial.serial_for_url(self.bus.port, baudrate=self.bus.baud, timeout=0, write_timeout=1,
                                     do_not_open=True)
        port.open()
        if self.bus.rs485:
            try:
                from serial.rs485 import RS485Settings

                port.rs485_mode = RS485Settings()
            except (ValueError, OSError, AttributeError) as e:
                log.warning("bus %s (%s): RS-485 mode not available (%s); continuing without it",
                            self.bus.id, self.bus.port, e)
        return port

    def _close_port(self) -> None:
        if self.port is not None:
            with contextlib.suppress(OSError, serial.SerialException):
                self.port.close()
            self.port = None

    # -- outbox (called from the asyncio side) --------------------------------------------------
    def set_state(self, address: int, msg: StateMsg, boost_s: float = 0.0) -> None:
        with self.lock:
            d = self.devices[address]
            d.state_out = msg
            d.boost_until = max(d.boost_until, time.monotonic() + boost_s)

    def show(self, address: int, msg: Show) -> None:
        with self.lock:
            self.devices[address].show_out[msg.line] = msg

    # -- the bus thread ------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            if self.port is None:
                try:
                    self.port = self._open_port()
                    self.decoder = FrameDecoder(self.decoder.stall_s)
                    log.info("bus %s: port %s open", self.bus.id, self.bus.port)
                except (OSError, serial.SerialException, termios.error) as e:
                    self.stats["port_errors"] += 1
                    self._all_offline(f"port {self.bus.port} unavailable: {e}")
                    self._stop.wait(OFFLINE_RETRY_S)
                    continue
            dev = self._pick()
            if dev is None:
                self._stop.wait(self.bus.poll_interval_ms / 1000)
                continue
            try:
                self._service(dev)
            except (OSError, serial.SerialException, termios.error) as e:
                log.warning("bus %s: port %s failed (%s) — is the USB adapter unplugged? retrying",
                            self.bus.id, self.bus.port, e)
                self.stats["port_errors"] += 1
                self._close_port()
                self._all_offline(f"port {self.bus.port} failed: {e}")

    def _all_offline(self, why: str) -> None:
        for d in self.devices.values():
            d.identified = False
            if d.online is not False:
                d.online = False
                d.misses = MISSES_OFFLINE
                log.warning("device %s offline: %s", d.id, why)
                self.on_status(d)

    def _pick(self) -> Device | None:
        """The device most overdue for a poll, weighted by kind and by activity."""
        now = time.monotonic()
        period = self.bus.poll_interval_ms / 1000
        best, best_score = None, 0.0
        with self.lock:
            for d in self.devices.values():
                w = POLL_WEIGHT.get(d.cfg.kind, 1.0)
                if now < d.boost_until or d.inflight is not None:
                    w *= 4
                if d.state_out is not None or d.show_out:
                    w *= 8
                if d.online is False:
                    w = min(w, 0.25)
                score = (now - d.last_poll) * w
                if score >= period and score > best_score:
                    best, best_score = d, score
        return best

    def _service(self, d: Device) -> None:
        d.last_poll = time.monotonic()
        if not d.identified:
            self._identify(d)
            return
        with self.lock:
            state, shows = d.state_out, list(d.show_out.values())
        if state is not None:
            if self._transact(d, CMD.STATE, state.encode()) is not None:
                with self.lock:
                    if d.state_out is state:
                        d.state_out = None
            return
        for s in shows:
            if self._transact(d, CMD.SHOW, s.encode()) is None:
                return
            with self.lock:
                if d.show_out.get(s.line) is s:
                    del d.show_out[s.line]
        self._poll(d)

    def _identify(self, d: Device) -> None:
        reply = self._transact(d, CMD.IDENTIFY, b"")
        if reply is None:
            return
        try:
            d.info = IdentifyReply.decode(reply.payload)
        except ValueError:
            self.stats["bad_replies"] += 1
            return
        if d.info.kind != KIND_CODES.get(d.cfg.kind):
            log.warning("device %s at address %d says it is kind %d, config says %s — check the address",
                        d.id, d.cfg.address, d.info.kind, d.cfg.kind)
        d.identified, d.ack = True, 0
        self._seen(d)
        log.info("device %s identified: kind %d fw %d.%d uid %s", d.id, d.info.kind, d.info.fw_major,
                 d.info.fw_minor, d.info.uid.hex())

    def _poll(self, d: Device) -> None:
        if d.future is not None and d.future.done():
            assert d.inflight is not None
            d.ack, d.done, d.inflight, d.future = d.inflight.event_id, d.inflight, None, None
        reply = self._transact(d, CMD.POLL, bytes((d.ack,)))
        if reply is None:
            return
        try:
            ev = decode_event(reply.payload)
        except ValueError as e:
            self.stats["bad_replies"] += 1
            log.warning("device %s: unreadable event %s (%s); asking again", d.id, reply.payload.hex(" "), e)
            return
        if ev is None:
            return
        if d.inflight is not None:
            if ev != d.inflight:
                log.warning("device %s replaced in-flight %s with %s before it was acknowledged", d.id,
                            d.inflight, ev)
            return
        if d.done is not None and ev == d.done and d.ack == ev.event_id:
            return  # our ack was lost: the device repeats it; acknowledged again by the next POLL
        d.inflight, d.future = ev, self.on_event(d, ev)
        d.boost_until = time.monotonic() + 5.0

    def _transact(self, d: Device, cmd: int, payload: bytes) -> Frame | None:
        """Send a request and wait for its reply; retries byte for byte. None = no valid reply."""
        seq = d.next_seq()
        wire = encode_frame(d.cfg.address, seq, cmd, payload)
        for attempt in range(self.bus.retries + 1):
            if attempt:
                self.stats["retries"] += 1
            self.stats["requests"] += 1
            reply = self._exchange(wire, d.cfg.address, seq)
            if reply is None:
                continue
            if reply.cmd == NAK:
                if len(reply.payload) == 2 and reply.payload[1] == NAK_REASON.NOT_IDENTIFIED:
                    log.info("device %s restarted (NAK not identified): identifying again", d.id)
                    d.identified = False
                else:
                    log.warning("device %s refused 0x%02X: NAK %s", d.id, cmd, reply.payload.hex(" "))
                self._seen(d)
                return None
            if reply.cmd != cmd | REPLY_BIT:
                self.stats["bad_replies"] += 1
                continue
            self._seen(d)
            return reply
        self.stats["timeouts"] += 1
        d.misses += 1
        if d.misses >= MISSES_OFFLINE and d.online is not False:
            d.online, d.identified = False, False
            log.warning("device %s (bus %s address %d) missed %d polls: offline", d.id, self.bus.id,
                        d.cfg.address, d.misses)
            self.on_status(d)
        return None

    def _seen(self, d: Device) -> None:
        d.misses = 0
        if d.online is not True and d.identified:
            d.online = True
            self.on_status(d)

    def _exchange(self, wire: bytes, addr: int, seq: int) -> Frame | None:
        port = self.port
        port.reset_input_buffer()
        port.write(wire)
        port.flush()
        deadline = time.monotonic() + self.timeout_s + len(wire) * 10 / self.bus.baud
        while True:
            now = time.monotonic()
            if now >= deadline:
                self.decoder.expire(now + 1)
                return None
            data = port.read(256)
            if not data:
                time.sleep(0.0005)
            for f in self.decoder.feed(data, now):
                if f.addr == addr and f.seq == seq and f.cmd >= REPLY_BIT:
                    return f
                self.stats["bad_replies"] += 1
