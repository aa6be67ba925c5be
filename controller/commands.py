"""The commands of CONTRACT §3.2 and §3.7, each declared once as a typed dataclass.

A command's declaration gives its arguments (names, types, which are required, length limits): `parse_args`
checks a decoded JSON object against it and raises CommandFailed('BAD_REQUEST', ...) naming the argument and
what was expected; `parse_command` gives the typed command the engine's handler `Engine._cmd_{name}(now, cmd)`
takes; docs/controller.md's command table is generated from the same declarations (`controller/docs.py`).
"""

from __future__ import annotations

import re
import sys
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from datetime import date, datetime
from typing import Any, ClassVar, TypeVar

from controller.model import CommandFailed, Priority

MAX_ID_LEN = 64


@dataclass(frozen=True)
class Arg:
    name: str
    kind: str              # "str", "int", "bool", "date", "str_list", "priority", "slot"
    required: bool = True
    max_len: int = 64


def arg(max_len: int = 64, default: Any = None) -> Any:
    """An optional argument (default None unless told) whose string is at most `max_len` characters."""
    return field(default=default, metadata={"max_len": max_len})


def required(max_len: int) -> Any:
    """A required string argument of at most `max_len` characters."""
    return field(metadata={"max_len": max_len})


@dataclass(slots=True, kw_only=True)
class Command:
    """A parsed command; its fields are its arguments in the order they are checked. (Not frozen: a frozen
    dataclass sets each field through object.__setattr__, a cost on every command; nothing changes one.)"""

    NAME: ClassVar[str] = ""
    ARGS: ClassVar[tuple[Arg, ...]] = ()


@dataclass(frozen=True, slots=True)
class Slot:
    """An appointment's slot: `{"from", "to"}` as ISO date-times (without an offset: the hall's local time)."""

    start: datetime
    end: datetime


COMMANDS: dict[str, type[Command]] = {}
C = TypeVar("C", bound=type[Command])
_KINDS = {"str": "str", "int": "int", "bool": "bool", "date": "date", "Priority": "priority",
          "tuple[str, ...]": "str_list", "Slot": "slot"}


def command(name: str) -> Callable[[C], C]:
    """Register a command class under its name; its argument table comes from its fields."""
    def register(cls: C) -> C:
        ns = vars(sys.modules[__name__])
        hints = typing.get_type_hints(cls, ns, ns)
        out = []
        for f in fields(cls):
            hint = hints[f.name]
            parts = [a for a in typing.get_args(hint) if a is not type(None)] \
                if isinstance(hint, type(int | None)) else [hint]
            base = parts[0]
            kind = _KINDS[getattr(base, "__name__", "") if typing.get_origin(base) is None else str(base)]
            out.append(Arg(f.name, kind, f.default is MISSING and f.default_factory is MISSING,
                           f.metadata.get("max_len", 64)))
        cls.NAME, cls.ARGS = name, tuple(out)
        COMMANDS[name] = cls
        return cls
    return register




@command("issue")
@dataclass(slots=True, kw_only=True)
class Issue(Command):
    """Take a ticket for a service (`holder`: a holder key or its hash; `rater`: a sealed identity; `slot`: §3.7).

    `slot` is an appointment's `{"from", "to"}`, with priority appointment only."""

    service: str
    priority: Priority = arg(default=Priority.NORMAL)
    source: str | None = arg()
    holder: str | None = arg(128)
    rater: str | None = arg(1000)
    reason: str | None = arg(200)
    slot: Slot | None = arg()


@command("login")
@dataclass(slots=True, kw_only=True)
class Login(Command):
    """Log a staff member in at a window (replaces whoever was there; B-post takeover)."""

    window: str
    staff: str


@command("logout")
@dataclass(slots=True, kw_only=True)
class Logout(Command):
    """Log the window out; a ticket still being served is finished first."""

    window: str


