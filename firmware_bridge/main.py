"""`hallq bridge --config FILE`: master every configured bus and connect it to the controller."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from firmware_bridge.bridge import Bridge
from hallq.cli import UsageError


def run(args: argparse.Namespace) -> int:
    cfg = args.cfg
    if not cfg.devices.buses:
        raise UsageError(f"{args.config}: devices.buses is empty — there is no bus to bridge")
    data = Path(args.data) if getattr(args, "data", None) else Path(cfg.data_dir) / "bridge"
    bridge = Bridge(cfg, data)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await bridge.run(stop)

    asyncio.run(main())
    return 0
