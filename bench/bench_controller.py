"""Benchmark (not a test): durable commands per second and MQTT round trips of the controller,
beside the raw SQLite append+fsync rate measured in the same run on the same disk.

Writes bench/results/controller.json and prints a table. Usage: python bench/bench_controller.py [--n 300]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import pct  # noqa: E402
from controller.engine import Engine  # noqa: E402
from controller.store import EventStore, StoredCommand  # noqa: E402
from hallq.api import dumps  # noqa: E402
from hallq.broker import Mosquitto  # noqa: E402
from hallq.config import parse_config  # noqa: E402
from hallq.mqtt import BlockingClient, make_client  # noqa: E402
from tests.conftest import small_hall  # noqa: E402


def raw_sqlite_rate(d: Path, n: int) -> float:
    db = sqlite3.connect(d / "raw.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, body TEXT)")
    t0 = time.perf_counter()
    for i in range(n):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t(body) VALUES (?)", (json.dumps({"i": i, "pad": "x" * 200}),))
        db.execute("COMMIT")
    return n / (time.perf_counter() - t0)


def store_rate(d: Path, n: int) -> float:
    cfg = parse_config(small_hall())
    eng, store = Engine(cfg), EventStore(d / "store").open()
    now = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    t0 = time.perf_counter()
    for i in range(n):
        out = eng.handle("issue", {"service": "general"}, now + timedelta(milliseconds=i))
        store.append([(out.events, StoredCommand(f"b{i}", "issue", out.reply))])
    rate = n / (time.perf_counter() - t0)
    store.close()
    return rate


def citizen_data_cost(n: int) -> dict[str, Any]:
    """The engine's cost of a citizen's data on `issue` (holder hash and sealed identity bound to the day key,
    controller/retention.py) beside a plain `issue`, and of purging one day of n such tickets."""
    from controller.authz import CredentialCheck, Sender
    from hallq.sealed import new_private_key_pem, seal

    cfg = parse_config(small_hall(evaluation={"identity_keep_days": 30}))
    start = datetime(2026, 8, 3, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    identity = seal(new_private_key_pem()[1], {"name": "其木格", "idn": "150102195001011234", "iss": "mengsuban"})
    per: dict[str, float] = {}
    for kind in ("plain", "citizen"):
        eng = Engine(cfg, b"s" * 32)
        t0 = time.perf_counter()
        for i in range(n):
            who = Sender(credential=CredentialCheck(True, "", holder=f"msb:{i:024x}", rater=identity)) \
                if kind == "citizen" else None
            eng.handle("issue", {"service": "general"}, start + timedelta(milliseconds=i), who)
        per[kind] = (time.perf_counter() - t0) / n * 1e6
    later = start + timedelta(days=31)
    t0 = time.perf_counter()
    purged = eng.purge_due(later, eng.keys.days())
    purge_ms = (time.perf_counter() - t0) * 1000
    assert len(purged) == 1 and purged[0]["identities"] == n
    return {"issue_plain_us": round(per["plain"], 1), "issue_citizen_us": round(per["citizen"], 1),
            "ratio_citizen_to_plain": round(per["citizen"] / per["plain"], 2), "purge_day_tickets": n,
            "purge_day_ms": round(purge_ms, 1)}


def pipelined(cfg: Any, n: int) -> float:
    """Publish n `issue` commands back to back (QoS 1) and wait for every reply: commands per second."""
    got = threading.Semaphore(0)
    ready = threading.Event()
    c = make_client(cfg, f"bench-pipe-{os.getpid()}", True)
    reply = cfg.topic("reply", f"pipe-{os.getpid()}")
    c.on_connect = lambda cl, *_a: cl.subscribe(reply, 1)
    c.on_subscribe = lambda *_a: ready.set()
    c.on_message = lambda *_a: got.release()
    c.connect(cfg.mqtt.host, cfg.mqtt.port)
    c.loop_start()
    try:
        if not ready.wait(10):
            raise RuntimeError("bench client did not subscribe")
        t0 = time.perf_counter()
        for i in range(n):
            c.publish(cfg.topic("cmd", "issue"), dumps({"id": f"pipe-{i}", "reply_to": reply, "service": "tax"}), qos=1)
        for _ in range(n):
            if not got.acquire(timeout=60):
                raise RuntimeError("replies missing")
        return n / (time.perf_counter() - t0)
    finally:
        c.disconnect()
        c.loop_stop()


def mqtt_bench(d: Path, n: int) -> dict[str, Any]:
    broker = Mosquitto(workdir=d / "broker").start()
    raw = small_hall(broker.port)
    (d / "hall.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True))
    cfg = parse_config(raw)
    proc = subprocess.Popen([sys.executable, "-m", "hallq", "controller", "--config", str(d / "hall.yaml"),
                             "--data", str(d / "data")], cwd=REPO, stderr=subprocess.DEVNULL)
    try:
        with BlockingClient(cfg, "bench", (cfg.topic("controller", "status"),)) as c:
            c.wait_for(cfg.topic("controller", "status"), lambda b: b["state"] == "online", timeout_s=30)
            c.command("login", window="1", staff="S001")
            issue, call = [], []
            for _ in range(n):
                t0 = time.perf_counter()
                c.command("issue", service="general")
                t1 = time.perf_counter()
                c.command("call", window="1")
                t2 = time.perf_counter()
                issue.append((t1 - t0) * 1000)
                call.append((t2 - t1) * 1000)
            # throughput: commands in flight at once (group commit), published back to back by one pipelining
            # client so that the client's own threads are not what is measured
            burst = n * 3
            burst_rate = pipelined(cfg, burst)
    finally:
        proc.terminate()
        proc.wait(10)
        broker.stop()
    return {"issue_ms": {"p50": pct(issue, 50), "p99": pct(issue, 99), "mean": statistics.mean(issue)},
            "call_ms": {"p50": pct(call, 50), "p99": pct(call, 99), "mean": statistics.mean(call)},
            "sequential_commands_per_s": 2 * n / ((sum(issue) + sum(call)) / 1000),
            "concurrent_commands_per_s": burst_rate, "round_trips": n, "burst": burst}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hallq-bench-") as tmp:
        d = Path(tmp)
        raw = raw_sqlite_rate(d, a.n)
        store = store_rate(d, a.n)
        mq = mqtt_bench(d, a.n)
    citizen = citizen_data_cost(500)
    res = {"when": datetime.now().astimezone().isoformat(timespec="seconds"),
           "raw_sqlite_append_fsync_per_s": raw, "event_store_commands_per_s": store, **mq,
           "ratio_sequential_to_raw": mq["sequential_commands_per_s"] / raw,
           "ratio_concurrent_to_raw": mq["concurrent_commands_per_s"] / raw, "citizen_data": citizen}
    out = REPO / "bench" / "results" / "controller.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"raw SQLite append+fsync          {raw:8.0f} /s")
    print(f"event store (engine+hash+fsync)  {store:8.0f} /s")
    print(f"MQTT issue round trip            p50 {mq['issue_ms']['p50']:.1f} ms  p99 {mq['issue_ms']['p99']:.1f} ms")
    print(f"MQTT call round trip             p50 {mq['call_ms']['p50']:.1f} ms  p99 {mq['call_ms']['p99']:.1f} ms")
    print(f"sequential durable commands      {mq['sequential_commands_per_s']:8.0f} /s "
          f"({res['ratio_sequential_to_raw']:.2f} × raw)")
    print(f"concurrent durable commands      {mq['concurrent_commands_per_s']:8.0f} /s "
          f"({res['ratio_concurrent_to_raw']:.2f} × raw, group commit)")
    print(f"engine issue, plain / with a citizen's data  {citizen['issue_plain_us']:.0f} / "
          f"{citizen['issue_citizen_us']:.0f} µs ({citizen['ratio_citizen_to_plain']:.2f} ×); purging a day of "
          f"{citizen['purge_day_tickets']} such tickets {citizen['purge_day_ms']:.0f} ms")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
