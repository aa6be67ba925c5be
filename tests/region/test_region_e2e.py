"""The region end to end (issue 15): two simulated halls bridged to a secure regional broker, the regional broker
restarted (both links cut) mid-day, the ingest kill -9'd mid-day; afterwards every event of both halls is in
`hallq_events` exactly once, in seq order without gaps, equal to the hall's log, and the rollups equal
`hallq report` of each hall for that day. One PostgreSQL and regional broker per module; each test asks the
module-scoped fixtures for the simulated days it needs (each day is run once), so any test runs alone.
Screenshots of the league console go to docs/img with HALLQ_SCREENSHOTS=1."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import psycopg
import pytest
import yaml
from regionkit import HALLQ, ROOT, Proc, region_yaml

from controller.store import EventStore
from hallq.broker import Mosquitto, free_port
from region.pgtest import Postgres

SCENARIO = str(ROOT / "config" / "scenarios" / "village.yaml")
HALLS = {"gacha-a": 3, "gacha-b": 11}     # hall -> seed
MODES = {"shared": ({"gacha-c": 5, "gacha-d": 7}, [["--shared", "--name", "p"], ["--shared", "--name", "q"]]),
         "part": ({"gacha-e": 13, "gacha-f": 17}, [["--part", "0/2"], ["--part", "1/2"]])}
SHARED = {h: seed for halls, _argv in MODES.values() for h, seed in halls.items()}


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
    ryaml = region_yaml(work / "REGION.yaml", pg, rport, [*HALLS, *SHARED], ingest={"gap_wait_s": 0.5},
                        staff=[{"id": "L001", "name": "督查科", "roles": ["supervisor"]},
                               {"id": "V001", "name": "查看", "roles": ["viewer"]}],
                        data_dir=str(work / "league"))
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


def _ingest(work: Path, ryaml: Path, n: int, argv: list[str] | None = None) -> Proc:
    return Proc([*HALLQ, "region", "ingest", "--config", str(ryaml), *(argv or []), "--credentials",
                 str(work / "rb" / "credentials" / "ingest.yaml")], work / f"ingest-{n}.log")


def _sims(work: Path, rport: int, halls: dict[str, int], procs: list[Proc]) -> dict[str, Proc]:
    sims = {}
    for h, seed in halls.items():
        sims[h] = Proc([sys.executable, "-m", "simulation.regionhalls", "--scenario", SCENARIO, "--hall", h,
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
    r = db.execute("SELECT seq, EXISTS (SELECT 1 FROM hallq_rollup_dirty WHERE hall = %s) FROM hallq_ingest_state "
                   "WHERE hall = %s", (h, h)).fetchone()
    return r is not None and int(r[0]) >= head and not r[1]      # and its rollups recomputed


@dataclass(frozen=True)
class Day:
    """Simulated halls' day as the region took it in: each hall's data folder and its simulator's `done` line
    (date, head_seq), and the logs of the ingest processes (read after they stopped)."""

    data: dict[str, Path]
    done: dict[str, dict[str, Any]]
    logs: list[str]


@pytest.fixture(scope="module")
def cut_day(region: Any, pg: Postgres) -> Day:
    """HALLS through a day in which both links are cut (the regional broker restarted), the ingest is kill -9'd
    and PostgreSQL crashes; ready once the ingest has caught up with both halls and has stopped."""
    work, ryaml, rbroker, procs = region
    sims = _sims(work, rbroker.port, HALLS, procs)
    data = {h: Path(json.loads(sims[h].line(60))["data"]) for h in HALLS}
    # gacha-a's audit key is pinned in REGION.yaml (its checkpoints get verified = true), gacha-b's is not
    doc = yaml.safe_load(ryaml.read_text(encoding="utf-8"))
    doc["halls"][0]["public_key"] = (work / "gacha-a-sim" / "audit-signing.key.pub").read_text().strip()
    ryaml.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    # the ingest starts after the halls: what crossed the bridges before its session existed is a gap to fill
    time.sleep(1.0)
    ingest = _ingest(work, ryaml, 1)
    procs.append(ingest)
    db = psycopg.connect(pg.dsn, autocommit=True)
    try:
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
        n1 = _wait(lambda: rows() > n0 and rows(), 60, "rows from the second ingest")
        # PostgreSQL crashes (kill -9 of its process group) and recovers: the ingest keeps its batch unacknowledged
        db.close()
        pg.kill()
        time.sleep(1.5)
        pg.start()
        db = psycopg.connect(pg.dsn, autocommit=True)
        _wait(lambda: rows() > n1, 60, "rows after PostgreSQL came back")
        done = {h: json.loads(sims[h].line(240)) for h in HALLS}
        assert all(d["state"] == "done" for d in done.values()), done
        for h in HALLS:
            _wait(lambda h=h: _caught_up(db, h, done[h]["head_seq"]), 90, f"the ingest's position of {h}")
    finally:
        db.close()
    ingest2.stop()
    return Day(data, done, [(work / f"ingest-{n}.log").read_text() for n in (1, 2)])


@pytest.fixture(scope="module")
def shared_days(region: Any, pg: Postgres) -> Callable[[str], Day]:
    """The day of MODES[mode]'s halls taken in by its two ingest processes at once, run on the first ask only."""
    days: dict[str, Day] = {}

    def day(mode: str) -> Day:
        if mode not in days:
            days[mode] = _shared_day(region, pg, mode)
        return days[mode]
    return day


