"""Drives the real kiosk app by touch events: a script of taps, waits and screenshots.

Used by the GUI tests, the benchmark and `hallq demo` (a visitor every few seconds). A tap is a real
MotionEvent through Kivy's event loop at the centre of the button, as a finger would make it.
Script steps (JSON): {"tap": ACTION, "arg": ARG}, {"wait": SCREEN, "timeout_s": 20}, {"shot": PNG},
{"dump": JSON}, {"sleep": SECONDS}, {"scan": PAYLOAD} (as if scanned), {"type_fifo": PATH, "text": PAYLOAD}
(typed as key events into a pipe:// scanner), {"card": "elder"|"adult"|…|"remove", "reader": "idcard"} (a sample
ID card placed on / lifted from the in-process reader simulator behind sim://idcard), {"mark": PATH} (the
screen's name as one line, written to PATH without waiting: a FIFO must already be open for reading — a test
opens it before it starts the kiosk — or the step fails), {"repeat": [...steps], "every_s": 20}, {"quit": true}.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
from pathlib import Path
from typing import Any

from kivy.base import EventLoop
from kivy.core.window import Window
from kivy.input.motionevent import MotionEvent

from devices.scanner import Scan
from kiosk.app import KioskApp

log = logging.getLogger("hallq.kiosk.autopilot")


class FingerTouch(MotionEvent):  # type: ignore[misc]
    """One finger on the glass at window coordinates (x, y)."""

    def __init__(self, x: float, y: float) -> None:
        win = EventLoop.window
        super().__init__("autopilot", 1, {"x": x / (win.width - 1.0), "y": y / (win.height - 1.0)},
                         is_touch=True, type_id="touch")
        self.profile = ["pos"]

    def depack(self, args: dict[str, float]) -> None:
        self.sx, self.sy = args["x"], args["y"]
        super().depack(args)


class AutopilotError(RuntimeError):
    pass


async def tap(app: KioskApp, action: str, arg: str = "", timeout_s: float = 10.0) -> None:
    """Touch the button for `action`/`arg` once it is on screen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while (button := app.find_button(action, arg)) is None:
        if loop.time() > deadline:
            raise AutopilotError(f"no button {action}:{arg} on screen {app.view.screen if app.view else '?'}")
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.05)  # let the layout settle so the centre is where it is drawn
    x, y = button.to_window(*button.center)
    touch = FingerTouch(x, y)
    EventLoop.post_dispatch_input("begin", touch)
    await asyncio.sleep(0.08)
    EventLoop.post_dispatch_input("end", touch)


async def wait_screen(app: KioskApp, screen: str, timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while app.view is None or app.view.screen.value != screen:
        if loop.time() > deadline:
            now = app.view.screen.value if app.view else "none"
            raise AutopilotError(f"screen {screen!r} did not come within {timeout_s:g} s (showing {now!r}: "
                                 f"{app.view.texts() if app.view else ''})")
        await asyncio.sleep(0.05)


async def run_script(app: KioskApp, steps: list[dict[str, Any]]) -> None:
    for step in steps:
        if "tap" in step:
            await tap(app, step["tap"], str(step.get("arg", "")))
        elif "wait" in step:
            await wait_screen(app, step["wait"], float(step.get("timeout_s", 20)))
        elif "shot" in step:
            await asyncio.sleep(0.3)  # two frames: the new widgets are drawn
            target = Path(step["shot"])
            target.parent.mkdir(parents=True, exist_ok=True)
            made = Window.screenshot(str(target))  # Kivy numbers the file: name0001.png
            if made:
                Path(made).replace(target)
        elif "dump" in step:
            assert app.view is not None
            ids = app.root.ids.items() if app.root else []
            dump = {"screen": app.view.screen.value, "texts": app.view.texts(), "window": list(Window.size),
                    "layout": {k: [*w.pos, *w.size] for k, w in ids}}
            Path(step["dump"]).write_text(json.dumps(dump, ensure_ascii=False), encoding="utf-8")
        elif "sleep" in step:
            await asyncio.sleep(float(step["sleep"]))
        elif "scan" in step:
            app.runtime.post(app.runtime.scanner.route(Scan(step["scan"], "autopilot")))
        elif "type_fifo" in step:  # keystrokes of a HID scanner into the kiosk's pipe:// scanner
            from devices.scanner.simcli import run as type_into

            await asyncio.to_thread(type_into, ["--fifo", step["type_fifo"], "--type", step["text"]])
        elif "card" in step:
            from devices.idcard.simulator import SAMPLE_CARDS, simulator_named

            sim = simulator_named(str(step.get("reader", "idcard")))
            if step["card"] == "remove":
                sim.remove()
            elif step["card"] in SAMPLE_CARDS:
                sim.place(SAMPLE_CARDS[step["card"]])
            else:
                raise AutopilotError(f"no sample ID card {step['card']!r} (known: {', '.join(SAMPLE_CARDS)})")
        elif "mark" in step:
            _mark(Path(step["mark"]), app.view.screen.value if app.view else "")
        elif "repeat" in step:
            while True:
                try:
                    await run_script(app, step["repeat"])
                except AutopilotError as e:
                    log.warning("autopilot: %s; going on", e)
                await asyncio.sleep(float(step.get("every_s", 20)))
        elif step.get("quit"):
            app.stop()
            return


def _mark(path: Path, screen: str) -> None:
    """One line, never blocking: a blocking open of a FIFO nobody reads (the test's reader gone, or between two of
    its opens) would hang the kiosk, even at exit, where asyncio joins its worker threads."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644)
    except OSError as e:
        if e.errno == errno.ENXIO:
            raise AutopilotError(f"mark {path}: nobody has this FIFO open for reading — the reader must open it "
                                 "before the kiosk starts and keep it open until the kiosk exits") from None
        raise AutopilotError(f"mark {path}: cannot open it ({e.strerror})") from None
    try:
        os.write(fd, (screen + "\n").encode())   # shorter than PIPE_BUF: one atomic write
    except BlockingIOError:
        raise AutopilotError(f"mark {path}: the FIFO is full — its reader stopped reading") from None
    finally:
        os.close(fd)
