"""A gentle, real-time living hall for `hallq demo`: staff and citizens acting over the MQTT API.

The citizens come from the hall-day simulator's plan of a scenario (`simulation.simday`: its arrival profile,
green-channel share, no-shows, transfers, log-normal service times and ratings), replayed with its clock
compressed (`time_scale`) so a newcomer sees a day's rhythm in minutes; the scenario's services are mapped
onto the demo hall's in order. Without a plan, citizens arrive at random. Staff at every window call, serve
and finish; no-shows are recalled, then skipped. Everything goes through the controller's public commands,
exactly as kiosks and evaluators do.

In a secure hall (CONTRACT §5) it acts with the principals of the parts it plays (`Actors`): citizens take
tickets as a kiosk; green-channel tickets are given by the reception desk (a console principal acting for a
staff member with role reception, since a kiosk needs a scanned 蒙速办 code for them); each window's staff
log in with their PIN and call, serve and have their service rated as that window's device (role device).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hallq.config import HallConfig
from hallq.mqtt import BlockingClient, CommandError
from simulation.simday.plan import Visitor

log = logging.getLogger("simulation.livinghall")

LEVELS = (5, 4, 3, 2, 1)
LEVEL_WEIGHTS = (60, 25, 9, 4, 2)


@dataclass
class _Desk:
    window: str
    staff: str
    state: str = "idle"       # idle | serving | rating
    due: float = 0.0          # monotonic time of the next action
    ticket: str | None = None
    date: str | None = None
    visitor: Visitor | None = None
    recalled: bool = False


@dataclass(frozen=True)
class Actors:
    """The principals the living hall acts as in a secure hall: each a config carrying its credentials."""

    kiosk: HallConfig                                          # role kiosk: issue (normal)
    windows: dict[str, HallConfig]                             # window -> role device of that window
    reception: tuple[HallConfig, str] | None = None            # role console + a reception staff id: green
    pins: dict[str, str] = field(default_factory=dict)         # staff id -> PIN (device login)


class LivingHall:
    def __init__(self, cfg: HallConfig, seed: int = 1, mean_arrival_s: float = 6.0,
                 service_s: tuple[float, float] = (8.0, 25.0), plan: Callable[[int], list[Visitor]] | None = None,
                 time_scale: float = 1 / 100, services: list[str] | None = None, actors: Actors | None = None) -> None:
        self.cfg = cfg
        self.rng = random.Random(seed)
        self.mean_arrival_s = mean_arrival_s
        self.service_s = service_s
        self.actors = actors
        self.client = BlockingClient(actors.kiosk if actors else cfg, "livinghall",
                                     (cfg.topic("controller", "status"),))
        self.window_clients = {w: BlockingClient(c, f"livinghall-w{w}") for w, c in actors.windows.items()} \
            if actors else {}
        self.reception = BlockingClient(actors.reception[0], "livinghall-desk") \
            if actors and actors.reception else None
        self.desks: list[_Desk] = []
        self.next_arrival = 0.0
        self.day = seed
        self.make_plan = plan                  # seed -> the day's visitors; a new day when one ends
        self.plan: list[Visitor] = []
        self.time_scale = time_scale
        self.service_map = {s: cfg.services[i % len(cfg.services)].id for i, s in enumerate(services or [])}
        self.by_ticket: dict[str, Visitor] = {}
        self._transferred: set[str] = set()
        self.t0 = 0.0
        self.counts = {"issued": 0, "called": 0, "finished": 0, "rated": 0, "skipped": 0, "errors": 0}

    def _clients(self) -> list[BlockingClient]:
        return [self.client, *self.window_clients.values(), *([self.reception] if self.reception else [])]

    def start(self) -> None:
        deadline = time.monotonic() + 30
        for c in self._clients():
            while True:
                try:
                    c.connect()
                    break
                except ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
        self.client.wait_for(self.cfg.topic("controller", "status"), lambda b: b.get("state") == "online",
                             timeout_s=60)
        for w in self.cfg.windows:
            staff = next((s for s in self.cfg.staff if s.windows[0] == w.id), None)
            if staff is not None:
                self.desks.append(_Desk(w.id, staff.id))
        for d in self.desks:
            pin = self.actors.pins.get(d.staff) if self.actors else None
            self._cmd("login", window=d.window, staff=d.staff, **({"pin": pin} if pin else {}))
        self.next_arrival = time.monotonic() + 1.0
        self._new_day(time.monotonic())

    def close(self) -> None:
        for c in self._clients():
            c.close()

    def summary(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.counts.items())

    def _client_for(self, name: str, args: dict[str, Any]) -> BlockingClient:
        """Who sends `name`: the window's device for window commands and ratings, the reception desk for a
        green ticket, the kiosk otherwise (one client for everything in an open hall)."""
        if name == "issue" and args.get("priority") == "green" and self.reception is not None:
            assert self.actors is not None and self.actors.reception is not None
            args["actor"] = self.actors.reception[1]
            return self.reception
        if "window" in args and str(args["window"]) in self.window_clients:
            return self.window_clients[str(args["window"])]
        return self.client

    def _cmd(self, name: str, **args: Any) -> dict[str, Any] | None:
        client = self._client_for(name, args)
        if self.actors is not None and name == "issue" and args.get("priority") == "green" and \
                self.reception is None:
            args["priority"] = "normal"      # a kiosk gives green only for a scanned code
        for _ in range(20):
            try:
                return client.command(name, timeout_s=5.0, **args)
            except TimeoutError:
                log.info("controller did not answer %s yet; retrying", name)
            except CommandError as e:
                self.counts["errors"] += 1
                log.info("%s %s: %s", name, {k: ("***" if k == "pin" else v) for k, v in args.items()}, e)
                return None
        return None

    def _arrivals(self, now: float) -> None:
        while self.plan and now >= self.t0 + self.plan[0].at_s * self.time_scale:
            v = self.plan.pop(0)
            res = self._cmd("issue", service=self.service_map.get(v.service, self.cfg.services[0].id),
                            priority="green" if v.green else "normal", source="demo")
            if res:
                self.counts["issued"] += 1
                self.by_ticket[res["ticket"]["number"]] = v

    def _new_day(self, now: float) -> None:
        if self.make_plan is None:
            return
        self.plan = sorted(self.make_plan(self.day), key=lambda v: v.at_s)
        self.day += 1
        if self.plan:  # the day's first arrival comes a second from now
            self.t0 = now + 1.0 - self.plan[0].at_s * self.time_scale

    def step(self) -> None:
        now = time.monotonic()
        if self.make_plan is not None:
            if not self.plan:
                self._new_day(now)
            self._arrivals(now)
        elif now >= self.next_arrival:
            self.next_arrival = now + self.rng.expovariate(1.0 / self.mean_arrival_s)
            service = self.rng.choice(self.cfg.services).id
            prio = "green" if self.rng.random() < 0.1 else "normal"
            if self._cmd("issue", service=service, priority=prio, source="demo"):
                self.counts["issued"] += 1
        for d in self.desks:
            if now >= d.due:
                self._act(d, now)

    def _act(self, d: _Desk, now: float) -> None:
        if d.visitor is not None and d.state in ("serving", "rating"):
            self._act_planned(d, d.visitor, now)
            return
        if d.state == "rating":
            if d.ticket and self.rng.random() < 0.85:  # most citizens rate; the rest let the prompt time out
                level = self.rng.choices(LEVELS, LEVEL_WEIGHTS)[0]
                if self._cmd("rate", ticket=d.ticket, date=d.date, level=level, window=d.window, channel="evaluator"):
                    self.counts["rated"] += 1
            d.state, d.ticket, d.due = "idle", None, now + self.rng.uniform(1, 3)
            return
        if d.state == "idle":
            res = self._cmd("call", window=d.window)
            t = (res or {}).get("ticket")
            if t:
                self.counts["called"] += 1
                d.state, d.ticket, d.date = "serving", t["number"], t.get("date")
                d.visitor, d.recalled = self.by_ticket.get(t["number"]), False
                d.due = now + (self._scaled(d.visitor.service_s[0]) if d.visitor else
                               self.rng.uniform(*self.service_s))
            else:
                d.state, d.due = "idle", now + 2.0
            return
        roll = self.rng.random()
        if roll < 0.08 and self._cmd("recall", window=d.window):
            d.due = now + 3
        elif roll < 0.12 and self._cmd("skip", window=d.window):
            self.counts["skipped"] += 1
            d.state, d.ticket, d.due = "idle", None, now + 1
        elif self._cmd("finish", window=d.window):
            self.counts["finished"] += 1
            d.state, d.due = "rating", now + self.rng.uniform(2, 5)
        else:
            d.state, d.due = "idle", now + 1

    def _scaled(self, seconds: float) -> float:
        """A planned duration at the demo's pace, kept watchable (3–30 s)."""
        return min(30.0, max(3.0, seconds * self.time_scale * 2))

    def _act_planned(self, d: _Desk, v: Visitor, now: float) -> None:
        """The desk follows the visitor's plan: no-show (recall, then skip), transfer, service, rating."""
        if d.state == "rating":
            if v.rating is not None and self._cmd("rate", ticket=d.ticket, date=d.date, level=v.rating,
                                                   window=d.window, channel="evaluator"):
                self.counts["rated"] += 1
            d.state, d.ticket, d.visitor, d.due = "idle", None, None, now + self.rng.uniform(1, 3)
            return
        if v.no_show and not d.recalled:
            d.recalled, d.due = bool(self._cmd("recall", window=d.window)), now + 4
            return
        if v.no_show and self._cmd("skip", window=d.window):
            self.counts["skipped"] += 1
            d.state, d.ticket, d.visitor, d.due = "idle", None, None, now + 1
            return
        if v.transfer_to is not None and d.ticket not in self._transferred:
            self._transferred.add(d.ticket or "")
            if self._cmd("transfer", window=d.window, service=self.service_map.get(v.transfer_to,
                                                                                    self.cfg.services[0].id)):
                d.state, d.ticket, d.visitor, d.due = "idle", None, None, now + 1
                return
        if self._cmd("finish", window=d.window):
            self.counts["finished"] += 1
            d.state, d.due = "rating", now + min(8.0, max(1.5, v.rate_after_s))
        else:
            d.state, d.visitor, d.due = "idle", None, now + 1
