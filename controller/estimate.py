"""Wait estimates: service times and the hall's pace learned as the day goes, and `est_wait_s`.

The estimate replays the near future of the windows that can call a ticket: each window is free
again when its current citizen is done (the expected rest of a service already under way, plus the
changeover to the next call), paused windows come back after a typical pause, and every ticket ahead
takes one window for the mean time of the queues it comes from — no-shows only for their recalls.
Green-channel tickets still to come go ahead of a normal ticket, so its wait is stretched by their
share of the windows' time.

Opening hours (`OpenHours`): the replay runs in working time — seconds in which a window may start a call —
and the answer is mapped back to the wall clock, so a ticket taken at 11:50 with the windows closing for
lunch at 12:00 is told "after 13:30", not "20 minutes". A window serving at the end of a span finishes
its citizen (that time is not cut), but no call starts in the gap. Near the end of a span the mean can
be wrong by a whole gap, so a wait goes past the gap only when a brisk spell would not beat the closing
either (`OpenHours.wait`). After the day's last span the windows
go on calling (延时服务: tickets issued before closing are served, controller/calendar.py), so the
estimate past closing is the remaining wait, never None: None keeps meaning "no window will call", which
the kiosk shows as 等待时间以叫号为准.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

ALPHA = 0.2          # weight of the newest service time in the moving average
MIN_SERVICE_S = 20.0
OUTLIER_FACTOR = 3.0  # a service time above this many means counts as this many
MAX_SERVICE_S = 4 * 3600.0
PACE_ALPHA = 0.05    # weight of the newest observation of the hall's pace
MAX_CHANGEOVER_S = 180.0   # a longer gap between finish and next call means nobody was waiting
RESIDUAL_FLOOR = 0.35      # a service past its mean still needs about this share of the mean
MAX_GREEN_SHARE = 0.3
GREEN_WINDOW_S = 3600.0     # green arrivals are counted over the last hour
BRISK = 0.75                # a brisk spell: every ticket ahead a quarter quicker than the mean (see OpenHours.wait)


@dataclass
class ServiceTimes:
    """Exponentially weighted mean service time per service, seeded from config defaults."""

    defaults: dict[str, float]
    means: dict[str, float] = field(default_factory=dict)
    samples: dict[str, int] = field(default_factory=dict)

    def mean(self, service: str) -> float:
        return self.means.get(service, self.defaults.get(service, 300.0))

    def observe(self, service: str, seconds: float) -> None:
        n = self.samples.get(service, 0)
        old = self.mean(service)
        # one very long case (a 45-minute 不动产 file) must not double the estimate of everyone after it
        s = min(max(seconds, MIN_SERVICE_S), MAX_SERVICE_S, OUTLIER_FACTOR * old if n >= 3 else MAX_SERVICE_S)
        # the first samples count fully so a new service leaves its default quickly
        w = max(ALPHA, 1.0 / (n + 2))
        self.means[service] = old + w * (s - old)
        self.samples[service] = n + 1


@dataclass
class HallPace:
    """What the windows show beside service times: changeover, no-shows, pauses, green arrivals."""

    changeover_s: float = 25.0      # finish -> next call, when people are waiting
    no_show: float = 0.03           # share of calls that end in 过号
    skip_s: float = 90.0            # a no-show holds the window for its recalls
    pause_s: float = 1800.0         # a pause lasts this long
    green_per_s: dict[str, float] = field(default_factory=dict)   # green arrivals per service, recent rate

    @staticmethod
    def _ewma(old: float, new: float, alpha: float = PACE_ALPHA) -> float:
        return old + alpha * (new - old)

    def observe_changeover(self, gap_s: float) -> None:
        if 0 <= gap_s <= MAX_CHANGEOVER_S:
            self.changeover_s = self._ewma(self.changeover_s, gap_s)

    def observe_call_outcome(self, no_show: bool, held_s: float) -> None:
        self.no_show = self._ewma(self.no_show, 1.0 if no_show else 0.0)
        if no_show:
            self.skip_s = self._ewma(self.skip_s, min(max(held_s, 0.0), 900.0), 0.2)

    def observe_pause(self, lasted_s: float) -> None:
        self.pause_s = self._ewma(self.pause_s, min(max(lasted_s, 60.0), 4 * 3600.0), 0.2)

    def occupancy_s(self, mean_service_s: float) -> float:
        """How long one ticket ahead holds a window, on average."""
        return (1 - self.no_show) * mean_service_s + self.no_show * self.skip_s + self.changeover_s


def residual_s(mean_s: float, elapsed_s: float) -> float:
    """Expected rest of a service that has lasted `elapsed_s`: long services have long tails."""
    return mean_s * (RESIDUAL_FLOOR + (1 - RESIDUAL_FLOOR) * max(0.0, 1 - elapsed_s / mean_s))


def estimate_wait(ahead: int, mean_s: float, open_windows: int, free_windows: int) -> int | None:
    """The simple estimate: seconds until a ticket with `ahead` tickets before it is called.

    `open_windows` serve its service (logged in, not paused); `free_windows` of them could
    call right now. None when no window serves the service.
    """
    if open_windows <= 0:
        return None
    need = ahead + 1 - free_windows
    if need <= 0:
        return 0
    return int(math.ceil(need * mean_s / open_windows))


def replay_wait(ahead: int, free_in_s: list[float], occupancy_s: float, green_share: float = 0.0,
                free_again: Callable[[float, float], float] | None = None) -> int | None:
    """Seconds until the (ahead+1)-th window is free, when window i is next free in `free_in_s[i]` and
    each ticket ahead holds a window for `occupancy_s`; `green_share` of the windows' time will go to
    green tickets that arrive later and go first. None when no window will call.

    `free_again(call_s, hold_s)`: when a window that calls at `call_s` and is held `hold_s` is free again
    (default: the sum; `OpenHours.free_again` when the replay runs in working time).
    """
    if not free_in_s:
        return None
    heap = sorted(max(0.0, f) for f in free_in_s)
    for _ in range(ahead):
        t = heapq.heappop(heap)
        heapq.heappush(heap, t + occupancy_s if free_again is None else free_again(t, occupancy_s))
    wait = heap[0] / (1 - min(max(green_share, 0.0), MAX_GREEN_SHARE))
    return int(math.ceil(wait))


Interval = tuple[float, float]   # [start, end) in seconds from now


def clock_s(t: time) -> float:
    """Seconds since local midnight; the config's 24:00 (`time.max`) is 86,400."""
    return 86400.0 if t == time.max else t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


