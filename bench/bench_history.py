"""Benchmark (not a test): controller start time and memory with months of league history in the log.

One simulated league day (config/scenarios/league.yaml, pooled hall, pure engine via simulation.simday) is
copied over D working days by shifting its dates and appended to a real event log; then the morning of
day D+1 (a crash restart mid-morning). Each start is measured in a fresh process:
- before: full replay, every ticket kept (ControllerService(snapshots=False, compact=False));
- after, replay: full replay with compaction (first start after an upgrade, or no usable snapshot);
- after, snapshot: the snapshot written at the end of day D plus the morning's events.
Writes bench/results/history.json and prints the README table. Usage: python bench/bench_history.py [--days 20 60 120]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import rss_mb  # noqa: E402
from controller.service import ControllerService  # noqa: E402
from controller.snapshot import SNAPSHOT_DB  # noqa: E402
from controller.store import EventStore  # noqa: E402
from hallq.clock import SystemClock  # noqa: E402
from hallq.config import parse_config  # noqa: E402

SIM_DAY = "2026-11-23"
MORNING_END = "T10:30"     # the crash: events of day D+1 before 10:30 are the tail after the snapshot
MODES = {"before": {"snapshots": False, "compact": False}, "after_replay": {"snapshots": False, "compact": True},
         "after_snapshot": {"snapshots": True, "compact": True}}


def league_day() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from simulation.simday.backends import EngineHall
    from simulation.simday.executor import DayRunner
    from simulation.simday.layout import hall_config, window_services
    from simulation.simday.plan import make_plan
    from simulation.simday.scenario import load_scenario

    sc = load_scenario(str(REPO / "config/scenarios/league.yaml"))
    cfg = hall_config(sc, "pooled")
    link = EngineHall(cfg)
    DayRunner(make_plan(sc, None), link, window_services(sc, "pooled"), "pooled").run()
    events = link.events()
    for ev in events:
        ev.pop("seq", None)
    return cfg, events


def shifted(base: str, day: date) -> list[dict[str, Any]]:
    nxt = date.fromisoformat(SIM_DAY) + timedelta(days=1)
    out: list[dict[str, Any]] = json.loads(base.replace(nxt.isoformat(), (day + timedelta(days=1)).isoformat())
                                           .replace(SIM_DAY, day.isoformat()))
    return out


def working_days(n: int) -> list[date]:
    out, d = [], date.fromisoformat(SIM_DAY)
    while len(out) < n:
        d += timedelta(days=1)
        if d.weekday() < 5:
            out.append(d)
    return out


def measure(cfg_path: Path, data: Path, mode: str) -> dict[str, Any]:
    """Run in a fresh process: open() time, resident memory growth, tickets kept."""
    cfg = parse_config(json.loads(cfg_path.read_text()))
    gc.collect()
    rss0 = rss_mb(os.getpid())
    svc = ControllerService(cfg, data, SystemClock(), **MODES[mode])
    t0 = time.perf_counter()
    svc.open()
    dt = time.perf_counter() - t0
    gc.collect()
    st = svc.engine.state
    res = {"open_s": dt, "rss_growth_mb": rss_mb(os.getpid()) - rss0,
           "tickets_kept": len(st.tickets), "archived_days": len(st.archive),
           "archive_kb": sum(len(b) for b in st.archive.values()) / 1024, "events": st.last_seq}
    svc.close()
    return res


def in_child(cfg_path: Path, data: Path, mode: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--measure", mode, str(cfg_path), str(data)], check=True,
                         capture_output=True, text=True, cwd=REPO)
    res: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return res


def write_snapshot(cfg_path: Path, data: Path) -> dict[str, Any]:
    cfg = parse_config(json.loads(cfg_path.read_text()))
    svc = ControllerService(cfg, data, SystemClock(), snapshots=True, compact=True)
    svc.open()            # a long replay writes a snapshot by itself; this one covers exactly the head
    t0 = time.perf_counter()
    svc.write_snapshot()
    dt = time.perf_counter() - t0
    svc.close()
    return {"write_s": dt, "file_mb": (data / SNAPSHOT_DB).stat().st_size / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, nargs="+", default=[20, 60, 120])
    ap.add_argument("--measure", nargs=3, metavar=("MODE", "CONFIG", "DATA"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.measure:
        print(json.dumps(measure(Path(a.measure[1]), Path(a.measure[2]), a.measure[0])))
        return
    t0 = time.perf_counter()
    raw_cfg, events = league_day()
    print(f"one league day: {len(events)} events, "
          f"{sum(e['type'] == 'ticket.issued' for e in events)} tickets ({time.perf_counter() - t0:.1f} s)")
    base = json.dumps(events, ensure_ascii=False)
    days = working_days(max(a.days) + 1)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hallq-history-") as tmp:
        cfg_path, data = Path(tmp) / "hall.json", Path(tmp) / "data"
        cfg_path.write_text(json.dumps(raw_cfg, ensure_ascii=False))
        store = EventStore(data).open()
        done = 0
        rest: list[dict[str, Any]] = []
        for d in sorted(a.days):
            if rest:
                store.append([(rest, None)])
            for day in days[done:d]:
                store.append([(shifted(base, day), None)])
            done = d
            store.close()
            snap = write_snapshot(cfg_path, data)
            store = EventStore(data).open()
            nxt = shifted(base, days[d])
            cut = days[d].isoformat() + MORNING_END
            morning, rest = [e for e in nxt if e["at"] < cut], [e for e in nxt if e["at"] >= cut]
            store.append([(morning, None)])
            row: dict[str, Any] = {"days": d, "tail_events": len(morning), "snapshot": snap}
            for mode in MODES:
                row[mode] = in_child(cfg_path, data, mode)
            results.append(row)
            b, r, s = row["before"], row["after_replay"], row["after_snapshot"]
            print(f"D={d:4d}  events {b['events']:8d}  before {b['open_s']:6.1f} s {b['rss_growth_mb']:6.0f} MB "
                  f"{b['tickets_kept']:7d} tickets | replay {r['open_s']:6.1f} s {r['rss_growth_mb']:5.0f} MB "
                  f"{r['tickets_kept']:6d} | snapshot {s['open_s']:5.2f} s {s['rss_growth_mb']:5.0f} MB")
        store.close()
    out = REPO / "bench" / "results" / "history.json"
    out.write_text(json.dumps({"when": datetime.now().astimezone().isoformat(timespec="seconds"),
                               "scenario": "league", "events_per_day": len(events), "morning_end": MORNING_END,
                               "results": results}, indent=2))
    print("\n| working days | events | open() before | after: replay | after: snapshot + morning | speed-up "
          "| RSS before | RSS after (replay / snapshot) | tickets kept before / after |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in results:
        b, r, s = row["before"], row["after_replay"], row["after_snapshot"]
        print(f"| {row['days']} | {b['events']:,} | {b['open_s']:.1f} s | {r['open_s']:.1f} s | {s['open_s']:.2f} s "
              f"| {b['open_s'] / s['open_s']:.0f}× | +{b['rss_growth_mb']:.0f} MB "
              f"| +{r['rss_growth_mb']:.0f} / +{s['rss_growth_mb']:.0f} MB "
              f"| {b['tickets_kept']:,} / {s['tickets_kept']:,} |")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