@command("call")
@dataclass(slots=True, kw_only=True)
class Call(Command):
    """Call the next ticket (the current one is finished first)."""

    window: str


@command("recall")
@dataclass(slots=True, kw_only=True)
class Recall(Command):
    """Call the window's ticket again (up to `rules.recall_limit` times)."""

    window: str


@command("skip")
@dataclass(slots=True, kw_only=True)
class Skip(Command):
    """The window's ticket did not come: no-show (过号)."""

    window: str


@command("finish")
@dataclass(slots=True, kw_only=True)
class Finish(Command):
    """The window's ticket is served; the rating prompt opens."""

    window: str


@command("transfer")
@dataclass(slots=True, kw_only=True)
class Transfer(Command):
    """Send the window's ticket to the queue of another service."""

    window: str
    service: str


@command("pause")
@dataclass(slots=True, kw_only=True)
class Pause(Command):
    """Pause the window (暂停服务)."""

    window: str
    reason: str | None = arg(200)


@command("resume")
@dataclass(slots=True, kw_only=True)
class Resume(Command):
    """Resume a paused window."""

    window: str
    reason: str | None = arg(200)


@command("rate")
@dataclass(slots=True, kw_only=True)
class Rate(Command):
    """Rate a served ticket (at the window's evaluator, or later by the ticket's QR code with `code`)."""

    ticket: str
    date: date | None = arg()
    level: int
    window: str | None = arg()
    reasons: tuple[str, ...] | None = arg()
    channel: str | None = arg()
    comment: str | None = arg(500)
    code: str | None = arg()
    origin: str | None = arg(16)   # "hall": a page rating from the hall's own network (the console knows)


@command("ticket")
@dataclass(slots=True, kw_only=True)
class TicketQuery(Command):
    """A ticket's state (with `code`: only if it is that ticket's code)."""

    number: str
    date: date | None = arg()
    code: str | None = arg()


@command("hold")
@dataclass(slots=True, kw_only=True)
class Hold(Command):
    """挂起: the window's serving ticket leaves every queue until a window calls it back."""

    window: str
    note: str | None = arg(200)


@command("callback")
@dataclass(slots=True, kw_only=True)
class Callback(Command):
    """Call a held ticket back."""

    window: str
    number: str
    date: date | None = arg()


@command("call_number")
@dataclass(slots=True, kw_only=True)
class CallNumber(Command):
    """Call a waiting ticket out of turn by its number."""

    window: str
    number: str
    date: date | None = arg()


@command("cancel")
@dataclass(slots=True, kw_only=True)
class Cancel(Command):
    """Cancel a waiting or held ticket (the citizen left)."""

    number: str
    date: date | None = arg()
    reason: str | None = arg(200)


@command("alerts")
@dataclass(slots=True, kw_only=True)
class Alerts(Command):
    """The hall's alerts (open by default), in raise order."""

    state: str | None = arg()
    since: date | None = arg()
    limit: int | None = arg()


@command("alert_ack")
@dataclass(slots=True, kw_only=True)
class AlertAck(Command):
    """督查督办: acknowledge an alert with a note (`by`: who, in an open hall)."""

    alert: str
    note: str = required(1000)
    by: str | None = arg()


@command("alert_raise")
@dataclass(slots=True, kw_only=True)
class AlertRaise(Command):
    """An alert a part other than the controller saw (the console: too many failed sign-ins for one staff id,
    CONTRACT §6); only kind `login_failures`."""

    kind: str
    staff: str | None = arg()
    message: str = required(500)


@command("wo_verify")
@dataclass(slots=True, kw_only=True)
class WoVerify(Command):
    """差评 work order: verified (待核实 → 整改中); `complex` gives it the longer deadline."""

    order: str
    by: str
    note: str | None = arg(1000)
    complex: bool | None = arg()


