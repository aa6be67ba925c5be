"""`hallq display --config FILE [--board ID] [--headless]`: the hall call screen (or, headless, voice and logs).

For tests, demos and installers' checks: `--trace FILE` (a JSON line per handled call, frame, announcement
and session change) and `--screenshot FILE.png [--screenshot-when TEXT] [--screenshot-after-s S]` (one
screenshot and its texts, then exit), handed to the screen as constructor arguments.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import threading
from pathlib import Path

from display.runtime import DisplayRuntime, Screenshot, Trace
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
    screenshot = _screenshot(args)
    trace = _trace(args.trace)
    if args.headless:
        return headless(cfg, display, trace)
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    from display.app import CallScreenApp

    app = CallScreenApp(cfg, display, trace=trace, screenshot=screenshot)
    sdnotify.kivy_ready_after_first_frame(f"call screen {display.id} on screen")
    sdnotify.kivy_watchdog()          # pings from Kivy's clock: a stalled frame stops them
    app.run()
    return 0


def _trace(path: str | None) -> Trace | None:
    if not path:
        return None
    try:
        return Trace(path)
    except OSError as e:
        raise UsageError(f"--trace {path}: cannot write it: {e.strerror or e}") from None


def _screenshot(args: argparse.Namespace) -> Screenshot | None:
    after = args.screenshot_after_s
    if after is not None and not (math.isfinite(after) and 0 <= after <= 3600):
        raise UsageError(f"--screenshot-after-s {after}: seconds from 0 to 3600")
    if not args.screenshot:
        if args.screenshot_when is not None or after is not None:
            raise UsageError("--screenshot-when and --screenshot-after-s go with --screenshot FILE.png")
        return None
    if args.headless:
        raise UsageError("--screenshot needs the window: not with --headless")
    if args.screenshot_when is not None and not args.screenshot_when.strip():
        raise UsageError("--screenshot-when: give the text the screen must show (it is empty)")
    if Path(args.screenshot).suffix.lower() != ".png":
        raise UsageError(f"--screenshot {args.screenshot}: a .png file")
    folder = Path(args.screenshot).resolve().parent
    if not folder.is_dir():
        raise UsageError(f"--screenshot {args.screenshot}: no such folder {folder}")
    return Screenshot(Path(args.screenshot), args.screenshot_when, after)


def headless(cfg: HallConfig, display: DisplayConfig, trace: Trace | None = None) -> int:
    """No window: the same session, board and voice; prints the screen's texts whenever they change."""
    woken, stop = threading.Event(), threading.Event()

    def on_signal(_sig: int, _frame: object) -> None:
        stop.set()
        woken.set()

    signal.signal(signal.SIGTERM, on_signal)
    rt = DisplayRuntime.for_hall(cfg, display, wake=woken.set, trace=trace)
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
