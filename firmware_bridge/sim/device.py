"""Simulated hallbus devices: the device side of CONTRACT §4, faithful enough to test the bridge.

A device starts unidentified (NAK 0x10 to everything but IDENTIFY), keeps a queue of events that it
repeats in every POLL reply until acknowledged, answers a retried request (same SEQ, CMD and CRC)
with its previous reply without executing it again, and executes broadcasts without answering.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from dataclasses import dataclass, field

from firmware_bridge.hallbus.crc import crc16_modbus
from firmware_bridge.hallbus.frame import BROADCAST, NAK, REPLY_BIT, Frame
from firmware_bridge.hallbus.messages import (
    CMD,
    EVENT,
    KEY,
    KIND,
    NAK_REASON,
    PIN_SEP,
    REQUESTS,
    WSTATE,
    BitmapRows,
    DeviceEvent,
    IdentifyReply,
    PayloadError,
    Show,
    StateMsg,
)

QUEUE_SIZE = 32


@dataclass
class SimDevice:
    address: int
    kind: int
    uid: bytes = b"\x00" * 8
    fw: tuple[int, int] = (1, 0)
    identified: bool = False
    queue: deque[DeviceEvent] = field(default_factory=lambda: deque(maxlen=QUEUE_SIZE))
    next_event_id: int = 1
    last_sent_event: int | None = None
    last_request: tuple[int, int, int] | None = None   # (seq, cmd, crc) of the request last answered
    last_reply: Frame | None = None
    executed: int = 0                                   # requests executed (not counting resends)
    beeps: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- what a person does at the device -------------------------------------------------------
    def queue_event(self, type_: int, data: bytes = b"") -> DeviceEvent:
        with self.lock:
            ev = DeviceEvent(self.next_event_id, type_, data)
            self.next_event_id = self.next_event_id % 255 + 1
            self.queue.append(ev)
            return ev

    def reset(self) -> None:
        """Power cycle: forget identification and duplicate history; the event queue survives in flash."""
        with self.lock:
            self.identified = False
            self.last_request = None
            self.last_reply = None

    # -- the protocol ---------------------------------------------------------------------------
    def handle(self, req: Frame) -> Frame | None:
        """Answer one request addressed to this device (or broadcast); None = no answer."""
        with self.lock:
            crc = crc16_modbus(bytes((req.addr, req.seq, req.cmd, len(req.payload))) + req.payload)
            key = (req.seq, req.cmd, crc)
            if req.addr != BROADCAST and key == self.last_request and self.last_reply is not None:
                return self.last_reply
            reply = self._execute(req)
            if req.addr == BROADCAST:
                return None
            self.last_request, self.last_reply = key, reply
            return reply

    def _nak(self, req: Frame, reason: int) -> Frame:
        return Frame(self.address, req.seq, NAK, bytes((req.cmd, reason)))

    def _execute(self, req: Frame) -> Frame:
        if req.cmd not in REQUESTS:
            return self._nak(req, NAK_REASON.UNKNOWN_COMMAND)
        try:
            msg = REQUESTS[req.cmd](req.payload)
        except PayloadError:
            return self._nak(req, NAK_REASON.BAD_PAYLOAD)
        if req.cmd == CMD.IDENTIFY:
            self.identified = True
            self.last_sent_event = None
            body = IdentifyReply(self.kind, self.fw[0], self.fw[1], self.uid).encode()
            return Frame(self.address, req.seq, req.cmd | REPLY_BIT, body)
        if not self.identified:
            return self._nak(req, NAK_REASON.NOT_IDENTIFIED)
        self.executed += 1
        if req.cmd == CMD.POLL:
            return Frame(self.address, req.seq, req.cmd | REPLY_BIT, self._poll(int(msg)))
        status = self.apply(req.cmd, msg)
        return Frame(self.address, req.seq, req.cmd | REPLY_BIT, bytes((status,)))

    def _poll(self, ack: int) -> bytes:
        if ack and self.queue and self.last_sent_event == ack and self.queue[0].event_id == ack:
            self.queue.popleft()
        if not self.queue:
            self.last_sent_event = None
            return b""
        head = self.queue[0]
        self.last_sent_event = head.event_id
        return head.encode()

    def apply(self, cmd: int, msg: object) -> int:
        """Execute SHOW / STATE / BEEP; returns the STATUS byte."""
        if cmd == CMD.BEEP:
            assert isinstance(msg, int)
            self.beeps.append(msg)
        return 0


@dataclass
class SimEvaluator(SimDevice):
    """An evaluator (评价器): staff keys, five rating keys, and the screen that STATE drives."""

    kind: int = KIND.EVALUATOR
    state: StateMsg = field(default_factory=lambda: StateMsg(WSTATE.CLOSED))
    history: list[StateMsg] = field(default_factory=list)
    lines: dict[int, Show] = field(default_factory=dict)     # text lines SHOW put on its screen
    shown: list[Show] = field(default_factory=list)

    def press(self, key: KEY, arg: str = "") -> DeviceEvent:
        return self.queue_event(EVENT.KEY, bytes((key,)) + arg.encode("ascii"))

    def rate(self, level: int, reasons: tuple[int, ...] = ()) -> DeviceEvent:
        return self.queue_event(EVENT.RATE, bytes((level, *reasons)))

    def login(self, staff: str, pin: str | None = None) -> DeviceEvent:
        """LOGIN `STAFF_ID`, or `STAFF_ID 0x1F PIN` when the staff typed a PIN (CONTRACT §5.4)."""
        data = staff.encode("ascii") + (bytes((PIN_SEP,)) + pin.encode("ascii") if pin is not None else b"")
        return self.queue_event(EVENT.LOGIN, data)

    def text(self, line: int = 0) -> str:
        s = self.lines.get(line)
        return s.text if s else ""

    def logout(self) -> DeviceEvent:
        return self.queue_event(EVENT.LOGOUT)

    def apply(self, cmd: int, msg: object) -> int:
        if cmd == CMD.STATE:
            assert isinstance(msg, StateMsg)
            self.state = msg
            self.history.append(msg)
            return 0
        if cmd == CMD.SHOW:
            assert isinstance(msg, Show)
            self.lines[msg.line] = msg
            self.shown.append(msg)
            return 0
        return super().apply(cmd, msg)


@dataclass
class SimLed(SimDevice):
    """A window LED board (or, with kind HALL_LED, a hall board): keeps the lines it was told to show."""

    kind: int = KIND.WINDOW_LED
    lines: dict[int, Show] = field(default_factory=dict)
    shown: list[Show] = field(default_factory=list)

    def apply(self, cmd: int, msg: object) -> int:
        if cmd == CMD.SHOW:
            assert isinstance(msg, Show)
            self.lines[msg.line] = msg
            self.shown.append(msg)
            return 0
        return super().apply(cmd, msg)

    def save_png(self, path: str | os.PathLike[str], width: int, height: int, line: int = 0) -> None:
        """A picture of the board, rendered with the display's LED renderer."""
        from hallq.led import render_led

        render_led(self.text(line), width, height).to_png(path)

    def text(self, line: int = 0) -> str:
        s = self.lines.get(line)
        return s.text if s else ""


