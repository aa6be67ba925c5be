"""`hallq display --config FILE [--board ID] [--headless]`: the hall call screen (or, headless, voice and logs).

For tests, demos and installers' checks: `--trace FILE` (a JSON line per handled call, frame, announcement
and session change) and `--screenshot FILE.png [--screenshot-when TEXT] [--screenshot-after-s S]` (one
screenshot and its texts, then exit), handed to the screen as constructor arguments.

SIGHUP makes the screen read its config file again (DisplayRuntime.request_reload); once it handles SIGHUP its
pid goes to DATA/display-ID/display.pid, where `hallq reload` (systemctl reload) finds it.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import threading
from pathlib import Path

from display.follow import choose
from display.runtime import DisplayRuntime, Screenshot, Trace
from hallq import sdnotify
from hallq.config import DisplayConfig, HallConfig
from hallq.errors import UsageError
from hallq.reloading import ConfigFile

log = logging.getLogger("hallq.display")


def run(args: argparse.Namespace) -> int:
    cfg = args.cfg
    display = choose(cfg, args.board, args.config)
    screenshot = _screenshot(args)
    trace = _trace(args.trace)
    source = ConfigFile(Path(args.config), getattr(args, "credentials", None))
    if args.headless:
        return headless(cfg, display, trace, source=source, board=args.board)
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    from display.app import CallScreenApp

    app = CallScreenApp(cfg, display, trace=trace, screenshot=screenshot)
    follow(app.runtime, source, args.board)
    sdnotify.kivy_ready_after_first_frame(f"call screen {display.id} on screen")
    sdnotify.kivy_watchdog()          # pings from Kivy's clock: a stalled frame stops them
    app.run()
    return 0


def follow(rt: DisplayRuntime, source: ConfigFile, board: str | None) -> None:
    """SIGHUP reads `source` again (the handler only sets a flag: safe whatever the main thread is doing); only
    then the pid file, since before it a SIGHUP would end the screen."""
    rt.config_file, rt.board_arg, rt.sha = source, board, source.sha()
    log.info("display %s: runs the configuration of %s (sha256 %s)", rt.display.id, source.path, rt.sha)
    signal.signal(signal.SIGHUP, lambda _sig, _frame: rt.request_reload())
    rt.follower.claim()


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


def headless(cfg: HallConfig, display: DisplayConfig, trace: Trace | None = None, *, source: ConfigFile | None = None,
             board: str | None = None) -> int:
    """No window: the same session, board and voice; prints the screen's texts whenever they change."""
    woken, stop = threading.Event(), threading.Event()

    def on_signal(_sig: int, _frame: object) -> None:
        stop.set()
        woken.set()

    signal.signal(signal.SIGTERM, on_signal)
    rt = DisplayRuntime.for_hall(cfg, display, wake=woken.set, trace=trace)
    if source is not None:
        follow(rt, source, board)
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
