"""Benchmark (not a test): policy quality and wait-estimate accuracy of simulated hall days, both scenarios.

The pooled hall runs through the real controller over MQTT; the old way (a queue per department with its
own windows) runs the same plan through the pure engine. A village day has only a handful of tickets in the
hour before lunch, so that hour is also measured over many seeded village days (pure engine, pooled hall).
Writes bench/results/policy.json, the charts docs/img/wait-{league,village}.png, and prints the README table.
Usage: python bench/bench_policy.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from simulation.simday.cli import run_day  # noqa: E402
from simulation.simday.metrics import compare, compared, hour_before_lunch  # noqa: E402
from simulation.simday.plan import make_plan  # noqa: E402
from simulation.simday.plot import wait_chart  # noqa: E402
from simulation.simday.report import day_report  # noqa: E402
from simulation.simday.scenario import load_scenario  # noqa: E402

SCENARIOS = {"league": "config/scenarios/league.yaml", "village": "config/scenarios/village.yaml"}
LUNCH_SEEDS = 200      # village days pooled for the hour before lunch
PARTS = {"all": "all", "peak": "peak", "before_lunch": "hour before lunch"}


def rows(name: str, rep: dict[str, Any]) -> tuple[list[str], list[str]]:
    p, d = rep["policies"]["pooled"], rep["policies"]["departments"]
    est = rep["estimates"]["pooled"]
    out = []
    for label, pol in (("pooled (一窗受理)", p), ("per department", d)):
        w = pol["wait"]
        out.append(f"| {name} | {label} | {w['mean_min']} | {w['p90_min']} | {w['max_min']} | "
                   f"{pol['wait_green']['mean_min']} | {pol['utilisation']['mean']:.2f} |")
    e = rep["erlang_c"]["average"]
    out.append(f"| {name} | Erlang C, pooled / per dept. (day average) | {e['pooled_wait_min']} / "
               f"{e['departments_wait_min']} | | | | |")
    acc = [acc_row(name, label, est[part]) for part, label in PARTS.items()]
    return out, acc


def acc_row(name: str, label: str, a: dict[str, Any]) -> str:
    return (f"| {name} | {label} | {a['n']} | {a['controller']['mae_min']} | {a['naive']['mae_min']} | "
            f"{100 * a['controller']['within']:.0f} % | {100 * a['naive']['within']:.0f} % |")


def lunch_over_seeds(path: str, seeds: int, tmp: Path) -> dict[str, Any]:
    """Tickets issued in the hour before lunch, pooled over `seeds` seeded days of the pooled hall (pure engine)."""
    sc = load_scenario(REPO / path)
    recs = []
    for seed in range(1, seeds + 1):
        plan = make_plan(sc, seed)
        lo, hi = hour_before_lunch(plan)
        res = run_day(plan, "pooled", "engine", tmp / f"seed-{seed}")
        recs += [r for r in compared(res.tickets) if lo <= r.issued_s < hi]
    return {"seeds": seeds, **compare(recs)}


def main() -> None:
    results: dict[str, Any] = {"when": datetime.now().astimezone().isoformat(timespec="seconds")}
    waits: list[str] = []
    accs: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hallq-bench-policy-") as tmp:
        for name, path in SCENARIOS.items():
            sc = load_scenario(REPO / path)
            plan = make_plan(sc)
            t0 = time.monotonic()
            days = [run_day(plan, "pooled", "mqtt", Path(tmp) / name / "pooled"),
                    run_day(plan, "departments", "engine", Path(tmp) / name / "departments")]
            rep = day_report(plan, days, {"pooled": "mqtt", "departments": "engine"})
            rep["run_s"] = round(time.monotonic() - t0, 1)
            results[name] = rep
            wait_chart(days, f"{sc.hall_id} · {sc.date} · seed {sc.seed}: waiting over the day",
                       REPO / "docs" / "img" / f"wait-{name}.png")
            w, a = rows(name, rep)
            waits += w
            accs += a
        results["village"]["before_lunch_seeds"] = lunch = lunch_over_seeds(SCENARIOS["village"], LUNCH_SEEDS,
                                                                            Path(tmp) / "seeds")
        accs.append(acc_row("village", f"hour before lunch, {LUNCH_SEEDS} seeded days (engine)", lunch))
    out = REPO / "bench" / "results" / "policy.json"
    out.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    print("| scenario | policy | mean wait (min) | p90 | max | green mean | window utilisation |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(waits))
    print()
    print("| scenario | tickets | n | est_wait_s MAE (min) | naive MAE (min) | est within ±25 % | "
          "naive within ±25 % |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(accs))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
