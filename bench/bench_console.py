"""Benchmark (not a test): what the web console adds to a call, and what 60 windows' live clients cost it.

A real mosquitto, controller and `hallq console`: the window client's call (`POST /api/windows/1/call`, as the
page's F1 sends it) → `ticket.called` seen by an MQTT subscriber, beside the same call sent straight over MQTT
(`call` at window 3), alternated, in one run; then the console's RSS with 60 signed-in live streams open
(`/api/stream`, what each window client's page holds). Writes bench/results/console.json.

Usage: python bench/bench_console.py [--n 200]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from bench.common import pct  # noqa: E402
from hallq.broker import Mosquitto  # noqa: E402
from hallq.mqtt import BlockingClient  # noqa: E402
from tests.console.desk import Desk  # noqa: E402


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hallq-bench-console-") as tmp:
        d = Path(tmp)
        broker = Mosquitto(workdir=d / "broker").start()
        desk = Desk(d, broker)
        try:
            cfg = desk.hall.cfg
            http, csrf = desk.session("S001")
            h = {"X-CSRF-Token": csrf}
            assert http.post("/api/windows/1/login", json={}, headers=h).status_code == 200
            with BlockingClient(cfg, "bench", (cfg.topic("event", "ticket.called"),)) as c:
                c.command("login", window="3", staff="S003")
                for _ in range(2 * n + 10):
                    c.command("issue", service="general")
                console_ms, mqtt_ms = [], []
                for i in range(n + 5):
                    seen = len(c.received)
                    t0 = time.perf_counter()
                    r = http.post("/api/windows/1/call", json={}, headers=h)
                    number = r.json()["result"]["ticket"]["number"]
                    c.wait_for(cfg.topic("event", "ticket.called"), lambda b, k=number: b["ticket"] == k, start=seen)
                    t1 = time.perf_counter()
                    seen = len(c.received)
                    t2 = time.perf_counter()
                    got = c.command("call", window="3")["ticket"]["number"]
                    c.wait_for(cfg.topic("event", "ticket.called"), lambda b, k=got: b["ticket"] == k, start=seen)
                    t3 = time.perf_counter()
                    if i >= 5:   # warm-up
                        console_ms.append((t1 - t0) * 1000)
                        mqtt_ms.append((t3 - t2) * 1000)
            pid = desk.console.proc.pid if desk.console.proc else 0
            idle_rss = rss_kb(pid)
            stop = threading.Event()
            opened = threading.Semaphore(0)

            def watcher() -> None:
                with httpx.Client(base_url=desk.url, timeout=None) as cl:
                    cl.post("/api/session", json={"staff": "S002", "password": "window-pass-2"})
                    try:
                        with cl.stream("GET", "/api/stream") as resp:
                            opened.release()
                            for _ in resp.iter_raw():
                                if stop.is_set():
                                    break
                    except httpx.HTTPError:   # the console stops under the open streams at the end
                        pass

            threads = [threading.Thread(target=watcher, daemon=True) for _ in range(60)]
            for t in threads:
                t.start()
            for _ in threads:
                opened.acquire(timeout=30)
            time.sleep(1.0)
            streams_rss = rss_kb(pid)
            stop.set()
        finally:
            desk.close()
            broker.stop()
    return {"when": datetime.now().astimezone().isoformat(timespec="seconds"), "calls": n,
            "console_call_to_event_ms": {"p50": pct(console_ms, 50), "p99": pct(console_ms, 99)},
            "mqtt_call_to_event_ms": {"p50": pct(mqtt_ms, 50), "p99": pct(mqtt_ms, 99)},
            "console_adds_p99_ms": pct(console_ms, 99) - pct(mqtt_ms, 99),
            "console_rss_mb": {"idle": idle_rss / 1024, "with_60_live_streams": streams_rss / 1024}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    res = run(ap.parse_args().n)
    out = REPO / "bench" / "results" / "console.json"
    out.write_text(json.dumps(res, indent=2))
    c, m = res["console_call_to_event_ms"], res["mqtt_call_to_event_ms"]
    print(f"window client call → ticket.called  p50 {c['p50']:.1f} ms  p99 {c['p99']:.1f} ms")
    print(f"MQTT call → ticket.called           p50 {m['p50']:.1f} ms  p99 {m['p99']:.1f} ms")
    rss = res["console_rss_mb"]
    print(f"the console adds {res['console_adds_p99_ms']:.1f} ms at p99; RSS idle {rss['idle']:.0f} MB, "
          f"with 60 live streams {rss['with_60_live_streams']:.0f} MB")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