@command("wo_feedback")
@dataclass(slots=True, kw_only=True)
class WoFeedback(Command):
    """差评 work order: the rater was given feedback (整改中 → 已反馈)."""

    order: str
    by: str
    note: str | None = arg(1000)


@command("wo_revisit")
@dataclass(slots=True, kw_only=True)
class WoRevisit(Command):
    """差评 work order: the rater was called back (已反馈 → 已回访)."""

    order: str
    by: str
    note: str | None = arg(1000)
    satisfied: bool | None = arg()


@command("wo_appeal")
@dataclass(slots=True, kw_only=True)
class WoAppeal(Command):
    """差评 work order: the staff member appeals (误评 / 恶意差评)."""

    order: str
    by: str
    reason: str
    note: str | None = arg(1000)


@command("wo_decide")
@dataclass(slots=True, kw_only=True)
class WoDecide(Command):
    """差评 work order: a reviewer other than the rated staff member decides the appeal."""

    order: str
    by: str
    uphold: bool
    note: str | None = arg(1000)


@command("wo_forward")
@dataclass(slots=True, kw_only=True)
class WoForward(Command):
    """A 差评 forwarded by the league (role region, docs/region.md): a work order marked as from the league."""

    ref: str
    note: str = required(1000)
    deadline: date | None = arg()       # (before `date`: the field's name would hide the type below it)
    date: date | None = arg()
    level: int | None = arg()
    ticket: str | None = arg()
    service: str | None = arg()
    window: str | None = arg()
    staff: str | None = arg()
    channel: str | None = arg()
    by: str | None = arg()


@command("workorders")
@dataclass(slots=True, kw_only=True)
class WorkOrders(Command):
    """The 差评 work orders, in opening order."""

    state: str | None = arg()
    since: date | None = arg()
    limit: int | None = arg()


@command("revisit_sample")
@dataclass(slots=True, kw_only=True)
class RevisitSample(Command):
    """The monthly 回访 sample of a past month (drawn once; again: the same); `peek`: only show it."""

    month: str
    by: str | None = arg()
    peek: bool | None = arg()


@command("revisit_record")
@dataclass(slots=True, kw_only=True)
class RevisitRecord(Command):
    """The result of a 回访 call to a sampled ticket's rater."""

    ticket: str
    date: date
    satisfied: bool
    note: str | None = arg(1000)
    by: str | None = arg()


@command("rater_access")
@dataclass(slots=True, kw_only=True)
class RaterAccess(Command):
    """The sealed identity of a ticket's rater, for 回访; every access is an `identity.accessed` event."""

    ticket: str
    date: date | None = arg()
    by: str
    reason: str = required(200)


@command("retention")
@dataclass(slots=True, kw_only=True)
class Retention(Command):
    """Citizens' personal data per service day: days kept, held by an open 差评 order, purged (docs/privacy.md)."""


WorkOrderCommand = WoVerify | WoFeedback | WoRevisit | WoAppeal | WoDecide

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def bad(message: str) -> CommandFailed:
    return CommandFailed("BAD_REQUEST", message)


def parse_actor(body: dict[str, Any]) -> str | None:
    """The optional `actor` of a command (the staff member a console acts for, CONTRACT §5.3)."""
    actor = body.get("actor")
    if actor is None:
        return None
    if not isinstance(actor, str) or not actor or len(actor) > 32 or "\0" in actor:
        raise bad("'actor' must be a staff id (a short string)")
    return actor


def parse_envelope(body: Any) -> tuple[str, str]:
    """Check `id` and `reply_to`; returns them. Raises BAD_REQUEST (reply_to may be '' if unusable)."""
    if not isinstance(body, dict):
        raise bad("the payload must be a JSON object")
    cid, reply_to = body.get("id"), body.get("reply_to")
    if not isinstance(cid, str) or not cid or len(cid) > MAX_ID_LEN or "\0" in cid:
        raise bad(f"'id' must be a non-empty string of at most {MAX_ID_LEN} characters")
    if not isinstance(reply_to, str) or not reply_to or any(c in reply_to for c in "+#\0"):
        raise bad("'reply_to' must be a topic without wildcards")
    return cid, reply_to


