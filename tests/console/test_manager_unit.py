"""The manager console's pure parts: today's figures from events (each event counted once across backfill and
live), work order marks in working days, the order action bodies, alert escalation marks."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from console.hub import ConsoleError, DayFigures
from console.manager import mark_alert, mark_order, order_body, report_period, working_days_left


def test_day_figures_count_each_event_once_and_restart_each_day() -> None:
    f = DayFigures("2026-11-23")
    evs = [{"seq": 1, "type": "ticket.issued", "date": "2026-11-23"},
           {"seq": 2, "type": "ticket.issued", "date": "2026-11-23"},
           {"seq": 3, "type": "window.login", "window": "1"},
           {"seq": 4, "type": "ticket.finished", "date": "2026-11-23"},
           {"seq": 5, "type": "evaluation.recorded", "date": "2026-11-23", "level": 2},
           {"seq": 6, "type": "ticket.skipped", "date": "2026-11-23"},
           {"seq": 7, "type": "ticket.cancelled", "date": "2026-11-23"}]
    for ev in evs + evs[:3]:             # the backfill and the live stream overlap
        f.apply(ev)
    assert f.to_json() == {"day": "2026-11-23", "issued": 2, "served": 1, "no_show": 1, "cancelled": 1, "rated": 1,
                           "good": 0, "bad": 1, "good_rate": 0.0}
    f.apply({"seq": 8, "type": "ticket.issued", "date": "2026-11-24"})
    assert f.to_json()["issued"] == 1 and f.day == "2026-11-24"
    f.apply({"seq": 9, "type": "evaluation.recorded", "date": "2026-11-23", "level": 5})   # yesterday's: not today
    assert f.rated == 0


def test_working_days_left_and_overdue() -> None:
    fri, mon, tue = date(2026, 11, 27), date(2026, 11, 30), date(2026, 12, 1)
    assert working_days_left(fri, tue) == 2 and working_days_left(tue, tue) == 0
    assert working_days_left(tue, fri) == -2
    o = {"deadline": "2026-11-27", "state": "rectifying"}
    assert mark_order(o, mon) | {} == {**o, "days_left": -1, "overdue": True}
    assert mark_order({**o, "state": "fed_back"}, mon)["overdue"] is False


def test_order_bodies() -> None:
    assert order_body("verify", {"note": " 属实 ", "complex": True}) == ("wo_verify", {"note": "属实", "complex": True})
    assert order_body("decide", {"note": "x", "uphold": False})[0] == "wo_decide"
    cases: list[tuple[str, dict[str, Any], int]] = [("verify", {}, 400), ("verify", {"note": "x", "by": "M1"}, 403),
                                 ("revisit", {"note": "x", "satisfied": "yes"}, 400), ("appeal", {"note": "x"}, 400),
                                 ("nothing", {}, 404), ("feedback", {"note": 5}, 400)]
    for action, body, status in cases:
        with pytest.raises(ConsoleError) as e:
            order_body(action, body)
        assert e.value.status == status, (action, body)


def test_alert_marks_and_report_periods() -> None:
    now = datetime(2026, 11, 23, 10, 0, tzinfo=timezone(timedelta(hours=8)))
    a = {"id": "A1", "state": "open", "at": (now - timedelta(minutes=31)).isoformat()}
    assert mark_alert(a, now, 1800)["escalated"] is True and mark_alert(a, now, 1800)["age_s"] == 1860
    assert mark_alert({**a, "state": "acknowledged"}, now, 1800)["escalated"] is False
    assert mark_alert({**a, "at": "garbage"}, now, 1800)["escalated"] is False
    today = date(2026, 11, 23)
    assert report_period({"period": "quarter", "date": "2026-11-23"}, today) == (date(2026, 10, 1), date(2026, 12, 31))
    assert report_period({"period": "week"}, today) == (date(2026, 11, 23), date(2026, 11, 29))
    assert report_period({"from": "2026-11-01"}, today) == (date(2026, 11, 1), date(2026, 11, 1))
