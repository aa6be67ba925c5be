"""The day's report as JSON and as Markdown tables (what `hallq sim day` prints and writes)."""

from __future__ import annotations

from typing import Any

from simulation.simday.executor import DayResult
from simulation.simday.metrics import erlang_report, estimate_report, hour_before_lunch, policy_report
from simulation.simday.plan import DayPlan

PARTS = {"before_lunch": "hour before lunch"}


def day_report(plan: DayPlan, results: list[DayResult], backends: dict[str, str]) -> dict[str, Any]:
    sc = plan.scenario
    lo, hi = sc.changeover_s
    return {
        "scenario": sc.name, "hall": sc.hall_id, "date": sc.date.isoformat(), "seed": plan_seed(plan),
        "visitors": len(plan.visitors), "windows": sc.window_count,
        "policies": {r.policy: {**policy_report(r, plan), "backend": backends.get(r.policy, "")} for r in results},
        "estimates": {r.policy: estimate_report(r, hour_before_lunch(plan)) for r in results},
        "erlang_c": erlang_report(plan, (lo + hi) / 2),
    }


def plan_seed(plan: DayPlan) -> int:
    return getattr(plan, "seed", plan.scenario.seed)


def _m(x: Any) -> str:
    return "–" if x is None else f"{x:g}" if isinstance(x, float) else str(x)


def markdown(rep: dict[str, Any]) -> str:
    out = [f"### {rep['scenario']} — {rep['date']}, seed {rep['seed']}: {rep['visitors']} visitors, "
           f"{rep['windows']} windows", "",
           "| policy | mean wait | p90 | max | green mean / max | peak 09:00–10:30 mean | utilisation | "
           "no-shows | unserved | alerts |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, p in rep["policies"].items():
        w, g, pk = p["wait"], p["wait_green"], p["wait_peak"]
        alerts = ", ".join(f"{k} {v}" for k, v in p["alerts"].items())
        out.append(f"| {name} ({p['backend']}) | {_m(w['mean_min'])} min | {_m(w['p90_min'])} | {_m(w['max_min'])} | "
                   f"{_m(g['mean_min'])} / {_m(g['max_min'])} | {_m(pk['mean_min'])} | "
                   f"{_m(p['utilisation']['mean'])} | {p['no_show']} | {p['unserved']} | {alerts} |")
    e = rep["erlang_c"]
    pk, pd = e["peak"]["pooled_wait_min"], e["peak"]["departments_wait_min"]
    out += ["", f"Erlang C (M/M/c, same load, mean service {e['mean_service_s']} s incl. changeover): "
            f"average {e['average']['arrivals_per_h']}/h → pooled {_m(e['average']['pooled_wait_min'])} min, "
            f"per department {_m(e['average']['departments_wait_min'])} min; "
            f"peak {e['peak']['arrivals_per_h']}/h (load {e['peak']['load']}) → pooled "
            f"{_m(pk) + ' min' if pk is not None else 'overloaded (∞)'}, "
            f"per department {_m(pd) + ' min' if pd is not None else 'overloaded (∞)'}.",
            *_closed_door_lines(rep),
            "", "| per service (pooled) | n | mean | p90 | max |", "|---|---|---|---|---|"]
    pooled = rep["policies"].get("pooled") or next(iter(rep["policies"].values()))
    for sid, w in pooled["wait_by_service"].items():
        out.append(f"| {sid} | {w['n']} | {_m(w['mean_min'])} | {_m(w['p90_min'])} | {_m(w['max_min'])} |")
    out += ["", "| est_wait_s accuracy | tickets | controller MAE | controller ±25 % | naive MAE | naive ±25 % |",
            "|---|---|---|---|---|---|"]
    for policy, est in rep["estimates"].items():
        for part in ("all", "peak", "green", "before_lunch"):
            if part not in est:
                continue
            a = est[part]
            c, n = a["controller"], a["naive"]
            out.append(f"| {policy}, {PARTS.get(part, part)} | {a['n']} | {_m(c['mae_min'])} min | "
                       f"{_pc(c['within'])} | {_m(n['mae_min'])} min | {_pc(n['within'])} |")
    return "\n".join(out) + "\n"


def _closed_door_lines(rep: dict[str, Any]) -> list[str]:
    out = []
    for name, p in rep["policies"].items():
        d = p.get("closed_door") or {}
        if d.get("came_back") or d.get("turned_away"):
            out.append(f"{name}: {d['came_back']} visitors found the hall closed and came back when it reopened "
                       f"(waited {_m(d['door_wait_mean_min'])} min at the door on average); "
                       f"{d['turned_away']} went home.")
    return ["", *out] if out else []


def _pc(x: Any) -> str:
    return "–" if x is None or x != x else f"{100 * x:.0f} %"
