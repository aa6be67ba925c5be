"""Benchmark (not a test): key press -> controller command -> SHOW frame on the LED board, with 32
devices (16 evaluators, 16 LED boards) on one simulated 9600-baud bus whose bytes take their line
time, beside the wire-time floor of the same traffic. Runs the v1 poll schedule (`weighted`) and the
event-driven one (`event`) one after the other in one run (`--schedule` picks one).
Writes bench/results/bridge.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from firmware_bridge.hallbus.frame import encode_frame  # noqa: E402
from firmware_bridge.hallbus.messages import KEY, Show  # noqa: E402
from firmware_bridge.sim import Faults, SimBus, SimEvaluator, SimLed  # noqa: E402
from hallq.broker import Mosquitto  # noqa: E402
from hallq.config import parse_config  # noqa: E402
from hallq.mqtt import BlockingClient  # noqa: E402

BAUD = 9600
N_WIN = 16


def line_s(nbytes: int) -> float:
    return nbytes * 10 / BAUD


def run_once(schedule: str) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix=f"hallq-bench-bridge-{schedule}-"))
    broker = Mosquitto(workdir=tmp / "broker").start()
    evs = [SimEvaluator(i + 1) for i in range(N_WIN)]
    leds = [SimLed(100 + i) for i in range(N_WIN)]
    bus = SimBus(evs + leds, BAUD, link=tmp / "ttyBUS", faults=Faults(wire_time=True, reply_delay_s=0.002)).open()
    raw = {"hall": {"id": "bench", "name": {"zh": "基准"}}, "mqtt": {"port": broker.port},
           "services": [{"id": "general", "prefix": "A", "name": {"zh": "综合"}}],
           "windows": [{"id": str(i + 1), "services": ["general"]} for i in range(N_WIN)],
           "staff": [{"id": f"S{i + 1:03d}", "name": f"员工{i + 1}", "windows": [str(i + 1)]} for i in range(N_WIN)],
           "devices": {"buses": [{"id": "bus1", "port": str(tmp / "ttyBUS"), "baud": BAUD, "reply_timeout_ms": 100,
                                  "schedule": schedule,
                                  "devices": [{"address": i + 1, "kind": "evaluator", "window": str(i + 1)}
                                              for i in range(N_WIN)]
                                  + [{"address": 100 + i, "kind": "led", "window": str(i + 1)}
                                     for i in range(N_WIN)]}]}}
    (tmp / "hall.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True))
    cfg = parse_config(raw)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    procs = [subprocess.Popen([sys.executable, "-m", "hallq", part, "--config", str(tmp / "hall.yaml"), "--data",
                               str(tmp / part)], cwd=REPO, env=env, stderr=open(tmp / f"{part}.log", "w"))  # noqa: SIM115
             for part in ("controller", "bridge")]
    lat: list[float] = []
    try:
        with BlockingClient(cfg, "bench", (cfg.topic("device", "+", "status"),)) as c:
            for i in range(N_WIN):
                c.wait_for(cfg.topic("device", f"bus1-{100 + i}", "status"), lambda b: b["state"] == "online", 60)
                c.wait_for(cfg.topic("device", f"bus1-{i + 1}", "status"), lambda b: b["state"] == "online", 60)
            for ev in evs:
                ev.login(f"S{ev.address:03d}")
            time.sleep(3)
            rounds = 6
            for _ in range(rounds * N_WIN):
                c.command("issue", service="general")
            for r in range(rounds):
                for i, ev in enumerate(evs):
                    before = len(leds[i].shown)
                    t0 = time.monotonic()
                    ev.press(KEY.CALL)
                    while len(leds[i].shown) == before:
                        if time.monotonic() - t0 > 30:
                            raise RuntimeError(f"window {i + 1}: the LED never showed the call")
                        time.sleep(0.001)
                    lat.append((time.monotonic() - t0) * 1000)
                    time.sleep(0.05 + 0.01 * ((r * 7 + i) % 5))
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            p.wait(15)
        bus.close()
        broker.stop()
    s = sorted(lat)
    return {"presses": len(lat), "p50_ms": s[len(s) // 2], "p99_ms": s[min(len(s) - 1, int(0.99 * (len(s) - 1)) + 1)],
            "mean_ms": statistics.mean(lat), "max_ms": s[-1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--schedule", choices=("both", "weighted", "event"), default="both")
    o = ap.parse_args()
    runs = {sched: run_once(sched) for sched in (("weighted", "event") if o.schedule == "both" else (o.schedule,))}
    poll = len(encode_frame(1, 1, 2, b"\x00")) + len(encode_frame(1, 1, 0x82, b"\x01\x01\x01"))
    show = len(encode_frame(100, 1, 3, Show(0, "请A012号到16号窗口").encode())) + len(encode_frame(100, 1, 0x83, b"\0"))
    floor_ms = (line_s(poll) + line_s(show)) * 1000
    res: dict[str, object] = {"devices": 2 * N_WIN, "baud": BAUD, **runs, "wire_floor_ms": floor_ms}
    if len(runs) == 2:
        res["p50_ratio"] = runs["weighted"]["p50_ms"] / runs["event"]["p50_ms"]
        res["p99_ratio"] = runs["weighted"]["p99_ms"] / runs["event"]["p99_ms"]
    res |= {
           "note": "floor = line time of the POLL exchange that carries the press + the SHOW exchange; "
                   "simulated devices answer 2 ms after a request's last byte; weighted = v1 poll schedule, "
                   "event = output first, keyed devices round robin, LED boards polled every output_poll_ms"}
    out = REPO / "bench" / "results" / "bridge.json"
    out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
