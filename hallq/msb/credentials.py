"""Verify a scanned 蒙速办 credential or appointment QR and turn it into a Holder without the full ID number.

Pure apart from the replay store it is given: the caller passes the current time. Every problem
with the scanned text is a `CredentialError` with a code, a message for the citizen in Chinese
and Mongolian, and a log line that never contains the ID number or the token.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hallq.config.kiosk import CredentialConfig
from hallq.msb.replay import ReplayStore
from hallq.msb.tokens import (
    ALG,
    APPOINTMENT_PREFIX,
    CREDENTIAL_PREFIX,
    TokenFormatError,
    b64url_decode,
    decode_unverified,
)
from hallq.sealed import seal
from hallq.text.words import WORDS, Msg, msg

ErrorCode = Literal["MALFORMED", "UNKNOWN_ISSUER", "FORGED", "EXPIRED", "NOT_YET_VALID", "REPLAYED",
                    "WRONG_HALL", "TOO_EARLY", "TOO_LATE"]


PRUNE_GRACE = timedelta(days=1)     # used ids are kept a day past expiry, in case the kiosk clock steps back

_ISS = re.compile(r"[A-Za-z0-9_.:/-]{1,64}")
_JTI = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_SUB = re.compile(r"[\x21-\x7e]{1,128}")
_IDN = re.compile(r"[0-9]{17}[0-9Xx]")
_IDM = re.compile(r"[0-9]{0,6}\*{8,18}[0-9Xx]{0,4}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FLAG = re.compile(r"[a-z0-9_-]{1,32}")
_HALL = re.compile(r"[a-z0-9-]{1,64}")
_SERVICE = re.compile(r"[a-z0-9_-]{1,32}")
_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{5,15}(Z|[+-][0-9]{2}:?[0-9]{2})")
_MAX_EPOCH = 2**37                  # year 6325: larger numbers are garbage, not timestamps


class CredentialError(Exception):
    """A scanned code was refused: `code` for programs, `says` for the citizen, `log` for the log."""

    def __init__(self, code: ErrorCode, log: str, says: Msg | None = None) -> None:
        self.code: ErrorCode = code
        self.says = says or WORDS[f"credential_{code.lower()}"]
        self.log = log
        super().__init__(f"{code}: {log}")


@dataclass(frozen=True)
class Holder:
    """The verified holder of a code, as much as the hall may keep: the ID number only masked."""

    holder_key: str                 # "msb:" + 24 hex of sha256(iss:sub): stable per person, no personal data
    name: str = field(repr=False)   # personal data: shown on screen, kept out of log lines
    id_masked: str                  # "**************1234"
    birth_date: date | None = field(repr=False)
    flags: frozenset[str]
    issuer: str
    token_id: str
    expires_at: datetime
    sealed: str | None = field(default=None, repr=False)  # name + ID number sealed for the hall (hallq.sealed)


@dataclass(frozen=True)
class Appointment:
    """A verified appointment, ready to be checked in at this hall."""

    holder: Holder
    hall: str
    service: str
    slot_start: datetime
    slot_end: datetime
    appointment_id: str


class Verifier(Protocol):
    def verify_credential(self, payload: str, now: datetime) -> Holder: ...

    def verify_appointment(self, payload: str, now: datetime, hall_id: str) -> Appointment: ...


def holder_key(issuer: str, sub: str) -> str:
    return "msb:" + hashlib.sha256(f"{issuer}:{sub}".encode()).hexdigest()[:24]


def mask_id(idn: str) -> str:
    """At most the last 4 characters visible, as on tickets and screens."""
    return "*" * (len(idn) - 4) + idn[-4:]


def green_channel(holder: Holder, cfg: CredentialConfig, today: date) -> str | None:
    """Why the holder may use the green channel ("age 72", "veteran"), or None."""
    b = holder.birth_date
    if cfg.green_channel_min_age is not None and b is not None:
        age = today.year - b.year - ((today.month, today.day) < (b.month, b.day))
        if age >= cfg.green_channel_min_age:
            return f"age {age}"
    return next((f for f in cfg.green_channel_flags if f in holder.flags), None)


class _Claims:
    """Typed access to claims; any missing or ill-typed claim is MALFORMED, naming the claim (not its value)."""

    def __init__(self, claims: dict[str, Any], what: str) -> None:
        self._c, self._what = claims, what

    def _bad(self, key: str, want: str) -> CredentialError:
        return CredentialError("MALFORMED", f"{self._what}: claim {key!r} {want}")

    def has(self, key: str) -> bool:
        return key in self._c

    def text(self, key: str, pattern: re.Pattern[str], want: str) -> str:
        v = self._c.get(key)
        if not isinstance(v, str) or pattern.fullmatch(v) is None:
            raise self._bad(key, f"is missing or not {want}")
        return v

    def name(self, key: str) -> str:
        v = self._c.get(key)
        if (not isinstance(v, str) or not 1 <= len(v) <= 64 or v != v.strip()
                or any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in v)):
            raise self._bad(key, "is missing or not a name of 1-64 printable characters")
        return v

    def epoch(self, key: str) -> int:
        v = self._c.get(key)
        if type(v) is not int or not 0 <= v < _MAX_EPOCH:
            raise self._bad(key, "is missing or not an integer of unix seconds")
        return v

    def day(self, key: str) -> date | None:
        if key not in self._c:
            return None
        v = self.text(key, _DATE, "a date YYYY-MM-DD")
        try:
            return date.fromisoformat(v)
        except ValueError:
            raise self._bad(key, "is not a real calendar date") from None

    def flags(self, key: str) -> frozenset[str]:
        v = self._c.get(key, [])
        if not isinstance(v, list) or len(v) > 16 or not all(isinstance(f, str) and _FLAG.fullmatch(f) for f in v):
            raise self._bad(key, "is not a list of at most 16 flags of a-z 0-9 _ -")
        return frozenset(v)

    def moment(self, key: str) -> datetime:
        v = self.text(key, _ISO, "an ISO 8601 time with a UTC offset")
        try:
            t = datetime.fromisoformat(v)
        except ValueError:
            raise self._bad(key, "is not a real time") from None
        if t.tzinfo is None:
            raise self._bad(key, "has no UTC offset")
        return t


def _birth_from_idn(idn: str) -> date | None:
    try:
        return datetime.strptime(idn[6:14], "%Y%m%d").date()
    except ValueError:
        return None


def _at(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


class SignedTokenVerifier:
    """The default Verifier: Ed25519-signed `MSB1.`/`APT1.` tokens checked against the configured issuer keys."""

    def __init__(self, cfg: CredentialConfig, replay: ReplayStore, rater_public_key: str | None = None) -> None:
        self.cfg = cfg
        self._replay = replay
        self._rater_key = rater_public_key    # the hall's privacy key: the identity leaves only sealed
        self._keys: dict[str, Ed25519PublicKey] = {}
        for kid, key in cfg.issuer_public_keys.items():
            try:
                self._keys[kid] = Ed25519PublicKey.from_public_bytes(b64url_decode(key.rstrip("="), "key"))
            except ValueError:
                raise ValueError(f"credentials.issuer_public_keys[{kid!r}]: not a base64url Ed25519 public key — "
                                 "paste the key the issuer published") from None

    def verify_credential(self, payload: str, now: datetime) -> Holder:
        c, exp = self._checked(payload, now, CREDENTIAL_PREFIX, self.cfg.max_age_s)
        holder = self._holder(c, exp)
        until = datetime.fromtimestamp(exp + self.cfg.clock_skew_s, UTC)
        self._use(f"msb:{holder.issuer}:{holder.token_id}", until, now, CredentialError(
            "REPLAYED", f"credential token {holder.token_id} (issuer {holder.issuer}) was already used"))
        return holder

    def verify_appointment(self, payload: str, now: datetime, hall_id: str) -> Appointment:
        max_age = self.cfg.appointment_max_age_s or self.cfg.max_age_s
        c, exp = self._checked(payload, now, APPOINTMENT_PREFIX, max_age)
        holder = self._holder(c, exp)
        hall = c.text("hall", _HALL, "a hall id")
        service = c.text("service", _SERVICE, "a service id")
        start, end = c.moment("slot_start"), c.moment("slot_end")
        if end <= start:
            raise CredentialError("MALFORMED", f"appointment {holder.token_id}: slot_end is not after slot_start")
        ref = f"appointment {holder.token_id} (issuer {holder.issuer})"
        if hall != hall_id:
            raise CredentialError("WRONG_HALL", f"{ref} is for hall {hall!r}, this is hall {hall_id!r}")
        opens = start - timedelta(minutes=self.cfg.appointment_early_min)
        closes = start + timedelta(minutes=self.cfg.appointment_late_min)
        if now < opens:
            raise CredentialError("TOO_EARLY", f"{ref}: check-in opens at {opens.isoformat()}, now {now.isoformat()}",
                                  says=msg("credential_too_early_at", time=opens.strftime("%H:%M")))
        if now > closes:
            raise CredentialError("TOO_LATE", f"{ref}: check-in closed at {closes.isoformat()}, now {now.isoformat()}")
        until = max(datetime.fromtimestamp(exp + self.cfg.clock_skew_s, UTC), closes)
        self._use(f"apt:{holder.issuer}:{holder.token_id}", until, now,
                  CredentialError("REPLAYED", f"{ref} is already checked in", says=WORDS["credential_checked_in"]))
        return Appointment(holder, hall, service, start, end, holder.token_id)

    def _use(self, replay_id: str, until: datetime, now: datetime, replayed: CredentialError) -> None:
        self._replay.prune(now - PRUNE_GRACE)
        if self._replay.seen_or_add(replay_id, until):
            raise replayed

    def _checked(self, payload: object, now: datetime, prefix: str,
                 max_age_s: int) -> tuple[_Claims, int]:
        """Structure, algorithm, key, signature and time; returns the claims of a token that passed."""
        if now.tzinfo is None:
            raise ValueError(f"credential check: now={now.isoformat()} needs a UTC offset")
        kind = "credential" if prefix == CREDENTIAL_PREFIX else "appointment"
        if not isinstance(payload, str):
            raise CredentialError("MALFORMED", f"{kind} code is not text but {type(payload).__name__}")
        if not payload.startswith(prefix):
            raise CredentialError("MALFORMED", f"{kind} code does not start with {prefix!r}")
        try:
            tok = decode_unverified(payload)
        except TokenFormatError as e:
            raise CredentialError("MALFORMED", f"{kind} code ({len(payload)} chars): {e}") from None
        h = tok.header
        if set(h) - {"alg", "kid", "typ"}:
            raise CredentialError("MALFORMED", f"{kind} code: unsupported header fields {sorted(h)[:5]!s:.80}")
        if h.get("alg") != ALG:
            raise CredentialError("FORGED", f"{kind} code: algorithm {h.get('alg')!r:.20} refused, only {ALG}")
        if h.get("typ", "JWT") != "JWT":
            raise CredentialError("MALFORMED", f"{kind} code: header typ is not JWT")
        if len(tok.signature) != 64:
            raise CredentialError("MALFORMED", f"{kind} code: signature of {len(tok.signature)} bytes, not 64 "
                                  "(a partly read QR?)")
        kid = h.get("kid")
        if not isinstance(kid, str):
            raise CredentialError("MALFORMED", f"{kind} code: header has no key id (kid)")
        key = self._keys.get(kid)
        if key is None:
            known = ", ".join(sorted(self._keys)) or "none configured"
            raise CredentialError("UNKNOWN_ISSUER", f"{kind} code signed with unknown key id {kid!r:.70} "
                                  f"(known: {known}) — add the issuer's key to credentials.issuer_public_keys")
        try:
            key.verify(tok.signature, tok.signing_input)
        except InvalidSignature:
            raise CredentialError("FORGED", f"{kind} code: signature does not match key {kid!r}") from None
        c = _Claims(tok.claims, f"{kind} code (key {kid})")
        iss = c.text("iss", _ISS, "an issuer id")
        c.text("jti", _JTI, "a token id of A-Z a-z 0-9 _ . : -")
        allowed = self.cfg.key_issuers.get(kid)
        if allowed is not None and iss != allowed:
            raise CredentialError("UNKNOWN_ISSUER", f"{kind} code: key {kid!r} signs for issuer {allowed!r}, "
                                  f"not {iss!r}")
        iat, exp = c.epoch("iat"), c.epoch("exp")
        ref = f"{kind} token {tok.claims['jti']} (issuer {iss}, key {kid})"
        if exp <= iat:
            raise CredentialError("MALFORMED", f"{ref}: exp {exp} is not after iat {iat}")
        t = now.timestamp()
        skew = self.cfg.clock_skew_s
        if iat > t + skew:
            raise CredentialError("NOT_YET_VALID", f"{ref}: issued at {_at(iat)}, in the future of {now.isoformat()}"
                                  " — check the kiosk clock (NTP)")
        if exp - iat > max_age_s:
            raise CredentialError("EXPIRED", f"{ref}: lifetime {exp - iat} s is above the allowed {max_age_s} s — "
                                  "the issuer must mint shorter-lived codes")
        if t >= exp + skew:
            raise CredentialError("EXPIRED", f"{ref}: expired at {_at(exp)}, now {now.isoformat()}")
        return c, exp

    def _holder(self, c: _Claims, exp: int) -> Holder:
        iss = c.text("iss", _ISS, "an issuer id")
        sub = c.text("sub", _SUB, "a holder key of printable ASCII")
        name = c.name("name")
        # a kiosk's ID-card token (docs/idcard.md) carries only the masked number `idm`, never the number
        idn = c.text("idn", _IDN, "an 18-character ID number") if c.has("idn") or not c.has("idm") else None
        masked = mask_id(idn.upper()) if idn else c.text("idm", _IDM, "a masked ID number (1501**********1234)")
        birth = c.day("birth") or (_birth_from_idn(idn) if idn else None)
        sealed = (seal(self._rater_key, {"name": name, "idn": idn.upper(), "iss": iss})
                  if self._rater_key and idn else None)
        return Holder(holder_key(iss, sub), name, masked, birth, c.flags("flags"), iss,
                      c.text("jti", _JTI, "a token id"), datetime.fromtimestamp(exp, UTC), sealed)
