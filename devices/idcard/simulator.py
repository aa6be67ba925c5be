"""A GA 467 SAM module simulator (the device side): cards placed and lifted on demand, faults on demand.

One core, `SamSimulator.feed(bytes) -> [(delay_s, bytes)]`, runs in-process (`sim://NAME`) or behind a pty
(`PtySamReader`, for serial:// URLs and `hallq sim idcard`). As many modules do, it does not find a card
that has been read until the card is lifted and placed again.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from devices.idcard.card import PHOTO_LEN, IdCard, encode_text, id_check_char
from devices.idcard.frame import (
    BAD_CHECK_RECEIVED,
    NO_CARD,
    READ_FAILED,
    SELECT_FAILED,
    Command,
    FrameDecoder,
    FrameError,
    encode_answer,
    join_read_text,
    parse_command,
)
from hallq.pty import PtyEndpoint

SAM_ID = bytes.fromhex("0501000020261130000000120000abcd")  # a made-up SAM number (16 bytes)
CARD_IIN = b"\x00\x00\x00\x00"
CARD_SERIAL = bytes.fromhex("0123456789abcdef")
SPLIT_GAP_S = 0.02


@dataclass
class Faults:
    bad_check: int = 0               # the next N answers carry a wrong check byte (-1: all of them)
    bad_check_only: str | None = None  # ... only answers to this command (e.g. "read-text")
    lift_during_read: bool = False   # the next read-text finds the card gone (SW3 41) and the card is lifted
    slow_s: float = 0.0              # every answer comes this late
    silent: bool = False             # no answers at all
    split: bool = False              # answers come in two pieces, SPLIT_GAP_S apart
    noise: bool = False              # line noise before every answer


@dataclass
class SamSimulator:
    """Thread-safe: tests and the CLI place and lift cards while the transport's thread feeds commands."""

    name: str = "idcard"
    faults: Faults = field(default_factory=Faults)
    commands: list[str] = field(default_factory=list)   # names of the commands received, in order

    def __post_init__(self) -> None:
        self._lock = threading.Condition()   # also tells waiters a command arrived (wait_for_command)
        self._decoder = FrameDecoder()
        self._text: bytes | None = None
        self._photo = b""
        self._found = self._selected = self._halted = False

    # -- the card on the reader --------------------------------------------------------------------
    def place(self, card: IdCard) -> None:
        """Put a card on the reader (replacing any)."""
        self.place_raw(encode_text(card), card.photo or sample_photo(card.id_number))

    def place_raw(self, text: bytes, photo: bytes = b"") -> None:
        """A card with this exact text (e.g. a type the decoder refuses)."""
        with self._lock:
            self._text, self._photo = text, photo
            self._found = self._selected = self._halted = False

    def remove(self) -> None:
        with self._lock:
            self._text = None
            self._found = self._selected = self._halted = False

    @property
    def has_card(self) -> bool:
        return self._text is not None

    # -- the wire ------------------------------------------------------------------------------------
    def feed(self, data: bytes) -> list[tuple[float, bytes]]:
        """Bytes from the host -> the answers to send, each with how long after now it is sent."""
        out: list[tuple[float, bytes]] = []
        with self._lock:
            for raw in self._decoder.feed(data):
                if not raw.check_ok:
                    self.commands.append("?bad-check")
                    answer = encode_answer(BAD_CHECK_RECEIVED)
                else:
                    try:
                        answer = self._answer(parse_command(raw))
                    except FrameError:
                        self.commands.append("?short")
                        answer = encode_answer(0x11)
                out += self._misbehave(answer, self.commands[-1])
            self._lock.notify_all()
        return out

    def wait_for_command(self, name: str, since: int, timeout_s: float) -> bool:
        """Block until command `name` arrives (or has arrived) after the first `since` commands; False if it does
        not within timeout_s. Tests wait on this instead of polling `commands`."""
        with self._lock:
            return self._lock.wait_for(lambda: name in self.commands[since:], timeout_s)

    def _answer(self, cmd: Command) -> bytes:
        msg = cmd.message
        self.commands.append(msg.name if msg else f"?{cmd.cmd:02X}{cmd.para:02X}")
        name = msg.name if msg else ""
        card = self._text is not None
        if name == "reset":
            self._found = self._selected = False
            return encode_answer(0x90)
        if name == "sam-status":
            return encode_answer(0x90)
        if name == "sam-id":
            return encode_answer(0x90, SAM_ID)
        if name == "find-card":
            self._found, self._selected = card and not self._halted, False
            return encode_answer(0x9F, CARD_IIN) if self._found else encode_answer(NO_CARD)
        if name == "select-card":
            self._selected = card and self._found
            return encode_answer(0x90, CARD_SERIAL) if self._selected else encode_answer(SELECT_FAILED)
        if name == "read-text":
            if self.faults.lift_during_read and card:
                self.faults.lift_during_read = False
                self._text, self._found, self._selected = None, False, False
                return encode_answer(READ_FAILED)
            if not (card and self._selected) or self._text is None:
                return encode_answer(READ_FAILED)
            self._halted = True
            return encode_answer(0x90, join_read_text(self._text, self._photo))
        if name == "read-new-address":
            return encode_answer(0x91) if card and self._selected else encode_answer(READ_FAILED)
        return encode_answer(0x21)

    def _misbehave(self, answer: bytes, command: str) -> list[tuple[float, bytes]]:
        f = self.faults
        if f.silent:
            return []
        if f.bad_check and f.bad_check_only in (None, command):
            answer = answer[:-1] + bytes([answer[-1] ^ 0x5A])
            f.bad_check = f.bad_check - 1 if f.bad_check > 0 else -1
        if f.noise:
            answer = b"\x00\x13\xaa\x96" + answer
        if f.split:
            half = len(answer) // 2
            return [(f.slow_s, answer[:half]), (f.slow_s + SPLIT_GAP_S, answer[half:])]
        return [(f.slow_s, answer)]


