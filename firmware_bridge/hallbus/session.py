"""The hallbus master's protocol rules (CONTRACT §4) as a sans-I/O state machine: fed bytes and the time, it
returns the bytes to send, when to be called again, and what happened (identified, events, replies, NAKs,
offline/online). No I/O, no threads, no clock reads: `firmware_bridge/master.py` is the port loop around it.

Rules it keeps, per device: SEQ counts 1..255 then 1 from a random start; a request is retried byte for byte
(`retries` times) until a reply with its ADDR, SEQ and CMD | 0x80 (or a NAK) comes; a device event is
acknowledged (ACK_EVENT of the next POLL) only once `event_executed` says it was executed, and an event
presented again after that acknowledgement was lost (the same event, ACK_EVENT equal to its id) is a
duplicate — acknowledged again, never reported again; NAK 0x10 means the device restarted: IDENTIFY it, then
POLL with ACK_EVENT 0 and treat what it reports as new; a device whose third request in a row goes unanswered
is offline, and is identified again (once a second) until it answers. Broadcasts go out with SEQ 0 and wait
for no reply. Who is served next: `firmware_bridge/schedule.py`.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from firmware_bridge.boards import chunks
from firmware_bridge.hallbus.decoder import BITS_PER_CHAR, FrameDecoder, stall_timeout_s
from firmware_bridge.hallbus.frame import BROADCAST, NAK, REPLY_BIT, Frame, encode_frame
from firmware_bridge.hallbus.messages import (
    CMD,
    KIND,
    NAK_REASON,
    BitmapRows,
    DeviceEvent,
    IdentifyReply,
    Show,
    StateMsg,
    decode_event,
)
from firmware_bridge.schedule import BULK, KEYED, OFFLINE_RETRY_S, pick_event, pick_weighted
from hallq.config import BusConfig, DeviceConfig

MISSES_OFFLINE = 3          # requests in a row without an answer that make a device offline
WEIGHTED_BOOST_S = 5.0      # v1 scheduler: poll a device that just sent an event more often for this long
MAX_REQUEST = 0x7E          # request CMDs are 0x01..0x7E
MIN_WAIT_S = 0.0005         # never ask to be called back sooner than this (no busy loop on float rounding)

KIND_CODES = {"evaluator": KIND.EVALUATOR, "led": KIND.WINDOW_LED, "hall_led": KIND.HALL_LED, "keypad": KIND.KEYPAD}


@dataclass(eq=False)
class Device:
    """One device's protocol state and outbox (what the scheduler looks at: schedule.Polled)."""

    cfg: DeviceConfig
    id: str
    seq: int = 0                                  # the SEQ last used (the next request takes seq % 255 + 1)
    identified: bool = False
    online: bool | None = None
    misses: int = 0
    ack: int = 0                                  # ACK_EVENT of the next POLL
    done: DeviceEvent | None = None               # the last event executed
    inflight: DeviceEvent | None = None           # the event being executed
    executed: bool = False                        # ... and it is done: acknowledge it
    duplicates: int = 0                           # events presented again after their acknowledgement was lost
    state_out: StateMsg | None = None             # latest STATE to send
    show_out: dict[int, Show] = field(default_factory=dict)  # latest SHOW per line
    last_poll: float = float("-inf")
    boost_until: float = 0.0                      # poll more often (rating prompt; v1: a recent key)
    info: IdentifyReply | None = None
    beep_out: int | None = None                   # BEEP duration (×10 ms) to send
    bitmap_out: tuple[bytes, ...] | None = None   # bitmap boards: the rows the board should show
    bitmap_back: list[bytes] | None = None        # what its back buffer holds (None: unknown)
    bitmap_shown: tuple[bytes, ...] | None = None  # the rows last presented

    def next_seq(self) -> int:
        self.seq = self.seq % 255 + 1
        return self.seq

    @property
    def kind(self) -> str:
        return self.cfg.kind

    def output_rank(self) -> int | None:
        if not self.identified:
            return 1
        if self.show_out or self.beep_out is not None:
            return 0
        if self.inflight is not None and self.executed:
            return 1                              # acknowledge the executed event, fetch the next
        if self.state_out is not None:
            return 1
        if self.bitmap_out is not None and self.bitmap_out != self.bitmap_shown:
            return BULK
        return None

    def hot(self, now: float) -> bool:
        return now < self.boost_until

    def executing(self) -> bool:
        return self.inflight is not None and not self.executed

    def weighted_busy(self) -> tuple[bool, bool]:
        return self.inflight is not None, self.state_out is not None or bool(self.show_out)


