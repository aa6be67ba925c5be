"""Pseudo-terminals for device simulators: a raw, echo-free pty whose port can be a stable symlink.

Closing it (and removing the link) looks to the driver like an unplugged USB adapter.
"""

from __future__ import annotations

import contextlib
import os
import select
import termios
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path
from typing import Self


def open_raw_pty(link: Path | None) -> tuple[int, int, str]:
    """(master fd, slave fd, port path): the port is `link` (made a symlink to the pty) when given."""
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    port = os.ttyname(slave)
    if link is not None:
        remove_link(link)
        link.symlink_to(port)
        port = str(link)
    return master, slave, port


def close_pty(fds: tuple[int | None, ...], link: Path | None) -> None:
    for fd in fds:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
    if link is not None:
        remove_link(link)


def remove_link(link: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        link.unlink()


class ServedEndpoint:
    """A simulated device's end of a link, answered by one thread between `_start` and `_halt`."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def _start(self, target: Callable[[], None], name: str) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=target, name=name, daemon=True)
        self._thread.start()

    def _halt(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None


class PtyEndpoint(ServedEndpoint):
    """A simulated device's end of a pty, served by one thread: `open()` plugs it in (the driver opens
    `port`), `close()` unplugs it. Subclasses answer what arrives in `_received` (and may act on a quiet
    line in `_idle`) and write with `_send`."""

    thread_name = "simdevice"

    def __init__(self, link: str | Path | None = None) -> None:
        super().__init__()
        self.link = Path(link) if link else None
        self.master_fd: int | None = None
        self.slave_fd: int | None = None  # held open so the master stays readable between clients
        self.port = ""

    def open(self) -> Self:
        self.master_fd, self.slave_fd, self.port = open_raw_pty(self.link)
        self._start(self._serve, f"{self.thread_name}-{self.port}")
        return self

    def close(self) -> None:
        """Stop and close the pty; with a link, the port disappears like an unplugged USB adapter."""
        self._halt()
        close_pty((self.master_fd, self.slave_fd), self.link)
        self.master_fd = self.slave_fd = None

    read_size = 4096

    def _serve(self) -> None:
        fd = self.master_fd
        assert fd is not None
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([fd], [], [], 0.05)
            except (OSError, ValueError):
                return                      # closed under us: unplugged
            if not ready:
                self._idle()
                continue
            try:
                data = os.read(fd, self.read_size)
            except OSError:
                time.sleep(0.05)            # nobody has the port open
                continue
            self._received(data)

    def _received(self, data: bytes) -> None:
        raise NotImplementedError

    def _idle(self) -> None:
        """Nothing arrived for 50 ms."""

    def _send(self, data: bytes) -> bool:
        """Write to the driver's side; False when it was lost (unplugged, like bytes on a dead line)."""
        if self.master_fd is None:
            return False
        try:
            os.write(self.master_fd, data)
        except OSError:
            return False
        return True
