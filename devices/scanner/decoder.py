"""A pure decoder from Linux key events to scans, as a keyboard-wedge scanner types them (no I/O, no clock)."""

from __future__ import annotations

from evdev import ecodes

from devices.scanner.keys import (
    CHORD_KEYS,
    END_KEYS,
    KEYPAD_KEYS,
    LETTER_KEYS,
    SHIFT_KEYS,
    SILENT_KEYS,
    US_KEYS,
    key_name,
)
from devices.scanner.model import MAX_SCAN_CHARS, Scan

# (timestamp_s, type, code, value), as in struct input_event
KeyEvent = tuple[float, int, int, int]

KEY_UP, KEY_DOWN, KEY_REPEAT = 0, 1, 2


class KeyDecoder:
    """Feed it key events with their timestamps; it returns each scan when the scan ends.

    A scan ends at Enter, keypad Enter or Tab, or when the gap between two key-downs exceeds
    `inter_key_timeout_s`; `flush_if_idle(now_s)` ends it after silence. Keys with no US-layout
    character make the whole scan unreadable rather than passing on part of it.
    """

    def __init__(self, source: str, inter_key_timeout_s: float, max_chars: int = MAX_SCAN_CHARS) -> None:
        if inter_key_timeout_s <= 0:
            raise ValueError(f"scanner {source}: the inter-key timeout must be positive, got {inter_key_timeout_s} s")
        self.source = source
        self.inter_key_timeout_s = inter_key_timeout_s
        self.max_chars = max_chars
        self._chars: list[str] = []
        self._error: str | None = None
        self._last_down_s: float | None = None
        self._shifts: set[int] = set()
        self._chords: set[int] = set()
        self._caps_lock = False

    @property
    def pending(self) -> bool:
        """True while a scan has begun and not yet ended."""
        return bool(self._chars) or self._error is not None

    def idle_deadline_s(self) -> float | None:
        """The event time after which `flush_if_idle` ends the pending scan; None when nothing is pending."""
        if not self.pending or self._last_down_s is None:
            return None
        return self._last_down_s + self.inter_key_timeout_s

    def feed(self, event: KeyEvent) -> list[Scan]:
        ts, ev_type, code, value = event
        if ev_type != ecodes.EV_KEY:
            return []
        if value == KEY_UP:
            self._shifts.discard(code)
            self._chords.discard(code)
            return []
        if value != KEY_DOWN:  # autorepeat is the kernel's doing, not a keystroke the scanner sent
            return []
        out: list[Scan] = []
        if self._last_down_s is not None and ts - self._last_down_s > self.inter_key_timeout_s:
            out += self._end()
        self._last_down_s = ts
        if code in END_KEYS:
            out += self._end()
        elif code in SHIFT_KEYS:
            self._shifts.add(code)
        elif code in CHORD_KEYS:
            self._chords.add(code)
        elif code == ecodes.KEY_CAPSLOCK:
            self._caps_lock = not self._caps_lock
        elif code not in SILENT_KEYS:
            self._type(code)
        return out

    def flush_if_idle(self, now_s: float) -> Scan | None:
        """End the pending scan if no key went down for longer than the inter-key timeout before `now_s`."""
        deadline = self.idle_deadline_s()
        if deadline is None or now_s <= deadline:
            return None
        return self.finish()

    def finish(self) -> Scan | None:
        """End the pending scan now (the input ended); None when nothing was pending."""
        ended = self._end()
        return ended[0] if ended else None

    def _type(self, code: int) -> None:
        if self._error is not None:
            return
        if self._chords:
            held = "+".join(sorted(key_name(c) for c in self._chords))
            self._error = (f"{held}+{key_name(code)} was typed, which has no character — set the scanner to send "
                           "plain US-layout keys (no control-character or Alt codes)")
            return
        ch = self._character(code)
        if ch is None:
            self._error = (f"{key_name(code)} (code {code}) has no character in the US keyboard layout — set the "
                           "scanner to the US layout with no function-key prefix or suffix")
        elif len(self._chars) >= self.max_chars:
            self._error = (f"too long: more than {self.max_chars} characters without an end — a key may be stuck "
                           "or the scanner's Enter suffix is off")
        else:
            self._chars.append(ch)

    def _character(self, code: int) -> str | None:
        if code in KEYPAD_KEYS:
            return KEYPAD_KEYS[code]
        pair = US_KEYS.get(code)
        if pair is None:
            return None
        shifted = bool(self._shifts)
        if code in LETTER_KEYS and self._caps_lock:
            shifted = not shifted
        return pair[1] if shifted else pair[0]

    def _end(self) -> list[Scan]:
        if not self.pending:
            return []
        scan = (Scan("", self.source, f"scan unreadable: {self._error}") if self._error is not None
                else Scan("".join(self._chars), self.source))
        self._chars, self._error = [], None
        return [scan]
