"""The command table of CONTRACT §3.2: argument names, types and which are required.

`parse_args` turns a decoded JSON object into clean keyword arguments for the engine, or
raises CommandFailed('BAD_REQUEST', ...) naming the argument and what was expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from controller.model import CommandFailed

MAX_ID_LEN = 64


@dataclass(frozen=True)
class Arg:
    name: str
    kind: str              # "str", "int", "bool", "date", "str_list", "priority"
    required: bool = True
    max_len: int = 64


def _a(name: str, kind: str = "str", required: bool = True, max_len: int = 64) -> Arg:
    return Arg(name, kind, required, max_len)


COMMANDS: dict[str, tuple[Arg, ...]] = {
    "issue": (_a("service"), _a("priority", "priority", False), _a("source", required=False),
              _a("holder", required=False, max_len=128), _a("rater", required=False, max_len=1000),
              _a("reason", required=False, max_len=200)),
    "login": (_a("window"), _a("staff")),
    "logout": (_a("window"),),
    "call": (_a("window"),),
    "recall": (_a("window"),),
    "skip": (_a("window"),),
    "finish": (_a("window"),),
    "transfer": (_a("window"), _a("service")),
    "pause": (_a("window"), _a("reason", required=False, max_len=200)),
    "resume": (_a("window"), _a("reason", required=False, max_len=200)),
    "rate": (_a("ticket"), _a("date", "date", False), _a("level", "int"), _a("window", required=False),
             _a("reasons", "str_list", False), _a("channel", required=False), _a("comment", required=False,
                                                                                   max_len=500),
             _a("code", required=False), _a("origin", required=False, max_len=16)),
    "ticket": (_a("number"), _a("date", "date", False), _a("code", required=False)),
    # v2 (CONTRACT §3.7): 挂起 / call-back, call by number, cancel, alerts
    "hold": (_a("window"), _a("note", required=False, max_len=200)),
    "callback": (_a("window"), _a("number"), _a("date", "date", False)),
    "call_number": (_a("window"), _a("number"), _a("date", "date", False)),
    "cancel": (_a("number"), _a("date", "date", False), _a("reason", required=False, max_len=200)),
    "alerts": (_a("state", required=False), _a("since", "date", False), _a("limit", "int", False)),
    # `by`: who acknowledges in an open hall; in a secure hall the acting staff (actor) or principal wins
    "alert_ack": (_a("alert"), _a("note", max_len=1000), _a("by", required=False)),
    # 差评 work orders (docs/evaluation.md): `by` is who acts (staff id or a manager's name)
    "wo_verify": (_a("order"), _a("by"), _a("note", required=False, max_len=1000), _a("complex", "bool", False)),
    "wo_feedback": (_a("order"), _a("by"), _a("note", required=False, max_len=1000)),
    "wo_revisit": (_a("order"), _a("by"), _a("note", required=False, max_len=1000), _a("satisfied", "bool", False)),
    "wo_appeal": (_a("order"), _a("by"), _a("reason"), _a("note", required=False, max_len=1000)),
    "wo_decide": (_a("order"), _a("by"), _a("uphold", "bool"), _a("note", required=False, max_len=1000)),
    "workorders": (_a("state", required=False), _a("since", "date", False), _a("limit", "int", False)),
    # the sealed identity of a ticket's rater, for 回访; every access is an `identity.accessed` event
    "rater_access": (_a("ticket"), _a("date", "date", False), _a("by"), _a("reason", max_len=200)),
}

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
    spec = COMMANDS.get(name)
    if spec is None:
        raise bad(f"unknown command {name!r} (known: {', '.join(COMMANDS)})")
    out: dict[str, Any] = {}
    for arg in spec:
        v = body.get(arg.name)
        if v is None:
            if arg.required:
                raise bad(f"{name}: argument '{arg.name}' is required")
            continue
        out[arg.name] = _convert(name, arg, v)
    return out


def _convert(cmd: str, arg: Arg, v: Any) -> Any:
    where = f"{cmd}: argument '{arg.name}'"
    if arg.kind in ("str", "priority"):
        if not isinstance(v, str) or not v or len(v) > arg.max_len:
            raise bad(f"{where} must be a non-empty string of at most {arg.max_len} characters")
        if "\0" in v:
            raise bad(f"{where} must not contain U+0000")
        if arg.kind == "priority" and v not in ("normal", "green"):
            raise bad(f"{where} must be 'normal' or 'green', not {v!r}")
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
        return list(v)
    raise AssertionError(arg.kind)
