"""`hallq sim day`: run a scenario's day against the real controller (and the old way beside it), write the report."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

from hallq.broker import BrokerError
from simulation.simday.backends import EngineHall, HallLink, MqttHall
from simulation.simday.executor import DayResult, DayRunner
from simulation.simday.layout import POLICIES, hall_config, window_services
from simulation.simday.plan import DayPlan, make_plan, truncate
from simulation.simday.plot import wait_chart
from simulation.simday.report import day_report, markdown
from simulation.simday.scenario import ScenarioError, clock_s, load_scenario


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hallq sim day", description=__doc__)
    p.add_argument("--scenario", required=True, help="scenario YAML (config/scenarios/*.yaml)")
    p.add_argument("--seed", type=int, help="override the scenario's seed")
    p.add_argument("--out", help="directory for report.json, report.md and the PNG (default: a temp dir)")
    p.add_argument("--until", help="end the day early at HH:MM (arrivals stop, staff log out)")
    p.add_argument("--pooled", choices=("mqtt", "engine"), default="mqtt",
                   help="run the pooled hall through the controller over MQTT (default) or the pure engine")
    p.add_argument("--baseline", choices=("engine", "mqtt", "none"), default="engine",
                   help="run the old way (a queue per department) through the pure engine (default), MQTT, or not")
    p.add_argument("--speed", type=float, default=0.0,
                   help="pace the MQTT run at most this many times faster than real time (0 = as fast as it goes)")
    p.add_argument("--plot", help="PNG path for the chart (default: OUT/wait-HALL.png)")
    p.add_argument("--open", action="store_true",
                   help="run the MQTT hall open (v1) instead of secure, where the controller and the simulator's "
                        "kiosk, reception desk and window devices each have their own principal")
    return p


def run(rest: list[str]) -> int:
    a = parser().parse_args(rest)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("hallq").setLevel(logging.ERROR)
    try:
        sc = load_scenario(a.scenario)
        plan = make_plan(sc, a.seed)
        if a.until:
            plan = truncate(plan, clock_s(a.until))
    except (ScenarioError, ValueError) as e:
        print(f"hallq sim day: {e}", file=sys.stderr)
        return 2
    out = Path(a.out or tempfile.mkdtemp(prefix="hallq-simday-out-"))
    out.mkdir(parents=True, exist_ok=True)
    runs = [("pooled", a.pooled)] + ([("departments", a.baseline)] if a.baseline != "none" else [])
    results: list[DayResult] = []
    try:
        for policy, backend in runs:
            t0 = time.monotonic()
            results.append(run_day(plan, policy, backend, out / f"{policy}-data", a.speed, secure=not a.open))
            print(f"{policy}: {len(results[-1].tickets)} tickets, {results[-1].commands} commands via {backend} "
                  f"in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    except BrokerError as e:
        print(f"hallq sim day: {e}", file=sys.stderr)
        return 2
    rep = day_report(plan, results, dict(runs))
    rep["seed"] = a.seed if a.seed is not None else sc.seed
    (out / "report.json").write_text(json.dumps(rep, ensure_ascii=False, indent=2), encoding="utf-8")
    md = markdown(rep)
    (out / "report.md").write_text(md, encoding="utf-8")
    png = Path(a.plot) if a.plot else out / f"wait-{sc.hall_id}.png"
    wait_chart(results, f"{sc.hall_id} · {sc.date} · seed {rep['seed']}: waiting over the day", png)
    print(md)
    print(f"written: {out / 'report.json'}, {out / 'report.md'}, {png}")
    return 0


def run_day(plan: DayPlan, policy: str, backend: str, workdir: Path, speed: float = 0.0,
            secure: bool = False) -> DayResult:
    """One policy's day. `backend` 'mqtt' = the real controller over MQTT (a secure hall with `secure`);
    'engine' = the pure engine in-process."""
    assert policy in POLICIES
    cfg = hall_config(plan.scenario, policy)
    devices = sorted({i.device for i in plan.scenario.incidents if i.kind == "device" and i.device})
    link: HallLink = MqttHall(cfg, workdir, speed, secure=secure, devices=devices) if backend == "mqtt" \
        else EngineHall(cfg)
    link.open()
    try:
        return DayRunner(plan, link, window_services(plan.scenario, policy), policy).run()
    finally:
        link.close()
