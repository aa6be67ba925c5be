"""Whether a service issues tickets at a moment: the one rule the controller enforces (it refuses `issue`) and
the kiosk shows (it greys the button and says why before anything is sent).

Opening hours with the issue cut-off — the service's own `hours`, else the hall's, none: always open — and
the days a service takes only checked-in appointments (`appointment_only`). Pure: the caller passes the local
time in the hall's zone; nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from hallq.config import HallConfig, HoursSection

__all__ = ["Issuing", "Opening", "appointment_only", "hours_opening", "service_hours", "service_opening",
           "spans_text"]

Span = tuple[time, time]


class Issuing(StrEnum):
    """Whether the hours let tickets be issued now."""

    OPEN = "open"
    NOT_YET = "not_yet"          # before an opening span of today: issuing starts at `opens_at`
    STOPPED = "stopped"          # past the issue cut-off of today's last span
    CLOSED_DAY = "closed_day"    # no opening span today


@dataclass(frozen=True)
class Opening:
    """A service (or the hall) at one local moment: whether it issues, why not, and today's spans."""

    issuing: Issuing
    spans: tuple[Span, ...] = ()          # today's opening spans (none: closed all day, or no hours at all)
    opens_at: time | None = None          # NOT_YET: the start of the next span
    appointment_only: bool = False        # today only checked-in appointments get a ticket
    own_hours: bool = False               # the service's own `hours` (else the hall's)
    hours: HoursSection | None = None     # the hours that apply (None: always open)

    def issues(self, appointment: bool) -> bool:
        """True when a ticket (a checked-in appointment's, or a walk-in's) is issued now."""
        return self.issuing is Issuing.OPEN and (appointment or not self.appointment_only)


def hours_opening(hours: HoursSection | None, local_now: datetime) -> Opening:
    """Whether `hours` issue tickets at `local_now` (no hours: always).

    Issuing stops `issue_cutoff_min` before the end of each opening span; tickets issued before that are
    still served after closing (延时服务).
    """
    if hours is None:
        return Opening(Issuing.OPEN)
    day = local_now.date()
    spans = tuple(hours.spans_on(day))
    if not spans:
        return Opening(Issuing.CLOSED_DAY, hours=hours)
    t = local_now.time()
    cutoff = timedelta(minutes=hours.issue_cutoff_min)
    for start, end in spans:
        if start <= t < (datetime.combine(day, end) - cutoff).time():
            return Opening(Issuing.OPEN, spans, hours=hours)
    later = [start for start, _ in spans if start > t]
    if later:
        return Opening(Issuing.NOT_YET, spans, opens_at=min(later), hours=hours)
    return Opening(Issuing.STOPPED, spans, hours=hours)


def service_hours(cfg: HallConfig, service: str) -> HoursSection | None:
    """The opening hours of `service`: its own `hours`, else the hall's (None: always open)."""
    svc = cfg.service(service)
    return svc.hours if svc is not None and svc.hours is not None else cfg.hours


def appointment_only(cfg: HallConfig, service: str, day: date) -> bool:
    """True when `service` issues only appointment tickets on `day` (its `appointment_only` days)."""
    svc = cfg.service(service)
    return svc is not None and svc.appointment_only is not None and svc.appointment_only.on(day)


def service_opening(cfg: HallConfig, service: str, local_now: datetime) -> Opening:
    """Whether `service` issues tickets at `local_now` (the hall's local time): its own hours instead of the
    hall's; on its appointment-only days to checked-in appointments only (`Opening.issues`)."""
    svc = cfg.service(service)
    return replace(hours_opening(service_hours(cfg, service), local_now),
                   appointment_only=appointment_only(cfg, service, local_now.date()),
                   own_hours=svc is not None and svc.hours is not None)


def spans_text(spans: tuple[Span, ...] | list[Span], dash: str = "-", sep: str = ", ") -> str:
    """Opening spans as text: "08:30-12:00, 14:30-17:00" (an end of day is 24:00)."""
    return sep.join(f"{a:%H:%M}{dash}{'24:00' if b == time.max else f'{b:%H:%M}'}" for a, b in spans)
