"""From the staff's key to what the citizen sees and hears, through real parts: mosquitto, the controller,
`hallq console` with its window client in headless Chromium, a headless call screen (`hallq display
--headless --trace`) with the voice on (recorded Mongolian stand-in clips, the Chinese ones generated), and
window 1's LED board (the hallbus simulator on a pty) behind `hallq bridge`. A call, a hold and a call-back
clicked in the page reach the call screen's trace (the call handled, its texts, its announcement started in
Mongolian then Chinese) and the LED board's SHOW frames, tied to the controller's `ticket.called` by seq."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from firmware_bridge.sim.bus import SimBus
from firmware_bridge.sim.device import SimLed
from hallq.broker import Mosquitto
from hallq.mqtt import BlockingClient
from hallq.voice import MN_CLIPS
from tests.conftest import BridgeRunner
from tests.console.desk import Desk
from tests.console.test_browser import api, browser, pytestmark, sign_in
from tests.display.test_callscreen_gui import CALL, Screen
from tests.display.test_voice import _tone
from tests.firmware_bridge.test_bridge_e2e import until

__all__ = ["browser", "pytestmark"]

LED_ADDRESS = 17
LED_ID = f"bus1-{LED_ADDRESS}"
BOARD = "hall-tv"
LED_TEXT = "请{}号到{}号窗口"                      # the bridge's default LED template
CALL_MN = "{} ᠳ᠋ᠤᠭᠠᠷ ᠂ {} ᠳ᠋ᠤᠭᠠᠷ ᠴᠣᠩᠬᠣ ᠳ᠋ᠤ ᠣᠴᠢᠨ᠎ᠠ ᠤᠤ"


class Chain(BridgeRunner):
    """The console hall plus window 1's LED board on a simulated bus behind `hallq bridge`, and the call screen."""

    def __init__(self, tmp: Path, desk: Desk, led: SimLed) -> None:
        self.tmp, self.desk, self.hall, self.led = tmp, desk, desk.hall, led
        self.screen = Screen(desk.hall, BOARD, ("--headless",))


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    voice = tmp_path / "voice"
    for name in MN_CLIPS:       # a hall records these; without them the Mongolian announcement is skipped
        _tone(voice / "mn" / f"{name}.wav", 0.05)
    led = SimLed(LED_ADDRESS)
    devices = {"buses": [{"id": "bus1", "port": str(tmp_path / "ttyBUS"), "reply_timeout_ms": 80, "retries": 3,
                          "devices": [{"address": LED_ADDRESS, "kind": "led", "window": "1"}]}]}
    displays = [{"id": BOARD, "voice": True, "voice_dir": str(voice), "languages": ["mn", "zh"]}]
    with ExitStack() as stack:    # everything started is stopped again, in reverse, also when a start fails
        broker = Mosquitto(workdir=tmp_path / "broker").start()
        stack.callback(broker.stop)
        stack.callback(SimBus([led], link=tmp_path / "ttyBUS").open().close)
        desk = Desk(tmp_path, broker, devices=devices, displays=displays)
        stack.callback(desk.close)
        c = Chain(tmp_path, desk, led)
        c.start_bridge()
        stack.callback(c.stop_bridge)
        c.screen.start()
        stack.callback(c.screen.kill)
        yield c


def called_seq(watch: BlockingClient, chain: Chain, ticket: str, after: int = 0) -> int:
    """The seq of the controller's `ticket.called` of `ticket` to window 1 (later than `after`)."""
    ev = watch.wait_for(chain.hall.cfg.topic("event", "ticket.called"),
                        lambda b: b["ticket"] == ticket and b["seq"] > after, timeout_s=15)
    assert ev["window"] == "1", f"{ticket} was called to window {ev['window']}, expected window 1"
    return int(ev["seq"])


