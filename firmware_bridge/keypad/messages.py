"""The legacy keypad dialogue as a table of messages (docs/keypad.md): POLL, KEY, IDLE, DISPLAY.

The host polls each address; the keypad answers with the oldest key press it holds (KEY) or IDLE.
The host acknowledges a KEY by echoing it, byte for byte, once the press was executed; the keypad
answers the echo like a POLL (so the echo also fetches the next press). A KEY presented again after
its echo was lost carries the same press counter: a duplicate. DISPLAY is echoed by the keypad.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from firmware_bridge.keypad.codec import KeypadFrame


class FUNC(IntEnum):
    KEY = 0x01        # keypad -> host: PRESS (1..255, wraps, kept across resets) CODE
    DISPLAY = 0x10    # host -> keypad: digits, ASCII '0'-'9', ' ' or '-', one per display position
    POLL = 0x20       # host -> keypad: –
    IDLE = 0x21       # keypad -> host: STATUS (bit0: display blank since power-up)


IDLE_FRESH = 0x01
DISPLAY_CHARS = frozenset(b"0123456789 -")
# FUNC -> (who sends it, allowed data lengths)
TABLE: dict[int, tuple[str, range]] = {
    FUNC.KEY: ("keypad", range(2, 3)),
    FUNC.DISPLAY: ("host", range(1, 9)),
    FUNC.POLL: ("host", range(0, 1)),
    FUNC.IDLE: ("keypad", range(1, 2)),
}


@dataclass(frozen=True)
class KeyPress:
    press: int
    code: int

    def frame(self, addr: int) -> KeypadFrame:
        return KeypadFrame(addr, FUNC.KEY, bytes((self.press, self.code)))


def poll(addr: int) -> KeypadFrame:
    return KeypadFrame(addr, FUNC.POLL)


def idle(addr: int, fresh: bool) -> KeypadFrame:
    return KeypadFrame(addr, FUNC.IDLE, bytes((IDLE_FRESH if fresh else 0,)))


def display(addr: int, digits: str) -> KeypadFrame:
    data = digits.encode("ascii", "replace")
    if not 1 <= len(data) <= 8 or not set(data) <= DISPLAY_CHARS:
        raise ValueError(f"keypad {addr}: display text {digits!r} must be 1-8 of 0-9, space, '-'")
    return KeypadFrame(addr, FUNC.DISPLAY, data)


def valid(f: KeypadFrame, sender: str) -> bool:
    """A frame the table allows from `sender` ("host" or "keypad"): anything else is never acted on."""
    spec = TABLE.get(f.func)
    if spec is None or spec[0] != sender or len(f.data) not in spec[1]:
        return False
    if f.func == FUNC.KEY:
        return f.data[0] != 0
    if f.func == FUNC.DISPLAY:
        return set(f.data) <= DISPLAY_CHARS
    return True


def key_press(f: KeypadFrame) -> KeyPress | None:
    return KeyPress(f.data[0], f.data[1]) if f.func == FUNC.KEY and valid(f, "keypad") else None


def digits_of(number: str, n: int) -> str:
    """The n-digit display text of a ticket number: A012 -> "012" (the last n digits, zero-padded)."""
    ds = "".join(c for c in number if c.isdigit())
    return ds[-n:].rjust(n, "0")
