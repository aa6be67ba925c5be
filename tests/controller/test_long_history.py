"""Long histories: compaction keeps every command answer, snapshots give the same controller as a replay.

Two engines take the same commands over many working days, one compacting and one keeping every
ticket; their replies must be identical. The compacting engine's events go into a real SQLite log,
and controllers started from it (full replay, snapshot + tail, damaged snapshots, a killed writer)
must publish the same state and give the same answers.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from controller.calendar import is_workday
from controller.engine import Engine
from controller.service import ControllerService
from controller.snapshot import SNAPSHOT_DB
from controller.store import EventStore
from hallq.config import HallConfig, parse_config
from tests.conftest import REPO, FixedClock, small_hall

TZ = ZoneInfo("Asia/Shanghai")
START = date(2026, 11, 23)   # a Monday
DAYS = 24


def workdays(n: int) -> list[date]:
    out, d = [], START
    while len(out) < n:
        if is_workday(d):
            out.append(d)
        d += timedelta(days=1)
    return out


class Twin:
    """A compacting and a never-compacting engine fed the same commands; replies must match."""

    def __init__(self, data: Path, cfg: HallConfig) -> None:
        self.cfg = cfg
        self.live = Engine(cfg, b"k" * 32)
        self.full = Engine(cfg, b"k" * 32, compact=False)
        self.store = EventStore(data).open()
        self.now = datetime(2026, 11, 23, 8, 30, tzinfo=TZ)
        self.issued: list[tuple[date, str]] = []
        self.commands = 0

    def __call__(self, name: str, **args: Any) -> dict[str, Any]:
        a = self.live.handle(name, dict(args), self.now)
        b = self.full.handle(name, dict(args), self.now)
        assert a.reply == b.reply, f"{name} {args} at {self.now}: compacted {a.reply} != full {b.reply}"
        assert a.events == b.events, f"{name} {args}: the events differ"
        if a.events:
            self.store.append([(a.events, None)])
        self.issued += [(date.fromisoformat(e["date"]), e["ticket"]) for e in a.events if e["type"] == "ticket.issued"]
        self.now += timedelta(seconds=37)
        self.commands += 1
        return a.reply


def run_day(t: Twin, day: date, rng: random.Random, k: int) -> None:
    t.now = datetime(day.year, day.month, day.day, 8, 30, tzinfo=TZ)
    windows = ["1", "3"] if 2 <= k < 9 else ["1", "2", "3"]     # window 2 holds a ticket from day 2 to day 9
    for wid, staff in (("1", "S001"), ("2", "S002"), ("3", "S003")):
        if wid in windows:
            t("login", window=wid, staff=staff)
    for i in range(14):
        t("issue", service=rng.choice(["general", "tax"]), priority="green" if i % 6 == 5 else "normal")
    for _ in range(16):
        wid = rng.choice(windows)
        r = t("call", window=wid)
        if not r["ok"] or r["result"]["ticket"] is None:
            continue
        action = rng.random()
        if action < 0.1:
            t("skip", window=wid)
        elif action < 0.18 and wid == "1":
            t("transfer", window=wid, service="tax")
        elif action < 0.25:
            t("recall", window=wid)
            t("finish", window=wid)
        else:
            t("finish", window=wid)
            if rng.random() < 0.6:
                t("rate", ticket=r["result"]["ticket"]["number"], level=rng.choice([5, 5, 4, 3, 2, 1]), window=wid)
    if k == 1:
        t("call", window="2")          # served across days: held by window 2 until day 9
    if k == 9:
        t("finish", window="2")
    # supplementary ratings and lookups of earlier days: open, closed, rated, never issued
    for d, n in rng.sample(t.issued, min(8, len(t.issued))):
        t("rate", ticket=n, date=d.isoformat(), level=rng.choice([4, 2]), channel="qr")
        t("ticket", number=n, date=d.isoformat())
        t("rate", ticket=n, date=d.isoformat(), level=5, window=rng.choice(["1", "2", "3"]))
    t("ticket", number="A999", date=(day - timedelta(days=7)).isoformat())
    t("rate", ticket="S777", date=(day - timedelta(days=9)).isoformat(), level=5)
    for wid in windows:
        if rng.random() < 0.5:
            t("logout", window=wid)
    t.now = datetime(day.year, day.month, day.day, 18, 0, tzinfo=TZ)
    t("ticket", number="A001")    # the prompts time out; tickets still waiting stay until the day closes


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Twin, Path]]:
    data = tmp_path_factory.mktemp("long") / "data"
    t = Twin(data, parse_config(small_hall()))
    rng = random.Random(7)
    for k, day in enumerate(workdays(DAYS)):
        run_day(t, day, rng, k)
    yield t, data
    t.store.close()


def test_compaction_keeps_few_tickets_and_every_answer(history: tuple[Twin, Path]) -> None:
    t, _ = history
    live, full = t.live.state, t.full.state
    assert len(full.tickets) == len(t.issued) > 300
    assert len(live.tickets) < len(full.tickets) / 2, f"only {len(live.tickets)} of {len(full.tickets)} kept live"
    assert live.archive, "old days were archived"
    assert len(live.alerted) < len(full.alerted), "alert keys of archived days are forgotten"
    for d, n in t.issued:
        a, b = live.ticket(d, n), full.ticket(d, n)
        assert a is not None and b is not None
        assert live.ticket_json(a) == full.ticket_json(b), f"ticket {n} of {d}"
    for wid in live.windows:
        assert live.window_json(wid) == full.window_json(wid)
    assert live.queues_json(t.now) == full.queues_json(t.now)


def test_old_tickets_answer_as_before_also_after_the_clock_goes_back(history: tuple[Twin, Path]) -> None:
    t, _ = history
    codes: set[str] = set()
    for d, n in t.issued[::3]:
        for args in ({"level": 4, "channel": "qr"}, {"level": 5, "window": "3"}):
            r = t("rate", ticket=n, date=d.isoformat(), **args)
            codes.add(r["error"]["code"] if not r["ok"] else "ok")
        t("ticket", number=n, date=d.isoformat())
    for d in {d for d, _ in t.issued}:
        t("ticket", number="A500", date=d.isoformat())
        t("rate", ticket="S500", date=d.isoformat(), level=3)
    assert {"RATING_CLOSED", "ALREADY_RATED", "NOT_SERVED"} <= codes, f"old tickets answered only {codes}"
    # a clock set back into an archived ticket's rating window: the rating is accepted as before
    archived = [k for k in t.full.state.tickets if k not in t.live.state.tickets]
    back = t.now
    t.now = datetime.combine(archived[len(archived) // 2][0] + timedelta(days=1), datetime.min.time(), TZ)
    accepted = [k for k in archived if t("rate", ticket=k[1], date=k[0].isoformat(), level=2, channel="qr")["ok"]]
    assert accepted, "some archived ticket was still inside its rating window at the old date"
    assert any(k in t.live.state.tickets for k in accepted), "the rated ticket came back from the archive"
    t.now = back + timedelta(days=1)
    t("issue", service="general")
    for d, n in t.issued:
        a, b = t.live.state.ticket(d, n), t.full.state.ticket(d, n)
        assert a is not None and b is not None and a.to_json() == b.to_json()


def test_a_replay_compacts_exactly_like_the_live_run(history: tuple[Twin, Path]) -> None:
    t, data = history
    store = EventStore(data).open()
    again = Engine(t.cfg)
    for ev in store.events():
        again.apply(ev)
    store.close()
    assert list(again.state.tickets) == list(t.live.state.tickets)
    assert again.state.archive == t.live.state.archive
    assert again.state.alerted == t.live.state.alerted


# -- controllers started from the SQLite log --------------------------------------------------------
def service(cfg: HallConfig, data: Path, at: datetime, **kw: Any) -> ControllerService:
    svc = ControllerService(cfg, data, FixedClock(at), **kw)
    svc.open()
    return svc


def answers(svc: ControllerService, issued: list[tuple[date, str]], at: datetime) -> dict[str, Any]:
    """What the controller publishes (windows, queues) and replies to a fixed round of commands."""
    st = svc.engine.state
    out: dict[str, Any] = {"windows": [st.window_json(w) for w in st.windows], "queues": st.queues_json(at)}
    replies = []
    for i, (d, n) in enumerate(issued[::4]):
        replies.append(svc.engine.handle("ticket", {"number": n, "date": d.isoformat()}, at).reply)
        replies.append(svc.engine.handle("rate", {"ticket": n, "date": d.isoformat(), "level": 1 + i % 5,
                                                  "channel": "qr"}, at).reply)
    for name, args in (("ticket", {"number": "A404", "date": "2026-11-24"}), ("issue", {"service": "tax"}),
                       ("login", {"window": "1", "staff": "S001"}), ("call", {"window": "1"}),
                       ("finish", {"window": "1"})):
        replies.append(svc.engine.handle(name, args, at).reply)
    out["replies"] = replies
    out["after"] = {"windows": [st.window_json(w) for w in st.windows], "queues": st.queues_json(at)}
    return out


def reference(cfg: HallConfig, data: Path, issued: list[tuple[date, str]], at: datetime) -> dict[str, Any]:
    svc = service(cfg, data, at, snapshots=False, compact=False)
    try:
        return answers(svc, issued, at)
    finally:
        svc.close()


def snapshot_rows(data: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(data / SNAPSHOT_DB) as db:
        return [(int(r[0]), str(r[1])) for r in db.execute("SELECT seq, code FROM snapshots ORDER BY seq")]


def copy_log(src: Path, dst: Path) -> Path:
    store = EventStore(src).open()
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.db.execute(f"VACUUM INTO '{dst / 'hallq.sqlite3'}'")
    store.close()
    return dst


def test_snapshot_start_equals_full_replay_and_never_compacted(history: tuple[Twin, Path], tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    t, src = history
    data = copy_log(src, tmp_path)
    at = t.now + timedelta(days=3)
    first = service(t.cfg, data, at)          # replays everything, then writes a snapshot of it
    first.write_snapshot()
    first.close()
    ((seq, _),) = snapshot_rows(data)
    assert seq == EventStore(data).open().head_seq
    caplog.set_level(logging.INFO, "hallq.controller")
    fast = service(t.cfg, data, at)
    assert f"loaded the snapshot after event seq {seq}" in caplog.text
    assert f"the snapshot after seq {seq} and 0 events" in caplog.text
    slow = service(t.cfg, data, at, snapshots=False)
    assert len(fast.engine.state.tickets) == len(slow.engine.state.tickets)
    assert fast.engine.state.archive == slow.engine.state.archive
    want = reference(t.cfg, data, t.issued, at)
    assert answers(slow, t.issued, at) == want
    assert answers(fast, t.issued, at) == want
    fast.close()
    slow.close()


@pytest.mark.parametrize("damage, why", [
    ("UPDATE snapshots SET body = x'00112233'", "cannot be read"),
    ("UPDATE snapshots SET code = 'elsewhere'", "written by other controller code"),
    ("UPDATE snapshots SET hash = '" + "0" * 64 + "'", "its hash does not match record seq"),
    ("UPDATE snapshots SET seq = seq + 100000", "the event log has no record seq"),
    ("UPDATE snapshots SET config = 'another'", "written with another hall configuration"),
    ("garbage file", "is damaged"),
])
def test_a_bad_snapshot_is_ignored_and_the_log_replayed(history: tuple[Twin, Path], tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture, damage: str,
                                                        why: str) -> None:
    t, src = history
    data = copy_log(src, tmp_path)
    at = t.now + timedelta(days=3)
    svc = service(t.cfg, data, at)
    svc.write_snapshot()
    svc.close()
    if damage == "garbage file":
        for suffix in ("-wal", "-shm"):
            (data / (SNAPSHOT_DB + suffix)).unlink(missing_ok=True)
        (data / SNAPSHOT_DB).write_bytes(b"not a database at all" * 100)
    else:
        with sqlite3.connect(data / SNAPSHOT_DB) as db:
            db.execute(damage)
    caplog.set_level(logging.INFO, "hallq.controller")
    started = service(t.cfg, data, at)
    assert why in caplog.text, f"expected a log line saying {why!r}, got:\n{caplog.text}"
    assert "rebuilt state from nothing" in caplog.text
    assert answers(started, t.issued, at) == reference(t.cfg, data, t.issued, at)
    started.close()


KILLED_WRITER = """
import json, os, signal, sys
from datetime import datetime, timedelta
from pathlib import Path
from controller.service import ControllerService
from hallq.config import parse_config
cfg, data, at = parse_config(json.loads(sys.argv[1])), Path(sys.argv[2]), datetime.fromisoformat(sys.argv[3])
class Clock:
    def now(self): return at
