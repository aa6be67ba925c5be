"""The event types of the hall's log (CONTRACT §3.4, §3.7): one frozen dataclass each, JSON kept byte for byte.

The log is the system of record, so an event's JSON never changes shape: `to_json()` of an event the engine
builds gives exactly the dict (keys, values, key order) the engine wrote before these types existed, and
`from_json(d).to_json() == d` for every event of a log, key order included (`from_json` keeps the keys it
read, so null-valued and absent fields stay as they were, and so do keys of older versions it does not know).
An unknown `type` is an error (`UnknownEvent`): a misspelt or future type must not be skipped in a replay.

Events stay dicts at the engine's boundary (store, service, snapshots); inside, `HallState`, `WorkOrderBook`,
`AlertBook` and `RatingWatch` read these types.
"""

from __future__ import annotations

import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import date, datetime
from enum import Enum
from typing import Any, ClassVar, TypeVar

from controller.model import OrderState, Priority, TicketStatus

Json = dict[str, Any]


class EventError(ValueError):
    """A logged event that cannot be read: a required field missing or of the wrong kind."""


class UnknownEvent(EventError):
    """A logged event of a type this controller does not know."""


# how one field goes to and from JSON: (json key, attribute, encode, decode); None = as it is
_Codec = tuple[str, str, Callable[[Any], Any] | None, Callable[[Any], Any] | None]


@dataclass(frozen=True, slots=True, kw_only=True)
class HallEvent:
    """What every event has: its time; from the log its `seq`; in a secure hall who caused it."""

    TYPE: ClassVar[str] = ""
    OMIT_NONE: ClassVar[frozenset[str]] = frozenset()   # fields left out of the JSON while None
    _CODECS: ClassVar[tuple[_Codec, ...]] = ()
    _BY_KEY: ClassVar[dict[str, _Codec]] = {}
    _REQUIRED: ClassVar[frozenset[str]] = frozenset()
    _LAYOUT: ClassVar[tuple[str, ...]] = ()

    at: datetime
    principal: str | None = None
    actor: str | None = None
    seq: int | None = None
    # the keys as read from the log, in their order, and values of keys this version does not know
    keys: tuple[str, ...] | None = field(default=None, compare=False, repr=False)
    unknown: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def type(self) -> str:
        return self.TYPE

    def layout(self) -> tuple[str, ...]:
        """The keys of a newly built event in the order the engine has always written them."""
        return self._LAYOUT

    def to_json(self) -> Json:
        out: Json = {"type": self.TYPE}
        by_key = self._BY_KEY
        if self.keys is not None:
            unknown = self.unknown or {}
            for k in self.keys:
                if k == "type":
                    continue
                c = by_key.get(k)
                if c is None:
                    out[k] = unknown[k]
                else:
                    v = getattr(self, c[1])
                    out[k] = v if v is None or c[2] is None else c[2](v)
            return out
        omit = self.OMIT_NONE
        for k in self.layout():
            c = by_key[k]
            v = getattr(self, c[1])
            if v is None:
                if k in omit:
                    continue
                out[k] = None
            else:
                out[k] = v if c[2] is None else c[2](v)
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> HallEvent:
        """The typed event of a logged dict (any type: dispatches on `type`)."""
        t = d.get("type")
        sub = EVENT_TYPES.get(t) if isinstance(t, str) else None
        if sub is None:
            raise UnknownEvent(f"event type {t!r} is unknown to this controller (seq {d.get('seq')}; known: "
                               f"{', '.join(EVENT_TYPES)}) — a newer controller wrote it, or the log is damaged")
        return sub._read(d)

    @classmethod
    def _read(cls, d: Mapping[str, Any]) -> HallEvent:
        kw: dict[str, Any] = {}
        unknown: dict[str, Any] | None = None
        by_key = cls._BY_KEY
        try:
            for k, v in d.items():
                c = by_key.get(k)
                if c is None:
                    if k != "type":
                        if unknown is None:
                            unknown = {}
                        unknown[k] = v
                    continue
                kw[c[1]] = v if v is None or c[3] is None else c[3](v)
            missing = cls._REQUIRED.difference(kw)
            if missing:
                raise EventError(f"{cls.TYPE} (seq {d.get('seq')}): field(s) {', '.join(sorted(missing))} missing")
            return cls(keys=tuple(d), unknown=unknown, **kw)
        except (TypeError, ValueError, AttributeError) as e:
            if isinstance(e, EventError):
                raise
            raise EventError(f"{cls.TYPE} (seq {d.get('seq')}): {e}") from None


def to_event(ev: HallEvent | Mapping[str, Any]) -> HallEvent:
    """An event as its type, from either form."""
    return ev if isinstance(ev, HallEvent) else HallEvent.from_json(ev)


