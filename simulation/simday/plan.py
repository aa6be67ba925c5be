"""The plan of one hall day, pure and seeded: arrivals, each visitor's fate and service times, staff moves."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from simulation.simday.scenario import Scenario, clock_s

GOOD_LEVELS = (5, 4, 3)
GOOD_WEIGHTS = (70, 22, 8)


@dataclass(frozen=True)
class Visitor:
    idx: int
    at_s: float                     # arrival, seconds since local midnight
    service: str
    green: bool
    no_show: bool                   # takes a ticket and is gone when called
    transfer_to: str | None         # the first window sends them on to this service
    service_s: tuple[float, ...]    # time at the window, one per service visited
    rating: int | None              # level given on the evaluator, None = does not rate
    rate_after_s: float             # after `finish`, when the citizen presses a key
    changeover_s: float             # after `finish`, when the staff calls the next one


@dataclass(frozen=True)
class StaffMove:
    at_s: float
    window: int                     # 0-based index; window ids are str(index + 1)
    action: str                     # login | pause | resume | logout
    staff: str
    reason: str | None = None


@dataclass(frozen=True)
class DeviceReport:
    at_s: float
    device: str
    status: dict[str, Any]


@dataclass(frozen=True)
class DayPlan:
    scenario: Scenario
    visitors: tuple[Visitor, ...]
    moves: tuple[StaffMove, ...]
    devices: tuple[DeviceReport, ...]

    @property
    def open_s(self) -> int:
        return clock_s(self.scenario.open)

    @property
    def close_s(self) -> int:
        return clock_s(self.scenario.close)


def rate_at(sc: Scenario, t: float) -> float:
    """Relative arrival rate at t (seconds since midnight), linear between profile points, 0 when closed."""
    if t < clock_s(sc.open) or t >= clock_s(sc.close):
        return 0.0
    pts = [(clock_s(a), r) for a, r in sc.profile]
    if t <= pts[0][0]:
        return pts[0][1]
    for (t0, r0), (t1, r1) in zip(pts, pts[1:], strict=False):
        if t0 <= t <= t1:
            return r0 + (r1 - r0) * (t - t0) / (t1 - t0)
    return pts[-1][1]


def arrivals_per_s(sc: Scenario) -> tuple[float, list[float]]:
    """(scale, per-minute rates): rate_at × scale integrates to tickets_per_day over the opening hours."""
    a, b = clock_s(sc.open), clock_s(sc.close)
    per_min = [rate_at(sc, t + 30) for t in range(a, b, 60)]
    scale = sc.tickets_per_day / (sum(per_min) * 60)
    return scale, [r * scale for r in per_min]


def lognormal(rng: random.Random, mean_s: float, cv: float) -> float:
    if cv <= 0:
        return mean_s
    sigma2 = math.log(1 + cv * cv)
    return rng.lognormvariate(math.log(mean_s) - sigma2 / 2, math.sqrt(sigma2))


def make_plan(sc: Scenario, seed: int | None = None) -> DayPlan:
    """The whole day, decided up front: the same scenario and seed give the same plan."""
    seed = sc.seed if seed is None else seed
    return DayPlan(sc, _visitors(sc, seed), _moves(sc, seed), _devices(sc))


def _visitors(sc: Scenario, seed: int) -> tuple[Visitor, ...]:
    arr = random.Random(f"{seed}-arrivals")
    fate = random.Random(f"{seed}-fate")
    scale, per_min = arrivals_per_s(sc)
    peak = max(per_min)
    t, end = float(clock_s(sc.open)), clock_s(sc.close)
    services = [s.id for s in sc.services]
    shares = [s.share for s in sc.services]
    long_at = sorted(clock_s(i.at) for i in sc.incidents if i.kind == "long_service")
    long_min = [i.minutes for i in sorted(sc.incidents, key=lambda i: clock_s(i.at)) if i.kind == "long_service"]
    out: list[Visitor] = []
    while True:
        t += arr.expovariate(peak)        # thinning of a Poisson process with the day's profile
        if t >= end:
            break
        if arr.random() * peak > rate_at(sc, t) * scale:
            continue
        sid = fate.choices(services, shares)[0]
        mix = sc.service(sid)
        no_show = fate.random() < sc.no_show_share
        transfer = mix.transfer_to if (mix.transfer_to and not no_show and fate.random() < sc.transfer_share) \
            else None
        durations = [lognormal(fate, mix.service_mean_s, mix.service_cv)]
        if transfer:
            durations[0] = min(durations[0], 120 + fate.random() * 180)   # the first window sends them on
            nxt = sc.service(transfer)
            durations.append(lognormal(fate, nxt.service_mean_s, nxt.service_cv))
        if long_at and t >= long_at[0] and not no_show and not transfer:
            long_at.pop(0)
            durations[-1] = long_min.pop(0) * 60
        green = fate.random() < sc.green_share
        rating: int | None = None
        if fate.random() < sc.rating_share:
            rating = fate.choice((1, 2)) if fate.random() < sc.bad_rating_share else \
                fate.choices(GOOD_LEVELS, GOOD_WEIGHTS)[0]
        lo, hi = sc.changeover_s
        change = fate.uniform(lo, hi)
        out.append(Visitor(len(out), round(t, 3), sid, green, no_show, transfer,
                           tuple(round(d, 3) for d in durations), rating, round(change * fate.uniform(0.2, 0.6), 3),
                           round(change, 3)))
    return tuple(out)


def _moves(sc: Scenario, seed: int) -> tuple[StaffMove, ...]:
    rng = random.Random(f"{seed}-staff")
    st = sc.staff
    login, lunch = clock_s(st.login), clock_s(st.lunch_start)
    late = {i.window - 1: i.minutes * 60 for i in sc.incidents if i.kind == "late_login" and i.window}
    moves: list[StaffMove] = []
    for w in range(sc.window_count):
        a, b = f"A{w + 1:03d}", f"B{w + 1:03d}"
        absent = rng.random() < st.a_absent_share
        cover = rng.random() < st.b_post_lunch_share
        who = b if absent else a
        t_in = login + rng.uniform(0, st.login_late_max_s) + late.get(w, 0.0)
        moves.append(StaffMove(round(t_in, 3), w, "login", who))
        if st.lunch_minutes > 0:
            l0 = lunch + (w % 2) * st.lunch_stagger_minutes * 60
            l1 = l0 + st.lunch_minutes * 60
            if cover and not absent:      # 午间不间断: the B post takes the window over the lunch hour
                moves += [StaffMove(l0, w, "login", b, "午间 B岗"), StaffMove(l1, w, "login", a, "午休结束")]
            else:
                moves += [StaffMove(l0, w, "pause", who, "午休"), StaffMove(l1, w, "resume", who)]
        moves.append(StaffMove(clock_s(sc.close), w, "logout", who))
    for i in sc.incidents:
        if i.kind == "long_pause" and i.window:
            t0 = clock_s(i.at)
            moves += [StaffMove(t0, i.window - 1, "pause", "", "离开窗口"),
                      StaffMove(t0 + i.minutes * 60, i.window - 1, "resume", "")]
    return tuple(sorted(moves, key=lambda m: (m.at_s, m.window)))


def _devices(sc: Scenario) -> tuple[DeviceReport, ...]:
    return tuple(DeviceReport(clock_s(i.at), i.device or "kiosk-1", dict(i.status or {"state": "offline"}))
                 for i in sc.incidents if i.kind == "device")


def truncate(plan: DayPlan, until_s: float) -> DayPlan:
    """The same day cut short at `until_s`: later arrivals dropped, everyone logs out then."""
    moves = tuple(m if m.action != "logout" else StaffMove(min(m.at_s, until_s), m.window, m.action, m.staff)
                  for m in plan.moves if m.at_s < until_s or m.action == "logout")
    return DayPlan(plan.scenario, tuple(v for v in plan.visitors if v.at_s < until_s),
                   tuple(sorted(moves, key=lambda m: (m.at_s, m.window))),
                   tuple(d for d in plan.devices if d.at_s < until_s))
