"""Run until SIGTERM or SIGINT: an asyncio service (the shape of every hallq process) or a simulator."""

from __future__ import annotations

import asyncio
import signal
import threading
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


def stop_on_signal() -> threading.Event:
    """An event set by SIGTERM or SIGINT, for the blocking simulators' main threads."""
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    return done
