"""`wo_forward` in the pure engine (docs/region.md): a 差评 the league forwards becomes the hall's work order
`WO-R-{ref}`, marked as from the league, with the served ticket's window and staff; who may send it; replay."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from controller.authz import Sender
from controller.engine import Engine
from hallq.config import parse_config

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
CONFIG: dict[str, Any] = {
    "hall": {"id": "fw", "name": {"zh": "转办厅"}},
    "services": [{"id": "general", "prefix": "A", "name": {"zh": "综合"}}],
    "windows": [{"id": "1", "services": ["general"]}],
    "staff": [{"id": "S001", "name": "窗口一", "windows": ["1"], "unit": "社保科"},
              {"id": "S003", "name": "主任", "windows": ["1"], "roles": ["manager"]}],
    "security": {"mode": "secure", "device_login": "id", "principals": [
        {"id": "region", "role": "region"}, {"id": "console-1", "role": "console"}, {"id": "kiosk-1", "role": "kiosk"},
        {"id": "desk-1", "role": "device", "window": "1"}]},
}


def test_wo_forward_opens_a_league_order_on_the_served_ticket() -> None:
    cfg = parse_config(CONFIG)
    eng = Engine(cfg, b"k" * 32)
    eng.tick(T0)
    p = cfg.security.principal
    assert eng.handle("issue", {"service": "general"}, T0, Sender(p("kiosk-1"))).ok
    assert eng.handle("login", {"window": "1", "staff": "S001"}, T0, Sender(p("desk-1"))).ok
    assert eng.handle("call", {"window": "1"}, T0 + timedelta(minutes=2), Sender(p("desk-1"))).ok
    assert eng.handle("finish", {"window": "1"}, T0 + timedelta(minutes=9), Sender(p("desk-1"))).ok
    at = T0 + timedelta(hours=3)
    body = {"ref": "12345-0042", "note": "市民来电：态度差", "ticket": "A001", "date": "2026-11-23", "channel": "12345",
            "by": "L001"}
    out = eng.handle("wo_forward", body, at, Sender(p("region")))
    assert out.ok, out.reply
    order = out.reply["result"]["order"]
    assert (order["id"], order["ticket"], order["window"], order["staff"], order["unit"], order["service"]) == \
        ("WO-R-12345-0042", "A001", "1", "S001", "社保科", "general")
    assert order["state"] == "pending" and order["level"] == 1
    assert order["forwarded"] == {"ref": "12345-0042", "channel": "12345", "note": "市民来电：态度差", "by": "L001"}
    ev = next(e for e in out.events if e["type"] == "workorder.opened")   # (after what the time closed)
    assert ev["source"] == "region" and ev["principal"] == "region"
    # the hall works it as its own; the outcome flows up as workorder.changed
    fb = eng.handle("wo_verify", {"order": "WO-R-12345-0042", "by": "S003", "note": "核实"}, at,
                    Sender(p("console-1"), "S003"))
    changed = [e for e in fb.events if e["type"] == "workorder.changed"]
    assert fb.ok and len(changed) == 1
    # refusals
    again = eng.handle("wo_forward", body, at, Sender(p("region")))
    assert again.reply["error"]["code"] == "ALREADY_FORWARDED" and not again.events
    nope = eng.handle("wo_forward", {**body, "ref": "x-2", "ticket": "A999"}, at, Sender(p("region")))
    assert nope.reply["error"]["code"] == "UNKNOWN_TICKET"
    bad = eng.handle("wo_forward", {**body, "ref": "bad ref"}, at, Sender(p("region")))
    assert bad.reply["error"]["code"] == "BAD_REQUEST"
    assert eng.handle("wo_forward", {**body, "ref": "x-3"}, at, Sender(p("kiosk-1"))).reply["error"]["code"] \
        == "FORBIDDEN"
    assert eng.handle("wo_forward", {**body, "ref": "x-4"}, at, Sender(p("console-1"), "S001")).reply["error"][
        "code"] == "FORBIDDEN"                            # a console needs the manager role, as for every wo_*
    no_ticket = eng.handle("wo_forward", {"ref": "x-5", "note": "信件", "service": "general"}, at, Sender(p("region")))
    assert no_ticket.ok and no_ticket.reply["result"]["order"]["ticket"] == "x-5"
    # a replay of the log rebuilds the same orders
    replay = Engine(cfg, b"k" * 32)
    for e in [ev, *changed]:
        replay.apply(e)
    assert replay.orders.orders["WO-R-12345-0042"].to_json() == eng.orders.orders["WO-R-12345-0042"].to_json()
