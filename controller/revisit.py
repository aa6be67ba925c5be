"""The monthly 回访 sample: a configurable share (`evaluation.revisit_share`) of a month's rated tickets, picked at
random for a satisfaction call, and each call's result.

Pure like the engine. The book keeps the rated tickets of the current and the previous month only (a month is
sampled during the next one), and the samples with their results for a year. The pick is seeded and the seed is
logged with the sample (`revisit.sampled`), so anyone can pick again from the log's `evaluation.recorded` events
and get the same tickets; each result is a `revisit.recorded` event.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
KEEP_SAMPLES = 13          # months of samples (and their results) kept


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def previous_month(month: str) -> str:
    y, m = int(month[:4]), int(month[5:])
    return f"{y - (m == 1):04d}-{12 if m == 1 else m - 1:02d}"


def ticket_key(day: date | str, number: str) -> str:
    return f"{day if isinstance(day, str) else day.isoformat()}:{number}"


def pick(candidates: list[str], share: float, seed: str) -> list[str]:
    """ceil(share × n) of the candidates (at least one when there are any and share > 0), by random.Random(seed)
    over the sorted candidates; sorted."""
    pool = sorted(set(candidates))
    n = min(len(pool), math.ceil(len(pool) * share)) if share > 0 else 0
    return sorted(random.Random(seed).sample(pool, n))


def make_seed(hall: str, month: str, at: str) -> str:
    return hashlib.sha256(f"{hall}|{month}|{at}".encode()).hexdigest()[:16]


@dataclass
class RevisitBook:
    rated: dict[str, list[str]] = field(default_factory=dict)       # month -> ticket keys rated (ticket's month)
    samples: dict[str, dict[str, Any]] = field(default_factory=dict)  # month -> {seed, share, at, by, results}

    def on_rated(self, day: date, number: str) -> None:
        month = month_of(day)
        self.rated.setdefault(month, []).append(ticket_key(day, number))
        if len(self.rated) > 2:              # only the current and the previous month wait for their sample
            keep = sorted(self.rated)[-2:]
            self.rated = {m: self.rated[m] for m in keep}

    def on_sampled(self, month: str, tickets: list[str], seed: str, share: float, rated: int, at: str,
                   by: str | None) -> None:
        self.samples[month] = {"seed": seed, "share": share, "rated": rated, "at": at, "by": by,
                               "results": {k: None for k in tickets}}
        self.rated.pop(month, None)
        while len(self.samples) > KEEP_SAMPLES:
            del self.samples[min(self.samples)]

    def on_recorded(self, key: str, result: dict[str, Any]) -> None:
        for s in self.samples.values():
            if key in s["results"]:
                s["results"][key] = result
                return

    def month_of_sample(self, key: str) -> str | None:
        return next((m for m, s in self.samples.items() if key in s["results"]), None)

    def to_json(self, month: str) -> dict[str, Any] | None:
        s = self.samples.get(month)
        if s is None:
            return None
        results = s["results"]
        done = [r for r in results.values() if r is not None]
        return {"month": month, "seed": s["seed"], "share": s["share"], "rated": s["rated"], "at": s["at"],
                "by": s["by"],
                "tickets": [{"ticket": k.split(":", 1)[1], "date": k.split(":", 1)[0], "result": r}
                            for k, r in sorted(results.items())],
                "called": len(done), "satisfied": sum(bool(r.get("satisfied")) for r in done)}
