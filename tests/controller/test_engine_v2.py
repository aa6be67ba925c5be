"""Engine v2 commands (CONTRACT §3.7): hold, callback, call_number, cancel, alerts and alert_ack, on the pure core."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from controller.authz import Sender
from controller.engine import Engine
from controller.snapshot import dump, load
from controller.state import HallState
from display.presenter import CallBoard
from firmware_bridge.hallbus.messages import EVENT, KEY, DeviceEvent
from firmware_bridge.keypad.keymap import key_event
from firmware_bridge.keypad.messages import KeyPress
from firmware_bridge.mapping import Command, command_for, json_event, show_frame
from hallq.config import DisplayConfig, parse_config
from tests.conftest import Hall, small_hall
from tests.controller.test_engine import MON, Run

SUP = {"wait_alert_s": 600, "service_alert_s": 900, "pause_alert_s": 300, "unattended_alert_s": 600}
ALERT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _hall() -> Run:
    """A001 held (window 1), A002 waiting, A003 finished (window 1 in its rating prompt), S001 held (window 2),
    S002 waiting; window 1 (general+tax) rating, window 2 (tax) idle, window 3 (general) closed."""
    r = Run()
    for s in ("general", "general", "general", "tax", "tax"):
        r.ok("issue", service=s)
    r.ok("login", window="1", staff="S001")
    r.ok("login", window="2", staff="S002")
    assert r.ok("call", window="1")["ticket"]["number"] == "A001"
    r.ok("hold", window="1")
    assert r.ok("call_number", window="1", number="A003")["ticket"]["number"] == "A003"
    r.ok("finish", window="1")
    assert r.ok("call", window="2")["ticket"]["number"] == "S001"
    r.ok("hold", window="2", note="缺身份证复印件")
    return r


def _picture(engine: Engine, now: datetime) -> dict[str, Any]:
    """Everything a command could change, as plain data."""
    st = engine.state
    return {"windows": {w: st.window_json(w) for w in st.windows},
            "tickets": {k: st.ticket_json(t) for k, t in st.tickets.items()},
            "queues": st.queues_json(now), "held": sorted(st.held),
            "alerts": [a.to_json() for a in st.alerts.page("all", None, 10**6)[0]], "open": st.open_alerts,
            "raised": st.alerts.raised, "evaluations": {k: e.to_json() for k, e in st.evaluations.items()}}


def test_the_prepared_hall() -> None:
    r = _hall()
    st = r.engine.state
    assert [r.ok("ticket", number=n)["ticket"]["status"] for n in ("A001", "A002", "A003", "S001", "S002")] == \
        ["held", "waiting", "finished", "held", "waiting"]
    assert [r.window(w)["status"] for w in "123"] == ["rating", "idle", "closed"]
    assert st.held == {(MON.date(), "A001"), (MON.date(), "S001")}
    held = [e for e in r.log if e["type"] == "ticket.held"]
    assert [(e["ticket"], e["window"], e["staff"], e.get("note")) for e in held] == \
        [("A001", "1", "S001", None), ("S001", "2", "S002", "缺身份证复印件")]


# (command, args, expected error, commands run first). Order of CONTRACT §3.2/§3.7: BAD_REQUEST, UNKNOWN_*,
# NOT_LOGGED_IN, PAUSED, then NOT_HELD / NOT_WAITING before WRONG_SERVICE.
ERRORS: list[tuple[str, dict[str, Any], str, list[tuple[str, dict[str, Any]]]]] = [
    ("hold", {}, "BAD_REQUEST", []),
    ("hold", {"window": "1", "note": "x" * 201}, "BAD_REQUEST", []),
    ("hold", {"window": "9"}, "UNKNOWN_WINDOW", []),
    ("hold", {"window": "3"}, "NOT_LOGGED_IN", []),
    ("hold", {"window": "1"}, "NO_CURRENT_TICKET", []),                       # rating
    ("hold", {"window": "2"}, "NO_CURRENT_TICKET", []),                       # idle
    ("hold", {"window": "2"}, "NO_CURRENT_TICKET", [("call", {"window": "2"}), ("pause", {"window": "2"})]),
    ("callback", {"window": "1"}, "BAD_REQUEST", []),
    ("callback", {"window": "1", "number": "A001", "date": "2026-02-30"}, "BAD_REQUEST", []),
    ("callback", {"window": "9", "number": "A001"}, "UNKNOWN_WINDOW", []),
    ("callback", {"window": "1", "number": "A999"}, "UNKNOWN_TICKET", []),
    ("callback", {"window": "1", "number": "A001", "date": "2026-11-22"}, "UNKNOWN_TICKET", []),
    ("callback", {"window": "3", "number": "A999"}, "UNKNOWN_TICKET", []),    # UNKNOWN_* before NOT_LOGGED_IN
    ("callback", {"window": "3", "number": "A001"}, "NOT_LOGGED_IN", []),
    ("callback", {"window": "2", "number": "S001"}, "PAUSED", [("pause", {"window": "2"})]),
    ("callback", {"window": "2", "number": "A002"}, "PAUSED", [("pause", {"window": "2"})]),
    ("callback", {"window": "1", "number": "A002"}, "NOT_HELD", []),          # waiting
    ("callback", {"window": "1", "number": "A003"}, "NOT_HELD", []),          # finished
    ("callback", {"window": "2", "number": "A002"}, "NOT_HELD", []),          # NOT_HELD before WRONG_SERVICE
    ("callback", {"window": "2", "number": "A001"}, "WRONG_SERVICE", []),
    ("call_number", {"number": "A002"}, "BAD_REQUEST", []),
    ("call_number", {"window": "9", "number": "A002"}, "UNKNOWN_WINDOW", []),
    ("call_number", {"window": "1", "number": "Z001"}, "UNKNOWN_TICKET", []),
    ("call_number", {"window": "3", "number": "A002"}, "NOT_LOGGED_IN", []),
    ("call_number", {"window": "2", "number": "S002"}, "PAUSED", [("pause", {"window": "2"})]),
    ("call_number", {"window": "2", "number": "A999"}, "UNKNOWN_TICKET", [("pause", {"window": "2"})]),
    ("call_number", {"window": "1", "number": "A001"}, "NOT_WAITING", []),    # held
    ("call_number", {"window": "1", "number": "A003"}, "NOT_WAITING", []),    # finished
    ("call_number", {"window": "2", "number": "A001"}, "NOT_WAITING", []),    # NOT_WAITING before WRONG_SERVICE
    ("call_number", {"window": "2", "number": "A002"}, "WRONG_SERVICE", []),
    ("cancel", {}, "BAD_REQUEST", []),
    ("cancel", {"number": "A002", "reason": 7}, "BAD_REQUEST", []),
    ("cancel", {"number": "A999"}, "UNKNOWN_TICKET", []),
    ("cancel", {"number": "A003"}, "NOT_WAITING", []),
    ("cancel", {"number": "S002"}, "NOT_WAITING", [("call", {"window": "2"})]),   # serving
    ("alerts", {"state": "closed"}, "BAD_REQUEST", []),
    ("alerts", {"limit": 0}, "BAD_REQUEST", []),
    ("alerts", {"limit": 1001}, "BAD_REQUEST", []),
    ("alerts", {"since": "yesterday"}, "BAD_REQUEST", []),
    ("alert_ack", {"alert": "A1-00000000"}, "BAD_REQUEST", []),                   # the note is required
    ("alert_ack", {"alert": "A1-00000000", "note": "已处理"}, "UNKNOWN_ALERT", []),
]


@pytest.mark.parametrize(("name", "args", "code", "before"), ERRORS,
                         ids=[f"{n}-{c}-{i}" for i, (n, _, c, _) in enumerate(ERRORS)])
def test_errors_change_and_emit_nothing(name: str, args: dict[str, Any], code: str,
                                        before: list[tuple[str, dict[str, Any]]]) -> None:
    r = _hall()
    for cmd, a in before:
        r.ok(cmd, **a)
    at = r.now
    picture, logged = _picture(r.engine, at), len(r.log)
    assert r.err(name, **args) == code
    assert len(r.log) == logged, f"a refused {name} emitted {r.log[logged:]}"
    assert _picture(r.engine, at) == picture, f"a refused {name} changed the state"


def test_a_held_ticket_is_never_called_and_not_waiting() -> None:
    r = _hall()
    q = {s["id"]: s for s in r.engine.state.queues_json(r.now)["services"]}
    assert (q["general"]["waiting"], q["general"]["held"], q["tax"]["waiting"], q["tax"]["held"]) == (1, 1, 1, 1)
    r.ok("login", window="3", staff="S003")
    assert r.ok("ticket", number="A002")["ticket"]["ahead"] == 0, "the held A001 is not ahead of A002"
    assert r.ok("call", window="3")["ticket"]["number"] == "A002"
    assert r.ok("call", window="3") == {"ticket": None}, "the held A001 is not taken by call"
    assert r.ok("ticket", number="A001")["ticket"]["status"] == "held"
    assert r.err("rate", ticket="A001", level=5) == "NOT_SERVED"


def test_callback_finishes_the_current_ticket_and_is_a_call() -> None:
    r = _hall()
    r.ok("login", window="3", staff="S003")
    r.ok("call", window="3")                                    # A002 serving at window 3
    mark = len(r.log)
    t = r.ok("callback", window="3", number="A001")["ticket"]
    assert (t["number"], t["status"], t["window"]) == ("A001", "serving", "3"), "any window of the service"
    fin, called = r.log[mark:]
    assert (fin["type"], fin["ticket"], fin["prompt"]) == ("ticket.finished", "A002", False)
    assert (called["type"], called["ticket"], called["window"], called["recall"], called["callback"]) == \
        ("ticket.called", "A001", "3", 0, True)
    assert r.window("3")["ticket"] == "A001" and r.window("3")["status"] == "serving"
    assert r.engine.state.held == {(MON.date(), "S001")}
    assert r.ok("recall", window="3")["recalls"] == 1, "recalls count from the call-back"
    r.ok("finish", window="3")
    assert r.ok("rate", ticket="A001", level=5, window="3")["evaluation"]["channel"] == "evaluator"


def test_callback_from_the_rating_prompt_and_by_date() -> None:
    r = _hall()
    assert r.window("1")["status"] == "rating"
    t = r.ok("callback", window="1", number="S001", date="2026-11-23")["ticket"]
    assert (t["number"], t["status"], t["window"]) == ("S001", "serving", "1")
    assert r.log[-1]["type"] == "ticket.called", "the prompt closes without a finish (A003 was finished)"


def test_call_number_takes_a_waiting_ticket_out_of_turn() -> None:
    r = Run()
    for _ in range(3):
        r.ok("issue", service="general")
    r.ok("login", window="3", staff="S003")
    r.ok("call", window="3")
    mark = len(r.log)
    t = r.ok("call_number", window="3", number="A003")["ticket"]
    assert (t["number"], t["status"], t["window"]) == ("A003", "serving", "3")
    assert [(e["type"], e["ticket"]) for e in r.log[mark:]] == [("ticket.finished", "A001"), ("ticket.called", "A003")]
    assert r.log[-1]["recall"] == 0 and r.log[-1]["by_number"] is True and "callback" not in r.log[-1]
    assert r.ok("call", window="3")["ticket"]["number"] == "A002"


def test_cancel_waiting_and_held_tickets() -> None:
    r = _hall()
    t = r.ok("cancel", number="A002", reason="citizen left")["ticket"]
    assert (t["status"], t["ahead"]) == ("cancelled", 0)
    t = r.ok("cancel", number="S001")["ticket"]
    assert t["status"] == "cancelled"
    cancelled = [e for e in r.log if e["type"] == "ticket.cancelled"]
    assert [(e["ticket"], e["was"], e.get("reason"), e["window"]) for e in cancelled] == \
        [("A002", "waiting", "citizen left", None), ("S001", "held", None, None)]
    assert r.err("cancel", number="A002") == "NOT_WAITING"
    assert r.err("callback", window="2", number="S001") == "NOT_HELD"
    q = {s["id"]: s for s in r.engine.state.queues_json(r.now)["services"]}
    assert (q["general"]["waiting"], q["tax"]["held"]) == (0, 0)
    r.ok("login", window="3", staff="S003")
    assert r.ok("call", window="3") == {"ticket": None}, "a cancelled ticket is never called"


def test_held_tickets_are_closed_as_no_show_at_day_end() -> None:
    r = _hall()
    r.now = MON.replace(hour=23, minute=59) + timedelta(minutes=2)
    assert r.ok("ticket", number="A001", date="2026-11-23")["ticket"]["status"] == "no_show"
    closed = [e for e in r.log if e["type"] == "day.closed"]
    assert closed[0]["no_show"] == ["A001", "A002", "S001", "S002"]
    assert r.engine.state.held == set()
    assert r.err("callback", window="2", number="S001", date="2026-11-23") == "NOT_HELD"


def _alerting() -> Run:
    """A hall with a bad review (alert at once) and a long wait (alert from time)."""
    r = Run(supervision=SUP)
    r.ok("issue", service="general")
    r.ok("issue", service="general")
    r.ok("login", window="1", staff="S001")
    r.ok("call", window="1")
    r.ok("finish", window="1")
    r.ok("rate", ticket="A001", level=1, window="1", reasons=["slow"])
    r.now += timedelta(seconds=601)
    r.log += r.engine.tick(r.now)          # A002 has waited 10 minutes
    return r


def test_alerts_carry_stable_ids_and_are_listed() -> None:
    r = _alerting()
    raised = [e for e in r.log if e["type"] == "alert.raised"]
    assert [e["kind"] for e in raised] == ["bad_review", "long_wait"]
    ids = [e["id"] for e in raised]
    assert all(ALERT_ID.match(i) for i in ids) and len(set(ids)) == 2
    assert r.engine.state.open_alerts == 2
    got = r.ok("alerts")
    assert (got["total"], got["more"]) == (2, False)
    first = got["alerts"][0]
    assert (first["id"], first["kind"], first["window"], first["ticket"], first["state"], first["ack"]) == \
        (ids[0], "bad_review", "1", "A001", "open", None)
    assert first["at"] == raised[0]["at"] and "差评" in first["message"]
    assert "window" not in got["alerts"][1], "a long wait concerns no window"
    page = r.ok("alerts", limit=1)
    assert (len(page["alerts"]), page["total"], page["more"]) == (1, 2, True)
    assert r.ok("alerts", since="2026-11-24")["total"] == 0
    # the same log replayed gives the same ids
    again = Engine(r.cfg)
    for ev in r.log:
        again.apply(ev)
    assert [a.id for a in again.state.alerts.live.values()] == ids


def test_alert_ack_by_the_acting_staff() -> None:
    r = _alerting()
    aid = r.ok("alerts")["alerts"][0]["id"]
    out = r.engine.handle("alert_ack", {"alert": aid, "note": "已回访 整改"}, r.now, Sender(actor="S002"))
    assert out.ok, out.reply
    alert = out.reply["result"]["alert"]
    assert alert["state"] == "acknowledged"
    assert alert["ack"] == {"by": "S002", "actor": "S002", "at": r.now.isoformat(), "note": "已回访 整改"}
    [ev] = out.events
    assert (ev["type"], ev["alert"], ev["kind"], ev["by"], ev["actor"], ev["note"]) == \
        ("alert.acknowledged", aid, "bad_review", "S002", "S002", "已回访 整改")
    r.log += out.events
    assert r.engine.state.open_alerts == 1
    assert r.err("alert_ack", alert=aid, note="again") == "ALREADY_ACKNOWLEDGED"
    assert [a["id"] for a in r.ok("alerts", state="acknowledged")["alerts"]] == [aid]
    assert r.ok("alerts")["total"] == 1 and r.ok("alerts", state="all")["total"] == 2
    # an open hall without actor: `by` from the argument
    other = r.ok("alerts")["alerts"][0]["id"]
    acked = r.ok("alert_ack", alert=other, note="开窗", by="值班长")["alert"]
    assert acked["ack"]["by"] == "值班长" and acked["ack"]["actor"] is None
    assert "actor" not in r.log[-1], "an open hall's events carry no actor"
    assert r.engine.state.open_alerts == 0


def test_old_alerts_without_id_get_one_from_their_seq() -> None:
    r = Run()
    old = {"type": "alert.raised", "seq": 7, "at": MON.isoformat(), "kind": "long_wait", "key": "wait:x:A001",
           "message": "ticket A001 has waited 31 min", "ticket": "A001"}
    r.engine.apply(old)
    assert [a["id"] for a in r.ok("alerts")["alerts"]] == ["e7"]
    assert r.ok("alert_ack", alert="e7", note="ok", by="M")["alert"]["state"] == "acknowledged"
    fresh = Engine(r.cfg)
    for ev in [old] + r.log:
        fresh.apply(ev)
    assert fresh.state.alerts.get("e7") is not None and fresh.state.open_alerts == 0


def _everything() -> Run:
    r = _alerting()
    r.ok("issue", service="tax")
    r.ok("login", window="2", staff="S002")
    r.ok("call", window="2")
    r.ok("hold", window="2", note="容缺")
    r.ok("issue", service="tax")
    r.ok("issue", service="general")
    r.ok("call_number", window="1", number="A003")
    r.ok("cancel", number="S002", reason="left")
    aid = r.ok("alerts")["alerts"][0]["id"]
    r.ok("alert_ack", alert=aid, note="处理", by="M01")
    r.ok("callback", window="1", number="S001")
    r.ok("issue", service="tax")
    r.ok("call", window="2")
    r.ok("hold", window="2")
    return r


def test_replay_rebuilds_the_same_state() -> None:
    r = _everything()
    fresh = Engine(r.cfg)
    for ev in r.log:
        fresh.apply(ev)
    assert _picture(fresh, r.now) == _picture(r.engine, r.now)
    plain = HallState(r.cfg)
    for ev in r.log:
        plain.apply(ev)
    assert plain.held == r.engine.state.held and plain.open_alerts == r.engine.state.open_alerts


def test_snapshot_round_trip_and_archived_alerts() -> None:
    r = _everything()
    back = load(dump(r.engine), r.cfg, b"")
    assert _picture(back, r.now) == _picture(r.engine, r.now)
    acked, still_open = r.ok("alerts", state="all")["alerts"]
    assert (acked["state"], still_open["state"]) == ("acknowledged", "open")
    r.ok("logout", window="1")
    r.ok("logout", window="2")
    # three days on, Monday's alerts are archived, open or not; every answer stays the same
    for day in (1, 2, 3):
        r.now = MON + timedelta(days=day)
        r.log += r.engine.tick(r.now)
    book = r.engine.state.alerts
    monday = date(2026, 11, 23)
    assert not book.live and book.archived == {monday: [1, 1]}
    assert r.ok("alerts") == {"alerts": [still_open], "total": 1, "more": False}
    assert r.ok("alerts", state="acknowledged")["alerts"] == [acked]
    assert r.ok("alerts", state="all", since="2026-11-23", limit=1) == {"alerts": [acked], "total": 2, "more": True}
    assert r.ok("alerts", since="2026-11-24")["total"] == 0
    assert r.err("alert_ack", alert=acked["id"], note="x") == "ALREADY_ACKNOWLEDGED"
    back = load(dump(r.engine), r.cfg, b"")
    assert _picture(back, r.now) == _picture(r.engine, r.now)
    # acknowledging an archived open alert brings it back until the next day change
    done = r.ok("alert_ack", alert=still_open["id"], note="已督办", by="M01")["alert"]
    assert done["state"] == "acknowledged" and r.engine.state.open_alerts == 0
    assert list(book.live) == [still_open["id"]] and book.archived == {monday: [0, 1]}
    assert [a["id"] for a in r.ok("alerts", state="all")["alerts"]] == [acked["id"], still_open["id"]]
    r.now = MON + timedelta(days=4)
    r.log += r.engine.tick(r.now)
    assert not book.live and book.archived == {monday: [0, 2]}
    fresh = Engine(r.cfg)
    for ev in r.log:
        fresh.apply(ev)
    assert _picture(fresh, r.now) == _picture(r.engine, r.now)
    assert fresh.state.alerts.archive == book.archive, "the archive is the same in a replay"
    back = load(dump(r.engine), r.cfg, b"")
    assert _picture(back, r.now) == _picture(r.engine, r.now)
    never = Engine(r.cfg, compact=False)
    for ev in r.log:
        never.apply(ev)
    assert _picture(never, r.now)["alerts"] == _picture(r.engine, r.now)["alerts"], "as if nothing was archived"


def test_the_call_screen_and_led_board_announce_a_callback_like_a_call() -> None:
    r = _hall()
    r.ok("callback", window="1", number="A001")
    called = dict(r.log[-1], seq=42)
    board = CallBoard(r.cfg, DisplayConfig(id="hall-screen"))
    call = board.on_called(called)
    assert call is not None and (call.number, call.window, call.recall) == ("A001", "1", 0)
    board.on_controller({"state": "online"})
    assert board.texts()[1] == "请 A001 号到 1 号窗口办理", "shown as the latest call"
    assert board.should_announce(call, r.now), "a fresh call-back is spoken"
    show = show_frame(called, None, gb18030=True)
    assert show.text == "请A001号到1号窗口" and not show.blink, "a call-back does not blink like a recall"


@pytest.mark.parametrize(("data", "expected"), [
    (bytes((KEY.HOLD,)), Command("hold", {"window": "1"})),
    (bytes((KEY.CALLBACK,)) + b"a012", Command("callback", {"window": "1", "number": "A012"})),
    (bytes((KEY.CALL_NUMBER,)) + b"S003", Command("call_number", {"window": "1", "number": "S003"})),
    (bytes((KEY.CALLBACK,)), "callback key without a ticket number (ARG, e.g. A012)"),
    (bytes((KEY.CALL_NUMBER,)) + b"A 1", "call_number key without a ticket number (ARG, e.g. A012)"),
])
def test_device_keys_for_hold_and_callback(data: bytes, expected: Command | str) -> None:
    got = command_for(DeviceEvent(3, EVENT.KEY, data), "1", None)
    assert got == expected


def test_mqtt_device_keys_for_hold_and_callback() -> None:
    eid, ev = json_event({"event_id": "e1", "type": "key", "key": "callback", "arg": "A012"})
    assert command_for(ev, "2", None) == Command("callback", {"window": "2", "number": "A012"})
    _, ev = json_event({"event_id": "e2", "type": "key", "key": "hold"})
    assert command_for(ev, "2", None) == Command("hold", {"window": "2"})


def test_v2_commands_and_state_alerts_over_mqtt(hall: Hall) -> None:
    """The controller process over a real mosquitto: the v2 commands, their events, and the retained
    `state/alerts` count (CONTRACT §3.3) following a bad review and its acknowledgement, across a restart."""
    c = hall.client("t", (hall.cfg.topic("#"),))
    c.connect()
    hall.start_controller(c)
    alerts_topic = hall.cfg.topic("state", "alerts")
    assert c.wait_for(alerts_topic, lambda b: True)["open"] == 0
    for _ in range(3):
        c.command("issue", service="general")
    c.command("login", window="3", staff="S003")
    c.command("call", window="3")
    assert c.command("hold", window="3", note="容缺受理")["ticket"]["status"] == "held"
    assert c.command("call_number", window="3", number="A003")["ticket"]["number"] == "A003"
    assert c.command("callback", window="3", number="A001")["ticket"]["status"] == "serving"
    assert c.command("cancel", number="A002", reason="left")["ticket"]["status"] == "cancelled"
    r = c.request("callback", window="3", number="A002")
    assert (r["ok"], r["error"]["code"]) == (False, "NOT_HELD") and r["error"]["message"]
    called = c.wait_for(hall.cfg.topic("event", "ticket.called"), lambda b: b.get("callback") is True)
    assert (called["ticket"], called["window"], called["recall"]) == ("A001", "3", 0)
    c.wait_for(hall.cfg.topic("event", "ticket.held"), lambda b: b["ticket"] == "A001")
    c.wait_for(hall.cfg.topic("event", "ticket.cancelled"), lambda b: b["ticket"] == "A002")
    c.command("finish", window="3")
    c.command("rate", ticket="A001", level=1, window="3")
    raised = c.wait_for(hall.cfg.topic("event", "alert.raised"), lambda b: b["kind"] == "bad_review")
    assert ALERT_ID.match(raised["id"])
    assert c.wait_for(alerts_topic, lambda b: b["open"] == 1)["at"]
    [alert] = c.command("alerts")["alerts"]
    assert alert["id"] == raised["id"] and alert["state"] == "open"
    hall.controller.stop()
    hall.start_controller(c)
    assert c.command("alerts")["alerts"] == [alert], "the same id after a restart"
    mark = len(c.received)
    acked = c.command("alert_ack", alert=raised["id"], note="已回访", by="M01")["alert"]
    assert acked["state"] == "acknowledged" and acked["ack"]["by"] == "M01"
    c.wait_for(alerts_topic, lambda b: b["open"] == 0, start=mark)
    ev = c.wait_for(hall.cfg.topic("event", "alert.acknowledged"), lambda b: True)
    assert (ev["alert"], ev["note"]) == (raised["id"], "已回访")
    c.close()


def test_a_legacy_keypad_key_can_hold() -> None:
    bus = {"id": "kp", "port": "loop://", "protocol": "legacy-keypad", "key_map": {1: "call", 8: "hold"},
           "devices": [{"address": 5, "kind": "keypad", "window": "1"}]}
    cfg = parse_config(small_hall(devices={"buses": [bus]}))
    key_map = cfg.devices.buses[0].key_map
    assert key_map is not None
    ev = key_event(KeyPress(9, 8), key_map)
    assert isinstance(ev, DeviceEvent)
    assert command_for(ev, "1", None) == Command("hold", {"window": "1"})


def test_cancelled_and_held_tickets_are_archived_with_their_day() -> None:
    r = _hall()
    r.ok("cancel", number="A002")
    for days in (14, 28):   # past the supplementary-rating window and the margin, from the day and its close
        r.now = MON + timedelta(days=days)
        r.ok("issue", service="general")
    st = r.engine.state
    day = date(2026, 11, 23)
    assert day in st.archive and not any(k[0] == day for k in st.tickets)
    got = {n: r.ok("ticket", number=n, date="2026-11-23")["ticket"]["status"] for n in ("A001", "A002", "S001")}
    assert got == {"A001": "no_show", "A002": "cancelled", "S001": "no_show"}, "held ones closed as no-show"
    assert r.err("cancel", number="A002", date="2026-11-23") == "NOT_WAITING"
    fresh = Engine(r.cfg)
    for ev in r.log:
        fresh.apply(ev)
    assert fresh.state.archive == st.archive
