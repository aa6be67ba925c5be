"""Which device the bus master serves next: pure functions of the devices' state and the time.

`pick_event` (the default, `schedule: event`): output waiting for a device (a SHOW, BEEP, STATE, an
acknowledgement, a keypad echo) goes first, in order of urgency; then the devices with keys are polled
round robin as fast as the bus allows (at most every `poll_interval_ms` each; a rating prompt first);
devices without keys (LED boards), and keyed ones whose event is still being executed, only every
`output_poll_ms` to see that they are alive; offline ones once a second. Recent key presses give no
priority: the next press is as likely on any other device, and favouring some starves the rest.
Bulk output (bitmap rows) alternates with polls so that a picture never holds up a key press.
`pick_weighted` is the v1 scheduler (`schedule: weighted`), kept for comparison in the bench.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

OFFLINE_RETRY_S = 1.0
BULK = 3                    # output rank of bitmap rows
# v1: how often each kind of device is polled relative to the others (key presses first)
POLL_WEIGHT = {"evaluator": 4.0, "keypad": 4.0, "led": 0.5, "hall_led": 0.5}
KEYED = ("evaluator", "keypad")


class Polled(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def last_poll(self) -> float: ...
    @property
    def online(self) -> bool | None: ...

    def output_rank(self) -> int | None:
        """0 = most urgent; None = nothing to send."""

    def hot(self, now: float) -> bool:
        """A rating prompt is up (or, v1, a key was pressed lately): poll it before the others."""

    def executing(self) -> bool:
        """Its event is being executed: a POLL would only return that event again."""

    def weighted_busy(self) -> tuple[bool, bool]:
        """(v1 boost: in flight or boosted, v1 outbox: STATE or SHOW waiting)."""


D = TypeVar("D", bound=Polled)


def pick_event(devices: Iterable[D], now: float, poll_s: float, output_poll_s: float, bulk_turn: bool) -> D | None:
    best: D | None = None
    best_key: tuple[float, ...] | None = None
    for d in devices:
        age = now - d.last_poll
        if d.online is False:
            key: tuple[float, ...] | None = (9, -(age - OFFLINE_RETRY_S)) if age >= OFFLINE_RETRY_S else None
        else:
            rank = d.output_rank()
            if rank is not None and (rank < BULK or bulk_turn):
                key = (rank, -age)
            else:
                required = poll_s if d.kind in KEYED and not d.executing() else output_poll_s
                overdue = age - required
                key = None if overdue < 0 else (8, -overdue * (2 if d.hot(now) else 1))
        if key is not None and (best_key is None or key < best_key):
            best, best_key = d, key
    return best


def pick_weighted(devices: Iterable[D], now: float, poll_s: float) -> D | None:
    """The device most overdue for a poll, weighted by kind and by activity (v1)."""
    best, best_score = None, 0.0
    for d in devices:
        w = POLL_WEIGHT.get(d.kind, 1.0)
        boosted, outbox = d.weighted_busy()
        if boosted:
            w *= 4
        if outbox:
            w *= 8
        if d.online is False:
            w = min(w, 0.25)
        score = (now - d.last_poll) * w
        if score >= poll_s and score > best_score:
            best, best_score = d, score
    return best
