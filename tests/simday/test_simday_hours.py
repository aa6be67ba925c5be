"""Opening hours with a lunch gap: the hall config carries them, visitors at the closed door come back, est_wait_s."""

from __future__ import annotations

from pathlib import Path

import pytest

from hallq.config import parse_config
from simulation.simday.backends import EngineHall
from simulation.simday.executor import DayResult, DayRunner
from simulation.simday.layout import hall_config, window_services
from simulation.simday.metrics import estimate_report, hour_before_lunch, policy_report
from simulation.simday.plan import make_plan
from simulation.simday.report import day_report, markdown
from simulation.simday.scenario import ScenarioError, clock_s, load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "config" / "scenarios"
VILLAGE = SCENARIOS / "village.yaml"


def _day(cfg_hours: list[str] | None = None) -> DayResult:
    sc = load_scenario(VILLAGE)
    cfg = hall_config(sc, "pooled")
    if cfg_hours is not None:
        cfg["hours"]["open_dates"] = {sc.date.isoformat(): cfg_hours}
    return DayRunner(make_plan(sc), EngineHall(cfg), window_services(sc, "pooled")).run()


def test_village_hall_config_closes_for_lunch_and_league_has_one_span() -> None:
    village, league = load_scenario(VILLAGE), load_scenario(SCENARIOS / "league.yaml")
    hours = parse_config(hall_config(village, "pooled")).hours
    assert hours is not None
    assert [f"{a:%H:%M}-{b:%H:%M}" for a, b in hours.spans_on(village.date)] == ["08:30-12:00", "13:30-17:00"]
    assert village.staff.lunch_start == "12:00" and village.staff.lunch_minutes == 90, "the gap is the staff's lunch"
    assert hall_config(league, "pooled")["hours"]["open_dates"] == {league.date.isoformat(): ["08:30-17:30"]}


def test_visitors_at_the_closed_door_come_back_at_reopening_in_their_order() -> None:
    res, plan = _day(), make_plan(load_scenario(VILLAGE))
    assert res.errors == [], res.errors[:3]
    lunch = [v for v in plan.visitors if clock_s("12:00") <= v.at_s < clock_s("13:30")]
    assert lunch, "the village profile has visitors over lunch"
    assert sorted(res.came_back) == [v.idx for v in lunch] and res.turned_away == []
    back = [r for r in res.tickets if r.visitor in res.came_back]
    assert [r.visitor for r in back] == [v.idx for v in lunch], "first at the door, first to take a ticket"
    assert all(r.issued_s == clock_s("13:30") for r in back)
    assert all(res.came_back[v.idx] == pytest.approx(clock_s("13:30") - v.at_s) for v in lunch)
    assert not any(clock_s("12:00") <= r.issued_s < clock_s("13:30") for r in res.tickets), "no ticket in the gap"
    door = policy_report(res, plan)["closed_door"]
    assert door["came_back"] == len(lunch) and door["turned_away"] == 0 and door["door_wait_mean_min"] > 0


def test_a_hall_that_does_not_reopen_turns_the_visitors_away_without_errors() -> None:
    res, plan = _day(["08:30-12:00"]), make_plan(load_scenario(VILLAGE))
    assert res.errors == [], res.errors[:3]
    after = [v.idx for v in plan.visitors if v.at_s >= clock_s("12:00")]
    assert after and sorted(res.turned_away) == after
    assert len(res.tickets) + len(after) == len(plan.visitors)
    assert {r.outcome for r in res.tickets} <= {"finished", "no_show"}


def test_report_has_the_hour_before_lunch_and_the_closed_door() -> None:
    res, plan = _day(), make_plan(load_scenario(VILLAGE))
    assert hour_before_lunch(plan) == (clock_s("11:00"), clock_s("12:00"))
    est = estimate_report(res, hour_before_lunch(plan))
    assert est["before_lunch"]["n"] == sum(1 for r in res.tickets if clock_s("11:00") <= r.issued_s < clock_s("12:00")
                                           and r.est_s is not None and r.naive_s is not None)
    md = markdown(day_report(plan, [res], {"pooled": "engine"}))
    assert "hour before lunch" in md and "came back when it reopened" in md


def test_scenario_hours_are_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = VILLAGE.read_text(encoding="utf-8")
    cases = ((r'[["08:30", "13:30"], ["12:00", "17:00"]]', "must not overlap"),
             (r'[["08:30", "12:00"], ["13:30", "16:00"]]', r"must run from open \(08:30\) to close \(17:00\)"),
             (r'[["8:30", "12:00"], ["13:30", "17:00"]]', "must look like '08:30'"),
             ("[]", "at least one span"))
    for hours, problem in cases:
        bad.write_text(text.replace('[["08:30", "12:00"], ["13:30", "17:00"]]', hours), encoding="utf-8")
        with pytest.raises(ScenarioError, match=r"bad\.yaml: scenario[.:] ?hours.*" + problem):
            load_scenario(bad)
