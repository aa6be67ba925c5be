"""ESC/POS real-time status (DLE EOT n): pure parsing, a poller over any transport, and a transition watcher."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from devices.printer.base import Transport

State = Literal["ok", "paper_near_end", "paper_out", "cover_open", "error", "offline", "unknown"]

DLE_EOT = b"\x10\x04"
QUERIES = (1, 2, 4)                 # printer status, offline cause, roll paper sensor
FIXED_MASK, FIXED_BITS = 0x93, 0x12  # every reply byte: bit0=0, bit1=1, bit4=1, bit7=0

# (query n, bit mask, state, words); any bit of a two-bit field counts, since some printers set only one
BITS: tuple[tuple[int, int, State, str], ...] = (
    (1, 0x08, "offline", "offline"),
    (2, 0x04, "cover_open", "cover open"),
    (2, 0x20, "paper_out", "stopped for paper end"),
    (2, 0x40, "error", "error (cutter jam, head overheated or mechanism fault)"),
    (4, 0x0C, "paper_near_end", "paper near end"),
    (4, 0x60, "paper_out", "paper out"),
)
# the state reported when several bits are set: what the attendant must fix first
PRIORITY: tuple[State, ...] = ("cover_open", "paper_out", "error", "offline", "paper_near_end")


@dataclass(frozen=True)
class PrinterStatus:
    state: State
    detail: str


def query(n: int) -> bytes:
    return DLE_EOT + bytes((n,))


def is_status_byte(b: int) -> bool:
    return b & FIXED_MASK == FIXED_BITS


def parse_status(replies: Mapping[int, int | None]) -> PrinterStatus:
    """The state from the reply bytes to DLE EOT 1, 2 and 4; a missing or garbled reply gives `unknown`."""
    got: dict[int, int] = {}
    for n in QUERIES:
        b = replies.get(n)
        if b is None:
            return PrinterStatus("unknown", f"no answer to DLE EOT {n}")
        if not is_status_byte(b):
            return PrinterStatus("unknown", f"answered 0x{b:02X} to DLE EOT {n}, which is not a status byte "
                                            "— check the baud rate and that this is an ESC/POS printer")
        got[n] = b
    found = [(state, words) for n, mask, state, words in BITS if got[n] & mask]
    if not found:
        return PrinterStatus("ok", "ready")
    state = next(s for s in PRIORITY if any(f[0] == s for f in found))
    return PrinterStatus(state, "; ".join(words for _, words in found))


def poll_status(transport: Transport, timeout_s: float = 0.5) -> PrinterStatus:
    """Ask DLE EOT 1, 2, 4 and parse; `unknown` (never `ok`) when the printer does not answer."""
    from devices.printer.base import PrinterError

    if not transport.answers_status:
        return PrinterStatus("unknown", f"{transport.describe()} cannot report its status")
    replies: dict[int, int | None] = {}
    try:
        for _ in range(16):  # late answers to an earlier poll would shift every reply by one
            if not transport.read(64, 0.0):
                break
        for n in QUERIES:
            transport.write(query(n))
            r = transport.read(1, timeout_s)
            if not r:
                return PrinterStatus("unknown", f"no answer to DLE EOT {n} within {timeout_s:g} s "
                                                "— check power, cable and port settings")
            replies[n] = r[0]
    except PrinterError as e:
        return PrinterStatus("unknown", str(e))
    return parse_status(replies)


@dataclass(frozen=True)
class StatusChange:
    old: PrinterStatus | None
    new: PrinterStatus


class StatusWatcher:
    """Pure: feed it each polled status, get a change when the state moves (ok → paper_near_end → paper_out → ok).

    One missed answer on a noisy line is not news: `unknown` is reported only after `unknown_after`
    unknowns in a row.
    """

    def __init__(self, unknown_after: int = 2) -> None:
        self.unknown_after = unknown_after
        self.current: PrinterStatus | None = None
        self._unknowns = 0

    def feed(self, status: PrinterStatus) -> StatusChange | None:
        if status.state == "unknown":
            self._unknowns += 1
            if self._unknowns < self.unknown_after:
                return None
        else:
            self._unknowns = 0
        if self.current is not None and self.current.state == status.state:
            self.current = status
            return None
        change = StatusChange(self.current, status)
        self.current = status
        return change
