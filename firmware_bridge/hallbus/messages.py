"""The hallbus message table: typed payloads of every command and device event, encode and decode.

`REQUESTS[cmd]` decodes a request payload (raising PayloadError -> NAK 0x02 "bad payload");
`REPLIES[cmd]` decodes the payload of its reply (cmd | 0x80).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any


class PayloadError(ValueError):
    pass


class CMD(IntEnum):
    IDENTIFY = 0x01
    POLL = 0x02
    SHOW = 0x03
    STATE = 0x04
    BEEP = 0x05
    BITMAP = 0x06   # hallq extension for bitmap boards (docs/hallbus.md)


class EVENT(IntEnum):
    KEY = 0x01
    RATE = 0x02
    LOGIN = 0x03
    LOGOUT = 0x04


class KEY(IntEnum):
    CALL = 0x01
    RECALL = 0x02
    SKIP = 0x03
    FINISH = 0x04
    PAUSE = 0x05
    RESUME = 0x06
    TRANSFER = 0x07
    HOLD = 0x08          # hallq extension (CONTRACT §3.7): 挂起 the window's ticket
    CALLBACK = 0x09      # ARG = ASCII ticket number of a held ticket
    CALL_NUMBER = 0x0A   # ARG = ASCII ticket number of a waiting ticket


class NAK_REASON(IntEnum):  # noqa: N801 (a protocol constant table)
    UNKNOWN_COMMAND = 0x01
    BAD_PAYLOAD = 0x02
    NOT_IDENTIFIED = 0x10


class KIND(IntEnum):
    EVALUATOR = 1
    WINDOW_LED = 2
    HALL_LED = 3
    KEYPAD = 4


class WSTATE(IntEnum):
    CLOSED = 0
    SERVING = 1
    RATING = 2
    THANKS = 3
    PAUSED = 4


PIN_SEP = 0x1F        # LOGIN payload `STAFF_ID 0x1F PIN` (CONTRACT §5.4)
MAX_PIN = 16          # what the bus accepts; the controller wants 4-8 digits and answers BAD_CREDENTIALS otherwise

SHOW_GB18030, SHOW_BLINK, SHOW_SCROLL = 0x01, 0x02, 0x04


def _need(ok: bool, what: str) -> None:
    if not ok:
        raise PayloadError(what)


@dataclass(frozen=True)
class IdentifyReply:
    kind: int
    fw_major: int
    fw_minor: int
    uid: bytes

    def encode(self) -> bytes:
        return bytes((self.kind, self.fw_major, self.fw_minor)) + self.uid

    @classmethod
    def decode(cls, p: bytes) -> IdentifyReply:
        _need(len(p) == 11, f"IDENTIFY reply needs 11 bytes, got {len(p)}")
        return cls(p[0], p[1], p[2], bytes(p[3:]))


@dataclass(frozen=True)
class DeviceEvent:
    """One queued device event: EVENT_ID EVENT_TYPE DATA…"""

    event_id: int
    type: int
    data: bytes = b""

    def encode(self) -> bytes:
        return bytes((self.event_id, self.type)) + self.data

    @property
    def key(self) -> KEY | None:
        return KEY(self.data[0]) if self.type == EVENT.KEY and self.data and self.data[0] in KEY._value2member_map_ \
            else None

    @property
    def arg(self) -> str:
        return self.data[1:].decode("ascii", "replace") if self.type == EVENT.KEY else ""

    @property
    def level(self) -> int | None:
        return self.data[0] if self.type == EVENT.RATE and self.data else None

    @property
    def reasons(self) -> list[int]:
        return list(self.data[1:]) if self.type == EVENT.RATE else []

    @property
    def staff(self) -> str:
        """LOGIN: the staff id (the part before the 0x1F that separates a PIN)."""
        if self.type != EVENT.LOGIN:
            return ""
        return self.data.split(bytes((PIN_SEP,)), 1)[0].decode("ascii", "replace")

    @property
    def pin(self) -> str | None:
        """LOGIN `STAFF_ID 0x1F PIN` (CONTRACT §5.4): the PIN; None when the login carries none."""
        if self.type != EVENT.LOGIN or PIN_SEP not in self.data:
            return None
        return self.data.split(bytes((PIN_SEP,)), 1)[1].decode("ascii", "replace")

    def without_pin(self) -> DeviceEvent:
        """The event as it may be stored or logged: a LOGIN's PIN replaced by nothing (the separator stays,
        so a login that carried a PIN is still told apart from one that did not)."""
        if self.pin is None:
            return self
        return DeviceEvent(self.event_id, self.type, self.data.split(bytes((PIN_SEP,)), 1)[0] + bytes((PIN_SEP,)))

    def __str__(self) -> str:
        name = EVENT(self.type).name if self.type in EVENT._value2member_map_ else f"0x{self.type:02X}"
        if self.type == EVENT.LOGIN:
            return f"event {self.event_id} LOGIN {self.staff!r}" + (" with a PIN" if self.pin is not None else "")
        return f"event {self.event_id} {name} {self.data.hex(' ')}"

    __repr__ = __str__       # a PIN never reaches a log line, whichever way the event is formatted


def encode_event(ev: DeviceEvent | None) -> bytes:
    return b"" if ev is None else ev.encode()


def decode_event(p: bytes) -> DeviceEvent | None:
    """A POLL reply payload: empty = nothing pending."""
    if not p:
        return None
    _need(len(p) >= 2 and p[0] != 0, "POLL reply needs EVENT_ID (1..255) and EVENT_TYPE")
    ev = DeviceEvent(p[0], p[1], bytes(p[2:]))
    if ev.type == EVENT.KEY:
        _need(len(ev.data) >= 1 and ev.data[0] in KEY._value2member_map_, "KEY event needs a known key code")
    elif ev.type == EVENT.RATE:
        _need(len(ev.data) >= 1 and 1 <= ev.data[0] <= 5, "RATE event needs LEVEL 1..5")
    elif ev.type == EVENT.LOGIN:
        staff, sep, pin = ev.data.partition(bytes((PIN_SEP,)))
        _need(0 < len(staff) <= 32 and staff.isascii(), "LOGIN event needs an ASCII staff id")
        _need(not sep or (len(pin) <= MAX_PIN and pin.isascii() and PIN_SEP not in pin),
              f"LOGIN event: the PIN after 0x1F must be at most {MAX_PIN} ASCII characters")
    return ev


@dataclass(frozen=True)
class Show:
    line: int
    text: str
    gb18030: bool = True
    blink: bool = False
    scroll: bool = False

    def encode(self) -> bytes:
        flags = (SHOW_GB18030 if self.gb18030 else 0) | (SHOW_BLINK if self.blink else 0) | \
            (SHOW_SCROLL if self.scroll else 0)
        return bytes((self.line, flags)) + self.text.encode("gb18030" if self.gb18030 else "utf-8")

    @classmethod
    def decode(cls, p: bytes) -> Show:
        _need(len(p) >= 2, "SHOW needs LINE and FLAGS")
        flags = p[1]
        enc = "gb18030" if flags & SHOW_GB18030 else "utf-8"
        try:
            text = bytes(p[2:]).decode(enc)
        except UnicodeDecodeError:
            raise PayloadError(f"SHOW text is not valid {enc}") from None
        return cls(p[0], text, bool(flags & SHOW_GB18030), bool(flags & SHOW_BLINK), bool(flags & SHOW_SCROLL))


@dataclass(frozen=True)
class StateMsg:
    state: int
    ticket: str = ""
    staff: str = ""

    def encode(self) -> bytes:
        t = self.ticket.encode("ascii")[:8]
        return bytes((self.state,)) + t + b"\0" * (8 - len(t)) + self.staff.encode("ascii")[:32]

    @classmethod
    def decode(cls, p: bytes) -> StateMsg:
        _need(len(p) >= 9 and p[0] in WSTATE._value2member_map_, "STATE needs STATE (0..4) and TICKET[8]")
        try:
            return cls(p[0], bytes(p[1:9]).rstrip(b"\0").decode("ascii"), bytes(p[9:]).decode("ascii"))
        except UnicodeDecodeError:
            raise PayloadError("STATE ticket and staff id must be ASCII") from None


BITMAP_PRESENT = 0x01
BITMAP_HEADER = 3


@dataclass(frozen=True)
class BitmapRows:
    """Rows `y`..`y+n-1` of a bitmap board's back buffer, 1 bit per LED, MSB = leftmost, 1 = lit.

    FLAGS bit0 (present): after writing, the board shows its back buffer (so a picture sent in
    several chunks appears at once). Every row has the same length, ceil(width / 8) bytes.
    """

    y: int
    rows: tuple[bytes, ...]
    present: bool = False

    def encode(self) -> bytes:
        return bytes((self.y, len(self.rows), BITMAP_PRESENT if self.present else 0)) + b"".join(self.rows)

    @classmethod
    def decode(cls, p: bytes) -> BitmapRows:
        _need(len(p) >= BITMAP_HEADER, "BITMAP needs Y, N and FLAGS")
        y, n, flags = p[0], p[1], p[2]
        data = bytes(p[BITMAP_HEADER:])
        _need(n == 0 or (len(data) % n == 0 and len(data) > 0),
              f"BITMAP: {len(data)} row bytes do not make {n} equal rows")
        _need(n > 0 or not data, "BITMAP with N = 0 carries no rows")
        step = len(data) // n if n else 0
        return cls(y, tuple(data[i * step:(i + 1) * step] for i in range(n)), bool(flags & BITMAP_PRESENT))


def _empty(p: bytes) -> None:
    _need(not p, "payload must be empty")


def _one(p: bytes) -> int:
    _need(len(p) == 1, "payload must be one byte")
    return p[0]


REQUESTS: dict[int, Callable[[bytes], Any]] = {
    CMD.IDENTIFY: _empty, CMD.POLL: _one, CMD.SHOW: Show.decode, CMD.STATE: StateMsg.decode, CMD.BEEP: _one,
    CMD.BITMAP: BitmapRows.decode,
}
REPLIES: dict[int, Callable[[bytes], Any]] = {
    CMD.IDENTIFY: IdentifyReply.decode, CMD.POLL: decode_event, CMD.SHOW: _one, CMD.STATE: _one, CMD.BEEP: _one,
    CMD.BITMAP: _one,
}
