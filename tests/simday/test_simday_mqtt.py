"""The simulator drives the real controller over MQTT: same day twice, every command on the wire, estimator wins."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from controller.store import EventStore
from simulation.simday.backends import EngineHall, MqttHall
from simulation.simday.executor import DayResult, DayRunner
from simulation.simday.layout import hall_config, window_services
from simulation.simday.metrics import estimate_report
from simulation.simday.plan import DayPlan, make_plan, truncate
from simulation.simday.scenario import clock_s, load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "config" / "scenarios"


def _mqtt_day(plan: DayPlan, workdir: Path) -> tuple[DayResult, list[dict[str, Any]]]:
    link = MqttHall(hall_config(plan.scenario, "pooled"), workdir)
    link.open()
    try:
        res = DayRunner(plan, link, window_services(plan.scenario, "pooled")).run()
    finally:
        link.close()
    store = EventStore(link.data_dir).open()
    stored = list(store.events())
    store.close()
    return res, stored


def _rows(res: DayResult) -> list[tuple[Any, ...]]:
    return [(r.number, r.issued_s, r.called_s, r.est_s, r.outcome) for r in res.tickets]


def test_village_day_over_mqtt_is_the_same_day_twice_and_uses_the_api(tmp_path: Path) -> None:
    plan = make_plan(load_scenario(SCENARIOS / "village.yaml"))
    a, stored = _mqtt_day(plan, tmp_path / "a")
    b, _ = _mqtt_day(plan, tmp_path / "b")
    assert a.errors == [], a.errors[:3]
    assert _rows(a) == _rows(b), "a seed gives the same day, through the real controller too"
    # what the simulator saw came from the controller's published events (CONTRACT §3.4) …
    issued = [e for e in a.events if e["type"] == "ticket.issued"]
    assert [e["ticket"] for e in issued] == [r.number for r in a.tickets]
    assert [e["seq"] for e in a.events] == list(range(1, len(a.events) + 1)), "no event missed"
    # … and from its durable log: the controller, not the simulator, decided who was called when
    called: dict[str, str] = {}
    for e in stored:
        if e["type"] == "ticket.called" and e["recall"] == 0:
            called.setdefault(e["ticket"], e["at"])     # the first call ends the wait
    for r in a.tickets:
        assert r.called_s is not None
        at = datetime.fromisoformat(called[r.number])
        assert abs((at - at.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() - r.called_s) < 0.01, \
            f"{r.number} called at {at}, the simulator says {r.called_s}"
    assert len(stored) == len(a.events)
    # the pure engine makes the same decisions as the controller service
    sc = plan.scenario
    eng = DayRunner(plan, EngineHall(hall_config(sc, "pooled")), window_services(sc, "pooled")).run()
    assert [(r.number, r.called_s, r.outcome) for r in eng.tickets] == [(r.number, r.called_s, r.outcome)
                                                                        for r in a.tickets]


def test_league_morning_over_mqtt_estimator_beats_naive_in_the_peak(tmp_path: Path) -> None:
    plan = truncate(make_plan(load_scenario(SCENARIOS / "league.yaml")), clock_s("09:40"))
    res, _ = _mqtt_day(plan, tmp_path / "league")
    assert res.errors == [], res.errors[:3]
    peak = estimate_report(res)["peak"]
    ctrl, naive = peak["controller"], peak["naive"]
    assert peak["n"] > 200
    assert ctrl["mae_min"] < 0.6 * naive["mae_min"], f"controller {ctrl} vs naive {naive}"
    assert ctrl["within"] > naive["within"] + 0.15, f"controller {ctrl} vs naive {naive}"


def test_village_day_in_a_secure_hall_is_the_same_day_with_principals(tmp_path: Path) -> None:
    """`hallq sim day` runs secure by default: mosquitto from the generated config, the controller and the
    simulator's kiosk, reception desk, window devices and device reporters each with their own principal."""
    plan = make_plan(load_scenario(SCENARIOS / "village.yaml"))
    sc = plan.scenario
    devices = sorted({i.device for i in sc.incidents if i.kind == "device" and i.device})
    link = MqttHall(hall_config(sc, "pooled"), tmp_path / "secure", secure=True, devices=devices)
    link.open()
    try:
        res = DayRunner(plan, link, window_services(sc, "pooled")).run()
    finally:
        link.close()
    assert "allow_anonymous false" in (tmp_path / "secure" / "secure" / "mosquitto.conf").read_text()
    assert res.errors == [], res.errors[:3]
    e = DayRunner(plan, EngineHall(hall_config(sc, "pooled")), window_services(sc, "pooled")).run()
    assert [(r.number, r.called_s, r.outcome) for r in res.tickets] == \
        [(r.number, r.called_s, r.outcome) for r in e.tickets], "the same day as the open engine run"
    by_type: dict[str, set[Any]] = {}
    for ev in res.events:
        by_type.setdefault(ev["type"], set()).add(ev.get("principal"))
    assert by_type["ticket.issued"] <= {"simday-kiosk", "simday-desk"}
    assert by_type["ticket.called"] <= {f"desk-{i}" for i in range(1, 3)}
    assert by_type["evaluation.recorded"] <= {f"desk-{i}" for i in range(1, 3)}
    kinds = {ev.get("kind") for ev in res.events if ev["type"] == "alert.raised"}
    assert kinds & {"paper_out", "device_offline"}, f"device statuses reached the controller: {kinds}"
