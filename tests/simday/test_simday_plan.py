"""The day plan is pure and seeded; scenarios load with clear errors; the profile has its morning peak."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulation.simday.layout import hall_config, window_services
from simulation.simday.plan import arrivals_per_s, make_plan, truncate
from simulation.simday.scenario import ScenarioError, clock_s, load_scenario

REPO = Path(__file__).resolve().parents[2]
LEAGUE = REPO / "config" / "scenarios" / "league.yaml"
VILLAGE = REPO / "config" / "scenarios" / "village.yaml"


def test_a_seed_gives_the_same_plan_and_another_seed_another() -> None:
    sc = load_scenario(VILLAGE)
    assert make_plan(sc, 5) == make_plan(sc, 5)
    assert make_plan(sc, 5).visitors != make_plan(sc, 6).visitors


def test_league_plan_has_the_numbers_of_a_league_centre() -> None:
    sc = load_scenario(LEAGUE)
    plan = make_plan(sc)
    assert 2300 <= len(plan.visitors) <= 2700, f"about 2,500 tickets a day, got {len(plan.visitors)}"
    _, per_min = arrivals_per_s(sc)
    avg = sum(per_min) / len(per_min)
    peak_minutes = per_min[(clock_s("09:00") - clock_s(sc.open)) // 60:(clock_s("10:30") - clock_s(sc.open)) // 60]
    assert max(per_min) >= 2.7 * avg, f"morning peak should be about 3× the average rate, is {max(per_min) / avg:.2f}×"
    assert max(per_min) in peak_minutes, "the peak falls between 09:00 and 10:30"
    green = sum(v.green for v in plan.visitors) / len(plan.visitors)
    assert 0.03 < green < 0.09, f"green-channel share near the scenario's 6 %, got {green:.3f}"
    assert any(v.transfer_to for v in plan.visitors) and any(v.no_show for v in plan.visitors)
    assert {m.action for m in plan.moves} >= {"login", "pause", "resume", "logout"}
    assert any(m.staff.startswith("B") for m in plan.moves), "B posts take windows over (AB岗)"


def test_both_policies_have_the_same_windows_and_staff() -> None:
    sc = load_scenario(LEAGUE)
    pooled, depts = hall_config(sc, "pooled"), hall_config(sc, "departments")
    assert len(pooled["windows"]) == len(depts["windows"]) == 40
    assert pooled["staff"] == depts["staff"]
    assert all(len(w) == 1 or w != window_services(sc, "departments")[0] for w in window_services(sc, "departments"))
    assert sum(len(w) for w in window_services(sc, "pooled")) > sum(len(w) for w in window_services(sc, "departments"))


def test_truncate_ends_the_day_early() -> None:
    plan = make_plan(load_scenario(LEAGUE))
    short = truncate(plan, clock_s("09:30"))
    assert short.visitors and all(v.at_s < clock_s("09:30") for v in short.visitors)
    assert all(m.at_s <= clock_s("09:30") for m in short.moves)
    assert sum(m.action == "logout" for m in short.moves) == 40


def test_scenario_errors_name_the_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(VILLAGE.read_text(encoding="utf-8").replace("green_share:", "green_shar:"), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"bad\.yaml: scenario\.green_shar: "):
        load_scenario(bad)
    bad.write_text(VILLAGE.read_text(encoding="utf-8").replace("windows: 1}", "windows: 2}"), encoding="utf-8")
    with pytest.raises(ScenarioError, match="compare like with like"):
        load_scenario(bad)
