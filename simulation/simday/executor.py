"""Play a day plan against a hall: staff desks and citizens acting through the controller's commands.

Discrete events in simulated time: each is sent at its moment (the link sets the controller's clock
first), and what the controller answers — ticket numbers, `est_wait_s`, who is called — drives the
rest of the day. Nothing about the queue is decided here: `call` picks, as in a real hall.
"""

from __future__ import annotations

import heapq
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from simulation.simday.backends import HallLink
from simulation.simday.layout import TIMEZONE
from simulation.simday.plan import DayPlan, StaffMove, Visitor

log = logging.getLogger("simulation.simday")

# order of events at the same moment: staff first, then devices, desks, arrivals
_MOVE, _DEVICE, _DESK, _ARRIVE, _TICK = range(5)
TICK_S = 60.0     # the controller's 电子监察 looks at the clock at least this often


@dataclass
class TicketRecord:
    visitor: int
    number: str
    service: str
    green: bool
    issued_s: float
    ahead: int
    est_s: float | None           # the controller's est_wait_s at issue
    naive_s: float | None         # people ahead × mean service time so far ÷ open windows
    called_s: float | None = None
    waited_s: float = 0.0         # all waiting, including after a transfer
    outcome: str = "waiting"      # finished | no_show | transferred… | unserved
    queue: str = ""               # the service it waits in now
    queued_s: float = 0.0
    served: int = 0

    @property
    def wait_s(self) -> float | None:
        """Issue to first call: what est_wait_s promised."""
        return None if self.called_s is None else self.called_s - self.issued_s


@dataclass
class Desk:
    idx: int
    services: frozenset[str]
    staff: str | None = None
    state: str = "closed"         # closed | idle | serving | after | paused
    rec: TicketRecord | None = None
    token: int = 0
    pending: list[StaffMove] = field(default_factory=list)
    closing: bool = False
    idle_since: float = 0.0
    mark_s: float = 0.0
    open_s: float = 0.0           # logged in and not paused
    busy_s: float = 0.0           # serving a citizen (call to finish, skip or transfer)
    served: int = 0

    @property
    def wid(self) -> str:
        return str(self.idx + 1)


@dataclass
class DayResult:
    policy: str
    tickets: list[TicketRecord]
    desks: list[Desk]
    events: list[dict[str, Any]]
    commands: int
    errors: list[str]
    end_s: float
    came_back: dict[int, float] = field(default_factory=dict)   # visitor -> seconds at the closed door
    turned_away: list[int] = field(default_factory=list)        # visitors who found the hall closed for the day

    def alerts(self) -> Counter[str]:
        return Counter(e["kind"] for e in self.events if e.get("type") == "alert.raised")


