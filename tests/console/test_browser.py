"""The console's pages in headless Chromium (Debian's chromium driven by Playwright): the window client, the
导服台 and the citizen's live ticket page; screenshots into docs/img with HALLQ_SCREENSHOTS=1."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hallq.mqtt import BlockingClient
from tests.conftest import REPO
from tests.console.desk import PASSWORDS, Desk

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed")
SHOTS = REPO / "docs" / "img"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def shot(page: Any, name: str) -> None:
    if os.environ.get("HALLQ_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / name), full_page=True)


def api(desk: Desk, staff: str) -> tuple[httpx.Client, dict[str, str]]:
    c, csrf = desk.session(staff)
    return c, {"X-CSRF-Token": csrf}


def sign_in(page: Any, desk: Desk, staff: str) -> None:
    page.goto(desk.url + "/signin")
    page.get_by_label("工号").fill(staff)
    page.get_by_label("密码").fill(PASSWORDS[staff])
    page.get_by_role("button", name="登录").click()


def test_window_client_call_hold_callback_finish(browser: Any, desk: Desk) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    rc, rh = api(desk, "R001")
    for _ in range(3):
        assert rc.post("/api/tickets", json={"service": "general"}, headers=rh).status_code == 200
    watch = BlockingClient(desk.hall.cfg, "watch", (desk.hall.cfg.topic("event", "#"),))
    watch.connect()
    try:
        sign_in(page, desk, "S001")
        page.wait_for_url("**/window")
        page.get_by_role("button", name="1 号窗口").click()
        page.locator("#desk").wait_for(state="visible")
        page.keyboard.press("F1")
        page.locator("#cur-number", has_text="A001").wait_for()
        ev = watch.wait_for(desk.hall.cfg.topic("event", "ticket.called"), lambda b: b["ticket"] == "A001")
        assert ev["window"] == "1"
        page.locator("#waiting", has_text="2").wait_for()
        page.keyboard.press("F5")
        page.get_by_label("挂起说明（如：补交材料）").fill("补交户口本")
        page.locator("#dlg-hold").get_by_role("button", name="确定").click()
        watch.wait_for(desk.hall.cfg.topic("event", "ticket.held"), lambda b: b["ticket"] == "A001")
        page.locator("#cur-status", has_text="空闲").wait_for()
        page.keyboard.press("F6")
        page.locator("#dlg-list").get_by_role("button", name="A001").click()
        ev = watch.wait_for(desk.hall.cfg.topic("event", "ticket.called"), lambda b: b.get("callback") is True)
        assert ev["ticket"] == "A001"
        page.locator("#cur-status", has_text="办理中").wait_for()
        shot(page, "console-window-zh.png")
        page.get_by_role("button", name="办结").click()
        watch.wait_for(desk.hall.cfg.topic("event", "ticket.finished"), lambda b: b["ticket"] == "A001")
        page.locator("#cur-status", has_text="评价中").wait_for()
        page.keyboard.press("F3")      # nothing is being served now: the error in words, not a code
        page.locator("#message", has_text="当前没有正在办理的号").wait_for()
        assert "NO_CURRENT_TICKET" not in page.inner_text("#message")
        page.keyboard.press("F1")
        page.locator("#cur-number", has_text="A002").wait_for()
        page.goto(desk.url + "/lang?to=mn&next=/window")
        page.locator("#cur-number", has_text="A002").wait_for()
        page.wait_for_function("document.fonts.ready.then(() => true)")
        shot(page, "console-window-mn.png")
    finally:
        watch.close()
        ctx.close()


def test_reception_issues_green_ticket_with_reason(browser: Any, desk: Desk) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860})
    page = ctx.new_page()
    watch = BlockingClient(desk.hall.cfg, "watch", (desk.hall.cfg.topic("event", "#"),))
    watch.connect()
    try:
        sign_in(page, desk, "R001")
        page.wait_for_url("**/reception")
        page.get_by_label("税务").check()
        page.get_by_label("绿色通道", exact=True).check()
        page.get_by_role("button", name="取号").click()      # no reason yet: the page asks for one
        assert page.evaluate("document.getElementById('reason').validity.valueMissing")
        page.get_by_label("绿色通道原因（必填）").fill("现役军人")
        page.get_by_role("button", name="取号").click()
        page.locator("#issued", has_text="S001").wait_for()
        ev = watch.wait_for(desk.hall.cfg.topic("event", "ticket.issued"))
        assert ev["ticket"] == "S001" and ev["priority"] == "green" and ev.get("reason") == "现役军人"
        page.locator("#open-tickets", has_text="S001").wait_for()
        page.locator("#queue-rows", has_text="税务").wait_for()
        shot(page, "console-reception-zh.png")
        page.goto(desk.url + "/lang?to=mn&next=/reception")
        page.locator("#open-tickets", has_text="S001").wait_for()
        page.wait_for_function("document.fonts.ready.then(() => true)")
        shot(page, "console-reception-mn.png")
    finally:
        watch.close()
        ctx.close()


def test_citizen_page_live_from_ahead_to_called_to_rating(browser: Any, desk: Desk) -> None:
    rc, rh = api(desk, "R001")
    refs = [rc.post("/api/tickets", json={"service": "tax"}, headers=rh).json() for _ in range(4)]
    mine = refs[3]
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    watch = BlockingClient(desk.hall.cfg, "watch", (desk.hall.cfg.topic("event", "#"),))
    watch.connect()
    try:
        page.goto(desk.url + "/t?q=" + mine["ref"])
        page.locator("#status", has_text="前面还有 3 人").wait_for()
        page.wait_for_function("document.fonts.ready.then(() => true)")
        shot(page, "console-ticket-waiting.png")
        loads = page.evaluate("performance.getEntriesByType('navigation').length")
        wc, wh = api(desk, "S002")
        assert wc.post("/api/windows/2/login", json={}, headers=wh).status_code == 200
        for ahead in (2, 1, 0):
            wc.post("/api/windows/2/call", json={}, headers=wh)
            page.locator("#status", has_text=f"前面还有 {ahead} 人").wait_for()
        wc.post("/api/windows/2/call", json={}, headers=wh)
        page.locator("#status", has_text="请到 2 号窗口办理").wait_for()
        shot(page, "console-ticket-called.png")
        wc.post("/api/windows/2/finish", json={}, headers=wh)
        page.locator("#rate").wait_for(state="visible")
        assert page.evaluate("performance.getEntriesByType('navigation').length") == loads   # no reload
        page.locator('.level[data-level="2"]').click()
        page.get_by_label("效率低").check()
        shot(page, "console-ticket-rating.png")
        page.get_by_role("button", name="提交评价").click()
        page.locator("#thanks").wait_for(state="visible")
        ev = watch.wait_for(desk.hall.cfg.topic("event", "evaluation.recorded"))
        assert ev["ticket"] == mine["ticket"]["number"] and ev["channel"] == "qr" and ev["level"] == 2
    finally:
        watch.close()
        ctx.close()
