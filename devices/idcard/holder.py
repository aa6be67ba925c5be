"""What the kiosk keeps of an ID card: a keyed hash of the ID number, the masked number, name, age — no clear number."""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from devices.idcard.card import CardKind, IdCard
from hallq.sealed import seal

MIN_KEY_BYTES = 16


@dataclass(frozen=True)
class CardHolder:
    """A card's holder as the hall may use them: `holder_key` for "one open ticket per person and service"."""

    holder_key: str                      # "idc:" + 32 hex of HMAC-SHA256(hall key, ID number)
    id_masked: str                       # "1501**********1234"
    name: str = field(repr=False)        # personal data: on the screen and ticket, never in a log line
    birth_date: date = field(repr=False)
    age: int
    elderly: bool                        # age at or above the configured threshold
    expired: bool                        # the card's validity ended before today
    kind: CardKind
    sealed: str | None = field(default=None, repr=False)  # name + ID number sealed for the hall (hallq.sealed)


def holder_of(card: IdCard, key: bytes, today: date, elderly_min_age: int | None,
              rater_public_key: str | None = None) -> CardHolder:
    """The holder of `card` under the hall's holder key; sealed for the hall's privacy key when one is given."""
    age = card.age_on(today)
    sealed = (seal(rater_public_key, {"name": card.name, "idn": card.id_number, "iss": "idcard"})
              if rater_public_key else None)
    return CardHolder(card.holder_key(key), card.masked_id_number, card.name, card.birth_date, age,
                      elderly_min_age is not None and age >= elderly_min_age, card.expired_on(today), card.kind,
                      sealed)


def load_holder_key(path: str | Path) -> bytes:
    """The hall's holder key from a file: hex (at least 32 digits) or raw bytes (at least 16)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ValueError(f"ID card holder key {p}: cannot read it ({e.strerror}) — create it with "
                         "`python3 -c 'import secrets; print(secrets.token_hex(32))' > FILE`, the same file on "
                         "every kiosk") from None
    text = raw.strip()
    try:
        key = binascii.unhexlify(text) if text and all(c in b"0123456789abcdefABCDEF" for c in text) else raw
    except binascii.Error:
        key = raw
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"ID card holder key {p}: {len(key)} bytes is too short (at least {MIN_KEY_BYTES} random "
                         "bytes, e.g. 64 hex digits)")
    return key
