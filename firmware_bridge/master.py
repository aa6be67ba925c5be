"""The hallbus master of one bus: polling scheduler, request/reply matching by SEQ, retries, identify,
online/offline, and an outbox of STATE/SHOW frames. Runs in its own thread (serial I/O blocks).

Device events are handed to `on_event(device, event)`, which returns a Future; the event is
acknowledged to the device (ACK_EVENT in the next POLL) only when that future is done, so a
device's events are executed strictly in order and none is lost. Who is served next: schedule.py.
"""

from __future__ import annotations

import concurrent.futures
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from firmware_bridge.boards import chunks
from firmware_bridge.hallbus.decoder import FrameDecoder, stall_timeout_s
from firmware_bridge.hallbus.frame import NAK, REPLY_BIT, Frame, encode_frame
from firmware_bridge.hallbus.messages import (
    CMD,
    EVENT,
    KIND,
    NAK_REASON,
    BitmapRows,
    DeviceEvent,
    IdentifyReply,
    Show,
    StateMsg,
    decode_event,
)
from firmware_bridge.portmaster import PortMaster
from firmware_bridge.schedule import BULK, pick_event, pick_weighted
from hallq.config import BusConfig, DeviceConfig

log = logging.getLogger("hallq.bridge.master")

KIND_CODES = {"evaluator": KIND.EVALUATOR, "led": KIND.WINDOW_LED, "hall_led": KIND.HALL_LED, "keypad": KIND.KEYPAD}


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
    beep_out: int | None = None                   # BEEP duration (×10 ms) to send
    bitmap_out: tuple[bytes, ...] | None = None   # bitmap boards: the rows the board should show
    bitmap_back: list[bytes] | None = None        # what its back buffer holds (None: unknown)
    bitmap_shown: tuple[bytes, ...] | None = None  # the rows last presented

    def next_seq(self) -> int:
        self.seq = self.seq % 255 + 1
        return self.seq

    # -- what the scheduler looks at (schedule.Polled) -------------------------------------------
    @property
    def kind(self) -> str:
        return self.cfg.kind

    def output_rank(self) -> int | None:
        if not self.identified:
            return 1
        if self.show_out or self.beep_out is not None:
            return 0
        if self.future is not None and self.future.done():
            return 1                              # acknowledge the executed event, fetch the next
        if self.state_out is not None:
            return 1
        if self.bitmap_out is not None and self.bitmap_out != self.bitmap_shown:
            return BULK
        return None

    def hot(self, now: float) -> bool:
        return now < self.boost_until

    def executing(self) -> bool:
        return self.future is not None and not self.future.done()

    def weighted_busy(self) -> tuple[bool, bool]:
        return self.inflight is not None, self.state_out is not None or bool(self.show_out)


