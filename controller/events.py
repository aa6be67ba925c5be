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
from dataclasses import MISSING, dataclass, field, fields
from datetime import date, datetime
from enum import Enum
from typing import Any, ClassVar, TypeVar

from controller.model import OrderState, Priority, TicketStatus

Json = dict[str, Any]
Day = date   # for fields declared after a field named `date`


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
    reply_hash: str | None = None  # on the first event of a command: the digest of its stored reply (store.py)
    log: str | None = None         # the log segment it was written in (CONTRACT §3.4; set by the store)
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
        """The event's JSON: as read (`from_json`), or for a new event in the layout it has always had."""
        if self.keys is not None:
            return self._as_read()
        by_key = self._BY_KEY
        out: Json = {"type": self.TYPE}
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

    def _as_read(self) -> Json:
        """The JSON of an event read from the log: its keys, in their order, and the values it had."""
        assert self.keys is not None
        by_key = self._BY_KEY
        out: Json = {}
        unknown = self.unknown or {}
        for k in self.keys:
            c = by_key.get(k)
            if c is None:
                out[k] = self.TYPE if k == "type" else unknown[k]
            else:
                v = getattr(self, c[1])
                out[k] = v if v is None or c[2] is None else c[2](v)
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
        return cls._read_any(d)

    @classmethod
    def _read_any(cls, d: Mapping[str, Any]) -> HallEvent:
        """Any logged dict of this type (keys of other versions kept aside); a broken one is an EventError."""
        kw: dict[str, Any] = {}
        unknown: dict[str, Any] | None = None
        by_key = cls._BY_KEY
        for k, v in d.items():
            c = by_key.get(k)
            if c is None:
                if k != "type":
                    if unknown is None:
                        unknown = {}
                    unknown[k] = v
            elif v is None or c[3] is None:
                kw[c[1]] = v
            else:
                try:
                    kw[c[1]] = c[3](v)
                except (TypeError, ValueError) as e:
                    raise EventError(f"{cls.TYPE} (seq {d.get('seq')}): field {k!r} = {v!r}: {e}") from None
        missing = cls._REQUIRED.difference(kw)
        if missing:
            raise EventError(f"{cls.TYPE} (seq {d.get('seq')}): field(s) {', '.join(sorted(missing))} missing")
        return cls(keys=tuple(d), unknown=unknown, **kw)


EVENT_TYPES: dict[str, type[HallEvent]] = {}
E = TypeVar("E", bound=type[HallEvent])
_RENAMED = {"from_": "from"}   # attributes whose JSON key is a Python keyword
_TAIL = ("principal", "actor", "seq", "reply_hash", "log")
ENVELOPE_KEYS = _TAIL   # keys any event may carry besides its own (who caused it; the store's seq, digest, segment)


def _iso(v: Any) -> str:
    return str(v.isoformat())


def _enum_value(v: Any) -> Any:
    return v._value_


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
        _compile(cls)
        EVENT_TYPES[name] = cls
        return cls
    return register


# -- speed: the log is replayed at every start and every command builds events ---------------------------
# Generated per type, with the same behaviour as the generic code above: an __init__ that fills the slots
# directly (a frozen dataclass's own goes through object.__setattr__ per field), a `to_json` of a new event
# as one dict display, and a `_read` of a dict with exactly the known keys (anything else: `_read_any`).
_ENC_SRC = {_iso: "{v}.isoformat()", _enum_value: "{v}._value_", list: "list({v})"}
_MISS = object()


