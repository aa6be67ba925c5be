"""A gentle, real-time living hall for `hallq demo`: staff and citizens acting over the MQTT API.

Citizens arrive at random and take tickets; staff at every window call, serve, sometimes
recall or skip, and citizens rate most services. Everything goes through the controller's
public commands, exactly as kiosks and evaluators do.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from hallq.config import HallConfig
from hallq.mqtt import BlockingClient, CommandError

log = logging.getLogger("hallq.livinghall")

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


class LivingHall:
    def __init__(self, cfg: HallConfig, seed: int = 1, mean_arrival_s: float = 6.0,
                 service_s: tuple[float, float] = (8.0, 25.0)) -> None:
        self.cfg = cfg
        self.rng = random.Random(seed)
        self.mean_arrival_s = mean_arrival_s
        self.service_s = service_s
        self.client = BlockingClient(cfg, "livinghall", (cfg.topic("controller", "status"),))
        self.desks: list[_Desk] = []
        self.next_arrival = 0.0
        self.counts = {"issued": 0, "called": 0, "finished": 0, "rated": 0, "skipped": 0, "errors": 0}

    def start(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                self.client.connect()
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
            self._cmd("login", window=d.window, staff=d.staff)
        self.next_arrival = time.monotonic() + 1.0

    def close(self) -> None:
        self.client.close()

    def summary(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.counts.items())

    def _cmd(self, name: str, **args: Any) -> dict[str, Any] | None:
        for _ in range(20):
            try:
                return self.client.command(name, timeout_s=5.0, **args)
            except TimeoutError:
                log.info("controller did not answer %s yet; retrying", name)
            except CommandError as e:
                self.counts["errors"] += 1
                log.info("%s %s: %s", name, args, e)
                return None
        return None

    def step(self) -> None:
        now = time.monotonic()
        if now >= self.next_arrival:
            self.next_arrival = now + self.rng.expovariate(1.0 / self.mean_arrival_s)
            service = self.rng.choice(self.cfg.services).id
            prio = "green" if self.rng.random() < 0.1 else "normal"
            if self._cmd("issue", service=service, priority=prio, source="demo"):
                self.counts["issued"] += 1
        for d in self.desks:
            if now >= d.due:
                self._act(d, now)

    def _act(self, d: _Desk, now: float) -> None:
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
                d.due = now + self.rng.uniform(*self.service_s)
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