# -- made-up cards for tests and the demo (the people do not exist; the numbers only follow the format) ----
def make_id_number(region: str, birth: date, sequence: str) -> str:
    """An 18-character number for `region` (6 digits) and `birth`; an odd last sequence digit is a man."""
    first17 = f"{region}{birth:%Y%m%d}{sequence}"
    return first17 + id_check_char(first17)


def sample_photo(seed: str) -> bytes:
    """1024 stand-in photo bytes (a real card carries WLT, which nothing here decodes)."""
    out = b""
    while len(out) < PHOTO_LEN:
        out += hashlib.sha256(f"{seed}:{len(out)}".encode()).digest()
    return out[:PHOTO_LEN]


def _card(name: str, sex: str, nation: str, birth: date, address: str, region: str, seq: str, issuer: str,
          valid_from: date, valid_until: date | None, kind: str = "resident") -> IdCard:
    idn = make_id_number(region, birth, seq)
    return IdCard(name=name, sex_code=sex, nation_code=nation, birth_date=birth, address=address, id_number=idn,
                  issuer=issuer, valid_from=valid_from, valid_until=valid_until,
                  kind="permit" if kind == "permit" else "resident", photo=sample_photo(idn))


SAMPLE_CARDS: dict[str, IdCard] = {
    "elder": _card("张淑珍", "2", "01", date(1948, 3, 15), "内蒙古自治区呼和浩特市新城区示例路1号", "150102", "024",
                   "呼和浩特市公安局新城分局", date(2016, 5, 1), None),
    "adult": _card("巴特尔", "1", "02", date(1985, 7, 20), "内蒙古自治区锡林郭勒盟锡林浩特市示例街2号", "152502",
                   "031", "锡林浩特市公安局", date(2015, 8, 1), date(2035, 8, 1)),
    "young": _card("李明", "1", "01", date(2004, 11, 2), "内蒙古自治区呼和浩特市赛罕区样例巷3号", "150105", "015",
                   "呼和浩特市公安局赛罕分局", date(2022, 1, 10), date(2032, 1, 10)),
    "expired": _card("王芳", "2", "03", date(1979, 2, 28), "内蒙古自治区包头市昆都仑区示例路4号", "150203", "046",
                     "包头市公安局昆都仑区分局", date(2006, 6, 1), date(2026, 6, 1)),
    "permit": _card("陈大文", "1", "", date(1990, 1, 1), "内蒙古自治区呼和浩特市回民区示例路5号", "810000", "057",
                    "呼和浩特市公安局回民区分局", date(2023, 3, 1), date(2028, 3, 1), kind="permit"),
}

_REGISTRY: dict[str, SamSimulator] = {}
_REGISTRY_LOCK = threading.Lock()


def register(sim: SamSimulator) -> SamSimulator:
    """Make `sim` the module behind sim://NAME in this process."""
    with _REGISTRY_LOCK:
        _REGISTRY[sim.name] = sim
    return sim


def unregister(name: str) -> None:
    with _REGISTRY_LOCK:
        _REGISTRY.pop(name, None)


def simulator_named(name: str) -> SamSimulator:
    """The registered simulator, or a new empty reader (so sim://idcard works with no setup)."""
    with _REGISTRY_LOCK:
        return _REGISTRY.setdefault(name, SamSimulator(name))


class PtySamReader(PtyEndpoint):
    """The simulator behind a pty; `port` is the path to open (the `link` symlink if given)."""

    thread_name = "simidcard"

    def __init__(self, sim: SamSimulator, link: str | Path | None = None) -> None:
        super().__init__(link)
        self.sim = sim

    def _received(self, data: bytes) -> None:
        start = time.monotonic()
        for delay_s, chunk in self.sim.feed(data):
            wait = start + delay_s - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return          # unplugged while "thinking"
            self._send(chunk)
