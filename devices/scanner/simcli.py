"""`hallq sim scanner --fifo PATH --type TEXT`: type TEXT into a FIFO as a keyboard-mode scanner would."""

from __future__ import annotations

import argparse
import os
import stat
import sys
import time

from evdev import ecodes

from devices.scanner.keys import keystrokes
from devices.scanner.records import pack_event
from hallq.errors import UsageError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hallq sim scanner",
                                description="Write the input_event records a US-layout HID scanner makes for TEXT "
                                            "into a FIFO that a kiosk reads with scanner url pipe://PATH.")
    p.add_argument("--fifo", required=True, help="FIFO to write (created if missing); a regular file records")
    p.add_argument("--type", required=True, dest="text", help="the code's text (printable ASCII)")
    p.add_argument("--gap-ms", type=float, default=2.0, help="time between key presses (default 2)")
    p.add_argument("--no-enter", action="store_true",
                   help="misbehave: send no Enter after the text, so only the inter-key timeout ends the scan")
    return p


def _open_for_writing(path: str) -> int:
    if not os.path.exists(path):
        os.mkfifo(path)
    mode = os.stat(path).st_mode
    if not stat.S_ISFIFO(mode):
        if stat.S_ISREG(mode):
            return os.open(path, os.O_WRONLY | os.O_APPEND)
        raise UsageError(f"--fifo {path} exists and is neither a FIFO nor a file — remove it or pick another path")
    try:
        return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # ENXIO: nobody reads the FIFO yet
        sys.stderr.write(f"waiting for a reader on {path} (a kiosk with scanner url pipe://{path})\n")
        return os.open(path, os.O_WRONLY)


def _syn(timestamp_s: float) -> bytes:
    return pack_event(timestamp_s, ecodes.EV_SYN, ecodes.SYN_REPORT, 0)


def run(rest: list[str]) -> int:
    o = _parser().parse_args(rest)
    try:
        strokes = keystrokes(o.text if o.no_enter else o.text + "\n")
    except ValueError as e:
        raise UsageError(f"--type: {e}") from None
    fd = _open_for_writing(o.fifo)
    os.set_blocking(fd, True)
    try:
        first = True
        for code, value in strokes:
            if value == 1 and not first and o.gap_ms > 0:
                time.sleep(o.gap_ms / 1000)
            first = False
            now = time.time()
            os.write(fd, pack_event(now, ecodes.EV_KEY, code, value) + _syn(now))
    except BrokenPipeError:
        sys.stderr.write(f"hallq sim scanner: the reader of {o.fifo} went away mid-scan\n")
        return 1
    finally:
        os.close(fd)
    print(f"typed {len(o.text)} characters into {o.fifo} ({len(strokes)} key events)")
    return 0
