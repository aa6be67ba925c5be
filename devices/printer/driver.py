"""The kiosk's ticket printer: status before and after each job, chunked writes with progress, clear failures."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from devices.printer.base import PrinterError, Transport
from devices.printer.status import PrinterStatus, State, poll_status
from devices.printer.transport import transport_for_url
from hallq.config.kiosk import PrinterConfig

log = logging.getLogger(__name__)

# states in which the printer will not print, and what the attendant does about each
STOPPED: dict[State, tuple[str, str]] = {
    "paper_out": ("out of paper", "load a new roll"),
    "cover_open": ("cover open", "close the cover"),
    "offline": ("offline", "check its power and cable"),
    "error": ("in error (cutter jam or overheating)", "clear the paper path and switch it off and on"),
}


class PrintFailed(PrinterError):
    """A job did not (completely) print; the caller keeps the ticket valid and offers a reprint."""

    def __init__(self, state: State, message: str) -> None:
        super().__init__(message)
        self.state = state


class TicketPrinter:
    """Constructor stores settings (and builds, without opening, the transport); `open()` connects."""

    def __init__(self, cfg: PrinterConfig, name: str, transport: Transport | None = None) -> None:
        self.cfg, self.name = cfg, name
        self.transport = transport or transport_for_url(cfg.url, name=name)
        self._lock = threading.Lock()

    def describe(self) -> str:
        return self.transport.describe()

    def open(self) -> None:
        self.transport.open()

    def close(self) -> None:
        self.transport.close()

    def status(self) -> PrinterStatus:
        with self._lock:
            return poll_status(self.transport, self.cfg.status_timeout_s)

    def print_job(self, data: bytes, progress: Callable[[float], None] | None = None, *,
                  what: str = "the ticket") -> PrinterStatus:
        """Print `data` (one ticket's bytes); returns the status after it, raises PrintFailed if it did not print.

        `what` names the job in messages, e.g. "ticket A012".
        """
        with self._lock:
            before = poll_status(self.transport, self.cfg.status_timeout_s)
            if before.state in STOPPED:
                raise self._failed(before.state, what, "")
            if before.state == "unknown":
                log.warning("%s: printing without a status answer (%s)", self.describe(), before.detail)
            self._send(data, progress, what)
            after = poll_status(self.transport, self.cfg.status_timeout_s)
        if after.state in STOPPED:
            raise self._failed(after.state, what, " while printing")
        if after.state == "unknown":
            return PrinterStatus("unknown", f"sent {len(data)} bytes but the printer did not report its status "
                                            f"({after.detail}) — check {what} came out")
        return after

    def _send(self, data: bytes, progress: Callable[[float], None] | None, what: str) -> None:
        step = self.cfg.chunk_bytes
        if progress:
            progress(0.0)
        for i in range(0, len(data), step):
            try:
                self.transport.write(data[i:i + step])
            except PrinterError as e:
                raise PrintFailed("offline", f"{e} — {what} kept, reprint it from the kiosk menu") from e
            if progress:
                progress(min(len(data), i + step) / len(data))

    def _failed(self, state: State, what: str, when: str) -> PrintFailed:
        words, action = STOPPED[state]
        return PrintFailed(state, f"{self.describe()}: {words}{when} — {what} kept; {action}, "
                                  "then reprint from the kiosk menu")
