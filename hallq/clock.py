"""Clocks: the wall clock, and a simulated one that runs faster from a chosen start."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now().astimezone()

    def monotonic(self) -> float:
        """Seconds that really passed (never stepped): the controller checks the wall clock against it."""
        return time.monotonic()


class ScaledClock:
    """Time that starts at `start` and runs `speed` times faster than the wall clock."""

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        if start.tzinfo is None:
            raise ValueError("the start of a simulated clock needs a UTC offset, e.g. 2026-11-23T08:30:00+08:00")
        self.start, self.speed = start, speed
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)

    def monotonic(self) -> float:
        return (time.monotonic() - self._t0) * self.speed


def parse_clock(spec: str | None) -> Clock:
    """None -> the wall clock; 'START[xSPEED]' -> ScaledClock (e.g. '2026-11-23T08:30:00+08:00x60')."""
    if not spec:
        return SystemClock()
    start, _, speed = spec.partition("x")
    return ScaledClock(datetime.fromisoformat(start), float(speed or 1.0))


def clock_synchronised() -> bool | None:
    """Whether the kernel says the system clock is synchronised (NTP); None where it cannot be asked.

    adjtimex(2) with no changes returns the clock state; TIME_ERROR (5) means "not synchronised".
    """
    import ctypes
    import ctypes.util

    class _Timex(ctypes.Structure):
        _fields_ = [("modes", ctypes.c_uint), ("rest", ctypes.c_byte * 204)]   # struct timex is 208 bytes

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        tx = _Timex()
        state = int(libc.adjtimex(ctypes.byref(tx)))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != 5
