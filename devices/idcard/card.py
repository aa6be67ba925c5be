"""The text of a second-generation ID card (256 bytes, UCS-2LE fields of fixed width) and the card it describes.

The ID number lives only inside `IdCard`: its repr shows it masked, errors never quote it, and what leaves
the reader module for the hall is its keyed hash (`IdCard.holder_key`) and the masked form.
The photo (1024 bytes, "WLT") is kept as read and never decoded: its compression is proprietary and
decoding needs the licensed library from the Ministry of Public Security.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from devices.idcard.errors import CardError
from devices.idcard.nations import NATIONS, nation_name

TEXT_LEN = 256
PHOTO_LEN = 1024
# GA 467 basic text, in order: field name -> width in bytes (UCS-2LE, 2 bytes a character, padded with spaces)
LAYOUT: tuple[tuple[str, int], ...] = (
    ("name", 30), ("sex", 2), ("nation", 4), ("birth", 16), ("address", 70), ("id_number", 36),
    ("issuer", 30), ("valid_from", 16), ("valid_until", 16), ("extra", 36),
)
CARD_TYPE_OFFSET = 248  # one character in `extra`: blank on a resident card, J on a residence permit
CARD_TYPES = {"I": "外国人永久居留身份证 (foreigner's permanent residence card)",
              "Y": "外国人永久居留身份证 (2023 foreigner's permanent residence card)"}
SEXES = {"0": "未知", "1": "男", "2": "女", "9": "未说明"}
LONG_TERM = "长期"  # "valid until: long-term", in place of a date
CardKind = Literal["resident", "permit"]   # 居民身份证, 港澳台居民居住证 (same layout, no nation)

_ID = re.compile(r"[0-9]{17}[0-9X]")
_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]
HOLDER_KEY_PREFIX = "idc:"
HOLDER_KEY_CONTEXT = b"hallq idcard holder v1\x00"


def id_check_char(first17: str) -> str:
    """The 18th character of a citizen ID number (GB 11643: ISO 7064 MOD 11-2)."""
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


def id_number_valid(idn: str) -> bool:
    return _ID.fullmatch(idn) is not None and id_check_char(idn[:17]) == idn[17]


def mask_id_number(idn: str) -> str:
    """`1501**********1234`: region prefix and last four, as shown on screens and tickets."""
    return idn[:4] + "*" * (len(idn) - 8) + idn[-4:] if len(idn) > 8 else "*" * len(idn)


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


@dataclass(frozen=True, repr=False)
class IdCard:
    """One card as read. Personal data: pass it to the kiosk, never to a log line (repr is masked)."""

    name: str
    sex_code: str
    nation_code: str            # "" on a residence permit
    birth_date: date
    address: str
    id_number: str
    issuer: str
    valid_from: date
    valid_until: date | None    # None: long-term (长期)
    kind: CardKind = "resident"
    photo: bytes = field(default=b"", compare=False)   # WLT, proprietary compression: not decoded

    @property
    def sex(self) -> str:
        return SEXES.get(self.sex_code, "未知")

    @property
    def nation(self) -> str | None:
        return nation_name(self.nation_code)

    @property
    def masked_id_number(self) -> str:
        return mask_id_number(self.id_number)

    def age_on(self, day: date) -> int:
        return age_on(self.birth_date, day)

    def expired_on(self, day: date) -> bool:
        return self.valid_until is not None and day > self.valid_until

    def holder_key(self, key: bytes) -> str:
        """A keyed hash of the ID number: the same person gets the same value under the hall's key, and
        nobody without the key can test guesses (the numbers are few enough to try them all)."""
        if len(key) < 16:
            raise ValueError("the holder key must be at least 16 bytes")
        mac = hmac.new(key, HOLDER_KEY_CONTEXT + self.id_number.encode("ascii"), hashlib.sha256)
        return HOLDER_KEY_PREFIX + mac.hexdigest()[:32]

    def __repr__(self) -> str:
        return (f"IdCard(id_number={self.masked_id_number!r}, kind={self.kind!r}, "
                f"valid_until={self.valid_until}, photo={len(self.photo)} bytes)")

    __str__ = __repr__


def _fields(text: bytes) -> dict[str, str]:
    out, at = {}, 0
    for name, width in LAYOUT:
        try:
            value = text[at:at + width].decode("utf-16-le")
        except UnicodeDecodeError:
            raise CardError(f"the card's {name} field is not UCS-2 text — place the card again") from None
        out[name] = value.rstrip(" \x00")
        at += width
    return out


def _date(value: str, what: str) -> date:
    if re.fullmatch(r"[0-9]{8}", value) is None:
        raise CardError(f"the card's {what} is not a YYYYMMDD date — place the card again")
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        raise CardError(f"the card's {what} is not a calendar date — place the card again") from None


def decode_text(text: bytes, photo: bytes = b"") -> IdCard:
    """The card from the 256 bytes of a read-text answer; CardError (naming the field, never its value)."""
    if len(text) != TEXT_LEN:
        raise CardError(f"the card's text is {len(text)} bytes, not {TEXT_LEN} — place the card again")
    kind_char = text[CARD_TYPE_OFFSET:CARD_TYPE_OFFSET + 2].decode("utf-16-le", "replace")
    if kind_char in CARD_TYPES:
        raise CardError(f"this card is a {CARD_TYPES[kind_char]}: the kiosk reads resident ID cards and "
                        "residence permits only — ask at the reception desk", "unsupported")
    if kind_char not in (" ", "\x00", "J"):
        raise CardError(f"unknown card type {kind_char!r} — ask at the reception desk", "unsupported")
    f = _fields(text)
    idn = f["id_number"]
    if not id_number_valid(idn):
        raise CardError("the card's ID number field is not a valid 18-character ID number — place the card again")
    if f["sex"] not in SEXES:
        raise CardError("the card's sex field is not a GB 2261 code — place the card again")
    if not f["name"]:
        raise CardError("the card's name field is empty — place the card again")
    kind: CardKind = "permit" if kind_char == "J" else "resident"
    if kind == "resident" and f["nation"] not in NATIONS:
        raise CardError("the card's nation field is not a GB 3304 code — place the card again")
    until = None if f["valid_until"] == LONG_TERM else _date(f["valid_until"], "validity end")
    return IdCard(name=f["name"], sex_code=f["sex"], nation_code=f["nation"] if kind == "resident" else "",
                  birth_date=_date(f["birth"], "birth date"), address=f["address"], id_number=idn,
                  issuer=f["issuer"], valid_from=_date(f["valid_from"], "validity start"), valid_until=until,
                  kind=kind, photo=photo)


def _pad(value: str, width: int, name: str) -> bytes:
    raw = value.encode("utf-16-le")
    if len(raw) > width or any(ord(c) > 0xFFFF for c in value):
        raise ValueError(f"{name} {len(value)} characters do not fit {width // 2} UCS-2 characters")
    return raw + " ".encode("utf-16-le") * ((width - len(raw)) // 2)


def encode_text(card: IdCard) -> bytes:
    """The 256 text bytes a card carries (the simulator's side; the inverse of decode_text)."""
    values = {"name": card.name, "sex": card.sex_code, "nation": card.nation_code,
              "birth": card.birth_date.strftime("%Y%m%d"), "address": card.address, "id_number": card.id_number,
              "issuer": card.issuer, "valid_from": card.valid_from.strftime("%Y%m%d"),
              "valid_until": LONG_TERM if card.valid_until is None else card.valid_until.strftime("%Y%m%d"),
              "extra": ""}
    text = bytearray(b"".join(_pad(values[n], w, n) for n, w in LAYOUT))
    if card.kind == "permit":
        text[CARD_TYPE_OFFSET:CARD_TYPE_OFFSET + 2] = "J".encode("utf-16-le")
    return bytes(text)
