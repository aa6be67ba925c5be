"""Run until SIGTERM or SIGINT: an asyncio service (the shape of every hallq process) or a simulator."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Awaitable, Callable

from hallq import sdnotify


def run_until_signal(service: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """`service(stop)` runs until `stop` is set by SIGTERM/SIGINT, then returns to end the process."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            sdnotify.stopping()
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        dog = sdnotify.watchdog_task()   # systemd's WatchdogSec: pings only while this loop runs
        try:
            await service(stop)
        finally:
            await sdnotify.stop_task(dog)

    asyncio.run(main())


def stop_on_signal() -> threading.Event:
    """An event set by SIGTERM or SIGINT, for the blocking simulators' main threads."""
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    return done