def _shared_day(region: Any, pg: Postgres, mode: str) -> Day:
    work, ryaml, rbroker, procs = region
    halls, argvs = MODES[mode]
    base = 10 if mode == "shared" else 20
    ingests = [_ingest(work, ryaml, base + i, argv) for i, argv in enumerate(argvs)]
    procs += ingests
    time.sleep(1.5)
    sims = _sims(work, rbroker.port, halls, procs)
    data = {h: Path(json.loads(sims[h].line(60))["data"]) for h in halls}
    done = {h: json.loads(sims[h].line(240)) for h in halls}
    with psycopg.connect(pg.dsn, autocommit=True) as db:
        for h in halls:
            _wait(lambda h=h: _caught_up(db, h, done[h]["head_seq"]), 90, f"the ingest's position of {h}")
    for p in ingests:
        p.stop()
    return Day(data, done, [(work / f"ingest-{base + i}.log").read_text() for i in range(len(argvs))])


def test_two_halls_cut_link_killed_ingest_exactly_once(region: Any, pg: Postgres, cut_day: Day) -> None:
    work = region[0]
    with psycopg.connect(pg.dsn, autocommit=True) as db:
        for h in HALLS:
            _check_hall(db, h, cut_day.data[h], cut_day.done[h], work)
        cps: dict[str, Any] = dict(db.execute("SELECT hall, array_agg(DISTINCT verified::text) FROM hallq_checkpoints "
                              "GROUP BY hall").fetchall())
    assert cps == {"gacha-a": ["true"], "gacha-b": [None]}, cps
    logs = "".join(cut_day.logs)
    assert "asking for the events after seq" in logs       # the gap filler did run
    assert "Traceback" not in logs


@pytest.mark.parametrize("mode", list(MODES))
def test_two_ingest_processes_share_the_halls(region: Any, pg: Postgres, shared_days: Callable[[str], Day],
                                              mode: str) -> None:
    """Two ingest processes at once: in one MQTT shared subscription (each takes a part of every hall's events;
    the hall's position row is locked while it advances), or each with its part of the halls (`--part K/N`).
    Together they write each event once and project each hall in seq order."""
    day = shared_days(mode)
    with psycopg.connect(pg.dsn, autocommit=True) as db:
        for h in MODES[mode][0]:
            _check_hall(db, h, day.data[h], day.done[h], region[0])
    rows = [int(re.search(r"stopped \((\d+) events", t).group(1)) for t in day.logs]  # type: ignore[union-attr]
    assert all(n > 50 for n in rows), rows        # both took a real share


