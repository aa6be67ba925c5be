"""A village day through the pure engine: a seed gives the same day, and every 电子监察 rule fires."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulation.simday.backends import EngineHall
from simulation.simday.executor import DayResult, DayRunner
from simulation.simday.layout import hall_config, window_services
from simulation.simday.metrics import erlang_c, erlang_wait_min, estimate_report, policy_report
from simulation.simday.plan import make_plan
from simulation.simday.scenario import load_scenario

VILLAGE = Path(__file__).resolve().parents[2] / "config" / "scenarios" / "village.yaml"


def _day(policy: str = "pooled", seed: int | None = None) -> DayResult:
    sc = load_scenario(VILLAGE)
    return DayRunner(make_plan(sc, seed), EngineHall(hall_config(sc, policy)), window_services(sc, policy),
                     policy).run()


def _rows(res: DayResult) -> list[tuple[Any, ...]]:
    return [(r.number, r.issued_s, r.called_s, r.est_s, r.outcome) for r in res.tickets]


def test_same_seed_same_day() -> None:
    a, b = _day(), _day()
    assert _rows(a) == _rows(b)
    assert [e for e in a.events] == [e for e in b.events]
    assert _rows(_day(seed=99)) != _rows(a)


def test_every_ticket_is_served_or_skipped_and_nothing_is_refused() -> None:
    res = _day()
    assert res.errors == [], res.errors[:3]
    assert len(res.tickets) + len(res.turned_away) == len(make_plan(load_scenario(VILLAGE)).visitors)
    assert {r.outcome for r in res.tickets} <= {"finished", "no_show"}
    rep = policy_report(res, make_plan(load_scenario(VILLAGE)))
    assert rep["no_show"] >= 1 and rep["transferred"] >= 1
    assert 0 < rep["utilisation"]["mean"] < 1


def _alerts(res: DayResult, kind: str) -> list[dict[str, Any]]:
    return [e for e in res.events if e["type"] == "alert.raised" and e["kind"] == kind]


def test_long_wait_alert_names_a_ticket_that_waited_past_the_threshold() -> None:
    sc = load_scenario(VILLAGE)
    sc = sc.model_copy(update={"supervision": {**sc.supervision, "wait_alert_s": 600}})
    res = DayRunner(make_plan(sc), EngineHall(hall_config(sc, "pooled")), window_services(sc, "pooled")).run()
    alerts = _alerts(res, "long_wait")
    assert alerts, "the window logging in 30 min late makes someone wait more than 10 min"
    waited = {r.number: r.wait_s for r in res.tickets}
    assert all((waited[a["ticket"]] or 0) >= 600 for a in alerts)


def test_long_service_alert_for_the_45_minute_case() -> None:
    alerts = _alerts(_day(), "long_service")
    assert len(alerts) == 1 and "40 min" in alerts[0]["message"], "raised when 40 min are reached, not at the finish"


def test_long_pause_alert_for_the_100_minute_absence_not_for_lunch() -> None:
    alerts = _alerts(_day(), "long_pause")
    assert [a["window"] for a in alerts] == ["1"] and "离开窗口" in alerts[0]["message"]


def test_unattended_alert_for_the_late_window() -> None:
    alerts = _alerts(_day(), "unattended")
    assert [a["window"] for a in alerts] == ["2"]


def test_bad_review_alert_for_each_bad_rating() -> None:
    res = _day()
    bad = [v for v in make_plan(load_scenario(VILLAGE)).visitors if v.rating in (1, 2) and not v.no_show]
    assert bad, "the village scenario has 差评"
    assert len(_alerts(res, "bad_review")) == len(bad)


def test_device_alerts_for_paper_and_offline() -> None:
    res = _day()
    assert [a["device"] for a in _alerts(res, "printer_paper_out")] == ["kiosk-1-printer"]
    assert [a["device"] for a in _alerts(res, "device_offline")] == ["bus1-1"]


def test_estimate_report_compares_on_the_same_tickets() -> None:
    rep = estimate_report(_day())
    assert rep["all"]["controller"]["n"] == rep["all"]["naive"]["n"] == rep["all"]["n"] > 20


def test_erlang_c_reference_values() -> None:
    assert abs(erlang_c(1, 0.5) - 0.5) < 1e-9, "M/M/1: P(wait) = ρ"
    assert abs(erlang_c(2, 1.0) - 1 / 3) < 1e-9
    assert abs(erlang_wait_min(2, 1 / 300, 300) * 60 - 100.0) < 1e-6, "M/M/2 at ρ=0.5: Wq = C·S/(c−a) = (1/3)·300/1"
    assert erlang_wait_min(1, 1 / 60, 120) == float("inf")