# -- what the session reports -------------------------------------------------------------------------
@dataclass(frozen=True)
class Identified:
    device: Device
    info: IdentifyReply

    @property
    def kind_matches(self) -> bool:
        return self.info.kind == KIND_CODES.get(self.device.cfg.kind)


@dataclass(frozen=True)
class Online:
    device: Device


@dataclass(frozen=True)
class Offline:
    device: Device
    why: str


@dataclass(frozen=True)
class EventReceived:
    """A new device event (its id: `event.event_id`): execute it, then call `Session.event_executed`."""

    device: Device
    event: DeviceEvent


@dataclass(frozen=True)
class Duplicate:
    """The executed event presented again (its acknowledgement was lost): acknowledged again, not reported."""

    device: Device
    event: DeviceEvent


@dataclass(frozen=True)
class Replaced:
    """The device presents another event while one is being executed (it should not)."""

    device: Device
    inflight: DeviceEvent
    event: DeviceEvent


@dataclass(frozen=True)
class Reply:
    """The reply to a request (CMD | 0x80 and its payload)."""

    device: Device
    cmd: int
    payload: bytes


@dataclass(frozen=True)
class Nak:
    """A request refused; reason 0x10 (not identified): the device restarted and is identified again."""

    device: Device
    cmd: int
    reason: int | None            # None: a NAK without the two payload bytes


@dataclass(frozen=True)
class BadReply:
    """A reply that cannot be read (an IDENTIFY or POLL payload); the request is not retried."""

    device: Device
    cmd: int
    payload: bytes
    error: str


Event = Identified | Online | Offline | EventReceived | Duplicate | Replaced | Reply | Nak | BadReply


@dataclass(frozen=True)
class Step:
    """What to do now: write `send` (if any); then, if `listening`, read the port until `wait_until` and call
    `step` again with what came; else wait until `wait_until` (or until output is queued) and call again."""

    send: bytes
    wait_until: float
    listening: bool
    events: tuple[Event, ...]


@dataclass
class _Request:
    device: Device
    cmd: int
    payload: bytes
    seq: int
    wire: bytes
    deadline: float = 0.0
    attempt: int = 0
    retry_now: bool = False
    token: object = None                     # the outbox entry the request delivers
    then_continue: bool = False              # v1 scheduler: serve the same device again after it


