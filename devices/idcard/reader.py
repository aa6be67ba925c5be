"""The ID card reader driver: GA 467 commands over a transport, with timeouts, retries and errors naming the reader.

Blocking: the kiosk calls `poll()` from a worker thread. Log lines carry command names and status codes,
never the answer's data (which holds the citizen's text).
"""

from __future__ import annotations

import logging
import time

from devices.idcard.card import IdCard, decode_text
from devices.idcard.errors import CardError, ReaderError
from devices.idcard.frame import (
    BAD_CHECK_RECEIVED,
    MESSAGES,
    NO_CARD,
    READ_FAILED,
    SELECT_FAILED,
    Answer,
    FrameDecoder,
    FrameError,
    Message,
    answers,
    parse_answer,
    split_read_text,
    status_text,
)
from devices.idcard.transport import Transport

log = logging.getLogger(__name__)

CARD_STATUSES = frozenset({0x31, 0x32, 0x33, 0x40, 0x47})  # the card, not the reader, is the problem
ADVICE = {
    "no answer": "check the cable, the reader's power and the baud rate (115200 unless it was changed)",
    "bad check byte": "the line garbles data: check the cable, USB extension and the baud rate",
    "garbled": "the line garbles data: check the cable, USB extension and the baud rate",
    "module got our frame garbled": "the line garbles data: check the cable and the baud rate",
}


class SamReader:
    """A reader with a GA 467 SAM module. Constructing stores settings; `open()` opens the port and, unless
    told not to, asks the module for its status so a wrong port fails at start-up, not at the first card."""

    def __init__(self, transport: Transport, *, reply_timeout_s: float = 0.5, card_timeout_s: float = 2.0,
                 retries: int = 2, check_on_open: bool = True) -> None:
        self.transport = transport
        self.reply_timeout_s, self.card_timeout_s = reply_timeout_s, card_timeout_s
        self.retries, self.check_on_open = retries, check_on_open
        self._decoder = FrameDecoder()
        self._last_read: str | None = None   # ID number of the card read last, while it stays on the reader

    def describe(self) -> str:
        return self.transport.describe()

    def open(self) -> None:
        self.transport.open()
        if self.check_on_open:
            try:
                self._expect("sam-status", self.transact("sam-status"))
            except ReaderError:
                self.transport.close()
                raise

    def close(self) -> None:
        self._last_read = None
        self.transport.close()

    def sam_id(self) -> str:
        """The module's SAM number, hex (for the maintenance screen and support calls)."""
        return self._expect("sam-id", self.transact("sam-id")).data.hex()

    def transact(self, name: str, data: bytes = b"") -> Answer:
        """Send one command and wait for its answer; a silent, garbled or check-failed answer is tried again."""
        msg = MESSAGES[name]
        timeout_s = self.card_timeout_s if msg.slow else self.reply_timeout_s
        frame = msg.encode(data)
        problems: list[str] = []
        for attempt in range(self.retries + 1):
            if attempt:
                log.warning("%s: %s: %s — trying again (%d/%d)", self.describe(), name, problems[-1], attempt,
                            self.retries)
            self.transport.discard_input()
            self._decoder.clear()
            self.transport.write(frame)
            got = self._await(msg, timeout_s)
            if isinstance(got, str):
                problems.append(got)
                continue
            if got.sw3 == BAD_CHECK_RECEIVED:
                problems.append("module got our frame garbled")
                continue
            log.debug("%s: %s -> SW %02X %02X %02X (%s)", self.describe(), name, got.sw1, got.sw2, got.sw3,
                      status_text(got.sw3))
            return got
        kinds = sorted(set(problems), key=problems.index)
        what = "; ".join(f"{k} ×{problems.count(k)}" if problems.count(k) > 1 else k for k in kinds)
        advice = ADVICE.get(problems[-1].split(" within")[0], ADVICE["garbled"])
        tries = f"{len(problems)} tries" if len(problems) > 1 else "1 try"
        raise ReaderError(f"{self.describe()}: no valid answer to {name} after {tries} ({what}) — {advice}")

    def _await(self, msg: Message, timeout_s: float) -> Answer | str:
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            chunk = self.transport.read(4096, left)
            for raw in self._decoder.feed(chunk):
                if not raw.check_ok:
                    return "bad check byte"
                try:
                    a = parse_answer(raw)
                except FrameError:
                    return "garbled (short answer)"
                if answers(msg, a):
                    return a
                log.debug("%s: %s: dropped a late answer to an earlier command (SW3 %02X)", self.describe(),
                          msg.name, a.sw3)
        if self._decoder.pending or self._decoder.skipped:
            return f"garbled (no whole frame within {timeout_s:g} s)"
        return f"no answer within {timeout_s:g} s"

    def _expect(self, name: str, a: Answer) -> Answer:
        if a.sw3 in MESSAGES[name].ok:
            return a
        text = f"{self.describe()}: {name} answered SW3 0x{a.sw3:02X}: {status_text(a.sw3)}"
        if a.sw3 in CARD_STATUSES:
            raise CardError(f"{text} — place the card again; if it keeps failing, ask staff (damaged card?)",
                            "not_genuine" if a.sw3 in (0x31, 0x32, 0x33) else "unreadable")
        raise ReaderError(f"{text} — restart the reader (unplug it for 5 s); if it persists, call support")

    def read_card(self) -> IdCard | None:
        """The card on the reader, or None when there is none (or it left before it could be selected).

        CardError: a card is there but could not be read (moved away mid-read, not genuine, unsupported);
        ReaderError: the reader failed.
        """
        found = self.transact("find-card")
        if found.sw3 == NO_CARD:
            return None
        self._expect("find-card", found)
        selected = self.transact("select-card")
        if selected.sw3 == SELECT_FAILED:
            return None
        self._expect("select-card", selected)
        answer = self.transact("read-text")
        if answer.sw3 == READ_FAILED:
            raise CardError(f"{self.describe()}: the card was moved away while it was read — place it on the "
                            "reader again and leave it there until the screen changes", "moved")
        self._expect("read-text", answer)
        try:
            text, photo = split_read_text(answer.data)
        except FrameError as e:
            raise ReaderError(f"{self.describe()}: read-text: {e} — place the card again; if it persists, "
                              "call support") from None
        try:
            return decode_text(text, photo)
        except CardError as e:
            raise CardError(f"{self.describe()}: {e}", e.problem) from None

    def poll(self) -> IdCard | None:
        """A card newly placed on the reader, else None: a card left lying there is reported once."""
        card = self.read_card()
        if card is None:
            self._last_read = None
            return None
        if card.id_number == self._last_read:
            return None
        self._last_read = card.id_number
        return card
