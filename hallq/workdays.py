"""Chinese working days (工作日): public holidays and the adjusted working weekends announced by the State
Council, from the `chinese_calendar` package; outside the years it knows, Monday to Friday. Deadlines of the
好差评 rules (补充评价, 差评 feedback) count these days."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar


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