class DayRunner:
    def __init__(self, plan: DayPlan, link: HallLink, windows: list[list[str]], policy: str = "pooled") -> None:
        self.plan, self.link, self.policy = plan, link, policy
        sc = plan.scenario
        self.midnight = datetime.combine(sc.date, time(0), tzinfo=ZoneInfo(TIMEZONE))
        self.desks = [Desk(i, frozenset(ss)) for i, ss in enumerate(windows)]
        self.heap: list[tuple[float, int, int, str, Any]] = []
        self._seq = 0
        self.now = 0.0
        self.tickets: list[TicketRecord] = []
        self.by_number: dict[str, TicketRecord] = {}
        self.waiting: Counter[str] = Counter()
        self.service_sum: dict[str, float] = {}
        self.service_n: Counter[str] = Counter()
        self.defaults = {s.id: s.service_mean_s for s in sc.services}
        self.visitors = plan.visitors
        self.commands = 0
        self.errors: list[str] = []
        self.came_back: dict[int, float] = {}
        self.turned_away: list[int] = []

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> DayResult:
        for v in self.plan.visitors:
            self._push(v.at_s, _ARRIVE, "arrive", v)
        for m in self.plan.moves:
            self._push(m.at_s, _MOVE, "move", m)
        for d in self.plan.devices:
            self._push(d.at_s, _DEVICE, "device", d)
        self._push(self.plan.open_s, _TICK, "tick", None)
        while self.heap:
            t, _, _, kind, data = heapq.heappop(self.heap)
            self.now = t
            self.link.at(self.midnight + timedelta(seconds=t))
            getattr(self, "_on_" + kind)(data)
            self._dispatch()
        for desk in self.desks:
            self._mark(desk)
        for r in self.tickets:
            if r.outcome == "waiting":
                r.outcome = "unserved"
        return DayResult(self.policy, self.tickets, self.desks, self.link.events(), self.commands, self.errors,
                         self.now, self.came_back, self.turned_away)

    def _on_tick(self, _data: None) -> None:
        self.link.tick()
        if self.heap:
            self._push(self.now + TICK_S, _TICK, "tick", None)

    def _push(self, t: float, prio: int, kind: str, data: Any) -> None:
        self._seq += 1
        heapq.heappush(self.heap, (t, prio, self._seq, kind, data))

    def _send(self, name: str, **args: Any) -> tuple[bool, dict[str, Any]]:
        self.commands += 1
        return self.link.command(name, **args)

    def _cmd(self, name: str, **args: Any) -> dict[str, Any] | None:
        ok, body = self._send(name, **args)
        if not ok:
            self._refused(name, args, body)
            return None
        return body

    def _refused(self, name: str, args: dict[str, Any], body: dict[str, Any]) -> None:
        self.errors.append(f"{self.now:.0f} {name} {args}: {body.get('code')} {body.get('message')}")
        log.warning("simday: %s %s refused: %s", name, args, body)

    # -- citizens ------------------------------------------------------------------------------
    def _on_arrive(self, v: Visitor) -> None:
        args = {"service": v.service, "priority": "green" if v.green else "normal", "source": "simday"}
        ok, res = self._send("issue", **args)
        if not ok and res.get("code") == "SERVICE_CLOSED":
            self._closed_door(v)
            return
        if not ok:
            self._refused("issue", args, res)
            return
        if self.now > v.at_s:
            self.came_back[v.idx] = self.now - v.at_s
        t = res["ticket"]
        rec = TicketRecord(v.idx, t["number"], v.service, v.green, self.now, int(t["ahead"]), t.get("est_wait_s"),
                           self._naive(v.service, int(t["ahead"])), queue=v.service, queued_s=self.now)
        self.tickets.append(rec)
        self.by_number[rec.number] = rec
        self.waiting[v.service] += 1

    def _closed_door(self, v: Visitor) -> None:
        """The hall is closed (lunch): the visitor waits at the door and takes a ticket when it reopens —
        in the order they came — or goes home when it does not reopen today."""
        back = self.plan.scenario.reopens_after(self.now)
        if back is None:
            self.turned_away.append(v.idx)
        else:
            self._push(back, _ARRIVE, "arrive", v)

    def _naive(self, service: str, ahead: int) -> float | None:
        open_ = sum(1 for d in self.desks if service in d.services and d.state in ("idle", "serving", "after"))
        if open_ == 0:
            return None
        n = self.service_n[service]
        mean = self.service_sum[service] / n if n else self.defaults[service]
        return ahead * mean / open_

    # -- staff -------------------------------------------------------------------------------
    def _on_device(self, d: Any) -> None:
        self.link.device(d.device, d.status)

    def _on_move(self, m: StaffMove) -> None:
        d = self.desks[m.window]
        if m.action == "logout":
            d.closing = True
            return
        if m.action == "resume" and any(p.action == "pause" for p in d.pending):
            d.pending = [p for p in d.pending if p.action != "pause"]
            return
        if d.state in ("serving", "after"):
            d.pending.append(m)       # staff finish the citizen in front of them first
            return
        self._apply(d, m)

    def _apply(self, d: Desk, m: StaffMove) -> None:
        if m.action == "login":
            if self._cmd("login", window=d.wid, staff=m.staff) is not None:
                self._set(d, "idle" if d.state == "closed" else d.state)
                d.staff = m.staff
        elif m.action == "pause" and d.state != "closed":
            if self._cmd("pause", window=d.wid, reason=m.reason) is not None:
                self._set(d, "paused")
        elif m.action == "resume" and d.state == "paused" and self._cmd("resume", window=d.wid) is not None:
            self._set(d, "idle")

    def _set(self, d: Desk, state: str) -> None:
        self._mark(d)
        if state == "idle" and d.state != "idle":
            d.idle_since = self.now
        d.state = state

    def _mark(self, d: Desk) -> None:
        dt = self.now - d.mark_s
        if d.state in ("idle", "serving", "after"):
            d.open_s += dt
        if d.state == "serving":
            d.busy_s += dt
        d.mark_s = self.now

    def _dispatch(self) -> None:
        """Every idle desk with someone waiting for it presses `call`; closing desks with nobody left log out."""
        for d in sorted((d for d in self.desks if d.state == "idle"), key=lambda d: (d.idle_since, d.idx)):
            if any(self.waiting[s] > 0 for s in d.services):
                self._call(d)
            elif d.closing and self._cmd("logout", window=d.wid) is not None:
                self._set(d, "closed")
                d.staff = None

    def _call(self, d: Desk) -> None:
        res = self._cmd("call", window=d.wid)
        t = (res or {}).get("ticket")
        if not t:
            for s in d.services:      # the controller knows best: nobody is waiting for this desk
                if self.waiting[s]:
                    self.errors.append(f"{self.now:.0f} call at window {d.wid}: none, but {s} had "
                                       f"{self.waiting[s]} in the simulator's count")
                self.waiting[s] = 0
            return
        rec = self.by_number[t["number"]]
        self.waiting[rec.queue] -= 1
        rec.waited_s += self.now - rec.queued_s
        if rec.called_s is None:
            rec.called_s = self.now
        self._set(d, "serving")
        d.rec = rec
        d.token += 1
        v = self.visitors[rec.visitor]
        if v.no_show:
            gap = self.plan.scenario.recall_gap_s
            self._push(self.now + gap, _DESK, "desk", (d.idx, d.token, "recall"))
            self._push(self.now + 2 * gap, _DESK, "desk", (d.idx, d.token, "recall"))
            self._push(self.now + 3 * gap, _DESK, "desk", (d.idx, d.token, "skip"))
        else:
            self._push(self.now + v.service_s[min(rec.served, len(v.service_s) - 1)], _DESK, "desk",
                       (d.idx, d.token, "end"))

    def _on_desk(self, data: tuple[int, int, str]) -> None:
        idx, token, step = data
        d = self.desks[idx]
        if token != d.token:
            return
        rec = d.rec
        assert rec is not None
        v = self.visitors[rec.visitor]
        if step == "recall":
            self._cmd("recall", window=d.wid)
        elif step == "skip":
            self._cmd("skip", window=d.wid)
            rec.outcome = "no_show"
            self._after(d, 10.0)
        elif step == "end":
            if v.transfer_to and rec.served == 0:
                self._cmd("transfer", window=d.wid, service=v.transfer_to)
                rec.served, rec.queue, rec.queued_s = 1, v.transfer_to, self.now
                self.waiting[v.transfer_to] += 1
                self._after(d, v.changeover_s / 2)
            else:
                res = self._cmd("finish", window=d.wid)
                rec.outcome = "finished"
                d.served += 1
                if res is not None:
                    called = self.now - v.service_s[min(rec.served, len(v.service_s) - 1)]
                    self.service_sum[rec.queue] = self.service_sum.get(rec.queue, 0.0) + self.now - called
                    self.service_n[rec.queue] += 1
                if v.rating is not None:
                    self._push(self.now + v.rate_after_s, _DESK, "desk", (d.idx, d.token, "rate"))
                self._after(d, v.changeover_s)
        elif step == "rate":
            self._cmd("rate", ticket=rec.number, level=v.rating, window=d.wid, channel="evaluator")
        elif step == "next":
            d.rec = None
            self._set(d, "idle")
            while d.pending and d.state != "serving":
                self._apply(d, d.pending.pop(0))

    def _after(self, d: Desk, gap_s: float) -> None:
        self._set(d, "after")
        self._push(self.now + gap_s, _DESK, "desk", (d.idx, d.token, "next"))
