"""Domain model of the queue: ticket and window states, their transition table, and error codes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum, StrEnum
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
    APPOINTMENT = "appointment"     # a checked-in appointment (预约): before walk-ins around its slot (CONTRACT §3.7)


class OrderState(StrEnum):
    """A 差评 work order's state (controller/workorders.py has its transition table)."""

    PENDING = "pending"            # 待核实
    RECTIFYING = "rectifying"      # 整改中 (or 解释说明 under way)
    FED_BACK = "fed_back"          # 已反馈
    REVISITED = "revisited"        # 已回访 (closed)
    APPEALED = "appealed"          # 申诉复核中
    SET_ASIDE = "set_aside"        # 申诉成立: 误评 / 恶意差评 (closed; the rating stays in the log)


# -- the window machine ------------------------------------------------------------------------------------
class Keep(Enum):
    """A target that depends on the window: it stays as it is, or goes back to what it was before the pause."""

    SAME = "stays"
    BEFORE_PAUSE = "back to the state before the pause"


@dataclass(frozen=True, slots=True)
class Refuse:
    """The command is refused in this state with this error code (CONTRACT §3.2)."""

    code: str


Target = WindowStatus | Keep | Refuse | None      # None: the move never happens from that state

_CLOSED, _IDLE, _SERVING, _RATING, _PAUSED = (WindowStatus.CLOSED, WindowStatus.IDLE, WindowStatus.SERVING,
                                              WindowStatus.RATING, WindowStatus.PAUSED)
_NL, _PA, _NT = Refuse("NOT_LOGGED_IN"), Refuse("PAUSED"), Refuse("NO_CURRENT_TICKET")
_SAME, _BACK = Keep.SAME, Keep.BEFORE_PAUSE
_STATES = (_CLOSED, _IDLE, _SERVING, _RATING, _PAUSED)
# One row per move: the target from each state, in the order closed, idle, serving, rating, paused. The
# commands' rows give their errors too; the last rows are moves no command names (the engine makes them).
_ROWS: dict[str, tuple[Target, Target, Target, Target, Target]] = {
    #                 closed   idle      serving   rating    paused
    "login":         (_IDLE,   _SAME,    _SAME,    _SAME,    _SAME),      # replaces whoever was there
    "logout":        (_SAME,   _CLOSED,  _CLOSED,  _CLOSED,  _CLOSED),    # a served ticket is finished first
    "call":          (_NL,     _SERVING, _SERVING, _SERVING, _PA),        # empty queue: the current is finished
    "callback":      (_NL,     _SERVING, _SERVING, _SERVING, _PA),
    "call_number":   (_NL,     _SERVING, _SERVING, _SERVING, _PA),
    "recall":        (_NL,     _NT,      _SERVING, _NT,      _PA),
    "skip":          (_NL,     _NT,      _IDLE,    _NT,      _PA),
    "finish":        (_NL,     _NT,      _RATING,  _NT,      _PA),        # the rating prompt opens
    "transfer":      (_NL,     _NT,      _IDLE,    _NT,      _PA),
    "hold":          (_NL,     _NT,      _IDLE,    _NT,      _NT),        # a paused window has none to hold
    "pause":         (_NL,     _PAUSED,  _PAUSED,  _PAUSED,  _SAME),
    "resume":        (_NL,     _SAME,    _SAME,    _SAME,    _BACK),
    "finish_unprompted": (None, None,    _IDLE,    None,     _IDLE),      # finished by a call, a logout, rated
    "rated":         (None,    None,     None,     _IDLE,    None),       # the prompt's rating arrived
    "prompt_closed": (None,    None,     None,     _IDLE,    None),       # the prompt timed out
}
WINDOW_MACHINE: dict[tuple[WindowStatus, str], Target] = {
    (s, move): row[i] for move, row in _ROWS.items() for i, s in enumerate(_STATES)}
"""(window state, move) → target: a state, `Keep`, `Refuse(code)` for a command refused there, or None."""
WINDOW_COMMANDS = tuple(m for m, row in _ROWS.items() if any(isinstance(t, Refuse) for t in row))
"""The commands the window's state can refuse (login and logout are allowed everywhere)."""
# where a move goes from a state it is refused in: where it goes from the others (resume: back from the pause)
_FORCED: dict[str, WindowStatus | Keep] = {
    move: next((t for t in row if isinstance(t, WindowStatus)), _BACK) for move, row in _ROWS.items()}


def _fixed_target(move: str, target: Target) -> WindowStatus | None:
    if isinstance(target, WindowStatus):
        return target
    forced = _FORCED[move]
    return forced if not isinstance(target, Keep) and isinstance(forced, WindowStatus) else None


# the cells that lead to one state whatever else the window holds (all but the `Keep` ones), looked up first
_FIXED_TARGET: dict[tuple[WindowStatus, str], WindowStatus] = {
    cell: fixed for cell, t in WINDOW_MACHINE.items() if (fixed := _fixed_target(cell[1], t)) is not None}


def state_error(command: str, status: WindowStatus) -> str | None:
    """The error of `command` at a window in `status`; None when the command is allowed there."""
    target = WINDOW_MACHINE.get((status, command))
    return target.code if isinstance(target, Refuse) else None


def window_target(status: WindowStatus, move: str, paused_from: WindowStatus | None) -> WindowStatus:
    """Where `move` takes a window in `status`. A logged event always applies: a move from a state it is
    refused in (a log of an older version) goes where the move goes from the states it is allowed in."""
    fixed = _FIXED_TARGET.get((status, move))
    if fixed is not None:
        return fixed
    target = WINDOW_MACHINE[(status, move)]
    if isinstance(target, WindowStatus):
        return target
    if target is Keep.SAME:
        return status
    if target is not Keep.BEFORE_PAUSE:
        target = _FORCED[move]
        if isinstance(target, WindowStatus):
            return target
    return paused_from or WindowStatus.IDLE


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
    slot_from: datetime | None = None   # an appointment's slot (None: an appointment within its slot all day)
    slot_to: datetime | None = None

    @property
    def key(self) -> tuple[dt.date, str]:
        return (self.date, self.number)

    def sort_key(self) -> tuple[int, datetime, int]:
        """The order of the waiting lists: green before the rest, then earliest issued_at, then issue order.
        Appointment tickets sort with the rest here; `HallState` keeps those within their slot apart too and
        `call` takes them after green and before the rest (controller/state.py, "Appointments")."""
        return (0 if self.priority is Priority.GREEN else 1, self.issued_at, self.order)

    def to_json(self, ahead: int | None = None, est_wait_s: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
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
        if self.slot_from is not None and self.slot_to is not None:
            out["slot"] = {"from": self.slot_from.isoformat(), "to": self.slot_to.isoformat()}
        return out


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
ALERT_EXTRA = ("date", "service", "staff", "order", "device", "level", "status", "of")   # kept beside window/ticket


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
