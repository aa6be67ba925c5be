"""Business calendar: opening hours with the issue cut-off, and Chinese working days.

Working days come from the `chinese_calendar` package (public holidays and the adjusted
working weekends announced by the State Council); outside the years it knows, Monday–Friday.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import chinese_calendar

from hallq.config import HoursSection


def is_workday(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def add_working_days(day: date, n: int) -> date:
    """The n-th working day after `day` (n=0: `day` itself)."""
    d = day
    left = n
    while left > 0:
        d += timedelta(days=1)
        if is_workday(d):
            left -= 1
    return d


def issue_refusal(hours: HoursSection | None, local_now: datetime) -> str | None:
    """Why a ticket cannot be issued now, or None when issuing is open.

    Issuing stops `issue_cutoff_min` before the end of each opening span; tickets issued
    before that are still served after closing (延时服务).
    """
    if hours is None:
        return None
    spans = hours.spans_on(local_now.date())
    if not spans:
        return f"the hall is closed on {local_now.date().isoformat()}"
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
