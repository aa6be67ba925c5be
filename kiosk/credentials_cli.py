"""`hallq sim token`: make an issuer key, or mint a test 蒙速办 credential / appointment QR token for demos."""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hallq.msb.tokens import APPOINTMENT_PREFIX, CREDENTIAL_PREFIX, b64url_encode, mint

PROG = "hallq sim token"


class _Usage(Exception):
    """A user mistake: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _Usage(f"{message} (see '{self.prog} --help')")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="make a test issuer key, or mint a signed credential/appointment QR token")
    p.add_argument("--new-key", metavar="FILE", help="write a new Ed25519 private key (PEM) and print its public key")
    p.add_argument("--key", metavar="FILE", help="private key (PEM) to sign with")
    p.add_argument("--kid", help="key id, as in credentials.issuer_public_keys")
    p.add_argument("--iss", default="msb", help="issuer id (default: msb)")
    p.add_argument("--sub", help="pseudonymous holder key (default: derived from --idn and --iss)")
    p.add_argument("--jti", help="token id, or the appointment id (default: random)")
    p.add_argument("--name", default="张三")
    p.add_argument("--idn", default="150102195001011234", help="18-character ID number")
    p.add_argument("--birth", default=None, help="YYYY-MM-DD (default: from --idn)")
    p.add_argument("--flag", action="append", default=[], help="veteran, disability, ... (repeatable)")
    p.add_argument("--lifetime-s", type=int, default=300)
    p.add_argument("--now", help="issue time, ISO 8601 with offset (default: this machine's clock)")
    p.add_argument("--appointment", action="store_true", help="an appointment QR (APT1.) instead of a credential")
    p.add_argument("--hall")
    p.add_argument("--service")
    p.add_argument("--slot-start", help="ISO 8601 with offset, e.g. 2026-11-23T09:30+08:00")
    p.add_argument("--slot-min", type=int, default=30, help="slot length in minutes (default 30)")
    return p


def _new_key(path: Path, kid: str | None) -> int:
    if path.exists():
        raise _Usage(f"{path} already exists: choose another file (an issuer key is never overwritten)")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    except OSError as e:
        raise _Usage(f"cannot write {path}: {e.strerror}") from None
    pub = b64url_encode(key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    name = kid or "msb-test-1"
    print(f"wrote private key {path} (keep it secret; kiosks need only the public key)")
    print(f"public key: {pub}")
    print("# add to the hall config under your kiosk:")
    print("kiosks:\n  - id: kiosk-1\n    credentials:\n      issuer_public_keys:")
    print(f"        {name}: {pub}")
    return 0


def _load_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as e:
        raise _Usage(f"cannot read key {path}: {e.strerror}") from None
    except (ValueError, TypeError):
        raise _Usage(f"{path} is not an unencrypted PEM private key: make one with `{PROG} --new-key FILE`") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise _Usage(f"{path} is not an Ed25519 key: make one with `{PROG} --new-key FILE`")
    return key


def _moment(text: str, what: str) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise _Usage(f"{what} {text!r} is not an ISO 8601 time, e.g. 2026-11-23T09:30+08:00") from None
    if t.tzinfo is None:
        raise _Usage(f"{what} {text!r} needs a UTC offset, e.g. 2026-11-23T09:30+08:00")
    return t


def _claims(o: argparse.Namespace, now: datetime) -> dict[str, Any]:
    if o.lifetime_s < 1:
        raise _Usage("--lifetime-s must be at least 1")
    iat = int(now.timestamp())
    sub = o.sub or "sim-" + hashlib.sha256(f"{o.iss}:{o.idn}".encode()).hexdigest()[:20]
    claims: dict[str, Any] = {"iss": o.iss, "jti": o.jti or secrets.token_urlsafe(12), "iat": iat,
                              "exp": iat + o.lifetime_s, "sub": sub, "name": o.name, "idn": o.idn}
    if not o.appointment:
        if o.birth:
            claims["birth"] = o.birth
        claims["flags"] = list(o.flag)
        return claims
    missing = [f"--{n}" for n, v in (("hall", o.hall), ("service", o.service), ("slot-start", o.slot_start)) if not v]
    if missing:
        raise _Usage(f"--appointment needs {', '.join(missing)}")
    start = _moment(o.slot_start, "--slot-start")
    end = start + timedelta(minutes=o.slot_min)
    claims.update(hall=o.hall, service=o.service, slot_start=start.isoformat(timespec="minutes"),
                  slot_end=end.isoformat(timespec="minutes"))
    return claims


def _mint(o: argparse.Namespace) -> int:
    if not o.key or not o.kid:
        raise _Usage("give --new-key FILE, or --key FILE and --kid ID to mint a token")
    key = _load_key(Path(o.key))
    now = _moment(o.now, "--now") if o.now else datetime.now().astimezone()
    claims = _claims(o, now)
    try:
        token = mint(key, o.kid, APPOINTMENT_PREFIX if o.appointment else CREDENTIAL_PREFIX, claims)
    except ValueError as e:
        raise _Usage(str(e)) from None
    print(token)
    until = datetime.fromtimestamp(claims["exp"]).astimezone(now.tzinfo)
    sys.stderr.write(f"{'appointment' if o.appointment else 'credential'} token {claims['jti']}, "
                     f"{len(token)} characters, valid until {until.isoformat(timespec='seconds')}\n")
    return 0


def run(rest: list[str]) -> int:
    """Body of `hallq sim token`; returns the exit code (2 with one line on stderr for a user mistake)."""
    try:
        o = _parser().parse_args(rest)
        if o.new_key:
            return _new_key(Path(o.new_key), o.kid)
        return _mint(o)
    except _Usage as e:
        sys.stderr.write(f"{PROG}: {e}\n")
        return 2
