"""Benchmark (not a test) of the region (CONTRACT §7) on this machine: a private PostgreSQL 15 and the regional
mosquitto from `hallq region secure-init`, `hallq region ingest` as its own process.

- ingest: 50 simulated halls publish their events at once (one process, one MQTT connection per hall, QoS 1);
  sustained ingest rate (rows committed per second) beside the raw PostgreSQL COPY rate of the same rows into a
  table of the same shape, measured in the same run;
- the ceiling: the same messages received by paho alone (acknowledged, nothing else done), while the halls publish
  and from a queue the broker kept; and the ingest draining such a queue (no publisher competing for the cores);
- lag: end-to-end lag (hall publish -> row committed, from `at` to `ingested_at`) p50/p99 at 1,000 events/s;
- catch-up: a village station's week and a league centre's day offline, queued in the hall broker's bridge
  (events and state messages), then the link comes back: time until every event is a row;
- ranking: the monthly ranking query on 30 days x 50 halls of generated rollups and work orders.
Writes bench/results/region.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import paho.mqtt.client as paho  # noqa: E402
import psycopg  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from hallq.broker import Mosquitto, free_port  # noqa: E402
from hallq.config import parse_config  # noqa: E402
from hallq.config.region import load_region  # noqa: E402
from hallq.secure.bridge import bridge_section  # noqa: E402
from region.console import queries  # noqa: E402
from region.pgtest import Postgres  # noqa: E402

HALLS = 50
VILLAGE_WEEK = 2_100     # 7 days x ~45 tickets x ~6.5 events; as many state messages again
LEAGUE_DAY = 19_500      # ~3,000 tickets x ~6.5 events; as many state messages again


def hall_id(i: int) -> str:
    return f"h{i:03d}"


def events_for(hall: int, log: str, first_seq: int, n: int, at: datetime | None = None) -> list[dict[str, Any]]:
    """n events of a hall: tickets issued, called, finished and rated in turn (seq from first_seq)."""
    out = []
    kinds = ("ticket.issued", "ticket.called", "ticket.finished", "evaluation.recorded")
    day = (at or datetime.now(UTC)).astimezone().date().isoformat()
    for k in range(n):
        seq = first_seq + k
        t = f"A{(seq - 1) // 4 + 1:03d}"
        typ = kinds[(seq - 1) % 4]
        ev: dict[str, Any] = {"type": typ, "seq": seq, "at": (at or datetime.now(UTC)).astimezone().isoformat(),
                              "log": log, "ticket": t, "date": day, "service": "general", "window": str(seq % 8 + 1)}
        if typ == "ticket.issued":
            ev["priority"] = "normal"
        if typ == "ticket.called":
            ev.update(recall=0, staff=f"S{seq % 8 + 1:03d}")
        if typ == "evaluation.recorded":
            ev.update(level=5 if seq % 9 else 2, channel="evaluator")
        out.append(ev)
    return out


# -- the publisher (a child process: 50 halls, one connection each) -----------------------------------------------
RECEIVE_TOPIC = "bench"      # hallq/{hall}/state/bench/…: the paho-only receiver's copy (the ingest does not read it)


def publish_main(a: argparse.Namespace) -> int:
    creds = Path(a.creds)
    rate = a.rate / a.halls if a.rate else 0.0        # per hall, events/s (0: as fast as it goes)
    clients = []
    for i in range(a.halls):
        d = yaml.safe_load((creds / f"hall-{hall_id(i)}.yaml").read_text())
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{i}-{uuid.uuid4().hex[:6]}")
        c.username_pw_set(d["username"], d["password"])
        c.max_inflight_messages_set(200)
        c.max_queued_messages_set(0)
        c.connect("127.0.0.1", a.port)
        c.loop_start()
        clients.append(c)
    time.sleep(0.5)
    print("ready", flush=True)
    sys.stdin.readline()
    t0 = time.monotonic()

    def one(i: int) -> None:
        c = clients[i]
        last = None
        for k in range(a.per_hall):
            if rate:
                due = t0 + k / rate
                left = due - time.monotonic()
                if left > 0:
                    time.sleep(left)
            ev = events_for(i, a.log, a.first_seq + k, 1)[0]
            kind = f"state/{RECEIVE_TOPIC}" if a.to_receiver else "event"
            last = c.publish(f"hallq/{hall_id(i)}/{kind}/{ev['type']}", json.dumps(ev).encode(), qos=1)
        if last is not None:
            last.wait_for_publish(120)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(a.halls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"published": a.halls * a.per_hall, "s": round(time.monotonic() - t0, 3)}), flush=True)
    for c in clients:
        c.disconnect()
        c.loop_stop()
    return 0


# -- the paho-only receiver (a child process, like the ingest) ---------------------------------------------------
def receive_main(a: argparse.Namespace) -> int:
    """Receives a.count messages with the ingest's account and MQTT settings (persistent session, QoS 1, manual
    acknowledgement) and acknowledges each at once: what one ingest process cannot do faster, whatever it does
    with the messages. With --queued the session is made, left, and taken up again after the bench's "go" (the
    broker has queued the messages meanwhile)."""
    d = yaml.safe_load((Path(a.creds) / "ingest.yaml").read_text())
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-recv-{uuid.uuid4().hex[:8]}", clean_session=False,
                    protocol=paho.MQTTv311)
    c.username_pw_set(d["username"], d["password"])
    c.manual_ack_set(True)
    got, first, last, cpu0 = 0, 0.0, 0.0, 0.0
    done, subscribed = threading.Event(), threading.Event()

    def on_message(cl: paho.Client, _u: Any, m: paho.MQTTMessage) -> None:
        nonlocal got, first, last, cpu0
        cl.ack(m.mid, m.qos)
        last = time.monotonic()
        if not got:
            first, cpu0 = last, time.process_time()
        got += 1
        if got >= a.count:
            done.set()
    c.on_message = on_message
    c.on_connect = lambda cl, *_a: cl.subscribe(f"hallq/+/state/{RECEIVE_TOPIC}/#", 1)
    c.on_subscribe = lambda *_a: subscribed.set()
    c.connect("127.0.0.1", a.port)
    c.loop_start()
    assert subscribed.wait(10)
    if a.queued:
        c.disconnect()
        c.loop_stop()
    print("ready", flush=True)
    sys.stdin.readline()
    if a.queued:
        c.reconnect()
        c.loop_start()
    done.wait(600)
    cpu = time.process_time() - cpu0
    print(json.dumps({"received": got, "s": round(last - first, 3), "cpu_s": round(cpu, 3)}), flush=True)
    c.disconnect()
    c.loop_stop()
    return 0


# -- the bench ----------------------------------------------------------------------------------------------------
class Bench:
    def __init__(self, work: Path, shared: bool = False) -> None:
        self.work = work
        self.pg = Postgres().init().start()
        self.port = free_port()
        halls = [{"id": hall_id(i), "name": {"zh": f"大厅{i}"}, "level": "gacha"} for i in range(HALLS)]
        halls += [{"id": "village", "name": {"zh": "嘎查站"}, "level": "gacha"},
                  {"id": "centre", "name": {"zh": "盟中心"}, "level": "league"}]
        doc = {"region": {"id": "bench", "name": {"zh": "测试盟"}}, "mqtt": {"host": "127.0.0.1", "port": self.port},
               "postgres": self.pg.dsn, "halls": halls, "ingest": {"gap_wait_s": 30, "shared": shared}}
        self.ryaml = work / "REGION.yaml"
        self.ryaml.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        subprocess.run([sys.executable, "-m", "hallq", "region", "secure-init", "--config", str(self.ryaml), "--out",
                        str(work / "rb")], check=True, capture_output=True, cwd=REPO)
        self.broker = Mosquitto.from_conf(work / "rb" / "mosquitto.conf", self.port).start()
        self.ingest: subprocess.Popen[bytes] | None = None

    def start_ingest(self) -> None:
        log = open(self.work / "ingest.log", "ab")  # noqa: SIM115
        self.ingest = subprocess.Popen([sys.executable, "-m", "hallq", "region", "ingest", "--config", str(self.ryaml),
                                        "--credentials", str(self.work / "rb" / "credentials" / "ingest.yaml")],
                                       stdout=log, stderr=log, cwd=REPO, start_new_session=True)

    def stop_ingest(self) -> None:
        if self.ingest is not None and self.ingest.poll() is None:
            os.killpg(self.ingest.pid, signal.SIGTERM)
            self.ingest.wait(30)
        self.ingest = None

    def db(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.pg.dsn, autocommit=True)

    def rows(self, conn: psycopg.Connection[Any], where: str = "") -> int:
        try:
            return int(conn.execute(f"SELECT count(*) FROM hallq_events {where}").fetchone()[0])  # type: ignore[index]
        except psycopg.errors.UndefinedTable:
            return 0

    def wait_rows(self, conn: psycopg.Connection[Any], n: int, timeout_s: float, where: str = "") -> float:
        deadline = time.monotonic() + timeout_s
        while self.rows(conn, where) < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.rows(conn, where)} of {n} rows after {timeout_s:g} s")
            time.sleep(0.05)
        return time.monotonic()

    def publish(self, per_hall: int, first_seq: int, log: str, rate: float = 0.0,
                to_receiver: bool = False) -> subprocess.Popen[str]:
        p = subprocess.Popen([sys.executable, __file__, "--publish", "--port", str(self.port), "--creds",
                              str(self.work / "rb" / "credentials"), "--halls", str(HALLS), "--per-hall",
                              str(per_hall), "--first-seq", str(first_seq), "--log", log, "--rate", str(rate),
                              *(["--to-receiver"] if to_receiver else [])],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
                             start_new_session=True)
        assert p.stdout is not None and p.stdin is not None
        assert p.stdout.readline().strip() == "ready"
        return p

    def close(self) -> None:
        self.stop_ingest()
        self.broker.stop()
        self.pg.stop()


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def first_row(b: Bench, conn: psycopg.Connection[Any], before: int) -> tuple[float, float]:
    """When the first new row is seen, and the ingest's CPU seconds then."""
    assert b.ingest is not None
    while b.rows(conn) <= before:
        time.sleep(0.01)
    return time.monotonic(), cpu_s(b.ingest.pid)