@dataclass
class SimBitmapBoard(SimLed):
    """A hall LED board with a pixel matrix: BITMAP rows go to a back buffer; `present` shows it."""

    kind: int = KIND.HALL_LED
    size: tuple[int, int] = (192, 64)
    back: list[bytes] = field(default_factory=list)
    front: list[bytes] = field(default_factory=list)
    presents: int = 0

    def __post_init__(self) -> None:
        self._blank()

    def _blank(self) -> None:
        self.back = [bytes((self.size[0] + 7) // 8)] * self.size[1]
        self.front = list(self.back)

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self._blank()

    def apply(self, cmd: int, msg: object) -> int:
        if cmd == CMD.BITMAP:
            assert isinstance(msg, BitmapRows)
            if msg.y + len(msg.rows) > self.size[1] or any(len(r) != len(self.back[0]) for r in msg.rows):
                return 1
            self.back[msg.y:msg.y + len(msg.rows)] = msg.rows
            if msg.present:
                self.front = list(self.back)
                self.presents += 1
            return 0
        return super().apply(cmd, msg)

    def pixels(self) -> list[list[bool]]:
        """What the board shows: rows of lit (True) LEDs."""
        w = self.size[0]
        return [[bool(row[x // 8] & (0x80 >> (x % 8))) for x in range(w)] for row in self.front]

    def save_png(self, path: str | os.PathLike[str], width: int = 0, height: int = 0, line: int = 0) -> None:
        import numpy as np

        from hallq.led import Bitmap

        Bitmap(np.array(self.pixels(), dtype=bool), self.size[0]).to_png(path)
