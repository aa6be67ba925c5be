"""systemd's notify protocol without a dependency: READY/STATUS/WATCHDOG datagrams to `$NOTIFY_SOCKET`.

Outside systemd (no `NOTIFY_SOCKET`) every call is a no-op. The watchdog pings come from a task on the
process's asyncio loop (`watchdog_task`) or from a Kivy clock event: a stalled loop stops them, and
systemd (`WatchdogSec=`) restarts the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable

log = logging.getLogger("hallq.sdnotify")

_ready_sent = False


def _address() -> str | bytes | None:
    addr = os.environ.get("NOTIFY_SOCKET", "")
    if not addr:
        return None
    if addr.startswith("@"):           # an abstract socket (systemd's own is a path, a container's may not be)
        return b"\0" + addr[1:].encode()
    if not addr.startswith("/"):
        return None
    return addr


def notify(message: str) -> bool:
    """Send one notification (`READY=1`, `WATCHDOG=1`, `STATUS=...`); False outside systemd or on failure."""
    addr = _address()
    if addr is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(addr)
            s.sendall(message.encode())
    except OSError as e:
        log.debug("sd_notify %r to %r failed: %s", message, addr, e)
        return False
    return True


def ready(status: str = "") -> bool:
    """Tell systemd this part really serves now (once per process; later calls only update STATUS)."""
    global _ready_sent
    lines = [] if _ready_sent else ["READY=1"]
    if status:
        lines.append(f"STATUS={status}")
    if not lines:
        return False
    sent = notify("\n".join(lines))
    if sent and not _ready_sent:
        log.info("told systemd: ready (%s)", status or "no status")
    _ready_sent = _ready_sent or sent
    return sent


def status(text: str) -> bool:
    return notify(f"STATUS={text}")


def stopping() -> bool:
    return notify("STOPPING=1")


def watchdog_interval() -> float | None:
    """Seconds between pings (half of `WatchdogSec=`), or None when systemd asks for no watchdog."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) <= 0 or _address() is None:
        return None
    # meant for another process? systemd names the unit's main process: us, or the `cage` we run under
    if pid and pid not in (str(os.getpid()), str(os.getppid())):
        return None
    return int(usec) / 2e6


async def _ping_forever(every: float) -> None:
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(every)


def watchdog_task() -> asyncio.Task[None] | None:
    """Start pinging from the running asyncio loop (None when no watchdog is asked for); cancel it at stop."""
    every = watchdog_interval()
    if every is None:
        return None
    log.info("systemd watchdog: pinging every %.1f s from the main loop", every)
    return asyncio.get_running_loop().create_task(_ping_forever(every), name="sd-watchdog")


async def stop_task(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def kivy_watchdog() -> Callable[[], None] | None:
    """Ping from Kivy's clock (the call screen's main loop); returns a function that stops it, or None."""
    every = watchdog_interval()
    if every is None:
        return None
    from kivy.clock import Clock

    ev = Clock.schedule_interval(lambda _dt: notify("WATCHDOG=1"), every)
    notify("WATCHDOG=1")
    return ev.cancel  # type: ignore[no-any-return]


def kivy_ready_after_first_frame(text: str) -> None:
    """READY once the Kivy window has drawn its first frame (the kiosk or call screen really shows)."""
    from kivy.core.window import Window

    def first(*_: object) -> None:
        Window.unbind(on_flip=first)
        ready(text)

    Window.bind(on_flip=first)