def ingest_rate(b: Bench, per_hall: int) -> dict[str, Any]:
    """50 halls publish at once as fast as they can; rows committed per second, first row to last."""
    assert b.ingest is not None
    with b.db() as conn:
        before = b.rows(conn)
        p = b.publish(per_hall, 1, "bench-a")
        assert p.stdin is not None and p.stdout is not None
        p.stdin.write("go\n")
        p.stdin.flush()
        total = HALLS * per_hall
        t_first, cpu0 = first_row(b, conn, before)
        t_last = b.wait_rows(conn, before + total, 600)
        cpu1 = cpu_s(b.ingest.pid)
        pub = json.loads(p.stdout.readline())
        p.wait(30)
        span = conn.execute("SELECT extract(epoch FROM max(ingested_at) - min(ingested_at)) FROM hallq_events "
                            "WHERE log = 'bench-a'").fetchone()
        assert span is not None
        db_s = float(span[0])
    return {"halls": HALLS, "events": total, "publish_s": pub["s"], "publish_events_per_s": round(total / pub["s"]),
            "ingest_s": round(t_last - t_first, 2), "ingest_events_per_s": round(total / db_s),
            "ingest_events_per_s_wall": round(total / (t_last - t_first)),
            "ingest_cpu_us_per_event": round((cpu1 - cpu0) / total * 1e6, 1)}