EVENT_TYPES: dict[str, type[HallEvent]] = {}
E = TypeVar("E", bound=type[HallEvent])
_RENAMED = {"from_": "from"}   # attributes whose JSON key is a Python keyword
_TAIL = ("principal", "actor", "seq")


def _iso(v: Any) -> str:
    return str(v.isoformat())


def _enum_value(v: Any) -> Any:
    return v.value


def _codec(name: str, hint: Any) -> _Codec:
    key = _RENAMED.get(name, name)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if len(args) == 1 else hint
    if base is datetime:
        return key, name, _iso, datetime.fromisoformat
    if base is date:
        return key, name, _iso, date.fromisoformat
    if isinstance(base, type) and issubclass(base, Enum):
        return key, name, _enum_value, base
    if typing.get_origin(base) is tuple:
        return key, name, list, tuple
    return key, name, None, None


def event_type(name: str) -> Callable[[E], E]:
    """Register an event class under its `type`; its fields (after `at`) are its JSON keys in order."""
    def register(cls: E) -> E:
        ns = vars(sys.modules[__name__])
        hints = typing.get_type_hints(cls, ns, ns)
        own = [f.name for f in fields(cls) if f.name not in ("at", "keys", "unknown", *_TAIL)]
        codecs = tuple(_codec(n, hints[n]) for n in ("at", *own, *_TAIL))
        cls.TYPE = name
        cls._CODECS = codecs
        cls._BY_KEY = {c[0]: c for c in codecs}
        cls._LAYOUT = tuple(c[0] for c in codecs)
        cls._REQUIRED = frozenset(f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING)
        EVENT_TYPES[name] = cls
        return cls
    return register


_d = dataclass(frozen=True, slots=True, kw_only=True)


# -- tickets ---------------------------------------------------------------------------------------
@event_type("ticket.issued")
@_d
class TicketIssued(HallEvent):
    OMIT_NONE = frozenset({"holder", "reason", "rater", *_TAIL})
    ticket: str
    date: date
    service: str
    window: str | None = None
    priority: Priority = Priority.NORMAL
    source: str | None = None
    holder: str | None = None      # keyed hash of the holder's key (never published)
    reason: str | None = None
    rater: str | None = None       # the holder's identity sealed for the hall's privacy key (never published)


@event_type("ticket.called")
@_d
class TicketCalled(HallEvent):
    OMIT_NONE = frozenset({"callback", "by_number", *_TAIL})
    ticket: str
    date: date
    service: str
    window: str
    priority: Priority = Priority.NORMAL
    staff: str | None = None
    recall: int = 0                # 0: a call; n: the n-th recall of the window's ticket
    callback: bool | None = None   # called back from held
    by_number: bool | None = None  # called out of turn by its number


@event_type("ticket.finished")
@_d
class TicketFinished(HallEvent):
    OMIT_NONE = frozenset({"prompt", *_TAIL})
    ticket: str
    date: date
    service: str
    window: str
    priority: Priority = Priority.NORMAL
    staff: str | None = None
    prompt: bool | None = None     # False: the window does not enter the rating prompt


@event_type("ticket.skipped")
@_d
class TicketSkipped(HallEvent):
    OMIT_NONE = frozenset(_TAIL)
    ticket: str
    date: date
    service: str
    window: str
    priority: Priority = Priority.NORMAL
    staff: str | None = None


@event_type("ticket.transferred")
@_d
class TicketTransferred(HallEvent):
    OMIT_NONE = frozenset(_TAIL)
    ticket: str
    date: date
    service: str                   # the service it waits for now
    window: str
    priority: Priority = Priority.NORMAL
    from_service: str | None = None
    staff: str | None = None


@event_type("ticket.held")
@_d
class TicketHeld(HallEvent):
    OMIT_NONE = frozenset({"note", *_TAIL})
    ticket: str
    date: date
    service: str
    window: str
    priority: Priority = Priority.NORMAL
    staff: str | None = None
    note: str | None = None


@event_type("ticket.cancelled")
@_d
class TicketCancelled(HallEvent):
    OMIT_NONE = frozenset({"reason", *_TAIL})
    ticket: str
    date: date
    service: str
    window: str | None = None
    priority: Priority = Priority.NORMAL
    was: TicketStatus = TicketStatus.WAITING
    reason: str | None = None


# -- windows ---------------------------------------------------------------------------------------
@event_type("window.login")
@_d
class WindowLogin(HallEvent):
    OMIT_NONE = frozenset(_TAIL)
    window: str
    staff: str
    replaced: str | None = None


@event_type("window.logout")
@_d
class WindowLogout(HallEvent):
    OMIT_NONE = frozenset(_TAIL)
    window: str
    staff: str | None = None
    reason: str | None = None


@event_type("window.paused")
@_d
class WindowPaused(HallEvent):
    OMIT_NONE = frozenset(_TAIL)
    window: str
    staff: str | None = None
    reason: str | None = None


