"""Business calendar: the controller's refusals when a service does not issue tickets (the rule itself is the
ground's `hallq/opening.py`, shared with the kiosk), when the hall opened; Chinese working days are the
ground's (hallq/workdays.py).
"""

from __future__ import annotations

from datetime import date, datetime

from hallq.config import HallConfig, HoursSection
from hallq.opening import Issuing, Opening, appointment_only, hours_opening, service_hours, service_opening, spans_text
from hallq.workdays import add_working_days, is_workday

__all__ = ["add_working_days", "appointment_only", "hours_text", "is_workday", "issue_refusal", "open_since",
           "service_hours", "service_refusal"]

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def issue_refusal(hours: HoursSection | None, local_now: datetime, what: str = "the hall") -> str | None:
    """Why a ticket cannot be issued now under `hours` (hallq.opening.hours_opening), or None when issuing is
    open."""
    return _hours_refusal(hours_opening(hours, local_now), local_now, what)


def _hours_refusal(o: Opening, local_now: datetime, what: str) -> str | None:
    if o.issuing is Issuing.OPEN:
        return None
    if o.issuing is Issuing.CLOSED_DAY:
        return f"{what} is closed on {local_now.date().isoformat()}"
    pretty = ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in o.spans)
    cutoff = o.hours.issue_cutoff_min if o.hours is not None else 0
    return f"tickets are issued {pretty} (until {cutoff} min before closing); it is {local_now.time():%H:%M}"


def open_since(hours: HoursSection, local_now: datetime) -> datetime | None:
    """The start of the opening span the hall is in now, or None when it is closed."""
    t = local_now.time()
    for start, end in hours.spans_on(local_now.date()):
        if start <= t < end:
            return local_now.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
    return None


def service_refusal(cfg: HallConfig, service: str, local_now: datetime, appointment: bool) -> str | None:
    """Why a ticket of `service` (an appointment ticket or not) cannot be issued now, or None
    (hallq.opening.service_opening: its own hours instead of the hall's; appointment-only days)."""
    o = service_opening(cfg, service, local_now)
    if o.issues(appointment):
        return None
    refusal = _hours_refusal(o, local_now, "the service" if o.own_hours else "the hall")
    if refusal is not None:
        return refusal
    day = local_now.date()
    return (f"on {WEEKDAY_NAMES[day.weekday()]} {day.isoformat()} it takes only checked-in appointments "
            "(预约办): scan the appointment code, or come on a day it serves walk-ins")


def hours_text(hours: HoursSection | None, day: date) -> str | None:
    """The opening spans of `day` as text ("08:30-12:00, 14:30-17:00"; "" when closed; None: always open)."""
    if hours is None:
        return None
    return spans_text(hours.spans_on(day))