def receive_rate(b: Bench, per_hall: int, queued: bool) -> dict[str, Any]:
    """The same messages (as many, same payloads, to a topic only the receiver reads) through paho alone: while the
    50 halls publish, or (queued) from the broker's queue once they are done."""
    total = HALLS * per_hall
    r = subprocess.Popen([sys.executable, __file__, "--receive", "--port", str(b.port), "--creds",
                          str(b.work / "rb" / "credentials"), "--count", str(total),
                          *(["--queued"] if queued else [])],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO, start_new_session=True)
    assert r.stdin is not None and r.stdout is not None
    assert r.stdout.readline().strip() == "ready"
    p = b.publish(per_hall, per_hall + 1, "bench-r", to_receiver=True)
    assert p.stdin is not None and p.stdout is not None
    if not queued:
        r.stdin.write("go\n")
        r.stdin.flush()
    p.stdin.write("go\n")
    p.stdin.flush()
    pub = json.loads(p.stdout.readline())
    p.wait(30)
    if queued:
        r.stdin.write("go\n")
        r.stdin.flush()
    got = json.loads(r.stdout.readline())
    r.wait(30)
    out = {"messages": got["received"], "s": got["s"], "messages_per_s": round(got["received"] / got["s"]),
           "cpu_us_per_message": round(got["cpu_s"] / got["received"] * 1e6, 1)}
    return out if queued else {**out, "publish_events_per_s": round(total / pub["s"])}


