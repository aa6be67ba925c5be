"""`hallq report` over periods: week / month / quarter / --from--to figures equal the sum of their days (30
simulated days, `hallq sim day`'s pure-engine hall with a seed per day), and rankings and attendance against a
hand-computed small day; the command line's period arguments."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from controller.engine import Engine
from controller.report import build_report
from controller.store import EventStore, StoredCommand
from hallq.config import parse_config
from hallq.periods import period_range
from tests.conftest import REPO, small_hall

SIM_DAY = "2026-11-23"


def sim_days(data: Path, n: int) -> list[date]:
    """n working days from 2026-11-24 of the village scenario, each with its own seed, in one event log."""
    from simulation.simday.backends import EngineHall
    from simulation.simday.executor import DayRunner
    from simulation.simday.layout import hall_config, window_services
    from simulation.simday.plan import make_plan
    from simulation.simday.scenario import load_scenario

    sc = load_scenario(str(REPO / "config/scenarios/village.yaml"))
    raw = hall_config(sc, "pooled")
    store = EventStore(data).open()
    store.record_config(yaml.safe_dump(raw, allow_unicode=True))
    days: list[date] = []
    d = date.fromisoformat(SIM_DAY)
    while len(days) < n:
        d += timedelta(days=1)
        if d.weekday() >= 5:
            continue
        link = EngineHall(raw)
        DayRunner(make_plan(sc, 1000 + len(days)), link, window_services(sc, "pooled"), "pooled").run()
        text = json.dumps(link.events(), ensure_ascii=False)
        nxt = (date.fromisoformat(SIM_DAY) + timedelta(days=1)).isoformat()
        events = json.loads(text.replace(nxt, (d + timedelta(days=1)).isoformat()).replace(SIM_DAY, d.isoformat()))
        for ev in events:
            ev.pop("seq", None)
            ev.pop("log", None)
            if ev["type"] == "alert.raised" and "id" in ev:        # alert ids stay unique across the copies
                ev["id"] = f"{d.isoformat()}-{ev['id']}"
            if ev["type"] == "alert.acknowledged":
                ev["alert"] = f"{d.isoformat()}-{ev['alert']}"
        store.append([(events, None)])
        days.append(d)
    store.close()
    return days


FIELDS = [("tickets", k) for k in ("issued", "served", "no_show", "held", "cancelled", "green")] + \
    [("evaluations", k) for k in ("rated", "good", "bad", "unrated")] + \
    [("alerts", k) for k in ("raised", "acknowledged", "open")] + [("work_orders", "opened")]


def figures(rep: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {f"{a}.{b}": rep[a][b] for a, b in FIELDS}
    for w, g in rep["by_window"].items():
        out[f"window.{w}.served"] = g["served"]
        out[f"window.{w}.bad"] = g["bad"]
    for s, a in rep["attendance"].items():
        for k in ("logged_in_s", "serving_s", "paused_s", "idle_s"):
            out[f"attendance.{s}.{k}"] = a[k]
        out[f"attendance.{s}.pauses"] = a["pauses"]
    out["ledger"] = len(rep["alert_ledger"])
    return out


def same(got: dict[str, Any], want: dict[str, Any], days: int) -> None:
    """Counts equal; seconds equal up to the per-day rounding to 0.1 s."""
    assert set(got) == set(want)
    for k, v in want.items():
        if k.endswith("_s"):
            assert abs(got[k] - v) <= 0.05 * days + 0.01, (k, got[k], v)
        else:
            assert got[k] == v, (k, got[k], v)


def summed(reps: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {}
    for r in reps:
        for k, v in figures(r).items():
            total[k] = round(total.get(k, 0) + v, 1)
    return {k: v for k, v in total.items() if v}


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[date], dict[date, dict[str, Any]]]:
    data = tmp_path_factory.mktemp("history") / "data"
    days = sim_days(data, 30)
    per_day = {d: build_report(data, d, d) for d in days}
    assert all(r["tickets"]["issued"] > 20 for r in per_day.values())
    return data, days, per_day


@pytest.mark.parametrize("period,anchor", [("week", "2026-12-02"), ("month", "2026-12-15"),
                                           ("quarter", "2026-11-30"), ("quarter", "2027-01-05")])
def test_period_equals_the_sum_of_its_days(history: tuple[Path, list[date], dict[date, dict[str, Any]]],
                                           period: str, anchor: str) -> None:
    data, days, per_day = history
    first, last = period_range(period, date.fromisoformat(anchor))
    rep = build_report(data, first, last)
    assert (rep["date"], rep["until"]) == (first.isoformat(), last.isoformat())
    inside = [per_day[d] for d in days if first <= d <= last]
    assert inside
    same({k: round(v, 1) for k, v in figures(rep).items() if v}, summed(inside), len(inside))
    assert sorted(rep["by_day"]) == sorted(d.isoformat() for d in days if first <= d <= last)


def test_range_equals_the_sum_of_its_days(history: tuple[Path, list[date], dict[date, dict[str, Any]]]) -> None:
    data, days, per_day = history
    first, last = days[3], days[16]
    rep = build_report(data, first, last)
    inside = [per_day[d] for d in days if first <= d <= last]
    same({k: round(v, 1) for k, v in figures(rep).items() if v}, summed(inside), len(inside))
    ranked = rep["rankings"]["staff"]
    assert [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
    assert all(a["good_rate"] >= b["good_rate"] for a, b in zip(ranked, ranked[1:], strict=False))


def test_cli_periods(history: tuple[Path, list[date], dict[date, dict[str, Any]]], tmp_path: Path) -> None:
    data, days, per_day = history

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hallq", "report", "--data", str(data), *args], cwd=REPO,
                              capture_output=True, text=True, timeout=120)

    out = tmp_path / "w.json"
    r = run("--date", "2026-12-02", "--week", "--format", "json", "--out", str(out))
    assert r.returncode == 0, r.stderr
    rep = json.loads(out.read_text(encoding="utf-8"))
    assert (rep["date"], rep["until"]) == ("2026-11-30", "2026-12-06")
    r = run("--from", days[0].isoformat(), "--to", days[4].isoformat(), "--format", "xlsx", "--out",
            str(tmp_path / "r.xlsx"))
    assert r.returncode == 0, r.stderr
    from openpyxl import load_workbook

    wb = load_workbook(tmp_path / "r.xlsx")
    assert {"人员排名 Staff ranking", "考勤 Attendance", "电子监察台账 Alerts", "日 Day"} <= set(wb.sheetnames)
    assert wb["日 Day"].max_row == 6         # header + 5 days
    for bad in (["--date", "2026-12-02", "--week", "--month"], ["--from", "2026-12-05", "--to", "2026-12-01"],
                ["--from", "2026-12-01", "--date", "2026-12-01"], ["--from", "yesterday"], []):
        r = run(*bad, "--format", "json", "--out", str(out))
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, bad


def test_rankings_and_attendance_hand_computed(tmp_path: Path) -> None:
    raw = small_hall()
    raw["services"][0]["target_service_s"] = 600
    cfg = parse_config(raw)
    eng, store = Engine(cfg), EventStore(tmp_path / "data").open()
    store.record_config(yaml.safe_dump(raw, allow_unicode=True))
    t0 = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    plan: list[tuple[int, str, dict[str, Any]]] = [
        (0, "issue", {"service": "general"}), (0, "issue", {"service": "general"}),
        (0, "issue", {"service": "general"}),
        (0, "login", {"window": "1", "staff": "S001"}), (0, "login", {"window": "3", "staff": "S003"}),
        (1, "call", {"window": "1"}), (2, "call", {"window": "3"}),
        (6, "finish", {"window": "1"}), (6, "rate", {"ticket": "A001", "level": 5, "window": "1"}),
        (10, "pause", {"window": "1", "reason": "午休"}),
        (22, "finish", {"window": "3"}), (22, "rate", {"ticket": "A002", "level": 1, "window": "3"}),
        (25, "resume", {"window": "1"}),
        (26, "call", {"window": "1"}), (30, "finish", {"window": "1"}),
        (30, "rate", {"ticket": "A003", "level": 4, "window": "1"}),
        (40, "logout", {"window": "1"}), (45, "logout", {"window": "3"}),
    ]
    for i, (minute, name, args) in enumerate(plan):
        out = eng.handle(name, args, t0 + timedelta(minutes=minute))
        assert out.ok, (name, out.reply)
        store.append([(out.events, StoredCommand(f"c{i}", name, out.reply))])
    store.close()
    rep = build_report(tmp_path / "data", t0.date(), t0.date())
    staff = rep["rankings"]["staff"]
    assert [(r["rank"], r["key"], r["served"], r["good_rate"], r["bad"], r["service_mean_s"],
             r["within_target_rate"]) for r in staff] == [
        (1, "S001", 2, 1.0, 0, 270.0, 1.0), (2, "S003", 1, 0.0, 1, 1200.0, 0.0)]
    assert [r["key"] for r in rep["rankings"]["window"]] == ["1", "3"]
    a1, a3 = rep["attendance"]["S001"], rep["attendance"]["S003"]
    assert a1 | {} == {"logged_in_s": 2400.0, "serving_s": 540.0, "paused_s": 900.0, "idle_s": 960.0,
                       "idle_in_hours_s": 960.0, "sessions": 1, "pauses": 1, "windows": ["1"],
                       "pauses_by_reason": {"午休": 900.0}}
    assert (a3["logged_in_s"], a3["serving_s"], a3["idle_s"], a3["pauses"]) == (2700.0, 1200.0, 1500.0, 0)
    ledger = rep["alert_ledger"]
    assert [a["kind"] for a in ledger] == ["bad_review"] and ledger[0]["ack_at"] is None
    assert ledger[0]["window"] == "3" and ledger[0]["ticket"] == "A002"