@event_type("window.resumed")
@_d
class WindowResumed(HallEvent):
    OMIT_NONE = frozenset(_TAIL)
    window: str
    staff: str | None = None


@event_type("window.prompt_closed")
@_d
class WindowPromptClosed(HallEvent):
    OMIT_NONE = frozenset(_TAIL)
    window: str
    reason: str | None = None
    ticket: str | None = None
    date: date | None = None


# -- ratings, work orders, the day -----------------------------------------------------------------
@event_type("evaluation.recorded")
@_d
class EvaluationRecorded(HallEvent):
    OMIT_NONE = frozenset({"comment", "rater", *_TAIL})
    ticket: str
    date: date
    window: str | None = None
    staff: str | None = None
    service: str | None = None
    level: int
    channel: str
    reasons: tuple[str, ...] = ()
    supplementary: bool = False
    flags: tuple[str, ...] = ()
    comment: str | None = None
    rater: str | None = None


@event_type("workorder.opened")
@_d
class WorkorderOpened(HallEvent):
    OMIT_NONE = frozenset(_TAIL)
    order: str
    ticket: str
    date: date
    window: str | None = None
    staff: str | None = None
    unit: str | None = None
    service: str
    level: int
    deadline: date


@event_type("workorder.changed")
@_d
class WorkorderChanged(HallEvent):
    OMIT_NONE = frozenset({"complex", "deadline", "satisfied", "reason", "uphold", *_TAIL})
    order: str
    action: str
    by: str | None = None
    note: str | None = None
    from_: OrderState | None = None
    to: OrderState
    complex: bool | None = None
    deadline: date | None = None
    satisfied: bool | None = None
    reason: str | None = None
    uphold: bool | None = None


@event_type("day.closed")
@_d
class DayClosed(HallEvent):
    OMIT_NONE = frozenset(_TAIL)
    date: date
    next: date
    no_show: tuple[str, ...] = ()


@event_type("identity.accessed")
@_d
class IdentityAccessed(HallEvent):
    OMIT_NONE = frozenset(_TAIL)
    ticket: str
    date: date
    by: str
    reason: str


# -- alerts (电子监察) --------------------------------------------------------------------------------
# The keys each kind of alert has always been written with, in their order (after type and at; `id` and
# who caused it follow). A kind not listed has `kind, key, message`.
ALERT_LAYOUTS: dict[str, tuple[str, ...]] = {
    "long_wait": ("kind", "key", "message", "ticket", "date", "service"),
    "long_service": ("kind", "key", "message", "window", "ticket", "staff"),
    "long_pause": ("kind", "key", "message", "window", "staff"),
    "unattended": ("kind", "key", "message", "window"),
    "device_offline": ("kind", "key", "message", "device", "status"),
    "printer_paper_out": ("kind", "key", "message", "device", "status"),
    "printer_paper_low": ("kind", "key", "message", "device", "status"),
    "login_failures": ("kind", "key", "window", "message"),
    "bad_review": ("kind", "ticket", "date", "window", "staff", "level", "order", "message"),
    "workorder_overdue": ("kind", "key", "order", "ticket", "staff", "unit", "message"),
}
_ALERT_PLAIN = ("kind", "key", "message")


@event_type("alert.raised")
@_d
class AlertRaised(HallEvent):
    OMIT_NONE = frozenset({"id", *_TAIL})
    kind: str = ""
    key: str | None = None         # the occasion, raised once (supervision keeps the keys it has seen)
    message: str = ""
    window: str | None = None
    ticket: str | None = None
    date: date | None = None
    service: str | None = None
    staff: str | None = None
    level: int | None = None
    order: str | None = None
    unit: str | None = None
    device: str | None = None
    status: str | None = None
    id: str | None = None          # A{n}-{digest}; logs written before ids have none

    def layout(self) -> tuple[str, ...]:
        keys = ALERT_LAYOUTS.get(self.kind, _ALERT_PLAIN)
        stray = [c[0] for c in self._CODECS if c[0] not in keys and c[0] not in ("at", "id", *_TAIL)
                 and getattr(self, c[1]) is not None]
        if stray:
            raise EventError(f"alert kind {self.kind!r} has no field(s) {', '.join(stray)} (ALERT_LAYOUTS)")
        return ("at", *keys, "id", *_TAIL)


@event_type("alert.acknowledged")
@_d
class AlertAcknowledged(HallEvent):
    OMIT_NONE = frozenset({"window", *_TAIL})
    alert: str
    kind: str | None = None
    by: str | None = None
    note: str = ""
    window: str | None = None

    def layout(self) -> tuple[str, ...]:
        # the acting staff member is written with the acknowledgement, before who sent it
        return ("at", "alert", "kind", "by", "note", "window", "actor", "principal", "seq")


def with_id(ev: AlertRaised, aid: str) -> AlertRaised:
    return replace(ev, id=aid)
