"""`hallq controller`: run the queue controller until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from controller.service import ControllerService
from controller.store import StoreError
from hallq.cli import UsageError
from hallq.clock import parse_clock


def run(args: argparse.Namespace) -> int:
    cfg = args.cfg
    data = Path(args.data or cfg.data_dir)
    try:
        clock = parse_clock(args.clock)
    except ValueError as e:
        raise UsageError(f"--clock: {e}") from None
    service = ControllerService(cfg, data, clock, Path(args.config).read_text(encoding="utf-8"))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await service.run(stop)

    try:
        asyncio.run(main())
    except StoreError as e:
        raise UsageError(str(e)) from None
    logging.getLogger("hallq.controller").info("bye")
    return 0
