"""Domain model of the queue: ticket and window states, their transition table, and error codes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any


class TicketStatus(StrEnum):
    WAITING = "waiting"
    SERVING = "serving"
    FINISHED = "finished"
    NO_SHOW = "no_show"
    HELD = "held"               # 挂起 (容缺受理): out of the queue until a window calls it back
    CANCELLED = "cancelled"     # the citizen left; cancelled from the 导服台


class WindowStatus(StrEnum):
    CLOSED = "closed"
    IDLE = "idle"
    SERVING = "serving"
    RATING = "rating"
    PAUSED = "paused"


class Priority(StrEnum):
    NORMAL = "normal"
    GREEN = "green"


# Which window states each window command may start from. Commands not listed here
# (login, logout) are allowed from every state. The error for a state outside the set
# comes from WINDOW_STATE_ERRORS, unless WINDOW_STATE_ERROR_EXCEPTIONS names one for the
# command; docs/controller.md is generated from these tables (`state_error`).
WINDOW_COMMAND_STATES: dict[str, frozenset[WindowStatus]] = {
    "call": frozenset({WindowStatus.IDLE, WindowStatus.SERVING, WindowStatus.RATING}),
    "callback": frozenset({WindowStatus.IDLE, WindowStatus.SERVING, WindowStatus.RATING}),
    "call_number": frozenset({WindowStatus.IDLE, WindowStatus.SERVING, WindowStatus.RATING}),
    "recall": frozenset({WindowStatus.SERVING}),
    "skip": frozenset({WindowStatus.SERVING}),
    "finish": frozenset({WindowStatus.SERVING}),
    "transfer": frozenset({WindowStatus.SERVING}),
    "hold": frozenset({WindowStatus.SERVING}),
    "pause": frozenset({WindowStatus.IDLE, WindowStatus.SERVING, WindowStatus.RATING, WindowStatus.PAUSED}),
    "resume": frozenset({WindowStatus.IDLE, WindowStatus.SERVING, WindowStatus.RATING, WindowStatus.PAUSED}),
}
WINDOW_STATE_ERRORS: dict[WindowStatus, str] = {
    WindowStatus.CLOSED: "NOT_LOGGED_IN",
    WindowStatus.PAUSED: "PAUSED",
    WindowStatus.IDLE: "NO_CURRENT_TICKET",
    WindowStatus.RATING: "NO_CURRENT_TICKET",
}
# CONTRACT §3.7: `hold` takes the window's serving ticket; a paused window has none to hold
WINDOW_STATE_ERROR_EXCEPTIONS: dict[tuple[str, WindowStatus], str] = {
    ("hold", WindowStatus.PAUSED): "NO_CURRENT_TICKET",
}


def state_error(command: str, status: WindowStatus) -> str | None:
    """The error of `command` at a window in `status`; None when the command is allowed there."""
    if status in WINDOW_COMMAND_STATES[command]:
        return None
    return WINDOW_STATE_ERROR_EXCEPTIONS.get((command, status), WINDOW_STATE_ERRORS[status])


# Error precedence of CONTRACT §3.2: when several apply, the first in this order wins.
ERROR_ORDER = ("BAD_REQUEST", "UNKNOWN_", "NOT_LOGGED_IN", "PAUSED", "ALREADY_RATED", "NOT_SERVED", "RATING_CLOSED")
# the ticket statuses each ticket command accepts (§3.7); NOT_WAITING / NOT_HELD come before WRONG_SERVICE
TICKET_COMMAND_STATUSES: dict[str, tuple[frozenset[TicketStatus], str]] = {
    "callback": (frozenset({TicketStatus.HELD}), "NOT_HELD"),
    "call_number": (frozenset({TicketStatus.WAITING}), "NOT_WAITING"),
    "cancel": (frozenset({TicketStatus.WAITING, TicketStatus.HELD}), "NOT_WAITING"),
}

LEVEL_NAMES = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}


class CommandFailed(Exception):
    """A command refused with a contract error code and a human message."""

    def __init__(self, code: str, message: str, events: list[dict[str, Any]] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.events = events or []   # what a refusal still causes (an alert after repeated bad PINs)


@dataclass
class Ticket:
    number: str
    date: date
    service: str
    priority: Priority
    issued_at: datetime
    order: int                      # global issue order, breaks ties of issued_at
    source: str | None = None
    status: TicketStatus = TicketStatus.WAITING
    window: str | None = None       # the window serving / last served it
    staff: str | None = None
    called_at: datetime | None = None
    finished_at: datetime | None = None
    recalls: int = 0
    rated: bool = False
    holder: str | None = None       # pseudonymous holder key from a verified credential
    rater: str | None = None        # the holder's identity sealed for the hall's privacy key (hallq.sealed)
    original_service: str | None = None

    @property
    def key(self) -> tuple[dt.date, str]:
        return (self.date, self.number)

    def sort_key(self) -> tuple[int, datetime, int]:
        """Call order: green before normal, then earliest issued_at, then issue order."""
        return (0 if self.priority is Priority.GREEN else 1, self.issued_at, self.order)

    def to_json(self, ahead: int | None = None, est_wait_s: int | None = None) -> dict[str, Any]:
        return {
            "number": self.number,
            "date": self.date.isoformat(),
            "service": self.service,
            "priority": self.priority.value,
            "status": self.status.value,
            "issued_at": self.issued_at.isoformat(),
            "window": self.window,
            "ahead": ahead if ahead is not None else 0,
            "est_wait_s": est_wait_s,
            "recalls": self.recalls,
            "rated": self.rated,
        }


@dataclass
class ServiceWindow:
    id: str
    services: tuple[str, ...]
    status: WindowStatus = WindowStatus.CLOSED
    staff: str | None = None
    ticket: tuple[date, str] | None = None      # serving, or awaiting its rating
    paused_from: WindowStatus | None = None
    pause_reason: str | None = None
    since: datetime | None = None               # when the current status began
    prompt_deadline: datetime | None = None     # end of the rating prompt


@dataclass
class Evaluation:
    ticket: str
    date: date
    window: str | None
    staff: str | None
    service: str
    level: int
    channel: str
    reasons: list[str]
    at: datetime
    supplementary: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "ticket": self.ticket, "date": self.date.isoformat(), "window": self.window, "staff": self.staff,
            "service": self.service, "level": self.level, "level_name": LEVEL_NAMES[self.level],
            "channel": self.channel, "reasons": self.reasons, "at": self.at.isoformat(),
            "supplementary": self.supplementary,
        }


@dataclass
class DayCounters:
    """Per business day: the last sequence number of each service."""

    sequences: dict[str, int] = field(default_factory=dict)


ALERT_STATES = ("open", "acknowledged", "all")
ALERT_EXTRA = ("date", "service", "staff", "order", "device", "level", "status")   # kept beside window/ticket


@dataclass(slots=True)
class Alert:
    """An 电子监察 alert (CONTRACT §3.7): open until a manager acknowledges it with a note."""

    id: str
    n: int                          # raise order in the hall's log (1, 2, …)
    kind: str
    message: str
    at: str                         # ISO time it was raised (as in its event)
    window: str | None = None
    ticket: str | None = None
    extra: dict[str, Any] | None = None
    ack: dict[str, Any] | None = None   # {"by", "actor", "at", "note"}

    @property
    def state(self) -> str:
        return "open" if self.ack is None else "acknowledged"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "message": self.message, "at": self.at}
        if self.window is not None:
            out["window"] = self.window
        if self.ticket is not None:
            out["ticket"] = self.ticket
        if self.extra:
            out.update(self.extra)
        out["state"] = self.state
        out["ack"] = dict(self.ack) if self.ack is not None else None
        return out

    def row(self) -> list[Any]:
        return [self.id, self.n, self.kind, self.message, self.at, self.window, self.ticket, self.extra, self.ack]
