"""The manager's pages in headless Chromium (Debian's chromium via Playwright): a 差评 from an evaluator on the
live hall page and in the inbox within a second, the alert acknowledged with a note, the work order worked
verify → feedback → revisit with the feedback on the citizen's page, and an appeal decided by the appellant
refused; screenshots into docs/img with HALLQ_SCREENSHOTS=1."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

from hallq.mqtt import BlockingClient
from tests.console.desk import Desk
from tests.console.test_browser import CHROMIUM, api, browser, pytestmark, shot, sign_in

__all__ = ["browser", "pytestmark", "CHROMIUM"]


def served(desk: Desk, window_staff: str = "S001") -> dict[str, Any]:
    rc, rh = api(desk, "R001")
    t: dict[str, Any] = rc.post("/api/tickets", json={"service": "general"}, headers=rh).json()
    wc, wh = api(desk, window_staff)
    for cmd in ("login", "call", "finish"):
        assert wc.post(f"/api/windows/1/{cmd}", json={}, headers=wh).status_code == 200
    return t


def mn_shot(page: Any, desk: Desk, path: str, name: str, ready: str) -> None:
    page.goto(desk.url + "/lang?to=mn&next=" + path)
    page.locator(ready).first.wait_for()
    page.wait_for_function("document.fonts.ready.then(() => true)")
    shot(page, name)
    page.goto(desk.url + "/lang?to=zh&next=" + path)


def test_bad_review_live_ack_and_work_order_loop(browser: Any, desk: Desk) -> None:
    ctx = browser.new_context(viewport={"width": 1600, "height": 900})
    board = ctx.new_page()
    inbox = ctx.new_page()
    watch = BlockingClient(desk.hall.cfg, "watch", (desk.hall.cfg.topic("event", "#"),))
    watch.connect()
    try:
        sign_in(board, desk, "M001")
        board.wait_for_url("**/hall")
        board.locator("#board-windows .tile").first.wait_for()
        inbox.goto(desk.url + "/alerts")
        inbox.locator("#alert-rows", has_text="没有告警").wait_for()
        t = served(desk)
        rc, rh = api(desk, "R001")
        for _ in range(3):
            rc.post("/api/tickets", json={"service": "tax"}, headers=rh)
        number = t["ticket"]["number"]
        board.locator("#fig-served", has_text="1").wait_for()
        with BlockingClient(desk.hall.cfg, "evaluator-1") as evaluator:
            t0 = time.monotonic()
            evaluator.command("rate", ticket=number, level=1, window="1", channel="evaluator", reasons=["态度差"])
            board.locator("#board-alerts .kind-bad_review").wait_for(timeout=1000)
            inbox.locator("#alert-rows tr", has_text=number).wait_for(timeout=1000)
            assert time.monotonic() - t0 < 1.0
        board.locator("#fig-bad", has_text="1").wait_for()
        board.locator("#alert-count", has_text="1").wait_for()
        board.wait_for_function("document.fonts.ready.then(() => true)")
        shot(board, "console-hall-zh.png")
        mn_shot(board, desk, "/hall", "console-hall-mn.png", "#board-alerts .kind-bad_review")

        # the inbox: acknowledge with a required note
        shot(inbox, "console-alerts-zh.png")
        mn_shot(inbox, desk, "/alerts", "console-alerts-mn.png", "#alert-rows tr")
        inbox.locator("#alert-rows tr", has_text=number).get_by_role("button").click()
        inbox.locator("#dlg-ack").get_by_role("button", name="确定").click()          # no note: refused
        inbox.locator("#message", has_text="请填写处理说明").wait_for()
        inbox.locator("#alert-rows tr", has_text=number).get_by_role("button").click()
        inbox.get_by_label("处理说明（必填）").fill("已约谈窗口人员，转差评工单核实")
        inbox.locator("#dlg-ack").get_by_role("button", name="确定").click()
        ev = watch.wait_for(desk.hall.cfg.topic("event", "alert.acknowledged"))
        assert ev["note"] == "已约谈窗口人员，转差评工单核实"
        board.locator("#alert-count", has_text="0").wait_for()

        # the work order: verify → feedback → revisit
        page = inbox
        page.goto(desk.url + "/orders")
        oid = f"WO-{t['ticket']['date']}-{number}"
        page.get_by_role("link", name=oid).click()
        page.wait_for_url(f"**/orders/{oid}")
        page.locator("#o-level", has_text="态度差").wait_for()
        shot(page, "console-order-zh.png")
        mn_shot(page, desk, f"/orders/{oid}", "console-order-mn.png", "#o-history li")
        page.locator("#f-verify").wait_for(state="visible")
        page.fill("#verify-note", "调取录像核实属实")
        page.locator("#f-verify button").click()
        page.locator("#o-state", has_text="整改中").wait_for()
        answer = "已对窗口人员批评教育，并在窗口增设服务提示，感谢您的监督。"
        page.fill("#feedback-note", answer)
        page.locator("#f-feedback button").click()
        page.locator("#o-state", has_text="已反馈").wait_for()
        page.fill("#revisit-note", "电话回访，群众表示满意")
        page.locator("#f-revisit button").click()
        page.locator("#o-state", has_text="已回访").wait_for()
        page.locator("#o-history li").nth(3).wait_for()
        changed = watch.wait_for(desk.hall.cfg.topic("event", "workorder.changed"),
                                 lambda b: b["action"] == "wo_revisit")
        assert changed["by"] == "M001"

        citizen = ctx.new_page()
        citizen.set_viewport_size({"width": 390, "height": 844})
        citizen.goto(desk.url + "/t?q=" + t["ref"])
        citizen.locator("#answer-text", has_text=answer).wait_for()
        shot(citizen, "console-ticket-answer.png")
    finally:
        watch.close()
        ctx.close()


def test_appeal_decided_by_the_appellant_is_refused(browser: Any, desk: Desk) -> None:
    t = served(desk)
    with BlockingClient(desk.hall.cfg, "evaluator-1") as evaluator:
        evaluator.command("rate", ticket=t["ticket"]["number"], level=2, window="1", channel="evaluator")
    oid = f"WO-{t['ticket']['date']}-{t['ticket']['number']}"
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    try:
        sign_in(page, desk, "M001")
        page.wait_for_url("**/hall")
        page.goto(desk.url + "/orders/" + oid)
        page.locator("#f-appeal").wait_for(state="visible")
        page.select_option("#appeal-reason", "误评")
        page.fill("#appeal-note", "群众评错了窗口")
        page.locator("#f-appeal button").click()
        page.locator("#o-state", has_text="申诉复核中").wait_for()
        page.fill("#decide-note", "我认为申诉成立")
        page.locator("#f-decide input[value=true]").check()
        page.locator("#f-decide button").click()
        page.locator("#message", has_text="被评价人和申诉人不能复核本申诉").wait_for()
        assert "申诉复核中" in page.inner_text("#o-state")
        other = ctx.browser.new_context().new_page() if ctx.browser else None
        assert other is not None
        sign_in(other, desk, "M002")
        other.wait_for_url("**/hall")
        other.goto(desk.url + "/orders/" + oid)
        other.fill("#decide-note", "录像显示评价对象错误，申诉成立")
        other.locator("#f-decide input[value=true]").check()
        other.locator("#f-decide button").click()
        other.locator("#o-state", has_text="申诉成立").wait_for()
        other.context.close()
    finally:
        ctx.close()


@contextlib.contextmanager
def manager_page(browser: Any, desk: Desk, path: str, height: int = 900) -> Iterator[Any]:
    """A page signed in as manager M001, at `path`."""
    ctx = browser.new_context(viewport={"width": 1280, "height": height})
    page = ctx.new_page()
    try:
        sign_in(page, desk, "M001")
        page.wait_for_url("**/hall")
        page.goto(desk.url + path)
        yield page
    finally:
        ctx.close()


def test_orders_page_draws_the_monthly_revisit_sample(browser: Any, desk: Desk) -> None:
    with manager_page(browser, desk, "/orders") as page:
        page.locator("#rv-summary", has_text="尚未抽样").wait_for()
        page.get_by_role("button", name="抽样").click()
        page.locator("#rv-summary", has_text="抽取 0 件").wait_for()
        page.locator("#rv-month").fill(date.today().strftime("%Y-%m"))
        page.get_by_role("button", name="抽样").click()
        page.locator("#message", has_text="这个月还没有结束").wait_for()


def test_config_page_tells_how_long_citizens_data_is_kept(browser: Any, desk: Desk) -> None:
    with manager_page(browser, desk, "/config", height=1000) as page:
        page.locator("#c-privacy li", has_text="保留 90 天后清除").wait_for()
        shot(page, "console-config-privacy.png")
        mn_shot(page, desk, "/config", "console-config-privacy-mn.png", "#c-privacy li")