def _report(hall: str, data: Path, day: str, work: Path) -> dict[str, Any]:
    """`hallq report` of the hall's own log for that day, as JSON."""
    out = work / f"{hall}-report.json"
    r = subprocess.run([*HALLQ, "report", "--data", str(data), "--date", day, "--format", "json", "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    rep: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return rep


def _compare_rollups(db: psycopg.Connection[Any], hall: str, data: Path, day: str, work: Path) -> None:
    rep = _report(hall, data, day, work)
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


CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "docs" / "img"


def test_league_console(region: Any, pg: Postgres, cut_day: Day, shared_days: Callable[[str], Day]) -> None:
    """`hallq region serve`: sign-in (§6), halls live, figures = the rollups, the ranking (JSON and XLSX), and a
    complaint forwarded to a hall with wo_forward whose work order flows back up; then the page in Chromium.
    It needs every hall's day in PostgreSQL and every hall still online. It comes last in the module: the order it
    forwards adds events to gacha-a's log after that hall's day, which the exactly-once test compares with."""
    work, ryaml, rbroker, procs = region
    for mode in MODES:
        shared_days(mode)
    rep = _report("gacha-a", cut_day.data["gacha-a"], cut_day.done["gacha-a"]["date"], work)
    for sid, pw in (("L001", "league-secret-1"), ("V001", "viewer-secret-1")):
        pr = subprocess.run([*HALLQ, "region", "passwd", "--config", str(ryaml), "--staff", sid], input=pw + "\n",
                            text=True, capture_output=True, cwd=ROOT, timeout=60)
        assert pr.returncode == 0, pr.stderr
    port = free_port()
    ingest = _ingest(work, ryaml, 30)     # the forwarded order must come back up into PostgreSQL
    serve = Proc([*HALLQ, "region", "serve", "--config", str(ryaml), "--listen", f"127.0.0.1:{port}", "--credentials",
                  str(work / "rb" / "credentials" / "ingest.yaml")], work / "serve.log")
    procs += [ingest, serve]
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(base + "/api/halls", timeout=1).status_code == 401
        except httpx.HTTPError:
            return False
    _wait(up, 60, "the league console")
    with httpx.Client(base_url=base, timeout=15) as c:
        assert c.get("/api/figures").json()["error"]["code"] == "UNAUTHENTICATED"
        bad = c.post("/api/session", json={"staff": "L001", "password": "nope-nope"})
        assert bad.status_code == 401 and bad.json()["error"]["code"] == "BAD_CREDENTIALS"
        r = c.post("/api/session", json={"staff": "L001", "password": "league-secret-1"})
        assert r.status_code == 200
        csrf = r.json()["csrf"]
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
        halls = _wait(lambda: (lambda d: d if "halls" in d and all(h["status"] == "online" and h["link"] == "up"
                                                                   for h in d["halls"]) else None)(
            c.get("/api/halls").json()), 30, "every hall online with its link up")
        assert {h["id"] for h in halls["halls"]} == {*HALLS, *SHARED}
        figs = c.get("/api/figures", params={"period": "day", "date": "2026-11-23"}).json()["halls"]
        a = next(f for f in figs if f["hall"] == "gacha-a")
        assert (a["issued"], a["served"], a["bad"]) == (rep["tickets"]["issued"], rep["tickets"]["served"],
                                                        rep["evaluations"]["bad"])
        assert a["good_rate"] == rep["evaluations"]["good_rate"]
        month = c.get("/api/figures", params={"period": "quarter", "date": "2026-11-23"}).json()
        assert (month["from"], month["to"]) == ("2026-10-01", "2026-12-31")
        rank = c.get("/api/ranking", params={"month": "2026-11"}).json()["ranking"]
        assert [f["rank"] for f in rank] == list(range(1, len(HALLS) + len(SHARED) + 1))
        rates = [f["good_rate"] for f in rank]
        assert rates == sorted(rates, reverse=True)
        x = c.get("/api/ranking.xlsx", params={"month": "2026-11"})
        assert x.status_code == 200
        ws = openpyxl.load_workbook(io.BytesIO(x.content)).active
        assert ws is not None and ws.max_row == len(rank) + 1 and ws.cell(1, 1).value == "排名"
        assert [ws.cell(i, 2).value for i in range(2, len(rank) + 2)] == [f["hall"] for f in rank]
        al = c.get("/api/alerts", params={"state": "open"}).json()["alerts"]
        assert sum(a["hall"] == "gacha-a" for a in al) == rep["alerts"]["open"] > 0
        # forwarding: CSRF first, then the role, then the hall answers as CONTRACT §5.3 lets role region
        body = {"hall": "gacha-a", "ref": "12345-2026-0042", "date": "2026-11-23", "level": 1, "ticket": "H001",
                "note": "市民来电：窗口态度差", "channel": "12345"}
        assert c.post("/api/workorders/forward", json=body).json()["error"]["code"] == "CSRF"
        res = c.post("/api/workorders/forward", json=body, headers={"X-CSRF-Token": csrf})
        assert res.status_code == 200, res.text
        order = res.json()["result"]["order"]
        assert order["id"] == "WO-R-12345-2026-0042" and order["forwarded"]["ref"] == "12345-2026-0042"
        assert (order["ticket"], order["service"]) == ("H001", "social") and order["window"] is not None
        again = c.post("/api/workorders/forward", json=body, headers={"X-CSRF-Token": csrf})
        assert again.status_code == 409 and again.json()["error"]["code"] == "ALREADY_FORWARDED"

        def landed() -> Any:
            orders = c.get("/api/workorders", params={"state": "all"}).json()["orders"]
            return next((o for o in orders if o["id"] == order["id"]), None)
        got = _wait(landed, 30, "the forwarded order back up in hallq_workorders")
        assert got["hall"] == "gacha-a" and got["forwarded"]["ref"] == "12345-2026-0042"
        assert got["state"] == "pending" and got["ticket"] == "H001" and got["window"] == order["window"]
    with httpx.Client(base_url=base, timeout=15) as v:
        v.post("/api/session", json={"staff": "V001", "password": "viewer-secret-1"})
        vc = v.get("/api/session").json()["csrf"]
        r = v.post("/api/workorders/forward", json={**body, "ref": "x-1"}, headers={"X-CSRF-Token": vc})
        assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    if shutil.which(CHROMIUM):
        _browser(base)


def _browser(base: str) -> None:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = b.new_page(viewport={"width": 1400, "height": 900})
            page.goto(base + "/")
            page.fill("#signin input[name=staff]", "L001")
            page.fill("#signin input[name=password]", "league-secret-1")
            page.click("#signin button[type=submit]")
            page.wait_for_selector("#halls tbody tr >> nth=5")
            page.fill("#fdate", "2026-11-23")
            page.dispatch_event("#fdate", "change")
            page.fill("#month", "2026-11")
            page.dispatch_event("#month", "change")
            page.wait_for_selector("#ranking tbody tr >> nth=5")
            page.wait_for_function("document.querySelector('#figures tbody td:nth-child(2)').textContent !== '0'")
            assert page.locator("#halls tbody tr").count() == 6
            assert "在线" in page.inner_text("#halls")
            assert page.locator("#orders tbody tr").count() >= 1
            _shot(page, "region-console-zh.png")
            page.goto(base + "/lang?to=mn")
            page.wait_for_selector("#halls tbody tr >> nth=5")
            page.fill("#fdate", "2026-11-23")
            page.dispatch_event("#fdate", "change")
            page.wait_for_function("document.querySelector('#figures tbody td:nth-child(2)').textContent !== '0'")
            assert "ᠱᠤᠭᠤᠮ" in page.inner_text("#halls")
            _shot(page, "region-console-mn.png")
        finally:
            b.close()


def _shot(page: Any, name: str) -> None:
    if os.environ.get("HALLQ_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / name), full_page=True)
