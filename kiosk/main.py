"""`hallq kiosk --config FILE --kiosk ID [--headless]`: the touchscreen kiosk, or its logic without a window.

Headless, the kiosk reads intents as JSON lines on stdin ({"tap": "service", "arg": "general"},
{"scan": "MSB1...."}) and writes each new view as a JSON line on stdout: scripts, benchmarks and
installers drive the same presenter, printer and scanner as the touchscreen.

With a window, `--autopilot SCRIPT` (a JSON list of steps, inline or in a file: kiosk.autopilot) drives
the real app by touch events, for tests, demos and installers' checks.

Either way SIGHUP makes the kiosk read its config file again (KioskRuntime.request_reload); once it handles
SIGHUP its pid goes to DATA/kiosk-ID/kiosk.pid, where `hallq reload` (systemctl reload) finds it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import stat
import sys
from pathlib import Path
from typing import Any

from devices.printer.base import PrinterError
from hallq import sdnotify
from hallq.api import decode_object
from hallq.clock import parse_clock
from hallq.config import HallConfig, KioskConfig
from hallq.errors import UsageError
from hallq.reloading import ConfigFile
from hallq.runner import run_until_signal
from kiosk.intents import Tap
from kiosk.presenter import View
from kiosk.runtime import KioskRuntime

log = logging.getLogger("hallq.kiosk")

STDIN_MAX_BYTES = 64 * 1024    # one input line: a tap or a scanned code


def _kiosk(args: argparse.Namespace) -> KioskConfig:
    cfg: HallConfig = args.cfg
    k = cfg.kiosk(args.kiosk)
    if k is None:
        known = ", ".join(x.id for x in cfg.kiosks) or "none configured (add a kiosks: section)"
        raise UsageError(f"{args.config}: kiosks: no kiosk {args.kiosk!r} (known: {known})")
    return k


def load_script(spec: str) -> list[dict[str, Any]]:
    """An autopilot script from inline JSON (it starts with `[` or `{`) or a file path; UsageError if it is not one."""
    inline = spec.lstrip().startswith(("[", "{"))
    where = "--autopilot" if inline else f"--autopilot {spec}"
    try:
        text = spec if inline else Path(spec).read_text(encoding="utf-8")
        steps = json.loads(text)
    except OSError as e:
        raise UsageError(f"{where}: cannot read it: {e.strerror or e}") from None
    except (ValueError, RecursionError) as e:     # bad JSON or bad UTF-8
        raise UsageError(f"{where}: not JSON: {e}") from None
    if not isinstance(steps, list) or not all(isinstance(step, dict) for step in steps):
        raise UsageError(f"{where}: an autopilot script is a JSON list of steps (objects)")
    return steps


def run(args: argparse.Namespace) -> int:
    kiosk = _kiosk(args)
    if args.autopilot is not None and args.headless:
        raise UsageError("--autopilot drives the window: not with --headless (headless reads intents on stdin)")
    script = load_script(args.autopilot) if args.autopilot is not None else None
    try:
        clock = parse_clock(args.clock)
    except ValueError as e:
        raise UsageError(f"--clock: {e}") from None
    try:
        runtime = KioskRuntime(args.cfg, kiosk, clock=clock)
    except (PrinterError, ValueError) as e:
        raise UsageError(f"{args.config}: kiosks[{kiosk.id}]: {e}") from None
    runtime.config_file = ConfigFile(Path(args.config), getattr(args, "credentials", None))
    runtime.sha = runtime.config_file.sha()
    log.info("kiosk %s: runs the configuration of %s (sha256 %s)", kiosk.id, args.config, runtime.sha)
    if args.headless:
        run_until_signal(lambda stop: headless(runtime, stop))
        return 0
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    from kivy.config import Config  # the window is made at its final size: no resize to lay out again

    Config.set("graphics", "width", "1920")
    Config.set("graphics", "height", "1080")
    asyncio.run(gui(runtime, script))
    return 0


async def gui(runtime: KioskRuntime, autopilot: list[dict[str, Any]] | None = None) -> None:
    """The touchscreen on this loop; `autopilot` (steps of kiosk.autopilot) drives it by touch events."""
    from kiosk.app import KioskApp
    from kiosk.autopilot import run_script

    app = KioskApp(runtime)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    sdnotify.kivy_ready_after_first_frame(f"kiosk {runtime.kiosk.id} on screen")
    dog = sdnotify.watchdog_task()       # Kivy runs on this loop: a stalled frame stops the pings
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, app.stop)
    _follow(runtime, loop)
    rt = loop.create_task(runtime.run(stop))
    pilot = None
    if autopilot:
        steps = autopilot

        async def fly() -> None:
            await asyncio.sleep(0.5)
            try:
                await run_script(app, steps)
            except Exception:
                log.exception("kiosk autopilot failed; stopping the kiosk")
                app.stop()

        pilot = loop.create_task(fly())
    await app.async_run(async_lib="asyncio")
    await sdnotify.stop_task(dog)
    stop.set()
    if pilot is not None:
        pilot.cancel()
    await rt


def _follow(runtime: KioskRuntime, loop: asyncio.AbstractEventLoop) -> None:
    """SIGHUP reads the config file again; only then the pid file (before, a SIGHUP would end the kiosk)."""
    loop.add_signal_handler(signal.SIGHUP, runtime.request_reload)
    runtime.follower.claim()


async def _stdin_reader(loop: asyncio.AbstractEventLoop) -> asyncio.StreamReader | None:
    """stdin as a stream when the loop can watch it (a pipe, socket or terminal); None for a file or
    /dev/null, which epoll refuses — those are read line by line in a thread instead."""
    mode = os.fstat(sys.stdin.fileno()).st_mode
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or sys.stdin.isatty()):
        return None
    reader = asyncio.StreamReader(limit=STDIN_MAX_BYTES)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def headless(runtime: KioskRuntime, stop: asyncio.Event) -> None:
    def show(view: View) -> None:
        sys.stdout.write(json.dumps({"screen": view.screen.value, "texts": view.texts()}, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    runtime.on_view = show
    loop = asyncio.get_running_loop()
    _follow(runtime, loop)
    reader = await _stdin_reader(loop)
    rt = loop.create_task(runtime.run(stop))
    stopped = loop.create_task(stop.wait())
    while not stop.is_set():
        reading = loop.create_task(reader.readline() if reader else asyncio.to_thread(sys.stdin.buffer.readline))
        await asyncio.wait({reading, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not reading.done():
            reading.cancel()
            break
        try:
            line = reading.result()
        except ValueError:    # a line longer than the stream's limit: skipped (asyncio drops it), never fatal
            sys.stderr.write(f"hallq kiosk: ignoring an input line longer than {STDIN_MAX_BYTES} bytes\n")
            continue
        if not line:  # no more input: go on serving the scanner and printer until a signal
            await stopped
            break
        try:
            cmd = decode_object(line if isinstance(line, bytes) else str(line).encode("utf-8", "replace"),
                                max_bytes=STDIN_MAX_BYTES)     # the guarded decoder: no depth or size bombs
            if "tap" in cmd:
                runtime.post(Tap(str(cmd["tap"]), str(cmd.get("arg", ""))))
            elif "scan" in cmd:
                from devices.scanner import Scan

                runtime.post(runtime.scanner.route(Scan(str(cmd["scan"]), "stdin")))
            else:
                raise ValueError("expected {\"tap\": ...} or {\"scan\": ...}")
        except (ValueError, TypeError, AttributeError) as e:     # BadPayload is a ValueError
            sys.stderr.write(f"hallq kiosk: ignoring input line {line[:80]!r}: {e}\n")
    stop.set()
    await rt
