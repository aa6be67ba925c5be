"""The manager's API (CONTRACT §6, issue 14) against a real controller and mosquitto: the live board, alerts with
escalation marks and acknowledgement, 差评 work orders verify → feedback → revisit and appeal/decide by someone
else, the citizen's page showing the feedback, report downloads for every period, the configuration view."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any

import httpx

from hallq.mqtt import BlockingClient
from tests.console.desk import Desk


def post(c: httpx.Client, csrf: str, url: str, body: object | None = None) -> httpx.Response:
    return c.post(url, json=body if body is not None else {}, headers={"X-CSRF-Token": csrf})


def bad_review(desk: Desk, level: int = 1) -> dict[str, Any]:
    """A ticket served at window 1 by S001 and rated `level` on the window's evaluator; its issue result."""
    rc, rcsrf = desk.session("R001")
    t: dict[str, Any] = post(rc, rcsrf, "/api/tickets", {"service": "general"}).json()
    w, wcsrf = desk.session("S001")
    assert post(w, wcsrf, "/api/windows/1/login").status_code == 200
    assert post(w, wcsrf, "/api/windows/1/call").status_code == 200
    assert post(w, wcsrf, "/api/windows/1/finish").status_code == 200
    with BlockingClient(desk.hall.cfg, "evaluator") as ev:
        ev.command("rate", ticket=t["ticket"]["number"], level=level, window="1", channel="evaluator",
                   reasons=["态度差"])
    return t


def test_manager_pages_need_the_manager_role(desk: Desk) -> None:
    s, _ = desk.session("S001")
    for url in ("/api/board", "/api/workorders", "/api/workorders/WO-2026-01-01-A001", "/api/config",
                "/api/reports?period=day"):
        r = s.get(url)
        assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN", url
    anon = desk.client()
    for url in ("/api/board", "/api/workorders", "/api/config", "/api/reports"):
        assert anon.get(url).status_code == 401
    m, _ = desk.session("M001")
    for page in ("/hall", "/alerts", "/orders", "/orders/WO-2026-01-01-A001", "/reports", "/config"):
        r = m.get(page)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"], page
    assert m.get("/", follow_redirects=False).headers["location"] == "/hall"


def test_board_shows_windows_queues_figures(desk: Desk) -> None:
    t = bad_review(desk, level=2)
    m, _ = desk.session("M002")
    rc, rcsrf = desk.session("R001")
    post(rc, rcsrf, "/api/tickets", {"service": "tax"})
    b = m.get("/api/board").json()
    assert [w["id"] for w in b["windows"]] == ["1", "2", "3"]
    w1 = b["windows"][0]
    assert w1["status"] in ("rating", "idle") and w1["staff"]["id"] == "S001" and w1["since"]
    tax = next(q for q in b["queues"] if q["id"] == "tax")
    assert tax["waiting"] == 1 and tax["oldest_at"]
    assert b["today"]["issued"] == 2 and b["today"]["served"] == 1 and b["today"]["rated"] == 1
    assert b["today"]["bad"] == 1 and b["today"]["good_rate"] == 0.0
    assert b["alerts"]["open"] >= 1 and b["escalate_after_s"] == 1800
    assert t["ticket"]["number"] == "A001"


