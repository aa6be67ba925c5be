"""督办 (CONTRACT §3.7 alerts, issue 14): an alert still open `supervision.escalate_after_s` after it was raised
raises `alert_escalated` naming it (`of`), once; an acknowledged alert never escalates; the citizen's `ticket`
reply carries the answer to its 差评 once a manager gave feedback."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from controller.engine import Engine
from hallq.config import parse_config
from tests.conftest import small_hall

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def engine() -> Engine:
    raw = small_hall()
    raw["supervision"] = {"escalate_after_s": 600}
    return Engine(parse_config(raw))


def bad_review(eng: Engine, number: str, at: datetime) -> dict[str, Any]:
    steps: list[tuple[str, dict[str, Any]]] = [
        ("issue", {"service": "general"}), ("login", {"window": "1", "staff": "S001"}), ("call", {"window": "1"}),
        ("finish", {"window": "1"}), ("rate", {"ticket": number, "level": 1, "window": "1"})]
    for name, args in steps:
        out = eng.handle(name, args, at)
        assert out.ok, out.reply
    alert = next(e for e in out.events if e["type"] == "alert.raised")
    return alert


def escalations(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "alert.raised" and e["kind"] == "alert_escalated"]


def test_open_alert_escalates_once_after_the_configured_time() -> None:
    eng = engine()
    alert = bad_review(eng, "A001", T0)
    assert escalations(eng.tick(T0 + timedelta(seconds=599))) == []
    [esc] = escalations(eng.tick(T0 + timedelta(seconds=601)))
    assert esc["of"] == alert["id"] and esc["window"] == "1" and esc["ticket"] == "A001"
    assert "A001" in esc["message"] and esc["id"] != alert["id"]
    assert escalations(eng.tick(T0 + timedelta(seconds=1200))) == []        # once
    assert escalations(eng.tick(T0 + timedelta(seconds=5000))) == []        # and never of itself
    listed = eng.handle("alerts", {"state": "open"}, T0 + timedelta(seconds=5001)).reply["result"]["alerts"]
    assert [a["kind"] for a in listed] == ["bad_review", "alert_escalated"]
    assert listed[1]["of"] == alert["id"]


def test_acknowledged_alert_does_not_escalate() -> None:
    eng = engine()
    alert = bad_review(eng, "A001", T0)
    out = eng.handle("alert_ack", {"alert": alert["id"], "note": "已处理", "by": "M001"}, T0 + timedelta(seconds=60))
    assert out.ok, out.reply
    assert escalations(eng.tick(T0 + timedelta(seconds=3600))) == []


def test_escalation_survives_a_replay() -> None:
    eng = engine()
    bad_review(eng, "A001", T0)
    log: list[dict[str, Any]] = []
    eng2 = engine()
    # replay what the first engine logged, then tick: nothing is raised twice
    steps: list[tuple[str, dict[str, Any]]] = [
        ("issue", {"service": "general"}), ("login", {"window": "1", "staff": "S001"}), ("call", {"window": "1"}),
        ("finish", {"window": "1"}), ("rate", {"ticket": "A001", "level": 1, "window": "1"})]
    for name, args in steps:
        log += eng2.handle(name, args, T0).events
    log += eng2.tick(T0 + timedelta(seconds=700))
    eng3 = engine()
    for i, ev in enumerate(log, 1):
        eng3.apply({**ev, "seq": i})
    assert escalations(eng3.tick(T0 + timedelta(seconds=900))) == []


def test_ticket_reply_carries_the_answer_to_its_bad_review() -> None:
    eng = engine()
    bad_review(eng, "A001", T0)
    order = "WO-2026-11-23-A001"
    t = eng.handle("ticket", {"number": "A001"}, T0).reply["result"]["ticket"]
    assert "answer" not in t
    steps: list[tuple[str, dict[str, Any]]] = [("wo_verify", {"order": order, "by": "M001", "note": "核实属实"}),
                                               ("wo_feedback", {"order": order, "by": "M001", "note": "已整改"})]
    for name, args in steps:
        assert eng.handle(name, args, T0).ok
    t = eng.handle("ticket", {"number": "A001"}, T0).reply["result"]["ticket"]
    assert t["answer"] == "已整改"
