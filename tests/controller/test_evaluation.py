"""好差评 in the engine: never a default rating, 差评 work orders with working-day deadlines and appeals,
suspicious ratings flagged (never deleted)."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.controller.test_engine import MON, Run


def served(r: Run, window: str = "1", staff: str = "S001", service: str = "general", holder: str | None = None,
           finish: bool = True) -> str:
    if r.window(window)["status"] == "closed":
        r.ok("login", window=window, staff=staff)
    args = {"holder": holder} if holder else {}
    number = str(r.ok("issue", service=service, **args)["ticket"]["number"])
    r.ok("call", window=window)
    if finish:
        r.ok("finish", window=window)
    r.now += timedelta(seconds=10)  # a person reads the prompt
    return number


def test_bad_review_opens_a_work_order_routed_to_the_unit() -> None:
    r = Run(staff=[{"id": "S001", "name": "张三", "windows": ["1"], "unit": "市税务局"}])
    n = served(r)
    r.ok("rate", ticket=n, level=2, window="1", reasons=["态度不好"])
    opened = [e for e in r.log if e["type"] == "workorder.opened"]
    assert len(opened) == 1
    o = opened[0]
    assert (o["order"], o["staff"], o["unit"], o["level"]) == (f"WO-2026-11-23-{n}", "S001", "市税务局", 2)
    assert o["deadline"] == "2026-11-30", "5 working days after Monday 23 November: Monday 30 November"
    alert = [e for e in r.log if e["type"] == "alert.raised" and e["kind"] == "bad_review"][0]
    assert alert["order"] == o["order"]
    assert r.ok("rate", ticket=served(r), level=3, window="1")["evaluation"]["level"] == 3
    assert len([e for e in r.log if e["type"] == "workorder.opened"]) == 1, "基本满意 is not a 差评"


def test_work_order_life_cycle_and_rectified_rate() -> None:
    r = Run()
    n = served(r)
    r.ok("rate", ticket=n, level=1, window="1")
    wo = f"WO-2026-11-23-{n}"
    assert r.err("wo_feedback", order=wo, by="M01", note="x") == "BAD_STATE", "verify comes first"
    assert r.err("wo_verify", order=wo, by="M01") == "BAD_REQUEST", "a verification says what it found"
    assert r.err("wo_verify", order="WO-nope", by="M01", note="x") == "UNKNOWN_ORDER"
    o = r.ok("wo_verify", order=wo, by="M01", note="录像核实：窗口人员解释不清", complex=True)["order"]
    assert (o["state"], o["state_zh"], o["complex"]) == ("rectifying", "整改中", True)
    assert o["deadline"] == "2026-12-14", "complex cases: 15 working days"
    assert r.engine.orders.rectified_rate() == (0, 1)
    r.ok("wo_feedback", order=wo, by="M01", note="已电话向办事人说明并致歉，完善一次性告知单")
    o = r.ok("wo_revisit", order=wo, by="M02", satisfied=True)["order"]
    assert o["state"] == "revisited" and [h["action"] for h in o["history"]] == ["wo_verify", "wo_feedback",
                                                                                   "wo_revisit"]
    assert r.engine.orders.rectified_rate() == (1, 1)
    assert [e["to"] for e in r.log if e["type"] == "workorder.changed"] == ["rectifying", "fed_back", "revisited"]


def test_deadline_skips_a_public_holiday_and_overdue_alert_once() -> None:
    r = Run()
    r.now = datetime(2026, 9, 29, 10, 0, tzinfo=MON.tzinfo)  # Tuesday before the National Day holiday
    n = served(r)
    r.ok("rate", ticket=n, level=2, window="1")
    (o,) = [e for e in r.log if e["type"] == "workorder.opened"]
    # 30 Sep (1), then 1–7 Oct holiday (8 Oct 2026 too: 中秋/国庆 bridge), Sat 10 Oct is a working day
    assert o["deadline"] > "2026-10-07", o["deadline"]
    r.now = datetime.fromisoformat(o["deadline"] + "T10:00:00+08:00")
    r.ok("ticket", number=n, date="2026-09-29")
    assert not [e for e in r.log if e.get("kind") == "workorder_overdue"], "due today is not overdue"
    r.now += timedelta(days=1)
    r.ok("ticket", number=n, date="2026-09-29")
    r.ok("ticket", number=n, date="2026-09-29")
    overdue = [e for e in r.log if e.get("kind") == "workorder_overdue"]
    assert len(overdue) == 1 and o["order"] in overdue[0]["message"]


def test_appeal_needs_a_reviewer_other_than_the_rated_staff() -> None:
    r = Run()
    n = served(r)
    r.ok("rate", ticket=n, level=1, window="1")
    wo = f"WO-2026-11-23-{n}"
    assert r.err("wo_appeal", order=wo, by="S001", reason="不服") == "BAD_REQUEST"
    assert r.ok("wo_appeal", order=wo, by="S001", reason="恶意差评", note="办事人要求违规办理")["order"]["state"] == \
        "appealed"
    assert r.err("wo_decide", order=wo, by="S001", uphold=True) == "NOT_ALLOWED", "nobody reviews their own rating"
    assert r.ok("wo_decide", order=wo, by="M01", uphold=False)["order"]["state"] == "pending", "back where it was"
    r.ok("wo_appeal", order=wo, by="S001", reason="误评")
    assert r.ok("wo_decide", order=wo, by="M01", uphold=True)["order"]["state"] == "set_aside"
    assert r.engine.orders.rectified_rate() == (0, 0), "an order set aside on appeal does not count"
    ev = r.ok("ticket", number=n)
    assert ev["ticket"]["number"] == n
    assert r.engine.state.evaluations[(MON.date(), n)].level == 1, "the rating itself is never deleted or changed"


def test_no_default_rating_unrated_stays_unrated() -> None:
    r = Run()
    n = served(r)
    r.now += timedelta(seconds=120)  # the prompt times out
    r.ok("ticket", number=n)
    assert r.window("1")["status"] == "idle"
    assert not [e for e in r.log if e["type"] == "evaluation.recorded"]
    assert (MON.date(), n) not in r.engine.state.evaluations


def test_suspicious_ratings_are_flagged_not_refused() -> None:
    r = Run()
    n = served(r)
    r.now -= timedelta(seconds=9.8)  # 1.2 s after the prompt opened
    flags = r.ok("rate", ticket=n, level=5, window="1")
    rated = [e for e in r.log if e["type"] == "evaluation.recorded"][-1]
    assert "too_fast" in rated["flags"] and flags["evaluation"]["level"] == 5
    # a burst: five ratings at one window within a minute
    for _ in range(4):
        m = served(r)
        r.now -= timedelta(seconds=7)
        r.ok("rate", ticket=m, level=5, window="1")
    assert "burst" in [e for e in r.log if e["type"] == "evaluation.recorded"][-1]["flags"]
    # the same person rating three services in a day
    r.now += timedelta(minutes=10)
    for _ in range(3):
        m = served(r, holder="msb:0123456789abcdef01234567")
        r.now += timedelta(minutes=5)
        r.ok("rate", ticket=m, level=5, window="1")
    assert "same_rater" in [e for e in r.log if e["type"] == "evaluation.recorded"][-1]["flags"]


def test_rating_while_staff_press_keys_is_flagged() -> None:
    r = Run()
    n = served(r, finish=False)
    r.now += timedelta(seconds=1)
    r.ok("recall", window="1")
    rated = r.ok("rate", ticket=n, level=5, window="1")
    assert rated["evaluation"]["level"] == 5
    assert "staff_operating" in [e for e in r.log if e["type"] == "evaluation.recorded"][-1]["flags"]


def test_work_orders_are_rebuilt_from_the_log() -> None:
    r = Run()
    n = served(r)
    r.ok("rate", ticket=n, level=2, window="1")
    r.ok("wo_verify", order=f"WO-2026-11-23-{n}", by="M01", note="核实")
    from controller.engine import Engine

    again = Engine(r.cfg)
    for ev in r.log:
        again.apply(ev)
    assert again.orders.orders[f"WO-2026-11-23-{n}"].to_json() == r.engine.orders.orders[
        f"WO-2026-11-23-{n}"].to_json()


def test_work_order_list_filters_and_pages() -> None:
    r = Run()
    numbers = []
    for day in range(3):                      # Mon, Tue, Wed: one 差评 a day
        r.now = MON + timedelta(days=day)
        n = served(r)
        r.ok("rate", ticket=n, level=1, window="1")
        numbers.append(n)
    ids = [f"WO-2026-11-{23 + d}-{n}" for d, n in enumerate(numbers)]
    r.ok("wo_verify", order=ids[0], by="M01", note="核实")
    every = r.ok("workorders")
    assert [o["id"] for o in every["orders"]] == ids and (every["total"], every["more"]) == (3, False)
    assert [o["id"] for o in r.ok("workorders", state="pending")["orders"]] == ids[1:]
    assert [o["id"] for o in r.ok("workorders", since="2026-11-24")["orders"]] == ids[1:]
    page = r.ok("workorders", limit=2)
    assert [o["id"] for o in page["orders"]] == ids[:2] and (page["total"], page["more"]) == (3, True)
    assert r.err("workorders", limit=0) == "BAD_REQUEST"
    assert r.err("workorders", since="yesterday") == "BAD_REQUEST"
