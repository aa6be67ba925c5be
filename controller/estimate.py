"""Wait estimates: per-service service-time averages learned from the log, and `est_wait_s`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

ALPHA = 0.2          # weight of the newest service time in the moving average
MIN_SERVICE_S = 20.0
MAX_SERVICE_S = 4 * 3600.0


@dataclass
class ServiceTimes:
    """Exponentially weighted mean service time per service, seeded from config defaults."""

    defaults: dict[str, float]
    means: dict[str, float] = field(default_factory=dict)
    samples: dict[str, int] = field(default_factory=dict)

    def mean(self, service: str) -> float:
        return self.means.get(service, self.defaults.get(service, 300.0))

    def observe(self, service: str, seconds: float) -> None:
        s = min(max(seconds, MIN_SERVICE_S), MAX_SERVICE_S)
        n = self.samples.get(service, 0)
        old = self.mean(service)
        # the first samples count fully so a new service leaves its default quickly
        w = max(ALPHA, 1.0 / (n + 2))
        self.means[service] = old + w * (s - old)
        self.samples[service] = n + 1


def estimate_wait(ahead: int, mean_s: float, open_windows: int, free_windows: int) -> int | None:
    """Seconds until a ticket with `ahead` tickets before it is called.

    `open_windows` serve its service (logged in, not paused); `free_windows` of them could
    call right now. None when no window serves the service.
    """
    if open_windows <= 0:
        return None
    need = ahead + 1 - free_windows
    if need <= 0:
        return 0
    return int(math.ceil(need * mean_s / open_windows))
