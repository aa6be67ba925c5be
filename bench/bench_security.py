"""Benchmark (not a test): what a locked hall costs, and what a flood of bad messages costs, in one run.

Round trips of `issue` (kiosk) and `call` (bridge) against the real controller and mosquitto in an open hall,
a secure hall (generated broker config, principals, authorization) without and with TLS; then the secure
hall's round trips while one principal floods the controller with 100 bad messages a second (60 kB nested
arrays, lone surrogates, non-JSON, wrong types). Writes bench/results/security.json.

Usage: python bench/bench_security.py [--n 300]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import pct  # noqa: E402
from hallq.broker import Mosquitto, free_port  # noqa: E402
from hallq.config import load_config  # noqa: E402
from hallq.mqtt import BlockingClient  # noqa: E402
from hallq.secure import generate  # noqa: E402
from tests.conftest import small_hall  # noqa: E402
from tests.secure_hall import secure_config  # noqa: E402

POISON = [b"[" * 30000 + b"]" * 30000, b'{"id": "p", "reply_to": "x", "service": "\\ud800"}', b"not json",
          b'{"id": 5, "reply_to": [1], "service": {"a": 1}}', b"", b'{"id": "q", "reply_to": "a\\tb"}']


def _round_trips(issuer: BlockingClient, caller: BlockingClient, n: int) -> dict[str, Any]:
    issue, call = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        issuer.command("issue", service="general")
        t1 = time.perf_counter()
        caller.command("call", window="1")
        t2 = time.perf_counter()
        issue.append((t1 - t0) * 1000)
        call.append((t2 - t1) * 1000)
    both = issue + call
    return {"issue_ms": {"p50": pct(issue, 50), "p99": pct(issue, 99)},
            "call_ms": {"p50": pct(call, 50), "p99": pct(call, 99)},
            "all_ms": {"p50": pct(both, 50), "p99": pct(both, 99)}}


def _hall(d: Path, mode: str) -> tuple[Path, Any, Mosquitto]:
    d.mkdir(parents=True)
    port = free_port()
    base = small_hall(port)
    base["devices"] = {"buses": [{"id": "bus1", "port": "loop://", "devices": [
        {"address": 1, "kind": "evaluator", "window": "1"}]}]}
    if mode == "open":
        raw = base
        broker = Mosquitto(port=port, workdir=d / "broker").start()
    else:
        raw = secure_config(base, port=port, tls=(mode == "secure+tls"))
        raw["security"]["device_login"] = "id"
    raw["data_dir"] = str(d / "data")
    path = d / "hall.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    cfg = load_config(path)
    if mode == "open":
        return path, (lambda p: cfg, None), broker
    layout = generate(cfg, d / "secure")
    broker = Mosquitto.from_conf(layout.conf, port).start()
    return path, (lambda p: cfg.with_credentials(str(layout.credentials(p))), layout), broker


def run_mode(d: Path, mode: str, n: int, flood: bool = False) -> dict[str, Any]:
    path, (cfg_for, layout), broker = _hall(d, mode)
    extra = [] if layout is None else ["--credentials", str(layout.credentials("controller"))]
    proc = subprocess.Popen([sys.executable, "-m", "hallq", "controller", "--config", str(path), *extra],
                            cwd=REPO, stderr=open(d / "controller.log", "wb"))  # noqa: SIM115
    stop = threading.Event()
    sent = [0]
    try:
        cfg = cfg_for("kiosk-1")
        status = cfg.topic("controller", "status")
        with BlockingClient(cfg_for("kiosk-1"), "k", (status,)) as kiosk, \
                BlockingClient(cfg_for("bridge-1"), "b") as bridge:
            kiosk.wait_for(status, lambda b: b["state"] == "online", timeout_s=30)
            bridge.command("login", window="1", staff="S001")
            _round_trips(kiosk, bridge, 20)     # warm up
            if flood:
                def flooder() -> None:
                    with BlockingClient(cfg_for("display-1"), "flood") as f:
                        i = 0
                        while not stop.is_set():
                            f._client.publish(f.topics.cmd("issue"), POISON[i % len(POISON)], qos=1)
                            i += 1
                            sent[0] = i
                            time.sleep(0.01)
                th = threading.Thread(target=flooder, daemon=True)
                th.start()
                time.sleep(1.0)
            t0 = time.perf_counter()
            res = _round_trips(kiosk, bridge, n)
            elapsed = time.perf_counter() - t0
            stop.set()
    finally:
        stop.set()
        proc.terminate()
        proc.wait(15)
        broker.stop()
    if flood:
        res["flood_messages"] = sent[0]
        res["flood_rate_per_s"] = sent[0] / (elapsed + 1.0)
    res["controller_alive_after"] = proc.returncode == 0
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hallq-bench-sec-") as tmp:
        d = Path(tmp)
        res: dict[str, Any] = {"when": datetime.now().astimezone().isoformat(timespec="seconds"), "n": a.n}
        for mode in ("open", "secure", "secure+tls"):
            res[mode] = run_mode(d / mode, mode, a.n)
        res["secure+flood"] = run_mode(d / "flood", "secure", a.n, flood=True)
    o99 = res["open"]["all_ms"]["p99"]
    res["ratio_p99_secure_to_open"] = res["secure"]["all_ms"]["p99"] / o99
    res["ratio_p99_tls_to_open"] = res["secure+tls"]["all_ms"]["p99"] / o99
    res["ratio_p99_flood_to_quiet"] = res["secure+flood"]["all_ms"]["p99"] / res["secure"]["all_ms"]["p99"]
    out = REPO / "bench" / "results" / "security.json"
    out.write_text(json.dumps(res, indent=2))
    for mode in ("open", "secure", "secure+tls", "secure+flood"):
        r = res[mode]
        print(f"{mode:13s} issue p50 {r['issue_ms']['p50']:.2f} p99 {r['issue_ms']['p99']:.2f} ms   "
              f"call p50 {r['call_ms']['p50']:.2f} p99 {r['call_ms']['p99']:.2f} ms")
    print(f"p99 secure/open {res['ratio_p99_secure_to_open']:.2f}  tls/open {res['ratio_p99_tls_to_open']:.2f}  "
          f"flood/quiet {res['ratio_p99_flood_to_quiet']:.2f} ({res['secure+flood']['flood_rate_per_s']:.0f} bad "
          "messages/s)")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
