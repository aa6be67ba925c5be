"""`hallq display --config FILE [--board ID] [--headless]`: the hall call screen."""

from __future__ import annotations

import argparse
import os

from hallq.cli import UsageError
from hallq.config import DisplayConfig


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
    if args.headless:
        raise UsageError("the call screen has no headless mode yet; run it with a display (or under xvfb-run)")
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    from display.app import CallScreenApp

    CallScreenApp(cfg, display).run()
    return 0