class BusMaster(PortMaster[Device]):
    """Constructor stores settings; `start()` opens the port and runs the bus thread."""

    def __init__(self, bus: BusConfig, on_event: Callable[[Device, DeviceEvent], concurrent.futures.Future[Any]],
                 on_status: Callable[[Device], None], open_port: Callable[[], Any] | None = None) -> None:
        super().__init__(bus, on_status, open_port)
        self.on_event = on_event
        self.devices = {d.address: Device(d, bus.device_id(d)) for d in bus.devices}
        self._bulk_turn = False
        self.refused = False                      # the last request was refused with a NAK
        self.decoder = FrameDecoder(stall_timeout_s(bus.baud, 0.01))
        self.timeout_s = bus.reply_timeout_ms / 1000

    def _port_opened(self) -> None:
        self.decoder = FrameDecoder(self.decoder.stall_s)

    def _idle(self) -> None:
        if self.bus.schedule == "weighted":
            self._stop.wait(self.bus.poll_interval_ms / 1000)
        else:
            super()._idle()

    def _serve(self, d: Device) -> None:
        if self.bus.schedule == "weighted":
            self._service_weighted(d)
        else:
            self._service(d)

    # -- outbox (called from the asyncio side) --------------------------------------------------
    def set_state(self, address: int, msg: StateMsg, boost_s: float = 0.0) -> None:
        with self.lock:
            d = self.devices[address]
            d.state_out = msg
            d.boost_until = max(d.boost_until, time.monotonic() + boost_s)
        self._kick.set()

    def show(self, address: int, msg: Show) -> None:
        with self.lock:
            self.devices[address].show_out[msg.line] = msg
        self._kick.set()

    def beep(self, address: int, duration_ms: int) -> None:
        with self.lock:
            self.devices[address].beep_out = max(1, min(255, duration_ms // 10))
        self._kick.set()

    def show_bitmap(self, address: int, rows: tuple[bytes, ...]) -> None:
        """Bitmap boards: the rows to show (sent as BITMAP chunks of the rows that differ)."""
        with self.lock:
            self.devices[address].bitmap_out = rows
        self._kick.set()

    # -- the bus thread ------------------------------------------------------------------------
    def _pick(self) -> Device | None:
        now = time.monotonic()
        with self.lock:
            if self.bus.schedule == "weighted":
                return pick_weighted(self.devices.values(), now, self.bus.poll_interval_ms / 1000)
            d = pick_event(self.devices.values(), now, self.bus.poll_interval_ms / 1000,
                           self.bus.output_poll_ms / 1000, self._bulk_turn)
            rank = d.output_rank() if d is not None else None
        self._bulk_turn = rank != BULK      # bitmap rows and polls take turns
        return d

    def _service(self, d: Device) -> None:
        """One exchange for `d`: its most urgent output, else a POLL."""
        d.last_poll = time.monotonic()
        if not d.identified:
            self._identify(d)
            return
        with self.lock:
            shows, beep, state = list(d.show_out.values()), d.beep_out, d.state_out
            bitmap = d.bitmap_out if d.bitmap_out != d.bitmap_shown else None
        if shows:
            s = shows[0]
            if self._send(d, CMD.SHOW, s.encode()):
                with self.lock:
                    if d.show_out.get(s.line) is s:
                        del d.show_out[s.line]
        elif beep is not None:
            if self._send(d, CMD.BEEP, bytes((beep,))):
                with self.lock:
                    if d.beep_out == beep:
                        d.beep_out = None
        elif d.future is not None and d.future.done():
            self._poll(d)
        elif state is not None:
            if self._send(d, CMD.STATE, state.encode()):
                with self.lock:
                    if d.state_out is state:
                        d.state_out = None
        elif bitmap is not None:
            self._send_bitmap(d, bitmap)
        else:
            self._poll(d)

    def _send(self, d: Device, cmd: int, payload: bytes) -> bool:
        """Deliver one output request: True once answered, or refused (a NAK that retrying cannot cure)."""
        self.refused = False
        return self._transact(d, cmd, payload) is not None or self.refused

    def _send_bitmap(self, d: Device, rows: tuple[bytes, ...]) -> None:
        todo = chunks(d.bitmap_back, rows)
        if not todo:
            d.bitmap_shown = rows
            return
        c: BitmapRows = todo[0]
        self.refused = False
        if self._transact(d, CMD.BITMAP, c.encode()) is None:
            if self.refused:
                log.warning("device %s refused BITMAP: is it a bitmap board of size %s? showing nothing", d.id,
                            d.cfg.size)
                d.bitmap_shown = rows
            return
        back = d.bitmap_back if d.bitmap_back is not None else [b""] * len(rows)
        back[c.y:c.y + len(c.rows)] = c.rows
        d.bitmap_back = back
        if c.present:
            d.bitmap_shown = rows

    def _service_weighted(self, d: Device) -> None:
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
        d.bitmap_back, d.bitmap_shown = None, None   # a restarted board shows nothing
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
            shown = reply.payload.hex(" ") if reply.payload[1:2] != bytes((EVENT.LOGIN,)) else \
                f"{reply.payload[:2].hex(' ')} (LOGIN, {len(reply.payload) - 2} bytes not shown)"
            log.warning("device %s: unreadable event %s (%s); asking again", d.id, shown, e)
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
        d.future.add_done_callback(lambda _f: self._kick.set())   # acknowledge at once
        if self.bus.schedule == "weighted":
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
                    self.refused = True
                self._seen(d)
                return None
            if reply.cmd != cmd | REPLY_BIT:
                self.stats["bad_replies"] += 1
                continue
            self._seen(d)
            return reply
        self._missed(d, f"address {d.cfg.address}")
        return None

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
