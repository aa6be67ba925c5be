"""The periods of the reviews a hall is held to (日排查、周分析、月总结、季通报): a day, an ISO week (Monday to
Sunday), a month or a quarter holding a given day."""

from __future__ import annotations

from datetime import date, timedelta

PERIODS = ("day", "week", "month", "quarter")


def period_range(period: str, day: date) -> tuple[date, date]:
    """The first and last day of the day, ISO week (Monday to Sunday), month or quarter that holds `day`."""
    if period == "day":
        return day, day
    if period == "week":
        first = day - timedelta(days=day.weekday())
        return first, first + timedelta(days=6)
    months = {"month": 1, "quarter": 3}[period]
    first = day.replace(day=1) if period == "month" else day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    m = first.month - 1 + months
    return first, first.replace(year=first.year + m // 12, month=m % 12 + 1) - timedelta(days=1)
