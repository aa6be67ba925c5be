"""Citizens' personal data kept only as long as the 好差评 rules need it: one key per service day, destroyed
when the day's identities may go (crypto-shredding; docs/privacy.md).

A verified credential leaves two things in the controller's log: the holder hash (one open ticket per person
and service) and the rater's identity sealed by the kiosk for the hall's privacy key (`RID1.`, hallq/sealed.py).
Both are bound to the day's key (`privacy/YYYY-MM-DD.key` in the data directory, 0600):
- the holder hash is an HMAC under a key derived from the day key *and* the ticket-code key (which stays beside
  the config, outside the data directory and its backups): a backup alone links nobody;
- the sealed identity is wrapped with the day key (AES-SIV, RFC 5297: deterministic, so the engine stays a
  pure function of its inputs and replays and snapshots hold the same text): `RIDD1.<day>.<base64>`.

The log is append-only and hash-chained: nothing in it is rewritten. When a day is older than
`evaluation.identity_keep_days` and no 差评 work order of that day is still open, the controller logs
`identity.purged` for the day and then destroys its key file (overwritten, synced, unlinked). From then on
neither this box nor any copy of the log can open or link what that day's citizens left; a backup made before
the purge still holds the key until the backup itself is pruned (`hallq backup --keep`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
from datetime import date
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from hallq.keys import fsync_dir, write_private
from hallq.sealed import PREFIX as SEALED_PREFIX

log = logging.getLogger("hallq.controller")

KEY_DIR = "privacy"
KEY_BYTES = 64                       # AES-256-SIV (two 256-bit keys)
WRAP_PREFIX = "RIDD1."
HOLDER_PREFIX = "hk2:"              # hk1: keyed with the ticket-code key alone (before day keys)
_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})\.key$")


class KeyUnavailable(Exception):
    """A day key that cannot be created or read; `str()` names the file and what to do."""


# -- the pure part: what a day key does to a citizen's data ----------------------------------------------
def holder_hash(secret: bytes, day_key: bytes, holder_key: str) -> str:
    """A citizen's holder key as the log keeps it for one day: linkable within the day (one open ticket per
    person and service), to nobody once the day key is destroyed, and not by the data directory alone."""
    day_secret = hmac.new(secret, b"holder-day:" + day_key, hashlib.sha256).digest()
    mac = hmac.new(day_secret, b"holder:" + holder_key.encode("utf-8"), hashlib.sha256).hexdigest()
    return HOLDER_PREFIX + mac[:32]


def wrap(day_key: bytes, day: date, sealed: str) -> str:
    """A kiosk-sealed identity (RID1.…) wrapped with the day's key."""
    aad = f"{WRAP_PREFIX}{day.isoformat()}".encode("ascii")
    body = AESSIV(day_key).encrypt(sealed.encode("ascii"), [aad])
    return f"{WRAP_PREFIX}{day.isoformat()}.{base64.urlsafe_b64encode(body).decode('ascii').rstrip('=')}"


def wrapped_day(text: str) -> date | None:
    """The day whose key a wrapped identity needs; None for another form (an identity sealed before day keys)."""
    if not text.startswith(WRAP_PREFIX):
        return None
    try:
        return date.fromisoformat(text[len(WRAP_PREFIX):len(WRAP_PREFIX) + 10])
    except ValueError:
        return None


def unwrap(day_key: bytes, text: str) -> str:
    """The kiosk-sealed identity inside `text` (ValueError if the key or the text is not the right one)."""
    day = wrapped_day(text)
    if day is None:
        raise ValueError("not a wrapped identity (RIDD1.<day>.…)")
    raw = text[len(WRAP_PREFIX) + 11:]
    try:
        body = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        sealed = AESSIV(day_key).decrypt(body, [f"{WRAP_PREFIX}{day.isoformat()}".encode("ascii")]).decode("ascii")
    except (InvalidTag, ValueError) as e:
        raise ValueError(f"the identity of {day.isoformat()} does not open with that day's key") from e
    if not sealed.startswith(SEALED_PREFIX):
        raise ValueError("the wrapped text holds no sealed identity")
    return sealed


# -- where day keys live ------------------------------------------------------------------------------
class MemoryDayKeys:
    """Day keys in memory only (an engine without a data directory: tests, the day simulator)."""

    def __init__(self) -> None:
        self._keys: dict[date, bytes] = {}

    def days(self) -> set[date]:
        return set(self._keys)

    def get(self, day: date) -> bytes | None:
        return self._keys.get(day)

    def key_for(self, day: date) -> bytes:
        key = self._keys.get(day)
        if key is None:
            key = self._keys[day] = AESSIV.generate_key(KEY_BYTES * 8)
        return key

    def destroy(self, day: date) -> bool:
        return self._keys.pop(day, None) is not None


class DayKeys(MemoryDayKeys):
    """Day keys as files in `DATA/privacy/` (0700; files 0600), each written durably before it is used."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__()
        self.dir = Path(data_dir) / KEY_DIR

    def open(self) -> DayKeys:
        try:
            self.dir.mkdir(mode=0o700, exist_ok=True)
            os.chmod(self.dir, 0o700)
            names = sorted(os.listdir(self.dir))
        except OSError as e:
            raise KeyUnavailable(f"cannot open the day keys in {self.dir}: {e} — the data directory must be "
                                 "writable by the controller") from None
        for name in names:
            m = _NAME.match(name)
            if m is None:
                if not name.startswith("."):
                    log.warning("day keys: %s is not a day key (YYYY-MM-DD.key); left alone", self.dir / name)
                continue
            path = self.dir / name
            try:
                key = path.read_bytes()
            except OSError as e:
                raise KeyUnavailable(f"cannot read the day key {path}: {e}") from None
            if len(key) != KEY_BYTES:
                raise KeyUnavailable(f"the day key {path} is damaged ({len(key)} bytes, not {KEY_BYTES}): the "
                                     "identities of that day cannot be opened; restore the file from a backup "
                                     "or move it away to let the day be purged")
            self._keys[date.fromisoformat(m.group(1))] = key
        return self

    def _path(self, day: date) -> Path:
        return self.dir / f"{day.isoformat()}.key"

    def key_for(self, day: date) -> bytes:
        key = self._keys.get(day)
        if key is not None:
            return key
        key = AESSIV.generate_key(KEY_BYTES * 8)
        path = self._path(day)
        try:
            write_private(path, key)
            fsync_dir(self.dir)
        except OSError as e:
            raise KeyUnavailable(f"cannot write the day key {path}: {e}") from None
        self._keys[day] = key
        return key

    def destroy(self, day: date) -> bool:
        """Overwrite, sync and remove the day's key file; True if there was one."""
        self._keys.pop(day, None)
        path = self._path(day)
        try:
            with path.open("r+b") as f:
                f.write(b"\0" * KEY_BYTES)
                f.flush()
                os.fsync(f.fileno())
            path.unlink()
            fsync_dir(self.dir)
        except FileNotFoundError:
            return False
        return True

