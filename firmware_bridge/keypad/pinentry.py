"""Typing a PIN on a legacy keypad (docs/keypad.md): the login key opens PIN entry, digit keys type it, the
enter key sends `login` with it. Pure: a key's action + the entry in progress -> what to do.

The keypad has only a number display (0-9, space, '-'), so entry shows `--N` (N digits typed, never the
digits) and a refused login shows a code: `-1-` wrong PIN, `-2-` locked out, `-3-` any other refusal.
The PIN lives in this object only, in memory, until enter; it is never stored, logged or displayed.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware_bridge.hallbus.messages import EVENT, PIN_SEP, DeviceEvent

PIN_MAX_DIGITS = 8
ENTRY_TIMEOUT_S = 60.0          # an abandoned entry is forgotten after this long without a key
REFUSAL_CODES = {"BAD_CREDENTIALS": 1, "LOCKED_OUT": 2}


def fit(text: str, width: int) -> str:
    """`text` on a display of `width` positions (its right end when too long)."""
    return text[-width:].rjust(width)


def entry_display(typed: int, width: int) -> str:
    """PIN entry in progress: dashes and the number of digits typed (`--0`, `--4`)."""
    return fit("-" * max(0, width - 1) + str(typed), width)


def refusal_display(code: str, width: int) -> str:
    """A refused login: `-1-` wrong PIN, `-2-` locked out, `-3-` anything else."""
    n = REFUSAL_CODES.get(code, 3)
    return fit(f"-{n}-" if width >= 3 else f"-{n}", width)


@dataclass(frozen=True)
class Local:
    """A key handled by the bridge itself (echoed at once, nothing sent); `display` is what the keypad shows
    now (None: back to the window's digits)."""

    display: str | None


@dataclass
class PinEntry:
    """The PIN entry of one keypad, in memory only."""

    width: int = 3
    staff: str | None = None
    digits: str = ""
    last_key: float = 0.0

    def active(self, now: float) -> bool:
        return self.staff is not None and now - self.last_key < ENTRY_TIMEOUT_S

    def cancel(self) -> None:
        self.staff, self.digits = None, ""

    def key(self, action: str, press: int, now: float) -> DeviceEvent | Local | str | None:
        """A key during a PIN-login hall: Local (handled here), the LOGIN event to execute, a reason to
        ignore the key, or None when the key is no part of PIN entry (it then runs as usual; an entry in
        progress is abandoned)."""
        name, _, arg = action.partition(":")
        if name == "login":
            self.staff, self.digits, self.last_key = arg, "", now
            return Local(entry_display(0, self.width))
        if name not in ("digit", "enter", "clear"):
            self.cancel()
            return None
        if not self.active(now):
            self.cancel()
            return f"key {action!r} outside PIN entry (press a login key first)"
        self.last_key = now
        if name == "clear":
            self.cancel()
            return Local(None)
        if name == "digit":
            if len(self.digits) < PIN_MAX_DIGITS:
                self.digits += arg
            return Local(entry_display(len(self.digits), self.width))
        if not self.digits:
            return Local(entry_display(0, self.width))
        assert self.staff is not None
        ev = DeviceEvent(press, EVENT.LOGIN, self.staff.encode("ascii") + bytes((PIN_SEP,)) +
                         self.digits.encode("ascii"))
        self.cancel()
        return ev
