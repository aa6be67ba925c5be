"""The day's numbers: waits per policy, window utilisation, estimate accuracy, and the Erlang C reference."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from simulation.simday.executor import DayResult, TicketRecord
from simulation.simday.plan import DayPlan, arrivals_per_s
from simulation.simday.scenario import clock_s

PEAK = ("09:00", "10:30")
WITHIN = 0.25             # "within ±25 %" …
WITHIN_FLOOR_S = 60.0     # … or within a minute, for waits of a few minutes


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    if not s:
        return math.nan
    k = (len(s) - 1) * p / 100
    lo = math.floor(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def wait_stats(recs: Iterable[TicketRecord]) -> dict[str, Any]:
    """Minutes of waiting from issue to first call (no-shows included: they were called too)."""
    w = [r.wait_s / 60 for r in recs if r.wait_s is not None]
    if not w:
        return {"n": 0, "mean_min": None, "p90_min": None, "max_min": None}
    return {"n": len(w), "mean_min": round(sum(w) / len(w), 1), "p90_min": round(pct(w, 90), 1),
            "max_min": round(max(w), 1)}


def policy_report(res: DayResult, plan: DayPlan) -> dict[str, Any]:
    recs = res.tickets
    util = [d.busy_s / d.open_s for d in res.desks if d.open_s > 0]
    services = {s.id: wait_stats(r for r in recs if r.service == s.id) for s in plan.scenario.services}
    return {
        "policy": res.policy,
        "tickets": len(recs),
        "finished": sum(r.outcome == "finished" for r in recs),
        "no_show": sum(r.outcome == "no_show" for r in recs),
        "unserved": sum(r.outcome == "unserved" for r in recs),
        "transferred": sum(r.served > 0 for r in recs),
        "wait": wait_stats(recs),
        "wait_green": wait_stats(r for r in recs if r.green),
        "wait_peak": wait_stats(r for r in recs if _in_peak(r)),
        "wait_by_service": services,
        "utilisation": {"mean": round(sum(util) / len(util), 3) if util else None,
                        "min": round(min(util), 3) if util else None, "max": round(max(util), 3) if util else None},
        "closed_door": closed_door(res),
        "alerts": dict(sorted(res.alerts().items())),
        "commands": res.commands,
        "errors": len(res.errors),
        "last_call_or_logout": _hhmm(res.end_s),
    }


def closed_door(res: DayResult) -> dict[str, Any]:
    """Visitors who found the hall closed (lunch gap): came back at reopening, how long they waited outside, and
    those who went home because it did not reopen that day."""
    door = [s / 60 for s in res.came_back.values()]
    return {"came_back": len(door), "door_wait_mean_min": round(sum(door) / len(door), 1) if door else None,
            "turned_away": len(res.turned_away)}


def hour_before_lunch(plan: DayPlan) -> tuple[float, float]:
    """[lunch − 1 h, lunch) in seconds since midnight, lunch being the staff's `lunch_start`."""
    lunch = clock_s(plan.scenario.staff.lunch_start)
    return lunch - 3600.0, float(lunch)


def _in_peak(r: TicketRecord) -> bool:
    return clock_s(PEAK[0]) <= r.issued_s < clock_s(PEAK[1])


def _hhmm(t: float) -> str:
    return f"{int(t // 3600):02d}:{int(t % 3600 // 60):02d}"


@dataclass
class Accuracy:
    n: int
    mae_min: float
    within: float        # share within ±25 % (or ±1 min)
    bias_min: float      # mean of (estimate − real): > 0 promises too long a wait


def accuracy(pairs: list[tuple[float, float]]) -> Accuracy:
    """(estimate_s, real_s) pairs."""
    if not pairs:
        return Accuracy(0, math.nan, math.nan, math.nan)
    err = [e - r for e, r in pairs]
    ok = sum(abs(e - r) <= max(WITHIN * r, WITHIN_FLOOR_S) for e, r in pairs)
    return Accuracy(len(pairs), round(sum(abs(x) for x in err) / len(err) / 60, 2), round(ok / len(pairs), 3),
                    round(sum(err) / len(err) / 60, 2))


def compared(recs: Iterable[TicketRecord]) -> list[TicketRecord]:
    """The tickets whose two estimates (controller, naive) exist and who were called."""
    return [r for r in recs if r.wait_s is not None and r.est_s is not None and r.naive_s is not None]


def compare(recs: list[TicketRecord]) -> dict[str, Any]:
    """Controller vs naive accuracy on the same tickets (from `compared`)."""
    c = accuracy([(float(r.est_s or 0), float(r.wait_s or 0)) for r in recs])
    nv = accuracy([(float(r.naive_s or 0), float(r.wait_s or 0)) for r in recs])
    return {"n": c.n, "controller": c.__dict__, "naive": nv.__dict__}


def estimate_report(res: DayResult, before_lunch: tuple[float, float] | None = None) -> dict[str, Any]:
    """Controller vs naive on the same tickets: those whose both estimates exist and who were called.
    `before_lunch` (`hour_before_lunch`) adds the tickets issued in that hour."""
    both = compared(res.tickets)

    def acc(sel: Callable[[TicketRecord], bool]) -> dict[str, Any]:
        return compare([r for r in both if sel(r)])

    out = {"all": acc(lambda r: True), "peak": acc(_in_peak), "green": acc(lambda r: r.green)}
    if before_lunch is not None:
        lo, hi = before_lunch
        out["before_lunch"] = acc(lambda r: lo <= r.issued_s < hi)
    return {**out, "no_estimate": sum(1 for r in res.tickets if r.est_s is None)}


def erlang_c(c: int, a: float) -> float:
    """Probability of waiting in M/M/c with offered load a (Erlangs); 1.0 when overloaded."""
    if a >= c:
        return 1.0
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return c * b / (c - a * (1 - b))


def erlang_wait_min(c: int, lam_per_s: float, mean_s: float) -> float:
    a = lam_per_s * mean_s
    if a >= c:
        return math.inf
    return erlang_c(c, a) * mean_s / (c - a) / 60


def erlang_report(plan: DayPlan, overhead_s: float) -> dict[str, Any]:
    """Mean wait of M/M/c for the same load: all windows pooled, and each department alone (the old way).

    At the day's average rate and at the peak rate; `overhead_s` (changeover) is added to service times.
    """
    sc = plan.scenario
    _, per_min = arrivals_per_s(sc)
    lam_avg = sum(per_min) / len(per_min)
    lam_peak = max(per_min)
    mix = sum(s.share * s.service_mean_s for s in sc.services) / sum(s.share for s in sc.services) + overhead_s
    total_share = sum(s.share for s in sc.services)
    out: dict[str, Any] = {"windows": sc.window_count, "mean_service_s": round(mix)}
    for label, lam in (("average", lam_avg), ("peak", lam_peak)):
        pooled = erlang_wait_min(sc.window_count, lam, mix)
        waits, weights = [], []
        for d in sc.departments:
            mine = [s for s in sc.services if s.department == d.id]
            share = sum(s.share for s in mine) / total_share
            m = sum(s.share * s.service_mean_s for s in mine) / sum(s.share for s in mine) + overhead_s
            waits.append(erlang_wait_min(d.windows, lam * share, m))
            weights.append(share)
        dept = sum(w * x for w, x in zip(weights, waits, strict=True))
        out[label] = {"arrivals_per_h": round(lam * 3600), "load": round(lam * mix / sc.window_count, 2),
                      "pooled_wait_min": _num(pooled), "departments_wait_min": _num(dept)}
    return out


def _num(x: float) -> float | None:
    return None if math.isinf(x) or math.isnan(x) else round(x, 1)
