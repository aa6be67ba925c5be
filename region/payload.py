"""The ingest's reading of a hall's payloads: `hallq.api.decode`'s guarantees at one `json.loads` for an event, and
what an event must hold to be stored (CONTRACT §7)."""

from __future__ import annotations

import json
import re
from datetime import MAXYEAR, UTC, date, datetime
from typing import Any

from hallq.api import MAX_DEPTH, MESSAGE_MAX_BYTES, decode

# after strict UTF-8, a lone surrogate can only come from a \uD800-\uDFFF escape
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def decode_text(payload: bytes) -> tuple[Any, str]:
    """The decoded payload and its text, refusing (BadPayload) exactly what `hallq.api.decode` refuses.

    `decode` walks every string and container of the tree; an event is a flat object, so two scans of the text
    rule out what the walk looks for: nesting needs a `{` or `[` per level (so no more of them than MAX_DEPTH means
    not too deep), and a lone surrogate needs a surrogate escape. A payload the scans cannot clear (an `events`
    reply, an escaped emoji) takes the full walk. A number Python will not convert (over 4,300 digits) is refused
    too: `json.loads` raises a plain ValueError for it, which must not stop the ingest."""
    if len(payload) <= MESSAGE_MAX_BYTES:
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if text.count("{") + text.count("[") <= MAX_DEPTH and _SURROGATE_ESCAPE.search(text) is None:
                try:
                    return json.loads(text), text
                except ValueError:
                    pass                    # not JSON, or a number too long: the full decode names the reason
    return decode(payload), payload.decode("utf-8")


def event_month(ev: dict[str, Any]) -> date | None:
    """For a storable event (a str `type`, an int `seq` >= 1 and not a bool, a str `log`, `at` in ISO 8601 with its
    UTC offset): the first day of the UTC month of `at`, the partition of hallq_events its row goes to; else None."""
    at = ev.get("at")
    seq = ev.get("seq")
    if not (isinstance(at, str) and type(seq) is int and seq >= 1 and isinstance(ev.get("type"), str)
            and isinstance(ev.get("log"), str)):
        return None
    try:
        t = datetime.fromisoformat(at)
        if t.tzinfo is None:
            return None
        u = t.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    if u.year == MAXYEAR and u.month == 12:
        return None                 # no partition bound after it
    return date(u.year, u.month, 1)


def has_nul(v: Any) -> bool:
    """Whether a string in the tree holds U+0000 (PostgreSQL's jsonb cannot store it)."""
    if isinstance(v, str):
        return "\x00" in v
    if isinstance(v, dict):
        return any(has_nul(k) or has_nul(x) for k, x in v.items())
    if isinstance(v, list):
        return any(has_nul(x) for x in v)
    return False
