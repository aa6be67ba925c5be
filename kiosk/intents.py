"""What reaches the kiosk presenter (intents) and what it asks the runtime to do (effects)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from devices.idcard.holder import CardHolder
from devices.printer.ticket import TicketData
from hallq.config import HallConfig, KioskConfig
from hallq.text.words import Msg


# -- from the touchscreen and the clock ---------------------------------------------------------
@dataclass(frozen=True)
class Tap:
    """A button: `action` (lang, elder, green, scan, appointment, idcard, service, back, home, reprint, repeat),
    `arg`."""

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


# -- from the ID card reader (kiosk/idcard.py) ------------------------------------------------------
@dataclass(frozen=True)
class CardRead:
    """A card was placed and read: its holder (no clear ID number) and why green applies, if it does."""

    holder: CardHolder
    green: str | None = None          # "age 78": the controller's rule, as green_channel() words it


@dataclass(frozen=True)
class CardRejected:
    reason: Msg


@dataclass(frozen=True)
class ReaderChanged:
    ok: bool


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
    reprint: bool = False             # the holder's open ticket of this service, printed again


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


# -- from a configuration reload (SIGHUP), once hallq/config/live.py found it can run ----------------------------
@dataclass(frozen=True)
class Reconfigure:
    """An edited hall configuration the kiosk can take: taken on the home screen, else once the visit under way
    has ended (a citizen choosing finishes with the services and hours they started with)."""

    cfg: HallConfig = field(repr=False)
    kiosk: KioskConfig = field(repr=False)
    sha: str
    changes: str = ""            # what changed, for the log


Intent = (Tap | Touch | Tick | CredentialRead | AppointmentRead | TicketRead | ScanRejected | CardRead
          | CardRejected | ReaderChanged | QueuesChanged | ControllerChanged | IssueDone | IssueFailed | LookupDone
          | LookupFailed | PrintProgress | PrintDone
          | PrintFailed | PrinterChanged | Reconfigure)


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
    card: CardHolder | None = field(default=None, repr=False)   # the runtime mints its token (kiosk/idcard.py)


@dataclass(frozen=True)
class PrintTicket:
    ticket: TicketData = field(compare=False)


@dataclass(frozen=True)
class LookupTicket:
    number: str
    day: date


@dataclass(frozen=True)
class ReprintOpen:
    """The holder already waits for `service` (ALREADY_WAITING): find that ticket and print it again."""

    service: str
    holder_key: str
    message: str = ""                 # the controller's refusal, which names the ticket


@dataclass(frozen=True)
class SayAgain:
    """再听一遍: speak the screen's guidance again."""


@dataclass(frozen=True)
class Reconfigured:
    """The presenter now runs this configuration (a `Reconfigure` it took): the runtime follows and logs it."""

    sha: str
    changes: str = ""


Effect = IssueTicket | PrintTicket | LookupTicket | ReprintOpen | SayAgain | Reconfigured