def _compile(cls: type[HallEvent]) -> None:
    ns: dict[str, Any] = {"_MISS": _MISS, "_read_any": cls._read_any.__func__,   # type: ignore[attr-defined]
                          "_as_read": HallEvent._as_read}
    params, sets = [], []
    for f in fields(cls):
        slot = next(k.__dict__[f.name] for k in cls.__mro__ if f.name in k.__dict__)
        ns[f"_s_{f.name}"] = slot.__set__
        if f.default is MISSING:
            params.append(f.name)
        else:
            ns[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
        sets.append(f"    _s_{f.name}(self, {f.name})")
    src = [f"def __init__(self, *, {', '.join(params)}):", *sets]
    by_key = cls._BY_KEY
    if cls.layout is HallEvent.layout:
        src += ["def to_json(self):", "    if self.keys is not None:", "        return _as_read(self)",
                f"    out = {{'type': {cls.TYPE!r}}}"]
        for k in cls._LAYOUT:
            key, attr, enc, _ = by_key[k]
            value = "v" if enc is None else _ENC_SRC[enc].format(v="v")
            if k in cls.OMIT_NONE:
                src += [f"    v = self.{attr}", "    if v is not None:", f"        out[{key!r}] = {value}"]
            elif enc is None:
                src.append(f"    out[{key!r}] = self.{attr}")
            else:
                src += [f"    v = self.{attr}", f"    out[{key!r}] = None if v is None else {value}"]
        src.append("    return out")
    ns["_KNOWN"] = frozenset((*by_key, "type"))
    ns["_new"] = object.__new__
    reads = []
    for key, attr, _, dec in by_key.values():
        if isinstance(dec, type) and issubclass(dec, Enum):
            dec = dec._value2member_map_.__getitem__   # (a KeyError takes the slow path to its clear error)
        if dec is not None:
            ns[f"_x_{attr}"] = dec
        got = f"d[{key!r}]" if attr in cls._REQUIRED else f"d.get({key!r}, _MISS)"
        value = "v" if dec is None else f"None if v is None else _x_{attr}(v)"
        if attr in cls._REQUIRED:
            reads += [f"        v = {got}", f"        _s_{attr}(o, {value})"]
        else:
            reads += [f"        v = {got}", f"        _s_{attr}(o, _d_{attr} if v is _MISS else {value})"]
    src += ["def _read(cls, d):", "    if not _KNOWN.issuperset(d):", "        return _read_any(cls, d)",
            "    o = _new(cls)", "    try:", *reads, "    except (KeyError, TypeError, ValueError):",
            "        return _read_any(cls, d)", "    _s_keys(o, tuple(d))", "    _s_unknown(o, None)", "    return o"]
    exec("\n".join(src), ns)   # noqa: S102 - code built above from the class's own field names
    type.__setattr__(cls, "__init__", ns["__init__"])
    if "to_json" in ns:
        type.__setattr__(cls, "to_json", ns["to_json"])
    type.__setattr__(cls, "_read", classmethod(ns["_read"]))


# -- tickets ---------------------------------------------------------------------------------------
@event_type("ticket.issued")
@dataclass(frozen=True, slots=True, kw_only=True)
class TicketIssued(HallEvent):
    OMIT_NONE = frozenset({"holder", "reason", "rater", "slot_from", "slot_to", *_TAIL})
    ticket: str
    date: date
    service: str
    window: str | None = None
    priority: Priority = Priority.NORMAL
    source: str | None = None
    holder: str | None = None      # keyed hash of the holder's key (never published)
    reason: str | None = None
    rater: str | None = None       # the holder's identity sealed for the hall's privacy key (never published)
    slot_from: datetime | None = None   # an appointment ticket's slot (priority appointment; absent: all day)
    slot_to: datetime | None = None


@event_type("ticket.called")
@dataclass(frozen=True, slots=True, kw_only=True)
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
@dataclass(frozen=True, slots=True, kw_only=True)
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
@dataclass(frozen=True, slots=True, kw_only=True)
class TicketSkipped(HallEvent):
    OMIT_NONE = frozenset(_TAIL)
    ticket: str
    date: date
    service: str
    window: str
    priority: Priority = Priority.NORMAL
    staff: str | None = None


@event_type("ticket.transferred")
@dataclass(frozen=True, slots=True, kw_only=True)
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
@dataclass(frozen=True, slots=True, kw_only=True)
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
@dataclass(frozen=True, slots=True, kw_only=True)
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
@dataclass(frozen=True, slots=True, kw_only=True)
class WindowLogin(HallEvent):
    OMIT_NONE = frozenset(_TAIL)
    window: str
    staff: str
    replaced: str | None = None


@event_type("window.logout")
@dataclass(frozen=True, slots=True, kw_only=True)
class WindowLogout(HallEvent):
    OMIT_NONE = frozenset(_TAIL)
    window: str
    staff: str | None = None
    reason: str | None = None


@event_type("window.paused")
@dataclass(frozen=True, slots=True, kw_only=True)
class WindowPaused(HallEvent):
    OMIT_NONE = frozenset(_TAIL)
    window: str
    staff: str | None = None
    reason: str | None = None


@event_type("window.resumed")
@dataclass(frozen=True, slots=True, kw_only=True)
class WindowResumed(HallEvent):
    OMIT_NONE = frozenset(_TAIL)
    window: str
    staff: str | None = None


@event_type("window.prompt_closed")
@dataclass(frozen=True, slots=True, kw_only=True)
class WindowPromptClosed(HallEvent):
    OMIT_NONE = frozenset(_TAIL)
    window: str
    reason: str | None = None
    ticket: str | None = None
    date: date | None = None


# -- ratings, work orders, the day -----------------------------------------------------------------
@event_type("evaluation.recorded")
@dataclass(frozen=True, slots=True, kw_only=True)
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
@dataclass(frozen=True, slots=True, kw_only=True)
class WorkorderOpened(HallEvent):
    OMIT_NONE = frozenset({"source", "forwarded", *_TAIL})
    order: str
    ticket: str
    date: date
    window: str | None = None
    staff: str | None = None
    unit: str | None = None
    service: str
    level: int
    deadline: Day
    source: str | None = None                    # "region": forwarded by the league (wo_forward)
    forwarded: dict[str, Any] | None = None      # {ref, channel, note, by}


@event_type("workorder.changed")
@dataclass(frozen=True, slots=True, kw_only=True)
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
@dataclass(frozen=True, slots=True, kw_only=True)
class DayClosed(HallEvent):
    OMIT_NONE = frozenset(_TAIL)
    date: date
    next: Day
    no_show: tuple[str, ...] = ()


@event_type("revisit.sampled")
@dataclass(frozen=True, slots=True, kw_only=True)
class RevisitSampled(HallEvent):
    """The month's 回访 sample (controller/revisit.py): `tickets` as DATE:NUMBER, picked with `seed`."""

    OMIT_NONE = frozenset({"by", *_TAIL})
    month: str
    seed: str
    share: float
    rated: int
    tickets: tuple[str, ...] = ()
    by: str | None = None


@event_type("revisit.recorded")
@dataclass(frozen=True, slots=True, kw_only=True)
class RevisitRecorded(HallEvent):
    """The result of a 回访 call to a sampled ticket's rater."""

    OMIT_NONE = frozenset({"note", "by", *_TAIL})
    ticket: str
    date: date
    satisfied: bool
    note: str | None = None
    by: str | None = None


@event_type("identity.accessed")
@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityAccessed(HallEvent):
    OMIT_NONE = frozenset(_TAIL)
    ticket: str
    date: date
    by: str
    reason: str


@event_type("identity.purged")
@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityPurged(HallEvent):
    """A service day's personal data made unreadable: its key destroyed after `kept_days` (controller/retention.py).
    `identities`: tickets of the day that held a holder hash or a sealed rater identity; `unwrapped`: those sealed
    before day keys (they stay readable with the hall's privacy key)."""

    OMIT_NONE = frozenset(_TAIL)
    date: date
    identities: int
    unwrapped: int
    kept_days: int


# -- the store's own records -----------------------------------------------------------------------
@event_type("replies.bound")
@dataclass(frozen=True, slots=True, kw_only=True)
class RepliesBound(HallEvent):
    """The digests of stored replies of commands that caused no event, bound to the chain (controller/store.py)."""

    OMIT_NONE = frozenset(_TAIL)
    replies: tuple[str, ...] = ()


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
    "login_failures": ("kind", "key", "window", "staff", "message"),
    "bad_review": ("kind", "ticket", "date", "window", "staff", "level", "order", "message"),
    "workorder_overdue": ("kind", "key", "order", "ticket", "staff", "unit", "message"),
    "alert_escalated": ("kind", "key", "of", "window", "ticket", "message"),
}
_ALERT_PLAIN = ("kind", "key", "message")