class Session:
    """The master of one bus. All methods take the time (`now`, seconds, any monotonic origin) as an argument."""

    def __init__(self, bus: BusConfig, rng: random.Random | None = None, stall_s: float | None = None) -> None:
        self.bus = bus
        rng = rng or random.Random()
        # the master starts at a random SEQ (1..255) for every device
        self.devices = {d.address: Device(d, bus.device_id(d), seq=rng.randrange(255)) for d in bus.devices}
        self.decoder = FrameDecoder(stall_timeout_s(bus.baud) if stall_s is None else stall_s)
        self.timeout_s = bus.reply_timeout_ms / 1000
        self.poll_s = bus.poll_interval_ms / 1000
        self.output_poll_s = bus.output_poll_ms / 1000
        self.stats = {"requests": 0, "retries": 0, "timeouts": 0, "bad_replies": 0, "port_errors": 0}
        self._pending: _Request | None = None
        self._broadcasts: deque[bytes] = deque()
        self._quiet_until = float("-inf")           # the line carries a broadcast until then
        self._bulk_turn = False
        self._continue: Device | None = None
        self._events: list[Event] = []

    # -- the outbox (what the bridge wants the devices to show) ---------------------------------------------
    def set_state(self, address: int, msg: StateMsg, now: float, boost_s: float = 0.0) -> None:
        d = self.devices[address]
        d.state_out = msg
        d.boost_until = max(d.boost_until, now + boost_s)

    def show(self, address: int, msg: Show) -> None:
        self.devices[address].show_out[msg.line] = msg

    def beep(self, address: int, duration_ms: int) -> None:
        self.devices[address].beep_out = max(1, min(255, duration_ms // 10))

    def show_bitmap(self, address: int, rows: tuple[bytes, ...]) -> None:
        """Bitmap boards: the rows to show (sent as BITMAP chunks of the rows that differ)."""
        self.devices[address].bitmap_out = rows

    def broadcast(self, cmd: int, payload: bytes) -> bytes:
        """Queue a broadcast (ADDR 0, SEQ 0: executed by all, answered by none, never deduplicated, so only
        idempotent commands); it goes out before the next request. Returns its bytes."""
        if not CMD.IDENTIFY <= cmd <= MAX_REQUEST:
            raise ValueError(f"a broadcast carries a request (0x01..0x7E), not 0x{cmd:02X}")
        wire = encode_frame(BROADCAST, 0, cmd, payload)
        self._broadcasts.append(wire)
        return wire

    def event_executed(self, address: int, event: DeviceEvent) -> None:
        """The device's event was executed (the controller replied): acknowledge it in the next POLL."""
        d = self.devices[address]
        if d.inflight is not None and d.inflight == event:
            d.executed = True

    # -- the port -----------------------------------------------------------------------------------------
    def port_opened(self) -> None:
        """A fresh line: nothing half-received, nothing awaited."""
        self.decoder = FrameDecoder(self.decoder.stall_s)
        self._pending, self._continue = None, None
        self._quiet_until = float("-inf")

    def port_lost(self, why: str) -> tuple[Event, ...]:
        """The port failed or is missing: every device is offline and will be identified again."""
        self.port_opened()
        for d in self.devices.values():
            d.identified = False
            if d.online is not False:
                d.online, d.misses = False, MISSES_OFFLINE
                self._events.append(Offline(d, why))
        return self._drain()

    def step(self, now: float, data: bytes = b"") -> Step:
        """Feed what was read from the port (possibly nothing) at time `now`; get what to do next."""
        for f in self.decoder.feed(data, now):
            self._frame(f, now)
        send = b""
        p = self._pending
        if p is not None and (p.retry_now or now >= p.deadline):
            send = self._retry_or_give_up(p, now)
        if self._pending is None and now >= self._quiet_until:
            send = self._start_next(now)
        return Step(send, self._wait_until(now), self._pending is not None, self._drain())

    @property
    def awaiting(self) -> Device | None:
        """The device whose reply is awaited, if any."""
        return self._pending.device if self._pending is not None else None

    # -- requests -----------------------------------------------------------------------------------------
    def _line_s(self, nbytes: int) -> float:
        return nbytes * BITS_PER_CHAR / self.bus.baud

    def _start_next(self, now: float) -> bytes:
        if self._broadcasts:
            wire = self._broadcasts.popleft()
            self.stats["requests"] += 1
            self._quiet_until = now + self._line_s(len(wire))
            return wire
        for _ in range(len(self.devices) + 1):
            cont, self._continue = self._continue, None
            d = cont or self._pick(now)
            if d is None:
                return b""
            req = self._plan(d, now, cont is not None)
            if req is None:
                continue
            self._pending = req
            return self._transmit(req, now)
        return b""

    def _transmit(self, req: _Request, now: float) -> bytes:
        self.stats["requests"] += 1
        req.retry_now = False
        req.deadline = now + self.timeout_s + self._line_s(len(req.wire))
        self.decoder.buf.clear()                  # whatever was half-received belongs to no reply of this
        self.decoder.last_byte_at = None
        return req.wire

    def _request(self, d: Device, cmd: int, payload: bytes, token: object = None,
                 then_continue: bool = False) -> _Request:
        seq = d.next_seq()
        return _Request(d, cmd, payload, seq, encode_frame(d.cfg.address, seq, cmd, payload), token=token,
                        then_continue=then_continue)

    def _pick(self, now: float) -> Device | None:
        if self.bus.schedule == "weighted":
            return pick_weighted(self.devices.values(), now, self.poll_s)
        d = pick_event(self.devices.values(), now, self.poll_s, self.output_poll_s, self._bulk_turn)
        rank = d.output_rank() if d is not None else None
        self._bulk_turn = rank != BULK             # bitmap rows and polls take turns
        return d

    def _plan(self, d: Device, now: float, cont: bool = False) -> _Request | None:
        """The request that serves `d` now: IDENTIFY if it is not identified, else its most urgent output,
        else a POLL. None: nothing to send after all (a picture already shown)."""
        if not cont:
            d.last_poll = now
        if not d.identified:
            return self._request(d, CMD.IDENTIFY, b"")
        if self.bus.schedule == "weighted":
            if d.state_out is not None and not cont:
                return self._request(d, CMD.STATE, d.state_out.encode(), d.state_out)
            if d.show_out:
                s = next(iter(d.show_out.values()))
                return self._request(d, CMD.SHOW, s.encode(), s, then_continue=True)
            return self._poll(d)
        if d.show_out:
            s = next(iter(d.show_out.values()))
            return self._request(d, CMD.SHOW, s.encode(), s)
        if d.beep_out is not None:
            return self._request(d, CMD.BEEP, bytes((d.beep_out,)), d.beep_out)
        if d.inflight is not None and d.executed:
            return self._poll(d)
        if d.state_out is not None:
            return self._request(d, CMD.STATE, d.state_out.encode(), d.state_out)
        if d.bitmap_out is not None and d.bitmap_out != d.bitmap_shown:
            todo = chunks(d.bitmap_back, d.bitmap_out)
            if not todo:
                d.bitmap_shown = d.bitmap_out
                return None
            return self._request(d, CMD.BITMAP, todo[0].encode(), (d.bitmap_out, todo[0]))
        return self._poll(d)

    def _poll(self, d: Device) -> _Request:
        if d.inflight is not None and d.executed:
            d.ack, d.done, d.inflight, d.executed = d.inflight.event_id, d.inflight, None, False
        return self._request(d, CMD.POLL, bytes((d.ack,)))

    def _retry_or_give_up(self, p: _Request, now: float) -> bytes:
        if p.attempt < self.bus.retries:
            p.attempt += 1
            self.stats["retries"] += 1
            return self._transmit(p, now)           # byte for byte: same SEQ, CMD, payload, CRC
        self._pending = None
        self._missed(p.device)
        return b""

    def _wait_until(self, now: float) -> float:
        p = self._pending
        if p is not None:
            t = p.deadline
            if self.decoder.buf and self.decoder.last_byte_at is not None:
                t = min(t, self.decoder.last_byte_at + self.decoder.stall_s + MIN_WAIT_S)
            return max(t, now)
        if now < self._quiet_until:
            return self._quiet_until
        return max(self._next_due(now), now + MIN_WAIT_S)

    def _next_due(self, now: float) -> float:
        """When the scheduler will next have a device to serve, if no output is queued meanwhile."""
        if self.bus.schedule == "weighted":
            return now + self.poll_s
        due = now + OFFLINE_RETRY_S
        for d in self.devices.values():
            if d.online is False:
                t = d.last_poll + OFFLINE_RETRY_S
            elif d.output_rank() is not None:
                t = now                               # bulk output waiting for its turn
            else:
                t = d.last_poll + (self.poll_s if d.kind in KEYED and not d.executing() else self.output_poll_s)
            due = min(due, t)
        return due

    # -- replies ------------------------------------------------------------------------------------------
    def _frame(self, f: Frame, now: float) -> None:
        p = self._pending
        if p is None or f.addr != p.device.cfg.address or f.seq != p.seq or f.cmd < REPLY_BIT:
            self.stats["bad_replies"] += 1          # late, foreign, or our own request echoed
            return
        d = p.device
        if f.cmd == NAK:
            reason = f.payload[1] if len(f.payload) == 2 else None
            self._pending = None
            self._events.append(Nak(d, p.cmd, reason))
            if reason == NAK_REASON.NOT_IDENTIFIED:
                d.identified = False                # it restarted: IDENTIFY, then POLL with ACK_EVENT 0
            else:
                self._delivered(p)                  # refused: retrying cannot cure it
                if p.cmd == CMD.BITMAP:
                    assert isinstance(p.token, tuple)
                    d.bitmap_shown = p.token[0]     # a board that does not know BITMAP gets no pictures
            self._seen(d)
            return
        if f.cmd != p.cmd | REPLY_BIT:
            self.stats["bad_replies"] += 1
            p.retry_now = True
            return
        self._pending = None
        self._seen(d)
        self._events.append(Reply(d, p.cmd, f.payload))
        if p.cmd == CMD.IDENTIFY:
            self._identified(d, f.payload)
        elif p.cmd == CMD.POLL:
            self._polled(d, f.payload, now)
        elif p.cmd == CMD.BITMAP:
            assert isinstance(p.token, tuple)
            rows, c = p.token
            assert isinstance(c, BitmapRows)
            back = d.bitmap_back if d.bitmap_back is not None else [b""] * len(rows)
            back[c.y:c.y + len(c.rows)] = c.rows
            d.bitmap_back = back
            if c.present:
                d.bitmap_shown = rows
        else:
            self._delivered(p)
            if p.then_continue:
                self._continue = d

    def _delivered(self, p: _Request) -> None:
        """An output request was answered (or refused): drop it from the outbox unless it changed since."""
        d = p.device
        if p.cmd == CMD.SHOW:
            assert isinstance(p.token, Show)
            if d.show_out.get(p.token.line) is p.token:
                del d.show_out[p.token.line]
        elif p.cmd == CMD.BEEP:
            if d.beep_out == p.token:
                d.beep_out = None
        elif p.cmd == CMD.STATE and d.state_out is p.token:
            d.state_out = None

    def _identified(self, d: Device, payload: bytes) -> None:
        try:
            info = IdentifyReply.decode(payload)
        except ValueError as e:
            self.stats["bad_replies"] += 1
            self._events.append(BadReply(d, CMD.IDENTIFY, payload, str(e)))
            return
        d.info, d.identified, d.ack = info, True, 0     # it forgot its duplicate history: what it reports is new
        d.bitmap_back, d.bitmap_shown = None, None       # a restarted board shows nothing
        self._events.append(Identified(d, info))
        self._seen(d)

    def _polled(self, d: Device, payload: bytes, now: float) -> None:
        try:
            ev = decode_event(payload)
        except ValueError as e:
            self.stats["bad_replies"] += 1
            self._events.append(BadReply(d, CMD.POLL, payload, str(e)))
            return
        if ev is None:
            return
        if d.inflight is not None:
            if ev != d.inflight:
                self._events.append(Replaced(d, d.inflight, ev))
            return
        if d.done is not None and ev == d.done and d.ack == ev.event_id:
            d.duplicates += 1                            # our ack was lost: the next POLL acknowledges it again
            self._events.append(Duplicate(d, ev))
            return
        d.inflight, d.executed = ev, False
        self._events.append(EventReceived(d, ev))
        if self.bus.schedule == "weighted":
            d.boost_until = now + WEIGHTED_BOOST_S

    # -- liveness -----------------------------------------------------------------------------------------
    def _missed(self, d: Device) -> None:
        self.stats["timeouts"] += 1
        d.misses += 1
        if d.misses >= MISSES_OFFLINE and d.online is not False:
            d.online, d.identified = False, False
            self._events.append(Offline(d, f"missed {d.misses} requests in a row"))

    def _seen(self, d: Device) -> None:
        d.misses = 0
        if d.online is not True and d.identified:
            d.online = True
            self._events.append(Online(d))

    def _drain(self) -> tuple[Event, ...]:
        out, self._events = tuple(self._events), []
        return out
