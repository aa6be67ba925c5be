"""Hall configurations for one scenario: the pooled hall (一窗受理) and the old way (a queue per department)."""

from __future__ import annotations

from typing import Any

from simulation.simday.scenario import Scenario

POLICIES = ("pooled", "departments")
TIMEZONE = "Asia/Shanghai"


def window_services(sc: Scenario, policy: str) -> list[list[str]]:
    """Services of each window, by 0-based window index, under a policy."""
    every = [s.id for s in sc.services]
    out: list[list[str]] = []
    if policy == "pooled":
        for g in sc.windows:
            out += [list(every) if g.services == "*" else list(g.services) for _ in range(g.count)]
    elif policy == "departments":
        for d in sc.departments:
            mine = [s.id for s in sc.services if s.department == d.id]
            out += [list(mine) for _ in range(d.windows)]
    else:
        raise ValueError(f"unknown policy {policy!r} (known: {', '.join(POLICIES)})")
    return out


def hall_config(sc: Scenario, policy: str, port: int = 1883) -> dict[str, Any]:
    """A hall config (CONTRACT §2) for the scenario: same services, windows, staff and hours under both policies."""
    spans = [f"{a}-{b}" for a, b in sc.opening_spans]
    wins = window_services(sc, policy)
    return {
        "hall": {"id": sc.hall_id, "name": {"zh": sc.name}, "timezone": TIMEZONE},
        "mqtt": {"host": "127.0.0.1", "port": port},
        "data_dir": "./var/sim",
        "services": [{"id": s.id, "prefix": s.prefix, "name": {"zh": s.zh}, "default_service_s": s.service_mean_s}
                     for s in sc.services],
        "windows": [{"id": str(i + 1), "services": ss} for i, ss in enumerate(wins)],
        "staff": [{"id": f"{post}{i + 1:03d}", "name": f"{post}岗{i + 1}", "windows": [str(i + 1)]}
                  for i in range(len(wins)) for post in "AB"],
        "rules": {"recall_limit": 2},
        "hours": {"weekly": {d: list(spans) for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
                  "open_dates": {sc.date.isoformat(): list(spans)}},
        "supervision": dict(sc.supervision),
    }
