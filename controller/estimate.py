"""Wait estimates: service times and the hall's pace learned as the day goes, and `est_wait_s`.

The estimate replays the near future of the windows that can call a ticket: each window is free
again when its current citizen is done (the expected rest of a service already under way, plus the
changeover to the next call), paused windows come back after a typical pause, and every ticket ahead
takes one window for the mean time of the queues it comes from — no-shows only for their recalls.
Green-channel tickets still to come go ahead of a normal ticket, so its wait is stretched by their
share of the windows' time.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
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


def replay_wait(ahead: int, free_in_s: list[float], occupancy_s: float, green_share: float = 0.0) -> int | None:
    """Seconds until the (ahead+1)-th window is free, when window i is next free in `free_in_s[i]` and
    each ticket ahead holds a window for `occupancy_s`; `green_share` of the windows' time will go to
    green tickets that arrive later and go first. None when no window will call.
    """
    if not free_in_s:
        return None
    heap = sorted(max(0.0, f) for f in free_in_s)
    for _ in range(ahead):
        t = heapq.heappop(heap)
        heapq.heappush(heap, t + occupancy_s)
    wait = heap[0] / (1 - min(max(green_share, 0.0), MAX_GREEN_SHARE))
    return int(math.ceil(wait))


@dataclass
class EstimatorMemory:
    """What the estimator remembers between looks at the hall state (kept beside HallState)."""

    pace: HallPace = field(default_factory=HallPace)
    seen: dict[str, tuple[Any, Any, datetime | None]] = field(default_factory=dict)   # window -> last look
    last_ticket: dict[str, Any] = field(default_factory=dict)     # window -> the Ticket it called last
    tickets_seen: int = 0
    greens: deque[tuple[datetime, str]] = field(default_factory=deque)
