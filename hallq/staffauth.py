"""Staff console passwords and device PINs (CONTRACT §5.4): slow salted scrypt hashes in a file of their own.

The file `DATA/staff-secrets.json` (mode 0600, never the event log, never the config, never MQTT) maps a
staff id to its hashes. `hallq staff passwd|pin` rewrites it atomically (temporary file + rename, under a
lock file) while the controller and the console run; both re-read it whenever it changed on disk.
A check for an unknown staff id, or one without a password, hashes against a dummy: it costs the same.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hallq.keys import fsync_dir

log = logging.getLogger("hallq.staffauth")

FILE_NAME = "staff-secrets.json"
LOCK_NAME = ".staff-secrets.lock"
PIN_RE = re.compile(r"^[0-9]{4,8}$")
PASSWORD_MIN, PASSWORD_MAX = 8, 256

# scrypt cost: N=2^14, r=8, p=1 (16 MiB, ~50 ms on a small box): slow for a guesser, fine for a sign-in
SCRYPT_N, SCRYPT_R, SCRYPT_P, DKLEN = 1 << 14, 8, 1, 32
_MAXMEM = 64 * 1024 * 1024


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=DKLEN)


def hash_secret(secret: str) -> str:
    """`scrypt$N$r$p$salt$hash` (base64) of a password or PIN with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    dk = _scrypt(secret, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(dk).decode()}"


def verify_secret(secret: str, stored: str) -> bool:
    """True when `secret` matches a `hash_secret` string; a malformed one never matches (same cost)."""
    try:
        scheme, n, r, p, salt, dk = stored.split("$")
        if scheme != "scrypt":
            raise ValueError(scheme)
        params = int(n), int(r), int(p)
        if params[0] > 1 << 20 or params[1] > 32 or params[2] > 16:
            raise ValueError("cost out of range")
        want = base64.b64decode(dk, validate=True)
        got = _scrypt(secret, base64.b64decode(salt, validate=True), *params)
    except (ValueError, TypeError):
        _scrypt(secret, b"\0" * 16, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        return False
    return hmac.compare_digest(got, want)


_DUMMY = hash_secret(secrets.token_hex(16))   # what an unknown id is checked against


class StaffSecrets:
    """The staff secrets under a data directory: set and check passwords and PINs."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / FILE_NAME
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._data: dict[str, dict[str, str]] = {}

    # -- reading ---------------------------------------------------------------------------------
    def _current(self) -> dict[str, dict[str, str]]:
        """The file's content, re-read when its inode, size or mtime changed."""
        with self._lock:
            try:
                st = self.path.stat()
            except FileNotFoundError:
                self._stamp, self._data = None, {}
                return self._data
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
            if stamp != self._stamp:
                self._data = self._read()
                self._stamp = stamp
            return self._data

    def _read(self) -> dict[str, dict[str, str]]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            log.error("%s: cannot read the staff secrets (%s); nobody can sign in until it is fixed", self.path, e)
            return {}
        staff = raw.get("staff") if isinstance(raw, dict) else None
        if not isinstance(staff, dict):
            log.error("%s: not a staff secrets file; nobody can sign in until it is fixed", self.path)
            return {}
        return {str(k): {kk: vv for kk, vv in v.items() if isinstance(vv, str)}
                for k, v in staff.items() if isinstance(v, dict)}

    def has_password(self, staff_id: str) -> bool:
        return "password" in self._current().get(staff_id, {})

    def has_pin(self, staff_id: str) -> bool:
        return "pin" in self._current().get(staff_id, {})

    def _check(self, staff_id: str, kind: str, secret: str) -> bool:
        stored = self._current().get(staff_id, {}).get(kind)
        if stored is None:
            verify_secret(secret, _DUMMY)     # the same cost as a known id
            return False
        return verify_secret(secret, stored)

    def check_password(self, staff_id: str, password: str) -> bool:
        return self._check(staff_id, "password", password)

    def check_pin(self, staff_id: str, pin: str) -> bool:
        return self._check(staff_id, "pin", pin)

    # -- writing ---------------------------------------------------------------------------------
    def set_password(self, staff_id: str, password: str) -> None:
        if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
            raise ValueError(f"a console password has {PASSWORD_MIN} to {PASSWORD_MAX} characters")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in password):
            raise ValueError("a console password holds no control characters")
        self._store(staff_id, "password", hash_secret(password))

    def set_pin(self, staff_id: str, pin: str) -> None:
        if not PIN_RE.fullmatch(pin):
            raise ValueError("a device PIN is 4 to 8 digits")
        self._store(staff_id, "pin", hash_secret(pin))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _store(self, staff_id: str, kind: str, value: str) -> None:
        with self._locked():
            data = {k: dict(v) for k, v in self._read_for_write().items()}
            data.setdefault(staff_id, {})[kind] = value
            body: dict[str, Any] = {"version": 1, "staff": data}
            tmp = self.path.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, json.dumps(body, indent=1, sort_keys=True).encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            fsync_dir(self.data_dir)

    def _read_for_write(self) -> dict[str, dict[str, str]]:
        if not self.path.exists():
            return {}
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ValueError(f"{self.path} is unreadable ({e}); move it away to start a new one") from None
        staff = raw.get("staff") if isinstance(raw, dict) else None
        if not isinstance(staff, dict):
            raise ValueError(f"{self.path} is not a staff secrets file; move it away to start a new one")
        return {str(k): dict(v) for k, v in staff.items() if isinstance(v, dict)}


def data_dir_of(args: Any) -> Path:
    """`--data` or the config's `data_dir` (relative: from the current directory, as the controller does)."""
    return Path(args.data or args.cfg.data_dir)


def run(args: Any) -> int:
    """`hallq staff passwd|pin --config FILE [--data DIR] STAFF_ID`: the secret is one line of stdin."""
    from hallq.errors import UsageError

    cfg = args.cfg
    if not any(s.id == args.staff_id for s in cfg.staff):
        raise UsageError(f"unknown staff id {args.staff_id!r} (not in the staff list of {args.config})")
    what = "password" if args.what == "passwd" else "PIN"
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError(f"the {what} is read from standard input, not the terminal: "
                         f"e.g. `hallq staff {args.what} ... {args.staff_id} < file` or through a pipe")
    line = sys.stdin.buffer.readline(PASSWORD_MAX * 4 + 2)
    try:
        text = line.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise UsageError(f"the {what} on standard input is not UTF-8") from None
    if not text:
        raise UsageError(f"no {what} on standard input (one line)")
    store = StaffSecrets(data_dir_of(args))
    try:
        if args.what == "passwd":
            store.set_password(args.staff_id, text)
        else:
            store.set_pin(args.staff_id, text)
    except ValueError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"cannot write {store.path}: {e.strerror}") from None
    sys.stderr.write(f"hallq staff {args.what}: {what} of {args.staff_id} set in {store.path}\n")
    return 0
