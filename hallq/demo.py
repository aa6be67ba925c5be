"""`hallq demo`: the whole hall on this machine.

A private mosquitto, the controller, the bridge with simulated evaluators and LED boards on
pseudo-terminals, the kiosk and the hall call screen (windows when a display is present), and
a gentle living hall: staff log in, citizens take tickets, are called, served and rate.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from hallq.broker import BrokerError, Mosquitto
from hallq.cli import UsageError
from hallq.config import ConfigError, parse_config

log = logging.getLogger("hallq.demo")
REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "config" / "demo.yaml"


class Part:
    """One hallq process of the demo."""

    def __init__(self, name: str, argv: list[str], logdir: Path) -> None:
        self.name, self.argv, self.logdir = name, argv, logdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        logf = open(self.logdir / f"{self.name}.log", "ab")  # noqa: SIM115 (the child owns it)
        self.proc = subprocess.Popen([sys.executable, "-m", "hallq", *self.argv], stdout=logf, stderr=logf,
                                     cwd=REPO, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        log.info("started %s (pid %d), log: %s", self.name, self.proc.pid, self.logdir / f"{self.name}.log")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _have(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def run(args: argparse.Namespace) -> int:
    cfg_path = Path(args.config) if args.config else DEFAULT_CONFIG
    try:
        raw: dict[str, Any] = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
        parse_config(raw, str(cfg_path))
    except FileNotFoundError:
        raise UsageError(f"--config {cfg_path}: file not found") from None
    except ConfigError as e:
        raise UsageError(f"config error: {e}") from None
    work = Path(tempfile.mkdtemp(prefix="hallq-demo-"))
    data = Path(args.data) if args.data else work / "data"
    try:
        broker = Mosquitto(workdir=work / "broker").start()
    except BrokerError as e:
        raise UsageError(str(e)) from None
    raw.setdefault("mqtt", {})["port"] = broker.port
    raw["mqtt"]["host"] = "127.0.0.1"
    sim_stop = _start_simulated_buses(raw)
    demo_cfg = work / "hall.yaml"
    demo_cfg.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    cfg = parse_config(raw, str(demo_cfg))
    gui = bool(os.environ.get("DISPLAY")) and not args.no_gui
    conf = ["--config", str(demo_cfg)]
    parts = [Part("controller", ["controller", *conf, "--data", str(data)], work)]
    if raw.get("devices", {}).get("buses") and sim_stop is not None:
        parts.append(Part("bridge", ["bridge", *conf, "--data", str(work / "bridge")], work))
    flag = [] if gui else ["--headless"]
    for module, items in (("display.main", [("display", d.id, ["--board", d.id]) for d in cfg.displays]),
                          ("kiosk.main", [("kiosk", k.id, ["--kiosk", k.id]) for k in cfg.kiosks])):
        if not _have(module):
            if items:
                print(f"hallq demo: the {items[0][0]} is not in this build yet; running without it", flush=True)
            continue
        if module == "display.main" and not gui:
            print("hallq demo: no display (or --no-gui): running without the call screen", flush=True)
            continue
        parts += [Part(f"{kind}-{pid}", [kind, *conf, *extra, *flag], work) for kind, pid, extra in items]
    print(f"hallq demo: hall {cfg.hall.id} ({cfg.hall.name.zh}); broker 127.0.0.1:{broker.port}; "
          f"logs and data in {work}", flush=True)
    for p in parts:
        p.start()
    from hallq.livinghall import LivingHall

    hall = LivingHall(cfg, seed=int(time.time()))
    stopping = False

    def _stop(*_a: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    deadline = time.monotonic() + args.duration if args.duration else None
    try:
        hall.start()
        next_report = time.monotonic() + 10
        while not stopping and (deadline is None or time.monotonic() < deadline):
            hall.step()
            if time.monotonic() >= next_report:
                next_report += 10
                print(f"hallq demo: {hall.summary()}", flush=True)
            for p in parts:
                if p.proc is not None and not p.alive():
                    print(f"hallq demo: {p.name} exited with code {p.proc.returncode}; see "
                          f"{work / (p.name + '.log')}", flush=True)
                    p.proc = None
            time.sleep(0.2)
    finally:
        hall.close()
        for p in reversed(parts):
            p.stop()
        if sim_stop is not None:
            sim_stop()
        broker.stop()
    print(f"hallq demo: stopped. {hall.summary()}  Data: {data}", flush=True)
    return 0


def _start_simulated_buses(raw: dict[str, Any]) -> Any:
    """Run the configured buses' devices as simulators on ptys; rewrite the bus ports. None if unavailable."""
    buses = raw.get("devices", {}).get("buses") or []
    if not buses:
        return None
    if not _have("firmware_bridge.sim"):
        log.warning("device simulators are not available: the demo runs without the serial bus")
        raw["devices"]["buses"] = []
        return None
    from firmware_bridge.sim import demo_bus

    handle = demo_bus(parse_config(raw))
    for bus in buses:
        bus["port"] = handle.ports[bus["id"]]
    return handle.stop
