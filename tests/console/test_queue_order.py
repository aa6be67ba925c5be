"""The console's queue lists (window client, 导服台) show the waiting tickets in the order the controller calls them:
green, then appointments within their slot (the early / late edges of `appointments`), then walk-ins — one rule,
hallq/callorder.py, shared with the controller's queues."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from console.hub import TicketBook
from controller.engine import Engine
from hallq.config import parse_config
from tests.conftest import small_hall
from tests.console.desk import Desk, stream_items

TZ = ZoneInfo("Asia/Shanghai")
MON = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)


def _slot(start: str, end: str) -> dict[str, str]:
    return {"from": f"2026-11-23T{start}:00+08:00", "to": f"2026-11-23T{end}:00+08:00"}


# (minutes after 09:00, service, issue arguments): what each ticket is at 09:10 and at 09:40
SCRIPT: list[tuple[int, str, dict[str, Any]]] = [
    (0, "general", {}),                                                          # A001 walk-in
    (1, "general", {"priority": "appointment", "slot": _slot("10:00", "10:30")}),  # A002 early: due 09:30
    (2, "general", {"priority": "appointment", "slot": _slot("09:00", "09:30")}),  # A003 on time
    (3, "general", {"priority": "appointment", "slot": _slot("08:30", "09:00")}),  # A004 late: a walk-in
    (4, "general", {"priority": "appointment"}),                                 # A005 no slot: all day
    (5, "tax", {}),                                                              # S001 walk-in
    (5, "general", {}),                  # A006 walk-in, the same instant as S001: after it (issue order)
    (6, "general", {"priority": "green"}),                                       # A007 green, issued late
    (6, "tax", {"priority": "appointment", "slot": _slot("09:00", "10:00")}),    # S002 on time
]


def _hall() -> tuple[Engine, TicketBook]:
    """An engine that ran SCRIPT, and the console's book fed with the events it published (seq as the log's)."""
    engine = Engine(parse_config(small_hall()), b"s" * 32)
    book = TicketBook()
    seq = 0
    for minute, service, args in SCRIPT:
        out = engine.handle("issue", {"service": service, **args}, MON + timedelta(minutes=minute))
        assert out.ok, out.reply
        for ev in out.events:
            seq += 1
            book.apply(json.loads(json.dumps({**ev, "seq": seq}, default=str)))     # as it crosses MQTT
    return engine, book


@pytest.mark.parametrize(("minute", "expected"), [
    (10, ["A007", "A003", "A005", "S002", "A001", "A002", "A004", "S001", "A006"]),
    (40, ["A007", "A002", "A003", "A005", "S002", "A001", "A004", "S001", "A006"]),   # A002's time has come
])
def test_the_book_lists_what_the_engine_calls(minute: int, expected: list[str]) -> None:
    engine, book = _hall()
    now = MON + timedelta(minutes=minute)
    listed = [t["number"] for t in book.listing("waiting", {"general", "tax"}, engine.cfg, now)]
    assert listed == expected, "the console's list is not the call order"
    general = [t["number"] for t in book.listing("waiting", {"general"}, engine.cfg, now)]
    assert general == [n for n in expected if n.startswith("A")]
    assert engine.handle("login", {"window": "1", "staff": "S001"}, now).ok
    called = []
    for i in range(len(expected) + 1):
        t = engine.handle("call", {"window": "1"}, now + timedelta(seconds=i)).reply["result"]["ticket"]
        called.append(t["number"] if t else None)
    assert called == [*listed, None], "the controller called in another order than the console listed"


def test_walk_in_appointment_green_listed_and_called_green_first(desk: Desk) -> None:
    rc, rcsrf = desk.session("R001")
    h = {"X-CSRF-Token": rcsrf}
    with rc.stream("GET", "/api/stream", timeout=30) as live:
        items = stream_items(live)
        assert next(items)["kind"] == "hall"
        issued = []
        for body in ({"service": "general"}, {"service": "general", "priority": "appointment"},
                     {"service": "general", "priority": "green", "reason": "八十岁老人"}):
            r = rc.post("/api/tickets", json=body, headers=h)
            assert r.status_code == 200, r.text
            issued.append(r.json()["ticket"]["number"])
        walk_in, appointment, green = issued
        for item in items:          # the console's book has a ticket once its ticket.issued went by
            if item["kind"] == "event" and item["event"].get("ticket") == green:
                break
    assert issued == ["A001", "A002", "A003"]
    desk_list = rc.get("/api/tickets", params={"status": "waiting"}).json()["tickets"]
    assert [(t["number"], t["priority"]) for t in desk_list] == [
        (green, "green"), (appointment, "appointment"), (walk_in, "normal")]
    c, csrf = desk.session("S001")
    window_list = c.get("/api/windows/1").json()["queue"]
    assert [t["number"] for t in window_list] == [green, appointment, walk_in]
    h = {"X-CSRF-Token": csrf}
    assert c.post("/api/windows/1/login", json={}, headers=h).status_code == 200
    called = [c.post("/api/windows/1/call", json={}, headers=h).json()["result"]["ticket"]["number"]
              for _ in range(3)]
    assert called == [t["number"] for t in desk_list], "the controller calls in another order than listed"
