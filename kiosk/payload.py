"""Route a scanned string: 蒙速办 credential, appointment, one of our ticket QRs, or not recognised."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from hallq.msb.tokens import APPOINTMENT_PREFIX, CREDENTIAL_PREFIX, MAX_TOKEN_CHARS
from hallq.ticketqr import TicketRef, parse_ref

Kind = Literal["credential", "appointment", "ticket", "unknown"]

MAX_PAYLOAD_CHARS = MAX_TOKEN_CHARS

_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")


@dataclass(frozen=True)
class Routed:
    """Where a scan goes. `text` is the cleaned scan; kept out of repr because a token carries personal data."""

    kind: Kind
    text: str = field(repr=False)
    ticket: TicketRef | None = None
    reason: str = ""                # why "unknown", for the log (never the scanned text itself)


def _unknown(text: str, reason: str) -> Routed:
    return Routed("unknown", text, reason=reason)


def _ticket_in_url(text: str) -> TicketRef | None:
    """The ticket QR as a lookup link: `https://…/t?q=HQ1:…` (kiosks[].lookup_url)."""
    try:
        u = urlsplit(text)
    except ValueError:
        return None
    if u.scheme not in ("http", "https") or not u.netloc:
        return None
    q = parse_qs(u.query, keep_blank_values=True).get("q", [])
    return parse_ref(q[0]) if len(q) == 1 else None


def classify(payload: str) -> Routed:
    """Decide what a scanned string is. Never raises; anything not ours is "unknown" with a reason."""
    if not isinstance(payload, str):
        return _unknown("", f"scan is not text but {type(payload).__name__}")
    # keyboard-mode scanners end a scan with Enter; that one line ending is not part of the code
    ending = next((e for e in ("\r\n", "\n", "\r") if payload.endswith(e)), "")
    text = payload[: len(payload) - len(ending)]
    if not text:
        return _unknown(text, "empty scan")
    if len(text) > MAX_PAYLOAD_CHARS:
        return _unknown(text, f"scan of {len(text)} characters, longer than any code we know")
    if not text.isascii():
        return _unknown(text, "scan contains non-ASCII characters (a QR of another app, or a scanner "
                              "in the wrong keyboard layout)")
    if _PRINTABLE_ASCII.fullmatch(text) is None:
        return _unknown(text, "scan contains control characters")
    if text.startswith(CREDENTIAL_PREFIX):
        return Routed("credential", text)
    if text.startswith(APPOINTMENT_PREFIX):
        return Routed("appointment", text)
    ref = parse_ref(text) if text.startswith("HQ1:") else _ticket_in_url(text)
    if ref is not None:
        return Routed("ticket", text, ticket=ref)
    if "HQ1:" in text:
        return _unknown(text, "looks like a ticket QR but its hall, date, number or code is not valid")
    return _unknown(text, f"not a code of ours ({len(text)} characters)")
