"""The ticket QR's reference, `HQ1:{hall}:{YYYY-MM-DD}:{number}:{code}`: written by the kiosk and
print-test, read by the kiosk's scanner routing and the controller's 补充评价 page. ASCII only.

`code` is the controller's per-ticket code ("-" when the ticket was printed without one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_REF = re.compile(r"HQ1:(?P<hall>[a-z0-9-]{1,64}):(?P<day>[0-9]{4}-[0-9]{2}-[0-9]{2})"
                  r":(?P<number>[A-Z]{1,2}[0-9]{1,6}):(?P<code>[A-Z0-9]{1,16}|-)")


@dataclass(frozen=True)
class TicketRef:
    """A ticket QR of ours: which hall and day, the number, and the code proving the paper (None if "-")."""

    hall: str
    day: date
    number: str
    code: str | None

    def text(self) -> str:
        return f"HQ1:{self.hall}:{self.day.isoformat()}:{self.number}:{self.code or '-'}"


def parse_ref(text: str) -> TicketRef | None:
    """The reference in `text` (the whole of it), or None when it is not one of ours."""
    m = _REF.fullmatch(text)
    if m is None:
        return None
    try:
        day = date.fromisoformat(m["day"])
    except ValueError:
        return None
    return TicketRef(m["hall"], day, m["number"], None if m["code"] == "-" else m["code"])
