"""What a printed ticket says (`TicketData`), apart from how it is laid out in ESC/POS (escpos.py): the kiosk's
pure presenter builds it without loading any image library."""

from __future__ import annotations

from dataclasses import dataclass

from hallq.text.words import WORDS


@dataclass(frozen=True)
class TicketData:
    hall_zh: str
    hall_mn: str
    number: str
    service_zh: str
    service_mn: str
    ahead: int
    est_wait_min: int | None
    issued_at: str            # "2026-11-23 09:12"
    qr_payload: str           # ASCII: look the ticket up, rate it later
    notice_zh: str = WORDS["ticket_notice"].zh
    notice_mn: str = WORDS["ticket_notice"].mn
    wait_mn: str = ""         # people ahead and the wait in Mongolian, printed above the Chinese line
    area_zh: str = ""         # where to go (二楼B区): printed under the service when the hall names areas
    area_mn: str = ""
