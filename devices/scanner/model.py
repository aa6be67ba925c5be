"""What a scanner hands the kiosk: a Scan (payload or the reason it is unreadable) and ScannerError."""

from __future__ import annotations

from dataclasses import dataclass

MAX_SCAN_CHARS = 4096


@dataclass(frozen=True)
class Scan:
    """One scanned code. `error` set means unreadable: `payload` is then empty and must not be used."""

    payload: str
    source: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class ScannerError(Exception):
    """The scanner itself failed (missing, unplugged, busy); the message names it and what to do."""