svc = ControllerService(cfg, data, Clock())
svc.open()
svc.write_snapshot()
for i in range(40):   # the worker's way: the engine decides, the log makes it durable
    now = at + timedelta(seconds=i)
    for name, args in (("issue", {"service": "general"}), ("login", {"window": "3", "staff": "S003"}),
                       ("call", {"window": "3"})):
        out = svc.engine.handle(name, args, now)
        svc.store.append([(out.events, None)])
print(svc.store.head_seq, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_killed_after_a_snapshot_the_tail_is_replayed(history: tuple[Twin, Path], tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    t, src = history
    data = copy_log(src, tmp_path)
    at = t.now + timedelta(days=1)
    before = EventStore(data).open().head_seq
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, json.dumps(small_hall()), str(data), at.isoformat()],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, f"the writer was to be killed with SIGKILL: {proc.stderr}"
    head = int(proc.stdout.split()[0])
    assert head > before + 40
    assert [s for s, _ in snapshot_rows(data)] == [before]
    caplog.set_level(logging.INFO, "hallq.controller")
    later = at + timedelta(minutes=5)
    svc = service(t.cfg, data, later)
    assert f"the snapshot after seq {before} and {head - before} events" in caplog.text
    assert svc.engine.state.last_seq == head
    assert answers(svc, t.issued, later) == reference(t.cfg, data, t.issued, later)
    svc.close()


def test_a_day_change_writes_a_snapshot(history: tuple[Twin, Path], tmp_path: Path) -> None:
    t, src = history
    data = copy_log(src, tmp_path)
    at = t.now + timedelta(days=1)
    svc = service(t.cfg, data, at)
    assert snapshot_rows(data) == []
    out = svc.engine.handle("issue", {"service": "general"}, at)
    assert out.events[0]["type"] == "day.closed"
    svc.store.append([(out.events, None)])
    svc._housekeeping()
    assert [s for s, _ in snapshot_rows(data)] == [svc.store.head_seq], "a snapshot after the day changed"
    svc.close()


def test_reports_read_from_the_period_and_match_a_full_read(history: tuple[Twin, Path], tmp_path: Path) -> None:
    """A report starts reading the log shortly before its period (bisection on the records' times): the
    figures are those of a read from the first record, for single days and for a month."""
    import yaml

    from controller.report import SKIP_MARGIN, _start_seq, build_report

    t, src = history
    data = copy_log(src, tmp_path)
    store = EventStore(data).open()
    store.record_config(yaml.safe_dump(small_hall(), allow_unicode=True))
    store.close()
    days = workdays(DAYS)
    for first, last in [(days[0], days[0]), (days[5], days[5]), (days[12], days[12]), (days[-1], days[-1]),
                        (days[3], days[15])]:
        skipped, full = build_report(data, first, last), build_report(data, first, last, skip=False)
        assert skipped == full, f"{first}..{last}: reading from the period changed the report"
        assert skipped["tickets"]["issued"] > 0
    store = EventStore(data).open()
    start = _start_seq(store, datetime.combine(days[12], time(), TZ) - SKIP_MARGIN)
    assert 0 < start < store.head_seq, "a report of a later day skips the records of the days long before it"
    first_read = store.time_at(start + 1)
    assert first_read is not None and first_read >= datetime.combine(days[12], time(), TZ) - SKIP_MARGIN
    store.close()
