"""The region end to end (issue 15): two simulated halls bridged to a secure regional broker, the regional broker
restarted (both links cut) mid-day, the ingest kill -9'd mid-day; afterwards every event of both halls is in
`hallq_events` exactly once, in seq order without gaps, equal to the hall's log, and the rollups equal
`hallq report` of each hall for that day."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from regionkit import HALLQ, ROOT, Proc, region_yaml

from controller.store import EventStore
from hallq.broker import Mosquitto, free_port
from region.pgtest import Postgres

SCENARIO = str(ROOT / "config" / "scenarios" / "village.yaml")
HALLS = {"gacha-a": 3, "gacha-b": 11}     # hall -> seed
SHARED = {"gacha-c": 5, "gacha-d": 7}     # the halls of the shared-subscription test


def _wait(pred: Any, timeout_s: float, what: str, every_s: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(every_s)


def _hall_events(data: Path) -> list[dict[str, Any]]:
    from controller.engine import public_event
    store = EventStore(data).open()
    try:
        return [public_event(ev) for ev in store.events(after=0)]
    finally:
        store.close()


@pytest.fixture(scope="module")
def region(pg: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("region")
    rport = free_port()
    ryaml = region_yaml(work / "REGION.yaml", pg, rport, [*HALLS, *SHARED], ingest={"gap_wait_s": 0.5})
    out = subprocess.run([*HALLQ, "region", "secure-init", "--config", str(ryaml), "--out", str(work / "rb")],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    rbroker = Mosquitto.from_conf(work / "rb" / "mosquitto.conf", rport).start()
    procs: list[Proc] = []
    try:
        yield work, ryaml, rbroker, procs
    finally:
        for p in procs:
            p.stop()
        rbroker.stop()


def _ingest(work: Path, ryaml: Path, n: int, name: str = "1") -> Proc:
    return Proc([*HALLQ, "region", "ingest", "--config", str(ryaml), "--name", name, "--credentials",
                 str(work / "rb" / "credentials" / "ingest.yaml")], work / f"ingest-{n}.log")


def _sims(work: Path, rport: int, halls: dict[str, int], procs: list[Proc]) -> dict[str, Proc]:
    sims = {}
    for h, seed in halls.items():
        sims[h] = Proc([sys.executable, "-m", "region.simhall", "--scenario", SCENARIO, "--hall", h,
                        "--region", f"127.0.0.1:{rport}", "--credentials",
                        str(work / "rb" / "credentials" / f"hall-{h}.yaml"), "--workdir", str(work / f"{h}-sim"),
                        "--seed", str(seed), "--speed", "2500"], work / f"{h}-sim.log", stdout=True)
        procs.append(sims[h])
    return sims


def _check_hall(db: psycopg.Connection[Any], h: str, data: Path, done: dict[str, Any], work: Path) -> None:
    evs = _hall_events(data)
    assert len(evs) == done["head_seq"] > 100
    got = db.execute("SELECT log, seq, type, at, body FROM hallq_events WHERE hall = %s ORDER BY seq",
                     (h,)).fetchall()
    # exactly once, in seq order, no gap, equal (as JSON) to what the hall logged and published
    assert [r[1] for r in got] == list(range(1, len(evs) + 1))
    assert [r[4] for r in got] == evs
    assert all(r[0] == ev["log"] and r[2] == ev["type"] for r, ev in zip(got, evs, strict=True))
    assert db.execute("SELECT count(*) FROM hallq_gaps WHERE hall = %s", (h,)).fetchone() == (0,)
    _compare_rollups(db, h, data, done["date"], work)


def _caught_up(db: psycopg.Connection[Any], h: str, head: int) -> bool:
    r = db.execute("SELECT seq FROM hallq_ingest_state WHERE hall = %s", (h,)).fetchone()
    return r is not None and int(r[0]) >= head


def test_two_halls_cut_link_killed_ingest_exactly_once(region: Any, pg: Postgres) -> None:
    work, ryaml, rbroker, procs = region
    sims = _sims(work, rbroker.port, HALLS, procs)
    data = {h: Path(json.loads(sims[h].line(60))["data"]) for h in HALLS}
    # the ingest starts after the halls: what crossed the bridges before its session existed is a gap to fill
    time.sleep(1.0)
    ingest = _ingest(work, ryaml, 1)
    procs.append(ingest)
    with psycopg.connect(pg.dsn, autocommit=True) as db:
        def rows() -> int:
            try:
                return int(db.execute("SELECT count(*) FROM hallq_events").fetchone()[0])  # type: ignore[index]
            except psycopg.errors.UndefinedTable:
                return 0
        n0 = _wait(rows, 60, "the first rows in hallq_events")
        # both links cut: the regional broker goes away and comes back (the bridges queue meanwhile)
        rbroker.stop()
        time.sleep(2.0)
        rbroker.start()
        _wait(lambda: rows() > n0, 60, "rows after the regional broker came back")
        # the ingest dies without a word, mid-flow, and starts again on the same persistent session
        ingest.kill9()
        time.sleep(1.0)
        ingest2 = _ingest(work, ryaml, 2)
        procs.append(ingest2)
        done = {h: json.loads(sims[h].line(240)) for h in HALLS}
        assert all(d["state"] == "done" for d in done.values()), done
        for h in HALLS:
            _wait(lambda h=h: _caught_up(db, h, done[h]["head_seq"]), 90, f"the ingest's position of {h}")
        for h in HALLS:
            _check_hall(db, h, data[h], done[h], work)
    ingest2.stop()
    logs = "".join((work / f"ingest-{n}.log").read_text() for n in (1, 2))
    assert "asking for the events after seq" in logs       # the gap filler did run
    assert "Traceback" not in logs


def test_two_ingest_processes_share_the_halls(region: Any, pg: Postgres) -> None:
    """Two ingest processes in one MQTT shared subscription: each takes a part of every hall's events; together
    they write each event once and project each hall in seq order (the hall's position row is locked)."""
    work, ryaml, rbroker, procs = region
    ingests = [_ingest(work, ryaml, 10 + i, name) for i, name in enumerate(("p", "q"))]
    procs += ingests
    time.sleep(1.5)
    sims = _sims(work, rbroker.port, SHARED, procs)
    data = {h: Path(json.loads(sims[h].line(60))["data"]) for h in SHARED}
    done = {h: json.loads(sims[h].line(240)) for h in SHARED}
    with psycopg.connect(pg.dsn, autocommit=True) as db:
        for h in SHARED:
            _wait(lambda h=h: _caught_up(db, h, done[h]["head_seq"]), 90, f"the ingest's position of {h}")
        for h in SHARED:
            _check_hall(db, h, data[h], done[h], work)
    for p in ingests:
        p.stop()
    stats = [(work / f"ingest-{10 + i}.log").read_text() for i in range(2)]
    rows = [int(re.search(r"stopped \((\d+) events", t).group(1)) for t in stats]  # type: ignore[union-attr]
    assert all(n > 50 for n in rows), rows        # both took a real share


def _compare_rollups(db: psycopg.Connection[Any], hall: str, data: Path, day: str, work: Path) -> None:
    out = work / f"{hall}-report.json"
    r = subprocess.run([*HALLQ, "report", "--data", str(data), "--date", day, "--format", "json", "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    rep = json.loads(out.read_text(encoding="utf-8"))
    rows = {(dim, key): dict(zip(("issued", "served", "no_show", "rated", "good", "bad", "rated_served", "wait_n",
                                  "wait_sum", "wait_max", "wait_p90", "alerts_raised", "alerts_acknowledged",
                                  "held", "cancelled"), vals, strict=True))
            for dim, key, *vals in db.execute(
                "SELECT dim, key, issued, served, no_show, rated, good, bad, rated_served, wait_n, wait_sum, "
                "wait_max, wait_p90, alerts_raised, alerts_acknowledged, held, cancelled FROM hallq_rollup_day "
                "WHERE hall = %s AND day = %s", (hall, day)).fetchall()}
    total = rows[("hall", "")]
    assert {k: total[k] for k in ("issued", "served", "no_show")} == \
        {k: rep["tickets"][k] for k in ("issued", "served", "no_show")}
    ev = rep["evaluations"]
    assert (total["rated"], total["good"], total["bad"], total["served"] - total["rated_served"]) == \
        (ev["rated"], ev["good"], ev["bad"], ev["unrated"])
    assert round(total["good"] / total["rated"], 4) == ev["good_rate"]
    assert abs(round(total["wait_sum"] / total["wait_n"], 1) - rep["wait_s"]["mean"]) <= 0.05
    assert round(total["wait_max"], 1) == rep["wait_s"]["max"]
    assert round(total["wait_p90"], 1) == rep["wait_s"]["p90"]
    assert (total["alerts_raised"], total["alerts_acknowledged"]) == \
        (rep["alerts"]["raised"], rep["alerts"]["acknowledged"])
    assert rep["alerts"]["raised"] > 0
    for dim in ("service", "window", "staff"):
        want = rep[f"by_{dim}"]
        have = {k: v for (d, k), v in rows.items() if d == dim}
        assert set(have) == set(want), dim
        for k, g in want.items():
            h = have[k]
            assert (h["issued"], h["served"], h["no_show"], h["rated"], h["good"], h["bad"]) == \
                (g["issued"], g["served"], g["no_show"], g["rated"], g["good"], g["bad"]), (dim, k)
            assert h["served"] - h["rated_served"] == g["unrated"], (dim, k)