def ingest_queued(b: Bench, per_hall: int, first_seq: int) -> dict[str, Any]:
    """The ingest stopped while the 50 halls publish the next `per_hall` events each (its persistent session
    queues them in the broker), then started: rows committed per second, first row to last, with no publisher
    competing for the cores."""
    total = HALLS * per_hall
    b.stop_ingest()
    p = b.publish(per_hall, first_seq, "bench-a")
    assert p.stdin is not None and p.stdout is not None
    p.stdin.write("go\n")
    p.stdin.flush()
    json.loads(p.stdout.readline())
    p.wait(30)
    with b.db() as conn:
        before = b.rows(conn)
        b.start_ingest()
        assert b.ingest is not None
        _t, cpu0 = first_row(b, conn, before)
        b.wait_rows(conn, before + total, 600)
        cpu1 = cpu_s(b.ingest.pid)
        span = conn.execute("SELECT extract(epoch FROM max(ingested_at) - min(ingested_at)) FROM hallq_events "
                            "WHERE log = 'bench-a' AND seq >= %s", (first_seq,)).fetchone()
        assert span is not None
        db_s = float(span[0])
    return {"events": total, "ingest_s": round(db_s, 2), "ingest_events_per_s": round(total / db_s),
            "ingest_cpu_us_per_event": round((cpu1 - cpu0) / total * 1e6, 1)}


