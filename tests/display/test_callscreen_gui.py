"""The real Kivy call screen in a real window (Xvfb in the test command), driven by the real controller.

Each screen writes a trace (`--trace FILE`: one JSON line per frame that showed new calls, with the
screen's texts), so the tests wait for what the screen shows instead of sleeping.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from hallq.broker import Mosquitto
from hallq.mqtt import BlockingClient, CommandError
from tests.conftest import REPO, ControllerProc, Hall, small_hall
from tests.secure_hall import secure_hall

pytestmark = [pytest.mark.gui,
              pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs an X display: run under xvfb-run")]

WAIT_S = 45.0  # an upper bound on waiting for a screen under a loaded CI machine, not a timing requirement
CALL = "请 {} 号到 {} 号窗口办理"


class Screen:
    """`hallq display --board ID` as a child process, and what its trace says it showed."""

    def __init__(self, hall: Hall | Any, board: str, extra_args: tuple[str, ...] = ()) -> None:
        self.hall, self.board = hall, board
        self.trace = hall.tmp / f"trace-{board}.jsonl"
        self.extra_args = ("--trace", str(self.trace), *extra_args)
        self.log = hall.tmp / f"display-{board}.log"
        self.env = dict(os.environ, KIVY_NO_ARGS="1")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Screen:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hallq", "display", "--config", str(self.hall.config_path), "--board", self.board,
             *self.extra_args], cwd=REPO, env=self.env, stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"),  # noqa: SIM115
            start_new_session=True)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def entries(self) -> list[dict[str, Any]]:
        if self.proc is None or not self.trace.exists():
            return []
        rows = [json.loads(line) for line in self.trace.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [r for r in rows if r.get("pid") == self.proc.pid]

    def wait(self, what: str, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            for e in self.entries():
                if pred(e):
                    return e
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.1)
        tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        raise AssertionError(f"screen {self.board} never showed {what}; trace:\n"
                             + "\n".join(json.dumps(e, ensure_ascii=False) for e in self.entries()[-5:])
                             + f"\nlog:\n{tail}")

    def wait_shows(self, text: str) -> dict[str, Any]:
        return self.wait(repr(text), lambda e: e["ev"] == "screen" and text in e["texts"])

    def wait_link(self, up: bool) -> None:
        self.wait(f"link up={up}", lambda e: e["ev"] == "link" and e["up"] is up)


@pytest.fixture
def screens() -> Iterator[list[Screen]]:
    started: list[Screen] = []
    yield started
    for s in started:
        s.kill()


def _hall(tmp_path: Path, mosquitto: Mosquitto, displays: list[dict[str, Any]]) -> Hall:
    return Hall(tmp_path, mosquitto, small_hall(mosquitto.port, data_dir=str(tmp_path / "data"), displays=displays))


@contextmanager
def _running(tmp_path: Path, request: pytest.FixtureRequest, mode: str,
             displays: list[dict[str, Any]]) -> Iterator[tuple[Any, tuple[str, ...], BlockingClient, BlockingClient]]:
    """A hall with its controller running, open or secure (CONTRACT §5: tests/secure_hall.py): the hall (for
    `tmp` and `config_path`), the screen's extra arguments, a staff client (console-1 acting as S001 in a
    secure hall) and a kiosk client."""
    if mode == "open":
        hall = _hall(tmp_path, request.getfixturevalue("mosquitto"), displays)
        hall.start_controller()
        try:
            with hall.client("staff") as staff, hall.client("kiosk") as kiosk:
                yield hall, (), staff, kiosk
        finally:
            hall.controller.kill()
        return
    base = small_hall(data_dir=str(tmp_path / "data"), displays=displays)
    with secure_hall(tmp_path / "hall", base) as h:
        ctl = ControllerProc(h.config_path, tmp_path / "data", tmp_path / "controller.log",
                             ("--credentials", str(h.credentials("controller"))))
        status = h.cfg.topic("controller", "status")
        try:
            with h.client("display-1", "waiter", subscribe=(status,)) as c:
                t0 = datetime.now(UTC) - timedelta(milliseconds=5)
                ctl.start()
                c.wait_for(status, lambda b: b.get("state") == "online"
                           and datetime.fromisoformat(b["at"]) >= t0, timeout_s=WAIT_S)
            with h.client("console-1") as staff, h.client("kiosk-1") as kiosk:
                yield h, ("--credentials", str(h.credentials("display-1"))), staff, kiosk
        finally:
            ctl.kill()


@pytest.mark.parametrize("mode", ["open", "secure"])
def test_call_screen_shows_the_call(tmp_path: Path, request: pytest.FixtureRequest, mode: str) -> None:
    with _running(tmp_path, request, mode, [{"id": "tv", "voice": False,
                                             "notice": {"mn": "ᠮᠡᠨᠳᠦ ᠬᠦᠷᠭᠡᠶ᠎ᠡ", "zh": "欢迎光临本中心"}}]) as (
            hall, extra, staff, kiosk):
        shot = hall.tmp / "callscreen.png"
        screen = Screen(hall, "tv", ("--screenshot", str(shot), "--screenshot-when", CALL.format("A001", "1"),
                                     *extra)).start()
        try:
            screen.wait_link(True)
            kiosk.command("issue", service="general")
            kiosk.command("issue", service="tax")
            staff.command("login", window="1", staff="S001", actor="S001")
            staff.command("call", window="1", actor="S001")
            shown = screen.wait_shows(CALL.format("A001", "1"))
            assert screen.proc is not None
            screen.proc.wait(WAIT_S)
        finally:
            screen.kill()
    assert "ᠲᠤᠷᠰᠢᠯᠲᠠ" in shown["mn"], "the hall's Mongolian name is on the screen"
    assert "A001 ᠳ᠋ᠤᠭᠠᠷ ᠂ 1 ᠳ᠋ᠤᠭᠠᠷ ᠴᠣᠩᠬᠣ ᠳ᠋ᠤ ᠣᠴᠢᠨ᠎ᠠ ᠤᠤ" in shown["mn"]
    assert shown["texts"][-1] == "欢迎光临本中心" and shown["mn"][-1] == "ᠮᠡᠨᠳᠦ ᠬᠦᠷᠭᠡᠶ᠎ᠡ", "the notice, both languages"
    assert sorted(hall.tmp.glob("callscreen*.png")) == [shot], "the screenshot, under the name given"
    assert Image.open(shot).size[0] >= 1280
    texts = json.loads((hall.tmp / "callscreen.png.json").read_text())
    assert CALL.format("A001", "1") in texts and "税务 等候 1 人" in texts, texts


def test_a_call_made_while_the_screen_was_down_is_shown_and_a_broker_restart_is_survived(
        tmp_path: Path, mosquitto: Mosquitto, screens: list[Screen], halls: list[Hall]) -> None:
    hall = _hall(tmp_path, mosquitto, [{"id": "tv", "voice": False}])
    halls.append(hall)
    hall.start_controller()
    first = Screen(hall, "tv").start()
    screens.append(first)
    first.wait_link(True)
    first.kill()  # power cut: no clean disconnect
    with hall.client("staff") as c:
        c.command("issue", service="general")
        c.command("issue", service="general")
        c.command("login", window="1", staff="S001")
        c.command("call", window="1")  # published while no screen is connected
    again = Screen(hall, "tv").start()
    screens.append(again)
    again.wait_shows(CALL.format("A001", "1"))

    mosquitto.stop()
    again.wait("the reconnecting line", lambda e: e["ev"] == "screen" and "系统连接中，请稍候" in e["texts"])
    mosquitto.start()
    again.wait_link(True)
    deadline = time.monotonic() + WAIT_S
    while True:  # the controller reconnects on its own schedule
        try:
            with hall.client("staff") as c:
                c.command("call", window="1")
                break
        except (TimeoutError, ConnectionError, CommandError):
            if time.monotonic() > deadline:
                raise AssertionError("controller did not come back:\n" + hall.controller.log()) from None
    shown = again.wait_shows(CALL.format("A002", "1"))
    assert "A001 → 1号窗口" in shown["texts"], "the earlier call stays in the list"
    again.wait("the controller online again", lambda e: e["ev"] == "screen" and "系统连接中，请稍候" not in e["texts"])


def test_two_screens_show_their_own_windows(tmp_path: Path, mosquitto: Mosquitto, screens: list[Screen],
                                            halls: list[Hall]) -> None:
    hall = _hall(tmp_path, mosquitto, [{"id": "floor1", "windows": ["1"], "voice": False},
                                       {"id": "floor2", "windows": ["2"], "voice": False}])
    halls.append(hall)
    hall.start_controller()
    one, two = Screen(hall, "floor1").start(), Screen(hall, "floor2").start()
    screens += [one, two]
    one.wait_link(True)
    two.wait_link(True)
    with hall.client("staff") as c:
        c.command("issue", service="general")
        c.command("issue", service="tax")
        c.command("login", window="2", staff="S002")
        c.command("login", window="1", staff="S001")
        c.command("call", window="2")   # S001 (tax) to window 2, then A001 to window 1
        c.command("call", window="1")
    on_one = one.wait_shows(CALL.format("A001", "1"))
    on_two = two.wait_shows(CALL.format("S001", "2"))
    assert not any("S001" in t for e in one.entries() if e["ev"] == "screen" for t in e["texts"]), \
        "floor1 shows window 1 only"
    assert not any("A001" in t for e in two.entries() if e["ev"] == "screen" for t in e["texts"]), \
        "floor2 shows window 2 only"
    assert [t for t in on_one["texts"] if "等候" in t] == ["综合受理 等候 0 人", "税务 等候 0 人"], \
        "window 1 takes general and tax"
    assert [t for t in on_two["texts"] if "等候" in t] == ["税务 等候 0 人"], "window 2 takes tax only"


def test_the_window_follows_a_reload(tmp_path: Path, mosquitto: Mosquitto, screens: list[Screen],
                                     halls: list[Hall]) -> None:
    """SIGHUP: the new hall name, window area and page timing are on the next frame; the window stays up."""
    raw = small_hall(mosquitto.port, data_dir=str(tmp_path / "data"), displays=[{"id": "tv", "voice": False}])
    raw["windows"][0]["area"] = {"zh": "一楼A区", "mn": "ᠨᠢᠭᠡ"}
    hall = Hall(tmp_path, mosquitto, raw)
    halls.append(hall)
    hall.start_controller()
    screen = Screen(hall, "tv").start()
    screens.append(screen)
    screen.wait_link(True)
    with hall.client("staff") as c:
        c.command("issue", service="general")
        c.command("login", window="1", staff="S001")
        c.command("call", window="1")
    screen.wait_shows("请 A001 号到 一楼A区 1 号窗口办理")
    raw["hall"]["name"] = {"zh": "新城政务服务中心", "mn": "ᠰᠢᠨ᠎ᠡ"}
    raw["windows"][0]["area"] = {"zh": "二楼B区", "mn": "ᠬᠣᠶᠠᠷ"}
    raw["displays"][0].update(waiting_page_s=3, notice_speed_px_s=120, notice={"zh": "欢迎", "mn": "ᠮᠡᠨᠳᠦ"})
    hall.config_path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    assert screen.proc is not None
    os.kill(screen.proc.pid, signal.SIGHUP)
    taken = screen.wait("the reload taken", lambda e: e["ev"] == "config")
    assert taken["ok"] is True, taken
    shown = screen.wait("the new area", lambda e: e["ev"] == "screen" and e["t"] > taken["t"]
                        and "请 A001 号到 二楼B区 1 号窗口办理" in e["texts"])
    assert shown["texts"][0] == "新城政务服务中心" and shown["texts"][-1] == "欢迎", shown
    assert screen.proc.poll() is None
