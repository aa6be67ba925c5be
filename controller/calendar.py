"""Business calendar: opening hours with the issue cut-off (the hall's, or a service's own), days a service
takes only appointments; Chinese working days are the ground's (hallq/workdays.py).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from hallq.config import HallConfig, HoursSection
from hallq.workdays import add_working_days, is_workday

__all__ = ["add_working_days", "appointment_only", "hours_text", "is_workday", "issue_refusal", "open_since",
           "service_hours", "service_refusal"]

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def issue_refusal(hours: HoursSection | None, local_now: datetime, what: str = "the hall") -> str | None:
    """Why a ticket cannot be issued now, or None when issuing is open.

    Issuing stops `issue_cutoff_min` before the end of each opening span; tickets issued
    before that are still served after closing (延时服务).
    """
    if hours is None:
        return None
    spans = hours.spans_on(local_now.date())
    if not spans:
        return f"{what} is closed on {local_now.date().isoformat()}"
    t = local_now.time()
    cutoff = timedelta(minutes=hours.issue_cutoff_min)
    for start, end in spans:
        last = (datetime.combine(local_now.date(), end) - cutoff).time()
        if start <= t < last:
            return None
    pretty = ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in spans)
    return f"tickets are issued {pretty} (until {hours.issue_cutoff_min} min before closing); it is {t:%H:%M}"


def open_since(hours: HoursSection, local_now: datetime) -> datetime | None:
    """The start of the opening span the hall is in now, or None when it is closed."""
    t = local_now.time()
    for start, end in hours.spans_on(local_now.date()):
        if start <= t < end:
            return local_now.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
    return None


def service_hours(cfg: HallConfig, service: str) -> HoursSection | None:
    """The opening hours of `service`: its own `hours`, else the hall's (None: always open)."""
    svc = cfg.service(service)
    return svc.hours if svc is not None and svc.hours is not None else cfg.hours


def appointment_only(cfg: HallConfig, service: str, day: date) -> bool:
    """True when `service` issues only appointment tickets on `day` (its `appointment_only` days)."""
    svc = cfg.service(service)
    return svc is not None and svc.appointment_only is not None and svc.appointment_only.on(day)


def service_refusal(cfg: HallConfig, service: str, local_now: datetime, appointment: bool) -> str | None:
    """Why a ticket of `service` (an appointment ticket or not) cannot be issued now, or None.

    A service with its own `hours` follows them instead of the hall's; on its `appointment_only` days it
    issues appointment tickets only."""
    svc = cfg.service(service)
    own = svc is not None and svc.hours is not None
    refusal = issue_refusal(service_hours(cfg, service), local_now, "the service" if own else "the hall")
    if refusal is not None:
        return refusal
    day = local_now.date()
    if not appointment and appointment_only(cfg, service, day):
        return (f"on {WEEKDAY_NAMES[day.weekday()]} {day.isoformat()} it takes only checked-in appointments "
                "(预约办): scan the appointment code, or come on a day it serves walk-ins")
    return None


def hours_text(hours: HoursSection | None, day: date) -> str | None:
    """The opening spans of `day` as text ("08:30-12:00, 14:30-17:00"; "" when closed; None: always open)."""
    if hours is None:
        return None
    return ", ".join(f"{a:%H:%M}-{'24:00' if b == time.max else f'{b:%H:%M}'}" for a, b in hours.spans_on(day))
