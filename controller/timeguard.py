"""Time that cannot lie (issue 12): the controller's view of "now", checked against a monotonic clock.

A machine's wall clock can be stepped by hand, by a bad NTP server or by a dead RTC battery. The queue's
rules follow the wall clock (opening hours, the business day), so a step must not be trusted blindly:
- backwards: time is held at the newest time already used (the log never goes back) and then runs on with
  the monotonic clock, and an alert says so (a restart accepts the new wall clock);
- forwards by more than a day beyond what the monotonic clock measured: held at the monotonic
  extrapolation (not applied) and alerted; a start after a weekend has no reference and applies normally;
- a business-day change that a step (not the passing of time) would cause waits until the wall clock
  has stayed past midnight for `confirm_s` (60 s) of monotonic time.
Pure: fed wall and monotonic readings, returns the time to use and the alerts to raise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

STEP_TOLERANCE = timedelta(seconds=5)     # wall vs monotonic disagreement that counts as a step
FORWARD_LIMIT = timedelta(hours=24)


@dataclass
class TimeGuard:
    zone: ZoneInfo
    last_used: datetime | None = None          # the newest time handed out (or the log's newest event)
    confirm_s: float = 60.0
    _ref: tuple[datetime, float] | None = None  # (wall, monotonic) both agreed at this point
    _day_pending: tuple[date, float] | None = None
    _state: str = "ok"                          # ok | behind | ahead
    alerts: list[tuple[str, str]] = field(default_factory=list)

    def now(self, wall: datetime, mono: float, today: date | None) -> datetime:
        """The time to use for `wall` read at monotonic `mono`; `today` is the engine's business day."""
        if self._ref is None:
            self._ref = (wall, mono)
        expected = self._ref[0] + timedelta(seconds=mono - self._ref[1])
        drift = wall - expected
        if drift < -STEP_TOLERANCE and self.last_used is not None and wall < self.last_used:
            self._enter("behind", "clock_backwards", f"the machine's clock went back to {wall.isoformat()} "
                        f"(before {self.last_used.isoformat()}, already in the log); holding time until it catches "
                        "up — check NTP")
            return self._use(max(expected, self.last_used))
        if drift > FORWARD_LIMIT:
            self._enter("ahead", "clock_jump", f"the machine's clock jumped ahead to {wall.isoformat()}, "
                        f"{drift.total_seconds() / 3600:.1f} h more than the time that passed; not applied (the "
                        "waiting queue is not closed) — fix the clock or restart the controller to accept it")
            return self._use(max(expected, self.last_used or expected))
        if abs(drift) > STEP_TOLERANCE:
            local_day = wall.astimezone(self.zone).date()
            if today is not None and local_day > today and expected.astimezone(self.zone).date() <= today:
                # only the step would change the day: wait until the wall clock has stayed there confirm_s
                if self._day_pending is None or self._day_pending[0] != local_day:
                    self._day_pending = (local_day, mono)
                if mono - self._day_pending[1] < self.confirm_s:
                    return self._use(max(expected, self.last_used or expected))
            self._ref = (wall, mono)   # a small correction (NTP): take it
        self._day_pending = None
        if self._state != "ok":
            self._state = "ok"
            self._ref = (wall, mono)
        return self._use(max(wall, self.last_used or wall))

    def _enter(self, state: str, kind: str, message: str) -> None:
        if self._state != state:
            self._state = state
            self.alerts.append((kind, message))

    def _use(self, t: datetime) -> datetime:
        self.last_used = t
        return t

    def take_alerts(self) -> list[tuple[str, str]]:
        out, self.alerts = self.alerts, []
        return out
