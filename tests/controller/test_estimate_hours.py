"""Wait estimates and opening hours: working time mapped to the wall clock, and `est_wait_s` across lunch."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from controller.engine import Engine
from controller.estimate import OpenHours, replay_wait, wall_clock_s
from hallq.config import HoursSection, parse_config
from tests.conftest import small_hall

TZ = ZoneInfo("Asia/Shanghai")
LUNCH = ["08:30-12:00", "13:30-17:00"]
MON, TUE, SAT = date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 28)
MIN = 60.0


def _spans(*spans: str) -> list[tuple[time, time]]:
    return HoursSection(weekly={"mon": list(spans)}).spans_on(MON)


def _at(hhmm: str) -> time:
    return time.fromisoformat(hhmm)


def test_without_a_gap_working_time_is_wall_clock_time() -> None:
    for now in ("08:30", "10:00", "16:59"):
        assert wall_clock_s(1234.5, _at(now), _spans("08:30-17:00")) == 1234.5
    assert wall_clock_s(1234.5, _at("10:00"), []) == 1234.5, "no spans (a closed day): nothing to map"
    assert OpenHours.at(_spans("08:30-17:00"), _at("10:00")).always
    assert OpenHours.at(_spans("08:30-12:00", "12:00-17:00"), _at("10:00")).always, "touching spans are one"


def test_a_wait_crossing_the_lunch_gap_goes_on_after_it() -> None:
    spans = _spans(*LUNCH)
    assert wall_clock_s(5 * MIN, _at("11:50"), spans) == 5 * MIN, "called before the windows close"
    assert wall_clock_s(20 * MIN, _at("11:50"), spans) == (10 + 90 + 10) * MIN
    assert wall_clock_s(10 * MIN, _at("11:50"), spans) == 100 * MIN, "no call starts at 12:00: it waits for 13:30"
    assert not OpenHours.at(spans, _at("11:50")).always


def test_a_wait_starting_inside_the_gap_or_before_opening_starts_at_the_next_span() -> None:
    spans = _spans(*LUNCH)
    assert wall_clock_s(0, _at("12:30"), spans) == 60 * MIN
    assert wall_clock_s(10 * MIN, _at("12:30"), spans) == 70 * MIN
    assert wall_clock_s(1 * MIN, _at("08:00"), spans) == 31 * MIN


def test_crossing_two_gaps() -> None:
    spans = _spans("08:00-10:00", "11:00-12:00", "14:00-17:00")
    assert wall_clock_s(80 * MIN, _at("09:30"), spans) == (30 + 60 + 50) * MIN
    assert wall_clock_s(90 * MIN, _at("09:30"), spans) == (30 + 60 + 60 + 120) * MIN, "at 12:00: called at 14:00"
    assert wall_clock_s(100 * MIN, _at("09:30"), spans) == (30 + 60 + 60 + 120 + 10) * MIN


def test_past_the_last_span_the_remaining_wait_is_given_not_none() -> None:
    spans = _spans(*LUNCH)
    # 延时服务: tickets issued before closing are still called after it, so the time after 17:00 counts
    assert wall_clock_s(20 * MIN, _at("16:50"), spans) == 20 * MIN
    assert wall_clock_s(5 * MIN, _at("17:30"), spans) == 5 * MIN
    assert OpenHours.at(spans, _at("16:50")).always


def test_a_span_ending_at_midnight() -> None:
    spans = _spans("08:00-12:00", "13:00-24:00")
    assert spans[-1][1] == time.max
    assert wall_clock_s(20 * MIN, _at("23:50"), spans) == 20 * MIN
    assert wall_clock_s(20 * MIN, _at("11:50"), spans) == (10 + 60 + 10) * MIN
    assert wall_clock_s(20 * MIN, _at("12:10"), _spans("08:00-12:00", "12:30-24:00")) == (20 + 20) * MIN


def test_the_days_spans_come_from_open_dates_and_closed_dates() -> None:
    hours = HoursSection(weekly={"mon": LUNCH, "tue": LUNCH}, closed_dates=[TUE],
                         open_dates={SAT: ["09:00-11:00", "14:00-16:00"]})   # a working Saturday (调休)
    assert wall_clock_s(20 * MIN, _at("11:50"), hours.spans_on(MON)) == 110 * MIN
    assert wall_clock_s(20 * MIN, _at("11:50"), hours.spans_on(TUE)) == 20 * MIN, "closed date: nothing to map"
    assert wall_clock_s(20 * MIN, _at("10:50"), hours.spans_on(SAT)) == (10 + 180 + 10) * MIN
    assert wall_clock_s(20 * MIN, _at("11:50"), hours.spans_on(SAT)) == (130 + 20) * MIN


def test_working_time_of_a_window_free_in_the_gap_is_the_next_span() -> None:
    h = OpenHours.at(_spans(*LUNCH), _at("11:50"))
    assert h.work_s(5 * MIN) == 5 * MIN
    assert h.work_s(15 * MIN) == 10 * MIN, "free at 12:05: calls at 13:30"
    assert h.wall_s(h.work_s(15 * MIN)) == 100 * MIN
    assert h.work_s(105 * MIN) == 15 * MIN
    assert h.free_again(5 * MIN, 10 * MIN) == 10 * MIN, "a service running past 12:00 is finished, not cut"


def test_replay_across_lunch_does_not_cut_the_service_under_way() -> None:
    h = OpenHours.at(_spans(*LUNCH), _at("11:50"))
    # two windows free at 11:55; each ticket holds one for 10 min. Tickets 1-2 are served 11:55-12:05,
    # the windows pause until 13:30, tickets 3-4 are served 13:30-13:40: the fifth is called at 13:40.
    assert h.wait(4, [5 * MIN, 5 * MIN], 10 * MIN) == (10 + 90 + 10) * MIN
    assert h.wait(1, [5 * MIN, 5 * MIN], 10 * MIN) == 5 * MIN
    assert h.wait(0, [], 10 * MIN) is None, "no window will call"
    assert replay_wait(4, [0.0, 0.0], 600.0) == replay_wait(4, [0.0, 0.0], 600.0, 0.0, lambda t, d: t + d) == 1200


def test_a_wait_goes_past_the_gap_only_when_a_brisk_spell_would_not_beat_the_closing() -> None:
    h = OpenHours.at(_spans(*LUNCH), _at("11:50"))
    # the mean: tickets 1-2 called at 11:55 and served until 12:01, so the third is called at 13:30; a quarter
    # quicker, they are done at 11:58:15 and the third is called before 12:00: told the 10 minutes left
    assert h.wait(2, [5 * MIN, 5 * MIN], 6 * MIN) == 10 * MIN
    assert h.wait(2, [5 * MIN, 5 * MIN], 9 * MIN) == 100 * MIN, "even a brisk spell ends past 12:00: after lunch"
    inside_gap = OpenHours.at(_spans(*LUNCH), _at("12:30"))
    assert inside_gap.wait(2, [0.0, 0.0], 6 * MIN) == (60 + 6) * MIN


# -- the controller: est_wait_s in the issue reply ----------------------------------------------------

def _fifth_ticket_at(at: datetime, hours: dict[str, Any] | None) -> dict[str, Any]:
    """Two windows each serving since 10 min before `at`; four tickets waiting; the fifth issued at `at`."""
    services = [{"id": "general", "prefix": "A", "name": {"zh": "综合"}, "default_service_s": 480},
                {"id": "tax", "prefix": "S", "name": {"zh": "税务"}}]
    engine = Engine(parse_config(small_hall(services=services, **({"hours": hours} if hours else {}))))
    clock = [at - timedelta(minutes=10)]

    def ok(name: str, **args: Any) -> dict[str, Any]:
        out = engine.handle(name, args, clock[0])
        assert out.ok, out.reply
        clock[0] += timedelta(seconds=1)
        return dict(out.reply["result"])

    for _ in range(2):
        ok("issue", service="general")
    ok("login", window="1", staff="S001")
    ok("login", window="3", staff="S003")
    ok("call", window="1")
    ok("call", window="3")
    clock[0] = at
    for _ in range(4):
        ok("issue", service="general")
    ticket = ok("issue", service="general")["ticket"]
    assert ticket["ahead"] == 4
    return dict(ticket)


def test_issue_before_lunch_is_told_after_the_gap() -> None:
    at = datetime(2026, 11, 23, 11, 50, tzinfo=TZ)   # a Monday
    plain = _fifth_ticket_at(at, None)["est_wait_s"]
    assert 15 * MIN < plain < 25 * MIN, "without hours: about 20 minutes"
    one_span = _fifth_ticket_at(at, {"weekly": {"mon": ["08:30-17:00"]}})["est_wait_s"]
    assert one_span == plain, "one span covering the time: exactly the estimate without hours"
    ticket = _fifth_ticket_at(at, {"weekly": {"mon": LUNCH}})
    lunch, issued = ticket["est_wait_s"], datetime.fromisoformat(ticket["issued_at"])
    until_reopening = (at.replace(hour=13, minute=30) - issued).total_seconds()
    assert until_reopening > 90 * MIN
    assert lunch >= until_reopening, f"the windows close at 12:00 and call again at 13:30, got {lunch} s"
    assert lunch <= until_reopening + plain


@pytest.mark.parametrize("hhmm", ["09:00", "16:40"])
def test_issue_away_from_the_gap_is_unchanged(hhmm: str) -> None:
    at = datetime.combine(MON, time.fromisoformat(hhmm), tzinfo=TZ)
    assert _fifth_ticket_at(at, {"weekly": {"mon": LUNCH}})["est_wait_s"] == _fifth_ticket_at(at, None)["est_wait_s"]
