"""mosquitto's password file: `user:$7$iterations$salt$hash` lines, PBKDF2-SHA512 as mosquitto_passwd writes them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

# mosquitto_passwd 2.0's own choices: 12-byte salt, 64-byte SHA-512 digest, 101 iterations. The passwords
# hallq generates carry 192 random bits, so key stretching would add nothing but work for the broker at
# every connection; a password file from mosquitto_passwd (any iteration count) is read just the same.
ITERATIONS = 101
SALT_BYTES = 12


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The `$7$...` field of a mosquitto password file line for `password`."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify(password: str, hashed: str) -> bool:
    """True when `hashed` (a `$7$` field) is the hash of `password`; False for anything unreadable."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[0] != "" or parts[1] != "7":
        return False
    try:
        iterations = int(parts[2])
        salt = base64.b64decode(parts[3], validate=True)
        digest = base64.b64decode(parts[4], validate=True)
    except ValueError:
        return False
    if not 1 <= iterations <= 10_000_000:
        return False
    return hmac.compare_digest(hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations), digest)


def parse(text: str) -> dict[str, str]:
    """username -> hash field of a password file (lines that are not `user:hash` are skipped)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        user, sep, hashed = line.strip().partition(":")
        if sep and user and not user.startswith("#"):
            out[user] = hashed
    return out


def render(accounts: dict[str, str], previous: dict[str, str] | None = None) -> str:
    """A password file for `accounts` (username -> password), in the given order. A hash of `previous`
    that still matches its password is kept, so re-running changes nothing that did not change."""
    previous = previous or {}
    lines = []
    for user, password in accounts.items():
        old = previous.get(user)
        lines.append(f"{user}:{old if old is not None and verify(password, old) else hash_password(password)}")
    return "".join(line + "\n" for line in lines)
