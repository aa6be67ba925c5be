"""`hallq display --config FILE [--board ID] [--headless]`: the hall call screen (or, headless, voice and logs)."""

from __future__ import annotations

import argparse
import os
import signal
import threading

from hallq import sdnotify
from hallq.config import DisplayConfig, HallConfig
from hallq.errors import UsageError


def check(cfg: HallConfig, display: DisplayConfig, config: str, index: int) -> None:
    """The display's windows and services must exist: a typo would silently show an empty screen."""
    known_w = {w.id for w in cfg.windows}
    known_s = {s.id for s in cfg.services}
    for key, given, known in (("windows", display.windows, known_w), ("services", display.services, known_s)):
        for j, item in enumerate(given or []):
            if item not in known:
                raise UsageError(f"{config}: displays[{index}].{key}[{j}]: unknown {key[:-1]} {item!r} "
                                 f"(known: {', '.join(sorted(known))})")


def run(args: argparse.Namespace) -> int:
    cfg = args.cfg
    if args.board:
        display = cfg.display(args.board)
        if display is None:
            known = ", ".join(d.id for d in cfg.displays) or "none configured"
            raise UsageError(f"{args.config}: unknown display {args.board!r} (known: {known})")
    elif cfg.displays:
        display = cfg.displays[0]
    else:
        display = DisplayConfig(id="hall")  # no `displays:` section: one screen showing every window
    if display in cfg.displays:
        check(cfg, display, args.config, cfg.displays.index(display))
    if args.headless:
        return headless(cfg, display)
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    from display.app import CallScreenApp

    app = CallScreenApp(cfg, display)
    sdnotify.kivy_ready_after_first_frame(f"call screen {display.id} on screen")
    sdnotify.kivy_watchdog()          # pings from Kivy's clock: a stalled frame stops them
    app.run()
    return 0


def headless(cfg: HallConfig, display: DisplayConfig) -> int:
    """No window: the same session, board and voice; prints the screen's texts whenever they change."""
    from display.runtime import DisplayRuntime

    woken, stop = threading.Event(), threading.Event()

    def on_signal(_sig: int, _frame: object) -> None:
        stop.set()
        woken.set()

    signal.signal(signal.SIGTERM, on_signal)
    rt = DisplayRuntime.for_hall(cfg, display, wake=woken.set)
    rt.open()
    sdnotify.ready(f"call screen {display.id} (headless)")
    shown: list[str] = []
    try:
        while not stop.is_set():
            woken.wait()
            woken.clear()
            batch = rt.pump()
            texts = rt.board.texts()
            if batch.changed and texts != shown:
                shown = texts
                print(" | ".join(texts), flush=True)
                rt.screen_shown(batch.seqs)
    except KeyboardInterrupt:
        return 0
    finally:
        rt.close()
    return 0
