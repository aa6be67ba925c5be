"""The GA 467 SAM module frame (`AA AA AA 96 69`, length, body, XOR check), its message and status tables.

Host to module: preamble, Len1 Len2 (big-endian: CMD + Para + Data + check), CMD, Para, Data, CHK.
Module to host: preamble, Len1 Len2 (SW1 + SW2 + SW3 + Data + check), SW1, SW2, SW3, Data, CHK.
CHK is the XOR of every byte after the preamble up to the check byte (the length bytes included).
SW1 SW2 relay the card's APDU status; SW3 is the module's own status, the one that says what happened.
No I/O here: bytes in, frames out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

PREAMBLE = b"\xaa\xaa\xaa\x96\x69"
HEADER_LEN = len(PREAMBLE) + 2
MAX_LENGTH = 0x1000  # the largest answer (text + photo + fingerprints) is ~2.3 KiB; more is line noise


def xor_check(data: bytes) -> int:
    return reduce(lambda a, b: a ^ b, data, 0)


def _frame(body: bytes) -> bytes:
    length = (len(body) + 1).to_bytes(2, "big")
    return PREAMBLE + length + body + bytes([xor_check(length + body)])


@dataclass(frozen=True)
class Message:
    """One command of the module: its bytes, the SW3 that means success and how long it may take."""

    name: str
    cmd: int
    para: int
    ok: frozenset[int]
    slow: bool = False  # talks to the card (RF authentication + transfer): give it the long timeout
    ok_min_len: int = 0  # data bytes a successful answer carries at least

    def encode(self, data: bytes = b"") -> bytes:
        return encode_command(self.cmd, self.para, data)


# GA 467 command table (the public SAM interface); names are what the driver and its errors say
MESSAGES: dict[str, Message] = {m.name: m for m in (
    Message("reset", 0x10, 0xFF, frozenset({0x90})),
    Message("sam-status", 0x11, 0xFF, frozenset({0x90})),
    Message("sam-id", 0x12, 0xFF, frozenset({0x90})),
    Message("find-card", 0x20, 0x01, frozenset({0x9F}), slow=True),
    Message("select-card", 0x20, 0x02, frozenset({0x90}), slow=True),
    Message("read-text", 0x30, 0x01, frozenset({0x90}), slow=True, ok_min_len=4 + 256),  # text 256 B, photo
    Message("read-new-address", 0x30, 0x03, frozenset({0x90, 0x91}), slow=True),  # 91: no added address
)}
BY_CODE: dict[tuple[int, int], Message] = {(m.cmd, m.para): m for m in MESSAGES.values()}

# SW3, the module's status byte: code -> what it means, in the words of the operator's error messages
STATUS: dict[int, str] = {
    0x90: "done",
    0x91: "no such item on the card",
    0x9F: "card found",
    0x10: "the module received a frame with a bad check byte",
    0x11: "the module received a frame with a bad length",
    0x21: "the module does not know this command or its parameters",
    0x23: "operation not permitted",
    0x24: "unknown error in the module",
    0x31: "the card did not authenticate the module",
    0x32: "the module did not authenticate the card (not a genuine ID card?)",
    0x33: "the card's data failed verification",
    0x40: "not an ID card",
    0x41: "reading the card failed (card moved away?)",
    0x47: "the card gave no random number",
    0x60: "the module failed its self-test",
    0x66: "the module is not authorised (its SAM is not licensed)",
    0x80: "no card found",
    0x81: "selecting the card failed (card moved away?)",
}
NO_CARD = 0x80
SELECT_FAILED = 0x81
READ_FAILED = 0x41
BAD_CHECK_RECEIVED = 0x10


# statuses only one command gives: an answer with one of them to another command is a late answer to an earlier one
OWNED_STATUS = {0x9F: "find-card", 0x80: "find-card", 0x81: "select-card"}


def status_text(sw3: int) -> str:
    return STATUS.get(sw3, f"unknown status 0x{sw3:02X}")


def encode_command(cmd: int, para: int, data: bytes = b"") -> bytes:
    return _frame(bytes([cmd, para]) + data)


def encode_answer(sw3: int, data: bytes = b"", sw1: int = 0, sw2: int = 0) -> bytes:
    return _frame(bytes([sw1, sw2, sw3]) + data)


@dataclass(frozen=True)
class RawFrame:
    """A frame cut from the stream: the bytes between the length and the check byte, and whether CHK matched."""

    body: bytes
    check_ok: bool

    def __repr__(self) -> str:  # the body may be a citizen's card text: never in a log line
        return f"RawFrame({len(self.body)} bytes, check {'ok' if self.check_ok else 'BAD'})"


@dataclass(frozen=True)
class Command:
    cmd: int
    para: int
    data: bytes

    @property
    def message(self) -> Message | None:
        return BY_CODE.get((self.cmd, self.para))


@dataclass(frozen=True)
class Answer:
    sw1: int
    sw2: int
    sw3: int
    data: bytes

    def __repr__(self) -> str:  # the data may be a citizen's card text: never in a log line
        return f"Answer(sw=({self.sw1:02X} {self.sw2:02X} {self.sw3:02X}), {len(self.data)} data bytes)"


def answers(msg: Message, a: Answer) -> bool:
    """Whether `a` can be the answer to `msg` (rather than a late one to an earlier command)."""
    owner = OWNED_STATUS.get(a.sw3)
    if owner is not None and owner != msg.name:
        return False
    return a.sw3 not in msg.ok or len(a.data) >= msg.ok_min_len


class FrameError(ValueError):
    """Bytes that are not a frame of the expected kind."""


def parse_command(raw: RawFrame) -> Command:
    if len(raw.body) < 2:
        raise FrameError(f"a command needs CMD and Para, got {len(raw.body)} byte(s)")
    return Command(raw.body[0], raw.body[1], raw.body[2:])


def parse_answer(raw: RawFrame) -> Answer:
    if len(raw.body) < 3:
        raise FrameError(f"an answer needs SW1 SW2 SW3, got {len(raw.body)} byte(s)")
    return Answer(raw.body[0], raw.body[1], raw.body[2], raw.body[3:])


class FrameDecoder:
    """Cuts frames from a byte stream fed in any pieces; skips noise up to the next preamble.

    A length of 0, 1 or above MAX_LENGTH is taken as noise that merely looked like a preamble: the
    decoder moves one byte on and looks again, so one corrupt length cannot swallow the frames behind it.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.skipped = 0  # noise bytes thrown away, for diagnostics

    def feed(self, data: bytes) -> list[RawFrame]:
        self._buf += data
        out: list[RawFrame] = []
        while True:
            start = self._buf.find(PREAMBLE)
            if start < 0:
                keep = _partial_preamble(self._buf)
                self.skipped += len(self._buf) - keep
                del self._buf[:len(self._buf) - keep]
                return out
            if start:
                self.skipped += start
                del self._buf[:start]
            if len(self._buf) < HEADER_LEN:
                return out
            length = int.from_bytes(self._buf[5:7], "big")
            if not 2 <= length <= MAX_LENGTH:
                self.skipped += 1
                del self._buf[:1]
                continue
            end = HEADER_LEN + length
            if len(self._buf) < end:
                return out
            frame = bytes(self._buf[:end])
            del self._buf[:end]
            body, check = frame[HEADER_LEN:-1], frame[-1]
            out.append(RawFrame(body, xor_check(frame[5:-1]) == check))

    def clear(self) -> None:
        self._buf.clear()

    @property
    def pending(self) -> int:
        return len(self._buf)


def _partial_preamble(buf: bytearray) -> int:
    """How many bytes at the end of buf could be the start of a preamble."""
    for n in range(min(len(PREAMBLE) - 1, len(buf)), 0, -1):
        if buf.endswith(PREAMBLE[:n]):
            return n
    return 0


def split_read_text(data: bytes) -> tuple[bytes, bytes]:
    """The data of a read-text answer: text length (2, big-endian), photo length (2), text, photo."""
    if len(data) < 4:
        raise FrameError(f"a read-text answer starts with two lengths, got {len(data)} byte(s)")
    text_len, photo_len = int.from_bytes(data[0:2], "big"), int.from_bytes(data[2:4], "big")
    if len(data) != 4 + text_len + photo_len:
        raise FrameError(f"a read-text answer announces {text_len} text and {photo_len} photo bytes "
                         f"but carries {len(data) - 4}")
    return data[4:4 + text_len], data[4 + text_len:]


def join_read_text(text: bytes, photo: bytes) -> bytes:
    return len(text).to_bytes(2, "big") + len(photo).to_bytes(2, "big") + text + photo
