"""What reaches the kiosk presenter (intents) and what it asks the runtime to do (effects)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from devices.printer.escpos import TicketData
from hallq.text.words import Msg


# -- from the touchscreen and the clock ---------------------------------------------------------
@dataclass(frozen=True)
class Tap:
    """A button: `action` (lang, elder, green, scan, appointment, service, back, home, reprint), `arg`."""

    action: str
    arg: str = ""


@dataclass(frozen=True)
class Touch:
    """Any touch: keeps the visit from timing out."""


@dataclass(frozen=True)
class Tick:
    """Time passes (idle timeout, result screen)."""


# -- from the scanner, after routing and verification --------------------------------------------
@dataclass(frozen=True)
class CredentialRead:
    holder_key: str
    name: str
    green_reason: Msg | None = None
    sealed: str | None = field(default=None, repr=False)   # identity sealed for the hall (real-name rating)
    token: str | None = field(default=None, repr=False)    # the scanned code as read: the controller checks it


@dataclass(frozen=True)
class AppointmentRead:
    holder_key: str
    name: str
    service: str
    sealed: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class TicketRead:
    hall: str
    day: date
    number: str


@dataclass(frozen=True)
class ScanRejected:
    reason: Msg


# -- from the controller and the printer ---------------------------------------------------------
@dataclass(frozen=True)
class QueuesChanged:
    services: list[dict[str, Any]]


@dataclass(frozen=True)
class ControllerChanged:
    online: bool


@dataclass(frozen=True)
class IssueDone:
    ticket: dict[str, Any]
    code: str = ""


@dataclass(frozen=True)
class IssueFailed:
    code: str
    message: str


@dataclass(frozen=True)
class LookupDone:
    ticket: dict[str, Any]


@dataclass(frozen=True)
class LookupFailed:
    code: str


@dataclass(frozen=True)
class PrintProgress:
    fraction: float


@dataclass(frozen=True)
class PrintDone:
    pass


@dataclass(frozen=True)
class PrintFailed:
    state: str
    message: str


@dataclass(frozen=True)
class PrinterChanged:
    state: str


Intent = (Tap | Touch | Tick | CredentialRead | AppointmentRead | TicketRead | ScanRejected | QueuesChanged
          | ControllerChanged | IssueDone | IssueFailed | LookupDone | LookupFailed | PrintProgress | PrintDone
          | PrintFailed | PrinterChanged)


# -- effects ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IssueTicket:
    """`issue` (CONTRACT §3.2): a scanned 蒙速办 or appointment code goes as `credential`, raw, for the
    controller to verify itself (§5.3); the kiosk's own check only chose the screen's texts."""

    service: str
    priority: str
    credential: str | None = field(repr=False)
    source: str
    rater: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PrintTicket:
    ticket: TicketData = field(compare=False)


@dataclass(frozen=True)
class LookupTicket:
    number: str
    day: date


Effect = IssueTicket | PrintTicket | LookupTicket