@event_type("alert.raised")
@dataclass(frozen=True, slots=True, kw_only=True)
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
    of: str | None = None          # alert_escalated (督办): the id of the alert still open
    id: str | None = None          # A{n}-{digest}; logs written before ids have none

    def layout(self) -> tuple[str, ...]:
        keys = ALERT_LAYOUTS.get(self.kind, _ALERT_PLAIN)
        stray = [c[0] for c in self._CODECS if c[0] not in keys and c[0] not in ("at", "id", *_TAIL)
                 and getattr(self, c[1]) is not None]
        if stray:
            raise EventError(f"alert kind {self.kind!r} has no field(s) {', '.join(stray)} (ALERT_LAYOUTS)")
        return ("at", *keys, "id", *_TAIL)


@event_type("alert.acknowledged")
@dataclass(frozen=True, slots=True, kw_only=True)
class AlertAcknowledged(HallEvent):
    OMIT_NONE = frozenset({"window", *_TAIL})
    alert: str
    kind: str | None = None
    by: str | None = None
    note: str = ""
    window: str | None = None

    def layout(self) -> tuple[str, ...]:
        # the acting staff member is written with the acknowledgement, before who sent it
        return ("at", "alert", "kind", "by", "note", "window", "actor", "principal", "seq", "reply_hash", "log")
