"""What every printer transport is (`Transport`) and how it fails (`PrinterError`): the interface shared by the
serial/tcp/file transports (devices/printer/transport.py), USB (usb_transport.py) and the simulator."""

from __future__ import annotations

from typing import Protocol


class PrinterError(Exception):
    """A printer could not be reached or used; the message names it and says what to do."""


class Transport(Protocol):
    @property
    def answers_status(self) -> bool:
        """False where nothing can come back (a file): status queries are not written into it."""
        ...

    def open(self) -> None: ...

    def close(self) -> None: ...

    def write(self, data: bytes) -> None: ...

    def read(self, n: int, timeout_s: float) -> bytes:
        """Up to n bytes, b"" when nothing arrives within timeout_s (0 = only what is already there)."""
        ...

    def describe(self) -> str:
        """'printer NAME (how it is reached)', the start of every message about it."""
        ...