@dataclass(frozen=True)
class OpenHours:
    """Today's opening hours seen from now: the intervals, in seconds from now, in which a window may start a call.

    Spans are sorted and touching ones merged; the last one runs on without end (延时服务). A day without
    spans (closed, or no hours configured) is open all the time: nothing is mapped.
    """

    intervals: tuple[Interval, ...]

    @classmethod
    def at(cls, spans: Sequence[tuple[time, time]], now: time) -> OpenHours:
        """`spans` as `HoursSection.spans_on(day)` gives them, `now` the local time of day."""
        if not spans:
            return cls(((-math.inf, math.inf),))
        merged: list[list[float]] = []
        for a, b in sorted((clock_s(a), clock_s(b)) for a, b in spans):
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        merged[-1][1] = math.inf
        n = clock_s(now)
        return cls(tuple((a - n, b - n) for a, b in merged if b - n > 0))

    @property
    def always(self) -> bool:
        """Open from now on without a gap: working time is wall-clock time."""
        return len(self.intervals) == 1 and self.intervals[0][0] <= 0

    def wall_s(self, work_s: float) -> float:
        """Wall-clock seconds from now when `work_s` seconds of opening time have passed. A moment on the end
        of a span is the start of the next one: no call starts in the gap."""
        left = work_s
        for a, b in self.intervals:
            start = max(a, 0.0)
            if left < b - start:
                return start + left
            left -= b - start
        return math.inf   # not reached: the last interval has no end

    def work_s(self, wall_s: float) -> float:
        """Opening time in the next `wall_s` seconds. A window free in a gap (its citizen's service ran past
        the end of the span) is free at the start of the next span."""
        return sum(max(0.0, min(wall_s, b) - max(a, 0.0)) for a, b in self.intervals)

    def free_again(self, call_s: float, hold_s: float) -> float:
        """In working time: a window calling at `call_s` is held `hold_s` on the wall clock, not cut by a gap."""
        return self.work_s(self.wall_s(call_s) + hold_s)

    def wait(self, ahead: int, free_in_s: list[float], occupancy_s: float, green_share: float = 0.0) -> int | None:
        """`replay_wait` in working time, answered on the wall clock; `free_in_s` are wall-clock seconds.

        A wait is put after a gap only when even a brisk spell (`BRISK`) would not reach the ticket before
        the span ends; otherwise it is the time left in that span. Someone told "after 13:30" goes away and
        misses a call at 11:58 (过号); someone told "10 minutes" who waits over lunch is only disappointed.
        """
        free = [self.work_s(f) for f in free_in_s]
        work = replay_wait(ahead, free, occupancy_s, green_share, self.free_again)
        if work is None:
            return None
        wall = self.wall_s(work)
        brisk_work = replay_wait(ahead, [BRISK * f for f in free], BRISK * occupancy_s, green_share,
                                 self.free_again) or 0
        brisk = self.wall_s(brisk_work)
        if wall - work > brisk - brisk_work + 1.0:     # the mean crosses a gap that the brisk spell does not
            wall = min(wall, next(b for _, b in self.intervals if brisk < b))
        return int(math.ceil(wall))


def wall_clock_s(work_s: float, now: time, spans: Sequence[tuple[time, time]]) -> float:
    """Wall-clock seconds from `now` until `work_s` seconds of opening time have passed, given the day's
    opening spans (`HoursSection.spans_on`): time in a gap does not count, and past the last span the
    windows go on calling (延时服务), so the answer is the remaining time, never None."""
    return OpenHours.at(spans, now).wall_s(work_s)


@dataclass
class EstimatorMemory:
    """What the estimator remembers between looks at the hall state (kept beside HallState)."""

    pace: HallPace = field(default_factory=HallPace)
    seen: dict[str, tuple[Any, Any, datetime | None]] = field(default_factory=dict)   # window -> last look
    last_ticket: dict[str, Any] = field(default_factory=dict)     # window -> the Ticket it called last
    tickets_seen: int = 0
    greens: deque[tuple[datetime, str]] = field(default_factory=deque)