def copy_rate(b: Bench) -> dict[str, Any]:
    """The same rows COPYed straight into a table of hallq_events' shape (partitioned, same unique key)."""
    with b.db() as conn:
        rows = conn.execute("SELECT hall, log, seq, type, at, body::text FROM hallq_events WHERE log = 'bench-a'"
                            ).fetchall()     # (before the lag run adds to the log)
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute("CREATE TABLE bench_copy (LIKE hallq_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
                     "INCLUDING INDEXES) ")
        t0 = time.monotonic()
        with conn.transaction(), conn.cursor() as cur, cur.copy(
                "COPY bench_copy (hall, log, seq, type, at, body) FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)
        dt = time.monotonic() - t0
        conn.execute("DROP TABLE bench_copy")
    return {"rows": len(rows), "s": round(dt, 3), "rows_per_s": round(len(rows) / dt)}


def lag(b: Bench, seconds: float, rate: float, after: int) -> dict[str, Any]:
    """Each hall continues its log after seq `after` at rate / 50 events/s."""
    per_hall = int(seconds * rate / HALLS)
    with b.db() as conn:
        before = b.rows(conn)
        p = b.publish(per_hall, after + 1, "bench-a", rate)
        assert p.stdin is not None and p.stdout is not None
        p.stdin.write("go\n")
        p.stdin.flush()
        b.wait_rows(conn, before + per_hall * HALLS, seconds * 3 + 60)
        pub = json.loads(p.stdout.readline())
        p.wait(30)
        lags = sorted(float(r[0]) for r in conn.execute(
            "SELECT extract(epoch FROM ingested_at - at) FROM hallq_events WHERE log = 'bench-a' AND seq > %s",
            (after,)).fetchall())
    q = statistics.quantiles(lags, n=100)
    return {"target_events_per_s": rate, "achieved_events_per_s": round(per_hall * HALLS / pub["s"]),
            "events": len(lags), "p50_ms": round(q[49] * 1000, 1), "p99_ms": round(q[98] * 1000, 1),
            "max_ms": round(lags[-1] * 1000, 1)}


def catch_up(b: Bench, hall: str, n_events: int) -> dict[str, Any]:
    """A hall broker bridged to the region; the regional side unreachable while the hall publishes n events and
    as many state messages; then the link returns: seconds until every event is a row."""
    d = b.work / f"hb-{hall}"
    d.mkdir()
    port = free_port()
    raw = {"hall": {"id": hall, "name": {"zh": hall}}, "services": [{"id": "g", "prefix": "A", "name": {"zh": "g"}}],
           "windows": [{"id": "1", "services": ["g"]}],
           "region": {"host": "127.0.0.1", "port": b.port,
                      "credentials": str(b.work / "rb" / "credentials" / f"hall-{hall}.yaml")}}
    conf = d / "mosquitto.conf"
    conf.write_text("\n".join([f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence true",
                               f"persistence_location {d}/", "user root", f"log_dest file {d}/mosquitto.log"])
                    + "\n" + bridge_section(parse_config(raw), d), encoding="utf-8")
    hb = Mosquitto.from_conf(conf, port).start()
    try:
        b.broker.stop()                     # the link is down (the bridge cannot connect)
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-ctl-{hall}")
        c.max_inflight_messages_set(500)
        c.max_queued_messages_set(0)
        c.connect("127.0.0.1", port)
        c.loop_start()
        last = None
        at = datetime.now(UTC) - timedelta(days=7 if hall == "village" else 1)
        evs = events_for(0, f"bench-{hall}", 1, n_events, at)
        for ev in evs:
            c.publish(f"hallq/{hall}/event/{ev['type']}", json.dumps(ev).encode(), qos=1)
            last = c.publish(f"hallq/{hall}/state/queues", json.dumps({"at": ev["at"], "services": []}).encode(),
                             qos=1, retain=True)
        assert last is not None
        last.wait_for_publish(120)
        c.disconnect()
        c.loop_stop()
        t0 = time.monotonic()
        b.broker.start()
        with b.db() as conn:
            t1 = b.wait_rows(conn, n_events, 900, f"WHERE hall = '{hall}'")
    finally:
        hb.stop()
    return {"events": n_events, "messages_queued": 2 * n_events, "catch_up_s": round(t1 - t0, 2),
            "events_per_s": round(n_events / (t1 - t0))}


def ranking(b: Bench, days: int = 30) -> dict[str, Any]:
    cfg = load_region(b.ryaml)
    first = date(2026, 10, 1)
    with b.db() as conn:
        rollups = []
        for i in range(HALLS):
            for d in range(days):
                day = first + timedelta(days=d)
                rollups.append((hall_id(i), day, "hall", "", 300, 280, 20, 250, 240, 10, 250, 250 * 400.0, 3600.0))
                for dim, n in (("service", 6), ("window", 12), ("staff", 24)):
                    for k in range(n):
                        rollups.append((hall_id(i), day, dim, f"{dim}{k}", 25, 23, 2, 20, 19, 1, 20, 8000.0, 1800.0))
        with conn.cursor() as cur, cur.copy("COPY hallq_rollup_day (hall, day, dim, key, issued, served, no_show, "
                                            "rated, good, bad, wait_n, wait_sum, wait_max) FROM STDIN") as cp:
            for r in rollups:
                cp.write_row(r)
        orders = [(hall_id(i), f"WO-{d}-{k}", f"A{k:03d}", first + timedelta(days=d), "1", "S001", None, "g", 1,
                   datetime(2026, 10, 1, tzinfo=UTC) + timedelta(days=d), first + timedelta(days=d + 5),
                   "fed_back" if k % 3 else "pending", datetime(2026, 10, 1, tzinfo=UTC) + timedelta(days=d + 2),
                   None, "[]") for i in range(HALLS) for d in range(days) for k in range(10)]
        with conn.cursor() as cur, cur.copy("COPY hallq_workorders (hall, id, ticket, day, \"window\", staff, unit, "
                                            "service, level, opened_at, deadline, state, fed_back_at, forwarded, "
                                            "history) FROM STDIN") as cp:
            for o in orders:
                cp.write_row(o)
        conn.execute("ANALYZE")
        times = []
        for _ in range(7):
            t0 = time.monotonic()
            ranked = queries.ranking(conn, cfg, first)
            times.append(time.monotonic() - t0)
        assert len(ranked) == len(cfg.halls)
    return {"days": days, "halls": HALLS, "rollup_rows": len(rollups), "work_orders": len(orders),
            "query_ms_median": round(statistics.median(times) * 1000, 1),
            "query_ms_max": round(max(times) * 1000, 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--publish", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--receive", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--to-receiver", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--queued", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int)
    p.add_argument("--creds")
    p.add_argument("--halls", type=int, default=HALLS)
    p.add_argument("--per-hall", type=int, default=600)
    p.add_argument("--first-seq", type=int, default=1)
    p.add_argument("--log", default="bench")
    p.add_argument("--rate", type=float, default=0.0)
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "region.json"))
    p.add_argument("--shared", action="store_true", help="the ingest in a shared subscription (ingest.shared)")
    p.add_argument("--only-ingest", action="store_true",
                   help="only the ingest rates, the COPY rate and the paho-only receive rates (nothing written)")
    a = p.parse_args()
    if a.publish:
        return publish_main(a)
    if a.receive:
        return receive_main(a)
    import tempfile
    work = Path(tempfile.mkdtemp(prefix="hallq-bench-region-"))
    b = Bench(work, a.shared)
    try:
        b.start_ingest()
        time.sleep(2.0)
        res: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}, "when": datetime.now(UTC).isoformat(),
                               "ingest_shared_subscription": a.shared}
        res["ingest"] = ingest_rate(b, a.per_hall)
        res["copy"] = copy_rate(b)
        res["ingest"]["vs_copy"] = round(res["ingest"]["ingest_events_per_s"] / res["copy"]["rows_per_s"], 3)
        res["paho_receive"] = {"live": receive_rate(b, a.per_hall, queued=False),
                               "queued": receive_rate(b, a.per_hall, queued=True)}
        res["ingest_queued"] = ingest_queued(b, a.per_hall, a.per_hall + 1)
        res["ingest_queued"]["vs_copy"] = round(res["ingest_queued"]["ingest_events_per_s"]
                                                / res["copy"]["rows_per_s"], 3)
        res["ingest_queued"]["vs_paho_queued"] = round(res["ingest_queued"]["ingest_events_per_s"]
                                                       / res["paho_receive"]["queued"]["messages_per_s"], 3)
        print(json.dumps(res, indent=1), flush=True)
        if a.only_ingest:
            return 0
        res["lag"] = lag(b, 20.0, 1000.0, 2 * a.per_hall)
        print(json.dumps(res["lag"]), flush=True)
        res["catch_up"] = {"village_week": catch_up(b, "village", VILLAGE_WEEK),
                           "league_day": catch_up(b, "centre", LEAGUE_DAY)}
        print(json.dumps(res["catch_up"]), flush=True)
        res["ranking"] = ranking(b)
    finally:
        b.close()
    Path(a.out).write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(res, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