def test_alert_escalation_mark_and_ack_with_note(desk: Desk) -> None:
    bad_review(desk)
    m, csrf = desk.session("M001")
    alerts = m.get("/api/alerts").json()["alerts"]
    bad = next(a for a in alerts if a["kind"] == "bad_review")
    assert bad["state"] == "open" and bad["escalated"] is False and bad["age_s"] >= 0
    assert post(m, csrf, f"/api/alerts/{bad['id']}/ack", {"note": "  "}).status_code == 400
    with BlockingClient(desk.hall.cfg, "watch", (desk.hall.cfg.topic("event", "alert.acknowledged"),)) as watch:
        r = post(m, csrf, f"/api/alerts/{bad['id']}/ack", {"note": "已电话联系窗口负责人"})
        assert r.status_code == 200, r.text
        assert r.json()["alert"]["ack"]["note"] == "已电话联系窗口负责人"
        ev = watch.wait_for(desk.hall.cfg.topic("event", "alert.acknowledged"))
        assert ev["alert"] == bad["id"]
    again = post(m, csrf, f"/api/alerts/{bad['id']}/ack", {"note": "again"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "ALREADY_ACKNOWLEDGED"
    acked = m.get("/api/alerts?state=acknowledged").json()["alerts"]
    assert [a["id"] for a in acked] == [bad["id"]] and acked[0]["escalated"] is False


def test_work_order_verify_feedback_revisit_and_the_citizen_sees_the_answer(desk: Desk) -> None:
    t = bad_review(desk)
    number, day = t["ticket"]["number"], t["ticket"]["date"]
    oid = f"WO-{day}-{number}"
    m, csrf = desk.session("M001")
    orders = m.get("/api/workorders").json()["orders"]
    assert [o["id"] for o in orders] == [oid]
    o = orders[0]
    assert o["state"] == "pending" and o["overdue"] is False and o["days_left"] >= 0 and o["staff"] == "S001"
    one = m.get(f"/api/workorders/{oid}").json()["order"]
    assert one["rating"]["level"] == 1 and one["rating"]["reasons"] == ["态度差"]
    assert m.get("/api/workorders/WO-2020-01-01-A001").status_code == 404
    assert m.get("/api/workorders/nonsense").status_code == 404
    # bad bodies
    assert post(m, csrf, f"/api/workorders/{oid}/verify", {}).status_code == 400                  # note required
    assert post(m, csrf, f"/api/workorders/{oid}/verify", {"note": "x", "by": "M002"}).status_code == 403
    assert post(m, csrf, f"/api/workorders/{oid}/verify", {"note": "x", "extra": 1}).status_code == 400
    assert post(m, csrf, f"/api/workorders/{oid}/explode", {"note": "x"}).status_code == 404
    r = post(m, csrf, f"/api/workorders/{oid}/feedback", {"note": "too early"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "BAD_STATE"
    s, scsrf = desk.session("S001")
    assert post(s, scsrf, f"/api/workorders/{oid}/verify", {"note": "x"}).status_code == 403
    # the loop
    r = post(m, csrf, f"/api/workorders/{oid}/verify", {"note": "核实属实：窗口人员态度生硬"})
    assert r.status_code == 200 and r.json()["order"]["state"] == "rectifying", r.text
    answer = "已对窗口人员批评教育并整改，感谢您的监督。"
    r = post(m, csrf, f"/api/workorders/{oid}/feedback", {"note": answer})
    assert r.json()["order"]["state"] == "fed_back"
    r = post(m, csrf, f"/api/workorders/{oid}/revisit", {"note": "电话回访，群众满意", "satisfied": True})
    assert r.json()["order"]["state"] == "revisited"
    hist = m.get(f"/api/workorders/{oid}").json()["order"]["history"]
    assert [(h["action"], h["by"]) for h in hist] == [("wo_verify", "M001"), ("wo_feedback", "M001"),
                                                      ("wo_revisit", "M001")]
    anon = desk.client()
    ticket = anon.get("/api/t", params={"q": t["ref"]}).json()["ticket"]
    assert ticket["answer"] == answer
    assert answer in anon.get("/t", params={"q": t["ref"]}).text or "answer" in anon.get(
        "/t", params={"q": t["ref"]}).text


def test_appeal_decided_by_the_appellant_is_refused(desk: Desk) -> None:
    t = bad_review(desk)
    oid = f"WO-{t['ticket']['date']}-{t['ticket']['number']}"
    m1, c1 = desk.session("M001")
    m2, c2 = desk.session("M002")
    assert post(m1, c1, f"/api/workorders/{oid}/appeal", {"reason": "not a reason"}).status_code == 400
    r = post(m1, c1, f"/api/workorders/{oid}/appeal", {"reason": "误评", "note": "群众评错了窗口"})
    assert r.status_code == 200 and r.json()["order"]["state"] == "appealed", r.text
    r = post(m1, c1, f"/api/workorders/{oid}/decide", {"note": "我认为成立", "uphold": True})
    assert r.status_code == 409 and r.json()["error"]["code"] == "NOT_ALLOWED"
    assert m1.get(f"/api/workorders/{oid}").json()["order"]["state"] == "appealed"
    assert post(m2, c2, f"/api/workorders/{oid}/decide", {"note": "x", "uphold": "yes"}).status_code == 400
    r = post(m2, c2, f"/api/workorders/{oid}/decide", {"note": "监控录像显示评价对象错误", "uphold": True})
    assert r.status_code == 200 and r.json()["order"]["state"] == "set_aside"


def test_report_downloads_for_every_period(desk: Desk) -> None:
    bad_review(desk, level=5)
    m, _ = desk.session("M001")
    today = date.today().isoformat()
    r = m.get("/api/reports", params={"period": "day", "date": today, "format": "json"})
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers["content-disposition"] and today in r.headers["content-disposition"]
    day = r.json()
    assert day["tickets"]["served"] == 1 and day["evaluations"]["good"] == 1
    assert day["rankings"]["staff"][0]["key"] == "S001" and "S001" in day["attendance"]
    for period in ("week", "month", "quarter"):
        rep = m.get("/api/reports", params={"period": period, "date": today, "format": "json"}).json()
        assert rep["date"] <= today <= rep["until"] and rep["tickets"] == day["tickets"], period
    rng = m.get("/api/reports", params={"from": today, "to": today, "format": "csv"})
    assert rng.status_code == 200 and rng.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(rng.content.decode("utf-8-sig"))))
    assert ["tickets", "", "served", "1"] in rows
    x = m.get("/api/reports", params={"period": "month", "format": "xlsx"})
    assert x.status_code == 200 and x.content[:2] == b"PK"
    for bad in ({"period": "year"}, {"from": "2026-13-01"}, {"from": "2026-02-01", "to": "2026-01-01"},
                {"format": "doc"}, {"from": "2020-01-01", "to": "2026-01-01"}):
        assert m.get("/api/reports", params=bad).status_code == 400, bad


def test_config_view_and_its_history(desk: Desk) -> None:
    m, _ = desk.session("M001")
    r = m.get("/api/config")
    assert r.status_code == 200
    body = r.json()
    cfg = body["config"]
    assert [s["id"] for s in cfg["services"]] == ["general", "tax"]
    assert {s["id"] for s in cfg["staff"]} >= {"S001", "M001", "M002"}
    assert "password" not in json.dumps(body)
    assert len(body["history"]) == 1 and len(body["history"][0]["sha"]) == 64 and body["history"][0]["diff"] is None
    assert "text" not in body["history"][0]
    privacy = body["privacy"]     # the controller's `retention` (docs/privacy.md)
    assert privacy["kept_days"] == 90 and set(privacy) == {"kept_days", "days", "oldest", "due", "held", "purged_days",
                                                           "purged"}
    w, _ = desk.session("S001")
    assert w.get("/api/config").status_code == 403, "a window clerk sees no configuration nor personal-data figures"