def parse_args(name: str, body: dict[str, Any]) -> dict[str, Any]:
    """The arguments of command `name` given in `body`, checked and converted (absent ones left out)."""
    cls = COMMANDS.get(name)
    if cls is None:
        raise bad(f"unknown command {name!r} (known: {', '.join(COMMANDS)})")
    out: dict[str, Any] = {}
    for a in cls.ARGS:
        v = body.get(a.name)
        if v is None:
            if a.required:
                raise bad(f"{name}: argument '{a.name}' is required")
            continue
        out[a.name] = _convert(name, a, v)
    return out


def parse_command(name: str, body: dict[str, Any]) -> tuple[Command, dict[str, Any]]:
    """The typed command, and its arguments as `parse_args` gives them (for authorization)."""
    args = parse_args(name, body)
    return COMMANDS[name](**args), args


def _convert(cmd: str, arg: Arg, v: Any) -> Any:
    where = f"{cmd}: argument '{arg.name}'"
    if arg.kind in ("str", "priority"):
        if not isinstance(v, str) or not v or len(v) > arg.max_len:
            raise bad(f"{where} must be a non-empty string of at most {arg.max_len} characters")
        if "\0" in v:
            raise bad(f"{where} must not contain U+0000")
        if arg.kind == "priority":
            if v not in _PRIORITIES:
                raise bad(f"{where} must be 'normal', 'green' or 'appointment', not {v!r}")
            return Priority(v)
        return v
    if arg.kind == "bool":
        if not isinstance(v, bool):
            raise bad(f"{where} must be true or false")
        return v
    if arg.kind == "int":
        if not isinstance(v, int) or isinstance(v, bool):
            raise bad(f"{where} must be an integer")
        return v
    if arg.kind == "date":
        if not isinstance(v, str) or not _DATE.match(v):
            raise bad(f"{where} must be a date YYYY-MM-DD")
        try:
            return date.fromisoformat(v)
        except ValueError:
            raise bad(f"{where}: {v!r} is not a calendar date") from None
    if arg.kind == "str_list":
        if not isinstance(v, list) or len(v) > 20 or not all(isinstance(x, str) and 0 < len(x) <= 64
                                                               and "\0" not in x for x in v):
            raise bad(f"{where} must be a list of at most 20 short strings (without U+0000)")
        return tuple(v)
    if arg.kind == "slot":
        return _slot(where, v)
    raise AssertionError(arg.kind)


_PRIORITIES = frozenset(p.value for p in Priority)


def _slot(where: str, v: Any) -> Slot:
    """`{"from": ISO date-time, "to": ISO date-time}`, `to` after `from`, both with an offset or neither."""
    want = f"{where} must be an object {{\"from\", \"to\"}} of ISO date-times (e.g. 2026-11-30T09:00:00+08:00)"
    if not isinstance(v, dict) or set(v) != {"from", "to"}:
        raise bad(want)
    ends: list[datetime] = []
    for k in ("from", "to"):
        x = v[k]
        if not isinstance(x, str) or not 16 <= len(x) <= 40 or not x[:4].isdigit() or "T" not in x:
            raise bad(f"{want}; '{k}' is not one")
        try:
            ends.append(datetime.fromisoformat(x))
        except ValueError:
            raise bad(f"{want}; '{k}' = {x!r} is not a date-time") from None
    start, end = ends
    if (start.tzinfo is None) != (end.tzinfo is None):
        raise bad(f"{where}: give both ends with a UTC offset, or neither (the hall's local time)")
    if end <= start:
        raise bad(f"{where}: 'to' ({end.isoformat()}) must be after 'from' ({start.isoformat()})")
    return Slot(start, end)
