"""QR tokens of 蒙速办 credentials and appointments: a prefix (`MSB1.`, `APT1.`) and a compact Ed25519 JWS.

Pure: encoding and decoding only. Whether a token is signed, current and unused is decided by
`hallq.msb.credentials`. Everything produced here is ASCII, so keyboard-mode scanners can type it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

CREDENTIAL_PREFIX = "MSB1."
APPOINTMENT_PREFIX = "APT1."
PREFIXES = (CREDENTIAL_PREFIX, APPOINTMENT_PREFIX)
ALG = "EdDSA"
MAX_TOKEN_CHARS = 1024          # a real token is under 600; anything far longer is refused unread
QR_BUDGET_CHARS = 600           # what `mint` lets through, so the QR stays easy to scan from a phone

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_KID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class TokenFormatError(ValueError):
    """The text is not a well-formed prefixed JWS; the message says which part is wrong (never the text)."""


@dataclass(frozen=True)
class UnverifiedToken:
    """A decoded token whose signature has NOT been checked yet."""

    prefix: str
    header: dict[str, Any]
    claims: dict[str, Any] = field(repr=False)          # holds personal data: keep it out of logs
    signing_input: bytes = field(repr=False)
    signature: bytes = field(repr=False)


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, what: str) -> bytes:
    """Strict base64url without padding; a non-canonical spelling of the same bytes is refused too."""
    if len(text) % 4 == 1 or _B64URL.fullmatch(text) is None:
        raise TokenFormatError(f"{what} is not base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenFormatError(f"{what} is not base64url") from None
    if b64url_encode(raw) != text:
        raise TokenFormatError(f"{what} is not canonical base64url")
    return raw


def _json_bytes(obj: dict[str, Any]) -> bytes:
    # UTF-8 rather than \u escapes: a Chinese name costs 4 base64 characters per character, not 8
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def mint(private_key: Ed25519PrivateKey, kid: str, prefix: str, claims: dict[str, Any]) -> str:
    """Sign `claims` as a compact JWS with header {"alg":"EdDSA","kid":kid,"typ":"JWT"} and put `prefix` first."""
    if prefix not in PREFIXES:
        raise ValueError(f"token prefix {prefix!r} is unknown: use {' or '.join(PREFIXES)}")
    if _KID.fullmatch(kid) is None:
        raise ValueError(f"key id {kid!r} must be 1-64 characters of A-Z a-z 0-9 _ . : -")
    header = {"alg": ALG, "kid": kid, "typ": "JWT"}
    signing_input = b64url_encode(_json_bytes(header)) + "." + b64url_encode(_json_bytes(claims))
    signature = private_key.sign(signing_input.encode("ascii"))
    token = prefix + signing_input + "." + b64url_encode(signature)
    if len(token) > QR_BUDGET_CHARS:
        raise ValueError(f"token is {len(token)} characters, over the QR budget of {QR_BUDGET_CHARS}: "
                         "shorten the name, flags or ids")
    return token


def _reject_constant(name: str) -> Any:
    raise TokenFormatError(f"JSON constant {name} is not allowed")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            # two readers could disagree on which value counts: refuse instead of picking one
            raise TokenFormatError("duplicate JSON key")
        out[k] = v
    return out


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_reject_constant)
    except TokenFormatError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise TokenFormatError(f"{what} is not UTF-8 JSON") from None
    if not isinstance(obj, dict):
        raise TokenFormatError(f"{what} is not a JSON object")
    return obj


def decode_unverified(token: str) -> UnverifiedToken:
    """Split and decode a prefixed token without checking its signature. Raises TokenFormatError."""
    if not isinstance(token, str):
        raise TokenFormatError("token is not text")
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenFormatError(f"token is longer than {MAX_TOKEN_CHARS} characters")
    prefix = next((p for p in PREFIXES if token.startswith(p)), None)
    if prefix is None:
        raise TokenFormatError(f"token does not start with {' or '.join(PREFIXES)}")
    parts = token[len(prefix):].split(".")
    if len(parts) != 3:
        raise TokenFormatError(f"token has {len(parts)} dot-separated parts after the prefix, not 3")
    h64, c64, s64 = parts
    header = _json_object(b64url_decode(h64, "header"), "header")
    claims = _json_object(b64url_decode(c64, "claims"), "claims")
    signature = b64url_decode(s64, "signature")
    return UnverifiedToken(prefix, header, claims, (h64 + "." + c64).encode("ascii"), signature)