def seen_and_heard(chain: Chain, ticket: str, seq: int, recent: list[str]) -> None:
    """The call screen handled call `seq` of `ticket` to window 1, showed it on top (the earlier calls below)
    in both languages, and started its announcement in Mongolian, then in Chinese."""
    s = chain.screen
    handled = s.wait(f"seq {seq} handled", lambda e: e["ev"] == "handled" and e["seq"] == seq)
    assert (handled["ticket"], handled["window"], handled["recall"]) == (ticket, "1", 0), handled
    shown = s.wait(f"seq {seq} on screen", lambda e: e["ev"] == "screen" and seq in e["seqs"])
    assert CALL.format(ticket, "1") in shown["texts"], f"the newest call on top: {shown['texts']}"
    assert CALL_MN.format(ticket, "1") in shown["mn"], f"and in Mongolian: {shown['mn']}"
    assert [t for t in shown["texts"] if "→" in t] == recent, f"the earlier calls {recent}: {shown['texts']}"
    s.wait(f"seq {seq} announced in Chinese", lambda e: e["ev"] == "audio" and e["seq"] == seq and e["lang"] == "zh")
    spoken = [e["lang"] for e in s.entries() if e["ev"] == "audio" and e["seq"] == seq]
    assert spoken == ["mn", "zh"], f"call {seq} announced once per language, Mongolian first: {spoken}"


def on_the_led(chain: Chain, ticket: str, since: int) -> None:
    """A SHOW frame after the first `since` ones put `ticket`'s call on window 1's LED board, which shows it."""
    want = LED_TEXT.format(ticket, "1")
    until(lambda: chain.led.text() == want and any(f.text == want for f in chain.led.shown[since:]),
          f"LED board {LED_ID} shows {want!r} from a new SHOW frame (shown: "
          f"{[f.text for f in chain.led.shown]}; bridge log: {chain.log()})")
    assert not chain.led.lines[0].blink, "a first call and a call-back do not blink (only a recall does)"


def hold(page: Any, watch: BlockingClient, chain: Chain, ticket: str, note: str) -> None:
    page.keyboard.press("F5")
    page.get_by_label("挂起说明（如：补交材料）").fill(note)
    page.locator("#dlg-hold").get_by_role("button", name="确定").click()
    watch.wait_for(chain.hall.cfg.topic("event", "ticket.held"), lambda b: b["ticket"] == ticket, timeout_s=15)
    page.locator("#cur-status", has_text="空闲").wait_for()


def test_call_and_callback_reach_the_call_screen_and_the_led_board(browser: Any, chain: Chain) -> None:
    cfg = chain.hall.cfg
    rc, rh = api(chain.desk, "R001")
    for _ in range(2):
        assert rc.post("/api/tickets", json={"service": "general"}, headers=rh).status_code == 200
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    watch = BlockingClient(cfg, "watch", (cfg.topic("event", "#"), cfg.topic("device", LED_ID, "status")))
    watch.connect()
    try:
        watch.wait_for(cfg.topic("device", LED_ID, "status"), lambda b: b["state"] == "online", timeout_s=30)
        chain.screen.wait_link(True)
        sign_in(page, chain.desk, "S001")
        page.wait_for_url("**/window")
        page.get_by_role("button", name="1 号窗口").click()
        page.locator("#desk").wait_for(state="visible")

        page.keyboard.press("F1")                                   # call the next: A001
        page.locator("#cur-number", has_text="A001").wait_for()
        first = called_seq(watch, chain, "A001")
        seen_and_heard(chain, "A001", first, [])
        on_the_led(chain, "A001", 0)

        hold(page, watch, chain, "A001", "补交户口本")
        page.keyboard.press("F1")                                   # the next citizen meanwhile: A002
        page.locator("#cur-number", has_text="A002").wait_for()
        second = called_seq(watch, chain, "A002", first)
        seen_and_heard(chain, "A002", second, ["A001 → 1号窗口"])
        on_the_led(chain, "A002", 0)
        hold(page, watch, chain, "A002", "去复印")

        frames = len(chain.led.shown)
        page.keyboard.press("F6")                                   # call A001 back from held
        page.locator("#dlg-list").get_by_role("button", name="A001", exact=True).click()
        page.locator("#cur-number", has_text="A001").wait_for()
        page.locator("#cur-status", has_text="办理中").wait_for()
        back = watch.wait_for(cfg.topic("event", "ticket.called"), lambda b: b.get("callback") is True, timeout_s=15)
        assert (back["ticket"], back["window"]) == ("A001", "1"), back
        assert back["seq"] > second
        seen_and_heard(chain, "A001", back["seq"], ["A002 → 1号窗口"])
        on_the_led(chain, "A001", frames)
        assert chain.bridge is not None and chain.bridge.poll() is None, chain.log()
    finally:
        watch.close()
        ctx.close()
