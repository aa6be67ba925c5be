"""`hallq controller`: run the queue controller until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from controller.events import EventError
from controller.service import ControllerService
from controller.store import StoreError
from hallq.clock import parse_clock
from hallq.errors import UsageError
from hallq.runner import run_until_signal


def run(args: argparse.Namespace) -> int:
    cfg = args.cfg
    data = Path(args.data or cfg.data_dir)
    try:
        clock = parse_clock(args.clock)
    except ValueError as e:
        raise UsageError(f"--clock: {e}") from None
    try:
        service = ControllerService(cfg, data, clock, Path(args.config).read_text(encoding="utf-8"))
    except ValueError as e:
        raise UsageError(f"{args.config}: upstream: {e}") from None
    service.config_path = Path(args.config)       # read again on SIGHUP / `hallq reload` (controller/reload.py)

    try:
        run_until_signal(service.run)
    except StoreError as e:
        raise UsageError(str(e)) from None
    except EventError as e:   # an event this version cannot read: refuse to start rather than skip it
        raise UsageError(f"{data}: the log cannot be replayed: {e}") from None
    logging.getLogger("hallq.controller").info("bye")
    return 0
