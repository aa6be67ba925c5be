"""Run one asyncio service until SIGTERM or SIGINT (the shape of every hallq process)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable


def run_until_signal(service: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """`service(stop)` runs until `stop` is set by SIGTERM/SIGINT, then returns to end the process."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await service(stop)

    asyncio.run(main())
