"""`python -m simulation.regionhalls`: one simulated hall for the region's tests and bench — the real controller on the
hall's own (bridged) broker, driven through a scenario's day by `hallq sim day`'s runner, kept running afterwards
(the region may still ask it for `events`) until SIGTERM."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from controller.store import EventStore
from hallq.broker import Mosquitto
from hallq.secure.bridge import bridge_section
from simulation.simday.backends import MqttHall
from simulation.simday.executor import DayRunner
from simulation.simday.layout import hall_config, window_services
from simulation.simday.plan import make_plan, truncate
from simulation.simday.scenario import clock_s, load_scenario


class BridgedHall(MqttHall):
    """MqttHall whose broker bridges to the region: a secure hall's from `hallq secure init` (its config names
    `region` and the principal `region`), an open hall's with hallq/secure/bridge.py's section appended."""

    def __init__(self, cfg: dict[str, Any], workdir: Path, speed: float, region: dict[str, Any],
                 secure: bool, devices: list[str]) -> None:
        super().__init__(cfg, workdir, speed, secure=secure, devices=devices)
        # a checkpoint every 100 events (CONTRACT §3.8): the region verifies them against the pinned key
        self.raw = {**self.raw, "region": region, "audit": {"checkpoint_every": 100}}
        if secure:
            sec = dict(self.raw["security"])
            sec["principals"] = [*sec["principals"], {"id": "region", "role": "region"}]
            self.raw["security"] = sec

    def _open_broker(self, port: int) -> Any:
        if self.secure:
            return super()._open_broker(port)
        assert self.cfg is not None
        d = self.workdir / "broker"
        d.mkdir(parents=True, exist_ok=True)
        conf = d / "mosquitto.conf"
        conf.write_text("\n".join([
            f"user {getpass.getuser()}", f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence true",
            f"persistence_location {d}/", "autosave_interval 1", "set_tcp_nodelay true",
            f"log_dest file {d}/mosquitto.log", "log_type error", "log_type warning", "log_type notice",
        ]) + "\n" + bridge_section(self.cfg, self.workdir), encoding="utf-8")
        self.broker = Mosquitto.from_conf(conf, port).start()
        cfg = self.cfg
        return lambda _principal: cfg


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulation.regionhalls", description=__doc__)
    p.add_argument("--scenario", required=True)
    p.add_argument("--hall", required=True, help="the hall id (replaces the scenario's)")
    p.add_argument("--region", required=True, help="HOST:PORT of the regional broker")
    p.add_argument("--credentials", required=True, help="the hall's account there (hallq region secure-init)")
    p.add_argument("--open", action="store_true", help="an open hall (v1) instead of a secure one")
    p.add_argument("--workdir", required=True)
    p.add_argument("--seed", type=int)
    p.add_argument("--speed", type=float, default=0.0)
    p.add_argument("--until", help="end the day early at HH:MM")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sc = load_scenario(a.scenario)
    sc = sc.model_copy(update={"hall_id": a.hall})
    plan = make_plan(sc, a.seed)
    if a.until:
        plan = truncate(plan, clock_s(a.until))
    host, _, port = a.region.rpartition(":")
    region = {"host": host, "port": int(port), "credentials": str(Path(a.credentials).resolve())}
    devices = sorted({i.device for i in plan.scenario.incidents if i.kind == "device" and i.device})
    link = BridgedHall(hall_config(plan.scenario, "pooled"), Path(a.workdir), a.speed, region, not a.open, devices)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_a: stop.set())
    link.open()
    print(json.dumps({"state": "ready", "data": str(link.data_dir)}), flush=True)
    try:
        result = DayRunner(plan, link, window_services(plan.scenario, "pooled"), "pooled").run()
        assert link.client is not None
        store = EventStore(link.data_dir).open()
        try:
            head = store.head_seq
        finally:
            store.close()
        print(json.dumps({"state": "done", "tickets": len(result.tickets), "head_seq": head,
                          "date": sc.date.isoformat(), "data": str(link.data_dir)}), flush=True)
        stop.wait()
    finally:
        link.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
