"""Appointments (CONTRACT §3.7): the call order at the slot's edges, per-service opening hours, the
appointment-only weekend, the verified slot, replay and snapshots, and the report's appointment figures."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from controller.authz import CredentialCheck, Sender
from controller.engine import Engine
from controller.events import HallEvent
from controller.snapshot import dump, load
from controller.store import EventStore, StoredCommand
from hallq.config import ConfigError, parse_config
from hallq.mqtt import CommandError
from hallq.msb.tokens import APPOINTMENT_PREFIX, b64url_encode, mint
from tests.conftest import REPO, ControllerProc, small_hall
from tests.secure_hall import secure_hall

TZ = ZoneInfo("Asia/Shanghai")
MON = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)    # a Monday
SAT = datetime(2026, 11, 28, 10, 0, tzinfo=TZ)   # a Saturday
WEEKDAYS = {d: ["08:30-12:00", "14:30-17:30"] for d in ("mon", "tue", "wed", "thu", "fri")}


def _slot(start: str, end: str) -> dict[str, str]:
    return {"from": f"2026-11-23T{start}:00+08:00", "to": f"2026-11-23T{end}:00+08:00"}


class Hall:
    """An engine driven at explicit times (each command at `at`, else one second after the last)."""

    def __init__(self, **extra: Any) -> None:
        self.raw = small_hall(**extra)
        self.cfg = parse_config(self.raw)
        self.engine = Engine(self.cfg, b"s" * 32)
        self.now = MON
        self.log: list[dict[str, Any]] = []

    def run(self, name: str, at: datetime | None = None, sender: Sender | None = None,
            **args: Any) -> dict[str, Any]:
        self.now = at or self.now + timedelta(seconds=1)
        out = self.engine.handle(name, args, self.now, sender)
        self.log += out.events
        return out.reply

    def ok(self, name: str, at: datetime | None = None, sender: Sender | None = None, **args: Any) -> dict[str, Any]:
        r = self.run(name, at, sender, **args)
        assert r["ok"], f"{name} {args}: {r}"
        return dict(r["result"])

    def err(self, name: str, at: datetime | None = None, sender: Sender | None = None, **args: Any) -> tuple[str, str]:
        r = self.run(name, at, sender, **args)
        assert not r["ok"], f"{name} {args} was expected to fail: {r}"
        return r["error"]["code"], r["error"]["message"]

    def issue(self, service: str = "general", at: datetime | None = None, **args: Any) -> str:
        return str(self.ok("issue", at, service=service, **args)["ticket"]["number"])

    def calls(self, window: str, n: int, at: datetime | None = None) -> list[str | None]:
        out: list[str | None] = []
        for i in range(n):
            t = self.ok("call", at + timedelta(seconds=i) if at else None, window=window)["ticket"]
            out.append(t["number"] if t else None)
        return out

    def ahead(self, number: str) -> int:
        return int(self.ok("ticket", number=number)["ticket"]["ahead"])


def _logged_in(h: Hall, *windows: str) -> None:
    staff = {"1": "S001", "2": "S002", "3": "S003"}
    for w in windows:
        h.ok("login", window=w, staff=staff[w])


# -- the order: green, then appointments within their slot, then the rest ---------------------------------
def test_green_then_appointment_then_walk_ins() -> None:
    h = Hall()
    h.issue(at=MON)                                                     # A001 walk-in
    h.issue()                                                           # A002 walk-in
    h.issue(priority="appointment", slot=_slot("09:00", "09:30"))       # A003 on time
    h.issue(priority="green")                                           # A004 green, issued last
    assert [h.ahead(n) for n in ("A001", "A002", "A003", "A004")] == [2, 3, 1, 0]
    _logged_in(h, "3")
    assert h.calls("3", 5) == ["A004", "A003", "A001", "A002", None]
    called = [e for e in h.log if e["type"] == "ticket.called"]
    assert [e["priority"] for e in called] == ["green", "appointment", "normal", "normal"]


def test_appointments_among_themselves_by_issue_time_not_by_slot() -> None:
    h = Hall()
    h.issue(at=MON)                                                            # A001 walk-in
    h.issue(priority="appointment", slot=_slot("09:20", "09:40"))              # A002
    h.issue(priority="appointment", slot=_slot("09:00", "09:20"))              # A003: earlier slot, later issue
    h.issue(priority="appointment")                                            # A004: no slot: all day
    _logged_in(h, "3")
    assert h.calls("3", 4) == ["A002", "A003", "A004", "A001"]


def test_early_arrival_waits_as_a_walk_in_until_early_min_before_its_slot() -> None:
    h = Hall()                        # appointments: early_min 30, late_min 15 (the defaults)
    h.issue(at=MON)                                                            # A001 09:00:00
    h.issue()                                                                  # A002 09:00:01
    early = h.issue(priority="appointment", slot=_slot("10:00", "10:30"))      # A003 09:00:02, 58 min early
    h.issue()                                                                  # A004 09:00:03
    _logged_in(h, "3")
    edge = MON.replace(hour=9, minute=30)                                      # 10:00 - early_min
    h.now = edge - timedelta(seconds=3)
    assert h.ahead(early) == 2, "before 09:30 it waits behind the walk-ins who came before it"
    assert h.calls("3", 1, at=edge - timedelta(seconds=2)) == ["A001"]
    assert h.ahead(early) == 1, "at 09:29:59 still a walk-in"
    assert h.calls("3", 1, at=edge) == [early], "from 09:30 on it is called before walk-ins"
    assert h.calls("3", 3) == ["A002", "A004", None]


def test_early_arrival_called_as_a_walk_in_before_its_time() -> None:
    h = Hall()
    early = h.issue(priority="appointment", slot=_slot("11:00", "11:30"), at=MON)    # A001, first in line
    h.issue()                                                                         # A002
    _logged_in(h, "3")
    assert h.calls("3", 2) == [early, "A002"], "it never waits longer than a walk-in who came after it"


@pytest.mark.parametrize(("late_by", "first"), [(timedelta(minutes=15), "A002"), (timedelta(minutes=15, seconds=1),
                                                                                     "A001")])
def test_late_edge_on_time_until_late_min_after_the_start(late_by: timedelta, first: str) -> None:
    h = Hall()
    start = MON.replace(hour=9, minute=0)
    h.issue(at=start + timedelta(minutes=5))                                              # A001 walk-in
    h.issue(priority="appointment", slot=_slot("09:00", "09:30"), at=start + late_by)     # A002
    _logged_in(h, "3")
    assert h.calls("3", 2) == [first, "A001" if first == "A002" else "A002"]
    assert h.ok("ticket", number="A002")["ticket"]["priority"] == "appointment", "a late one keeps its label"


def test_late_arrival_is_a_walk_in_for_good() -> None:
    h = Hall()
    h.issue(priority="appointment", slot=_slot("08:00", "08:30"), at=MON.replace(hour=9, minute=10))   # A001 late
    h.issue(priority="green")                                                                             # A002
    h.issue()                                                                                             # A003
    h.issue(priority="appointment", slot=_slot("09:00", "09:30"))                                         # A004
    _logged_in(h, "3")
    assert h.calls("3", 4, at=MON.replace(hour=12)) == ["A002", "A004", "A001", "A003"]


def test_on_time_appointment_keeps_its_place_after_its_slot_ends() -> None:
    h = Hall()
    h.issue(at=MON)                                                            # A001
    h.issue(priority="appointment", slot=_slot("09:00", "09:10"))              # A002 on time
    _logged_in(h, "3")
    assert h.calls("3", 1, at=MON.replace(hour=15)) == ["A002"], "a slow hall does not cost it its place"


def test_green_is_still_first_after_the_appointment_is_due() -> None:
    h = Hall()
    h.issue(priority="appointment", slot=_slot("09:00", "09:30"), at=MON)      # A001
    h.issue()                                                                  # A002
    h.issue(priority="green", at=MON.replace(minute=20))                       # A003
    _logged_in(h, "3")
    assert h.calls("3", 3) == ["A003", "A001", "A002"]


def test_green_of_another_service_before_an_appointment() -> None:
    h = Hall()
    h.issue(priority="appointment", at=MON)                  # A001
    h.issue("tax", priority="green")                         # S001
    _logged_in(h, "1")                                       # window 1: general + tax
    assert h.calls("1", 2) == ["S001", "A001"]


def test_transfer_keeps_the_appointment_priority() -> None:
    h = Hall()
    h.issue("tax", at=MON)                                                     # S001 walk-in
    h.issue("tax")                                                             # S002 walk-in
    h.issue(priority="appointment", slot=_slot("09:00", "09:30"))              # A001
    _logged_in(h, "1", "2")
    assert h.ok("call_number", window="1", number="A001")["ticket"]["number"] == "A001"
    t = h.ok("transfer", window="1", service="tax")["ticket"]
    assert (t["service"], t["priority"], t["status"]) == ("tax", "appointment", "waiting")
    assert t["slot"] == _slot("09:00", "09:30")
    assert h.ahead("A001") == 0
    assert h.ahead("S001") == 1
    assert h.calls("2", 3) == ["A001", "S001", "S002"]


def test_transfer_of_an_early_appointment_becomes_due_in_the_new_service() -> None:
    h = Hall()
    h.issue("tax", at=MON)                                                    # S001
    h.issue(priority="appointment", slot=_slot("11:00", "11:30"))             # A001 early
    _logged_in(h, "1", "2")
    h.ok("call_number", window="1", number="A001")
    h.ok("transfer", window="1", service="tax")
    assert h.ahead("A001") == 1, "before 10:30 it waits as a walk-in, behind S001 who came before it"
    assert h.engine.state.apt_ready["tax"] == [] and len(h.engine.state.apt_pending) == 1
    h.issue("tax")                                                            # S002
    assert h.calls("2", 3, at=MON.replace(hour=10, minute=30)) == ["A001", "S001", "S002"]


def test_cancelled_and_day_closed_appointments_leave_every_queue() -> None:
    h = Hall()
    h.issue(priority="appointment", at=MON)                                   # A001 due now
    h.issue(priority="appointment", slot=_slot("16:00", "16:30"))             # A002 early
    h.issue()                                                                 # A003
    h.ok("cancel", number="A001")
    h.ok("cancel", number="A002")
    st = h.engine.state
    assert st.apt_ready["general"] == [] and st.apt_pending == []
    _logged_in(h, "3")
    assert h.calls("3", 2, at=MON.replace(hour=16, minute=45)) == ["A003", None]
    h.issue(priority="appointment", slot=_slot("16:50", "17:00"))             # A004 early
    h.engine.tick(MON + timedelta(days=1))
    assert st.apt_ready["general"] == [] and st.apt_pending == []
    t = st.ticket(MON.date(), "A004")
    assert t is not None and t.status.value == "no_show"


def test_ahead_matches_the_call_order() -> None:
    """At a window for both services, `ahead` of every waiting ticket is its place in the calls that follow."""
    rnd = random.Random(18)
    for _ in range(5):
        h = Hall()
        at = MON
        for _ in range(40):
            at += timedelta(seconds=rnd.randint(1, 120))
            kind = rnd.choice(["normal"] * 5 + ["green", "appointment", "appointment"])
            args: dict[str, Any] = {"priority": kind}
            if kind == "appointment" and rnd.random() < 0.8:
                start = MON + timedelta(minutes=rnd.randint(-60, 120))
                args["slot"] = {"from": start.isoformat(), "to": (start + timedelta(minutes=20)).isoformat()}
            h.issue(rnd.choice(["general", "tax"]), at=at, **args)
        _logged_in(h, "1")
        h.now = MON + timedelta(minutes=rnd.randint(20, 90))
        st = h.engine.state
        h.engine.tick(h.now)
        waiting = [t for q in st.waiting.values() for t in q]
        aheads = {t.number: st.ahead_of(t) for t in waiting}
        order = h.calls("1", len(waiting), at=h.now)
        assert sorted(aheads.values()) == list(range(len(waiting)))
        assert order == sorted(aheads, key=aheads.__getitem__)


# -- slots given with the command, and verified ones ----------------------------------------------------
def test_slot_arguments_are_checked() -> None:
    h = Hall()
    assert h.err("issue", MON, service="general", slot=_slot("09:00", "09:30"))[0] == "BAD_REQUEST"
    code, msg = h.err("issue", service="general", priority="appointment",
                      slot={"from": "2026-11-24T09:00:00+08:00", "to": "2026-11-24T09:30:00+08:00"})
    assert code == "BAD_REQUEST" and "starts on 2026-11-24, not today (2026-11-23)" in msg
    assert h.err("issue", service="general", priority="appointment", slot={"from": "09:00"})[0] == "BAD_REQUEST"
    assert h.err("issue", service="general", priority="appointment",
                 slot=_slot("09:30", "09:00"))[0] == "BAD_REQUEST"
    t = h.ok("issue", service="general", priority="appointment",
             slot={"from": "2026-11-23T09:00:00", "to": "2026-11-23T09:30"})["ticket"]
    assert t["slot"] == _slot("09:00", "09:30"), "a slot without an offset is the hall's local time"
    ev = h.log[-1]
    assert (ev["slot_from"], ev["slot_to"]) == ("2026-11-23T09:00:00+08:00", "2026-11-23T09:30:00+08:00")
    assert list(ev)[-2:] == ["slot_from", "slot_to"]
    plain = h.ok("issue", service="general", priority="appointment")["ticket"]
    assert "slot" not in plain and "slot_from" not in h.log[-1]


def test_the_verified_slot_wins_and_another_service_is_wrong_service() -> None:
    h = Hall()
    utc = ZoneInfo("UTC")
    slot = (datetime(2026, 11, 23, 2, 0, tzinfo=utc), datetime(2026, 11, 23, 2, 30, tzinfo=utc))   # 10:00 local
    cred = Sender(credential=CredentialCheck(True, "appointment", appointment=True, holder="msb:abc",
                                             slot=slot, service="general"))
    t = h.ok("issue", MON, cred, service="general", priority="appointment", slot=_slot("09:00", "09:30"))["ticket"]
    assert t["slot"] == _slot("10:00", "10:30"), "the verified slot, in the hall's local time"
    assert h.log[-1]["holder"].startswith("hk2:"), "keyed with the day key"
    code, msg = h.err("issue", None, cred, service="tax", priority="appointment")
    assert code == "WRONG_SERVICE" and "'general'" in msg and "'tax'" in msg


# -- per-service hours and the appointment-only weekend ---------------------------------------------------
def _hours_hall() -> Hall:
    return Hall(hours={"weekly": WEEKDAYS}, services=[
        {"id": "general", "prefix": "A", "name": {"zh": "综合受理"}},
        {"id": "tax", "prefix": "S", "name": {"zh": "税务"},
         "hours": {"weekly": {**{d: ["08:30-12:00"] for d in WEEKDAYS}, "sat": ["09:00-12:00"]}},
         "appointment_only": {"weekdays": ["sat"], "dates": ["2026-11-25"]}}])


def test_a_service_closed_at_noon() -> None:
    h = _hours_hall()
    h.issue("tax", at=MON.replace(hour=11, minute=59))
    noon = MON.replace(hour=12)
    code, msg = h.err("issue", noon, service="tax")
    assert code == "SERVICE_CLOSED"
    assert msg == "service 'tax' is closed: tickets are issued 08:30-12:00 (until 0 min before closing); it is 12:00"
    afternoon = MON.replace(hour=14, minute=30)
    assert h.err("issue", afternoon, service="tax")[0] == "SERVICE_CLOSED"
    assert h.issue("general", at=afternoon) == "A001", "the hall's other services keep the hall's hours"
    q = {s["id"]: s for s in h.engine.state.queues_json(afternoon)["services"]}
    assert (q["tax"]["issuing"], q["tax"]["hours"]) == ("closed", "08:30-12:00")
    assert (q["general"]["issuing"], "hours" in q["general"]) == ("open", False)
    code, _ = h.err("issue", afternoon, service="tax", priority="appointment")
    assert code == "SERVICE_CLOSED", "an appointment too is issued within the service's hours"


def test_weekend_open_for_appointments_only() -> None:
    h = _hours_hall()
    code, msg = h.err("issue", SAT, service="general")
    assert (code, msg) == ("SERVICE_CLOSED", "service 'general' is closed: the hall is closed on 2026-11-28")
    for priority in ("normal", "green"):
        code, msg = h.err("issue", SAT, service="tax", priority=priority)
        assert code == "SERVICE_CLOSED"
        assert msg == ("service 'tax' is closed: on Saturday 2026-11-28 it takes only checked-in appointments "
                       "(预约办): scan the appointment code, or come on a day it serves walk-ins")
    sat_slot = {"from": "2026-11-28T10:00:00+08:00", "to": "2026-11-28T10:30:00+08:00"}
    assert h.issue("tax", at=SAT, priority="appointment", slot=sat_slot) == "S001"
    q = {s["id"]: s for s in h.engine.state.queues_json(SAT)["services"]}
    assert q["tax"].items() >= {"issuing": "closed", "appointment_only": True, "hours": "09:00-12:00",
                                "issued": 1}.items()
    assert q["general"]["issuing"] == "closed"
    assert h.err("issue", SAT.replace(hour=12), service="tax", priority="appointment")[0] == "SERVICE_CLOSED"
    sun = SAT + timedelta(days=1)
    assert h.engine.state.queues_json(sun)["services"][1]["hours"] == ""
    wed = MON + timedelta(days=2)   # an appointment-only date on a weekday
    assert h.err("issue", wed, service="tax")[0] == "SERVICE_CLOSED"
    assert h.issue("general", at=wed) == "A001"


@pytest.mark.parametrize(("service", "problem"), [
    ({"appointment_only": {"weekdays": ["sat"]}},
     "services[1].appointment_only.weekdays[0]: service 'tax' is closed on sat (the hall's hours have no span"),
    ({"hours": {"weekly": {"mon": ["09:00-12:00"]}}, "appointment_only": {"weekdays": ["mon", "sun"]}},
     "services[1].appointment_only.weekdays[1]: service 'tax' is closed on sun (its own hours"),
    ({"appointment_only": {"dates": ["2026-11-28"]}},
     "services[1].appointment_only.dates[0]: service 'tax' is closed on 2026-11-28"),
    ({"appointment_only": {"weekdays": ["sat", "sat"]}}, "each day may be named once"),
    ({"appointment_only": {"weekdays": ["saturday"]}}, "services[1].appointment_only.weekdays[0]: Input should be"),
    ({"hours": {"weekly": {"mon": ["12:00-09:00"]}}}, "must look like '08:30-12:00'"),
])
def test_service_hours_are_validated(service: dict[str, Any], problem: str) -> None:
    raw = small_hall(hours={"weekly": WEEKDAYS})
    raw["services"][1] |= service
    with pytest.raises(ConfigError) as e:
        parse_config(raw)
    assert problem in str(e.value)


def test_appointment_settings_are_validated() -> None:
    with pytest.raises(ConfigError, match="appointments.early_min"):
        parse_config(small_hall(appointments={"early_min": -1}))
    with pytest.raises(ConfigError, match="appointments"):
        parse_config(small_hall(appointments={"late": 5}))
    cfg = parse_config(small_hall(appointments={"early_min": 10, "late_min": 0}))
    assert (cfg.appointments.early_min, cfg.appointments.late_min) == (10, 0)


def test_configured_edges_move() -> None:
    h = Hall(appointments={"early_min": 5, "late_min": 0})
    h.issue(at=MON.replace(minute=50))                                                  # A001
    h.issue(priority="appointment", slot=_slot("10:00", "10:20"))                       # A002: 10 min early
    h.issue(priority="appointment", slot=_slot("09:50", "10:00"), at=MON.replace(minute=50, second=30))  # late
    _logged_in(h, "3")
    assert h.calls("3", 1, at=MON.replace(minute=54, second=59)) == ["A001"]
    assert h.calls("3", 2, at=MON.replace(minute=55)) == ["A002", "A003"]


# -- the log, replays and snapshots --------------------------------------------------------------------------
def _mixed_day() -> Hall:
    h = Hall()
    h.issue(at=MON)                                                               # A001
    h.issue(priority="appointment", slot=_slot("10:00", "10:30"))                 # A002 early
    h.issue("tax", priority="appointment")                                        # S001 all day
    h.issue(priority="appointment", slot=_slot("09:00", "09:30"))                 # A003 on time
    h.issue()                                                                     # A004
    _logged_in(h, "1")
    h.ok("call", window="1")                                                      # S001
    h.ok("transfer", window="1", service="general")
    return h


def test_replay_and_snapshot_hold_what_the_live_run_held() -> None:
    h = _mixed_day()
    later = MON.replace(hour=9, minute=40)
    h.engine.tick(later)
    replayed = Engine(h.cfg, b"s" * 32)
    for ev in h.log:
        replayed.apply(json.loads(json.dumps(ev)))
    restored = load(dump(h.engine), h.cfg, b"s" * 32)
    for e in (replayed, restored):
        e.tick(later)
        assert e.state.apt_ready == h.engine.state.apt_ready
        assert e.state.apt_pending == h.engine.state.apt_pending
        assert {k: e.state.ticket_json(t) for k, t in e.state.tickets.items()} == \
            {k: h.engine.state.ticket_json(t) for k, t in h.engine.state.tickets.items()}
    order = []
    for e in (h.engine, replayed, restored):
        at, got = later, []
        for _ in range(5):
            at += timedelta(seconds=1)
            t = e.handle("call", {"window": "1"}, at).reply["result"]["ticket"]
            got.append(t["number"] if t else None)
        order.append(got)
    assert order[0] == order[1] == order[2] == ["A002", "S001", "A003", "A001", "A004"]


def test_issued_events_round_trip_byte_for_byte() -> None:
    h = _mixed_day()
    for ev in h.log:
        assert HallEvent.from_json(ev).to_json() == ev
    issued = [e for e in h.log if e["type"] == "ticket.issued"]
    assert ["slot_from" in e for e in issued] == [False, True, False, True, False]


# -- the report ---------------------------------------------------------------------------------------------
def test_report_counts_appointments(tmp_path: Path) -> None:
    raw = small_hall()
    cfg = parse_config(raw)
    eng, store = Engine(cfg), EventStore(tmp_path / "data").open()
    store.record_config(yaml.safe_dump(raw, allow_unicode=True))
    plan: list[tuple[datetime, str, dict[str, Any]]] = [
        (MON, "issue", {"service": "general", "priority": "appointment", "slot": _slot("09:00", "09:20")}),  # A001
        (MON.replace(minute=1), "issue", {"service": "general"}),                                            # A002
        (MON.replace(minute=2), "issue", {"service": "general", "priority": "appointment",
                                          "slot": _slot("08:00", "08:20")}),                                  # late
        (MON.replace(minute=3), "issue", {"service": "general", "priority": "appointment"}),                 # A004
        (MON.replace(minute=4), "issue", {"service": "general", "priority": "appointment",
                                          "slot": _slot("09:10", "09:20")}),                                  # A005
        (MON.replace(minute=5), "login", {"window": "3", "staff": "S003"}),
        (MON.replace(minute=6), "call", {"window": "3"}),    # A001 within its slot
        (MON.replace(minute=7), "call", {"window": "3"}),    # A004 (no slot)
        (MON.replace(minute=30), "call", {"window": "3"}),   # A005 after its slot's end
        (MON.replace(minute=31), "call", {"window": "3"}),   # A002
        (MON.replace(minute=32), "finish", {"window": "3"}),
    ]
    for i, (at, name, args) in enumerate(plan):
        out = eng.handle(name, args, at)
        assert out.ok, out.reply
        store.append([(out.events, StoredCommand(f"c{i}", name, out.reply))])
    store.append([(eng.tick(MON + timedelta(days=1)), None)])       # A003 (late, never called): no-show
    store.close()
    json_out = tmp_path / "r.json"
    res = subprocess.run([sys.executable, "-m", "hallq", "report", "--data", str(tmp_path / "data"), "--date",
                          "2026-11-23", "--format", "json", "--out", str(json_out)], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    r = json.loads(json_out.read_text(encoding="utf-8"))
    assert r["appointments"] == {"checked_in": 4, "on_time": 3, "late": 1, "served": 3, "served_within_slot": 2,
                                 "on_time_rate": 0.75, "within_slot_rate": 0.5}
    assert r["tickets"]["issued"] == 5 and r["tickets"]["green"] == 0
    csv_out = tmp_path / "r.csv"
    res = subprocess.run([sys.executable, "-m", "hallq", "report", "--data", str(tmp_path / "data"), "--date",
                          "2026-11-23", "--format", "csv", "--out", str(csv_out)], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "appointments,,served_within_slot,2" in csv_out.read_text(encoding="utf-8-sig")


# -- end to end: a kiosk checks an appointment in at a secure hall's controller (real mosquitto) -------------
def test_a_kiosk_checks_in_an_appointment_over_mqtt(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    public = b64url_encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    base = small_hall()
    base["kiosks"] = [{"id": "kiosk-1", "credentials": {"issuer_public_keys": {"msb-test": public}}}]
    with secure_hall(tmp_path / "hall", base) as h:
        start = datetime.now(TZ).replace(microsecond=0) + timedelta(minutes=10)

        def token(jti: str, service: str = "general") -> str:
            now = int(time.time())
            return mint(key, "msb-test", APPOINTMENT_PREFIX, {
                "iss": "mengsuban", "jti": jti, "iat": now - 5, "exp": now + 300, "sub": f"holder-{jti}",
                "name": "巴特尔", "idn": "150102195001011234", "hall": h.cfg.hall.id, "service": service,
                "slot_start": start.isoformat(), "slot_end": (start + timedelta(minutes=30)).isoformat()})

        proc = ControllerProc(h.config_path, tmp_path / "data", tmp_path / "controller.log",
                              ("--credentials", str(h.credentials("controller")))).start()
        try:
            with h.client("kiosk-1", subscribe=(h.cfg.topic("event", "#"), h.cfg.topic("controller", "status"))) \
                    as kiosk, h.client("console-1") as console:
                kiosk.wait_for(h.cfg.topic("controller", "status"), lambda b: b.get("state") == "online",
                               timeout_s=30)
                walk_in = kiosk.command("issue", service="general")["ticket"]
                with pytest.raises(CommandError) as e:
                    kiosk.command("issue", service="general", priority="appointment")
                assert e.value.code == "FORBIDDEN"
                apt = token("apt-1")
                got = kiosk.command("issue", service="general", priority="appointment", credential=apt,
                                    slot={"from": "2026-01-01T08:00:00+08:00", "to": "2026-01-01T08:30:00+08:00"})
                t = got["ticket"]
                want = {"from": start.isoformat(), "to": (start + timedelta(minutes=30)).isoformat()}
                assert (t["priority"], t["slot"], t["ahead"]) == ("appointment", want, 0), "the verified slot"
                ev = kiosk.wait_for(h.cfg.topic("event", "ticket.issued"), lambda b: b["ticket"] == t["number"])
                assert (ev["priority"], ev["slot_from"], ev["slot_to"]) == ("appointment", want["from"], want["to"])
                assert "holder" not in ev and "rater" not in ev
                for again, code in ((apt, "FORBIDDEN"), (token("apt-2", "tax"), "WRONG_SERVICE")):
                    with pytest.raises(CommandError) as e:
                        kiosk.command("issue", service="general", priority="appointment", credential=again)
                    assert e.value.code == code, e.value
                console.command("login", window="3", staff="S003", actor="S003")
                first = console.command("call", window="3", actor="S003")["ticket"]
                assert first["number"] == t["number"], "the appointment before the walk-in who came first"
                assert console.command("call", window="3", actor="S003")["ticket"]["number"] == walk_in["number"]
        finally:
            proc.stop()
