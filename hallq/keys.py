"""Key files kept beside the config, outside the data directory a backup copies: the ticket-code key and
the checkpoint signing key (CONTRACT §3.8), created 0600 at first start."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hallq.config import HallConfig

TICKET_KEY_FILE = "ticket-code.key"
SIGNING_KEY_FILE = "audit-signing.key"


class KeyFileError(Exception):
    """A key file that cannot be read, written or trusted; `str()` names the file and what to do."""


def key_dir(cfg: HallConfig, data_dir: Path) -> Path:
    """Where key files live: beside the config file; for a config given in memory (tests, tools), beside
    the data directory (its parent) — never inside it."""
    if getattr(cfg, "_source_dir", None):
        return cfg.source_dir
    return Path(data_dir).resolve().parent


def write_private(path: Path, data: bytes) -> None:
    """Create `path` 0600 with `data`, synced (never over an existing file: two starts must not make two keys)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)        # fails if another start made it meanwhile
    finally:
        tmp.unlink(missing_ok=True)


def fsync_dir(path: Path) -> None:
    """Make the entries of the folder `path` (a file created, renamed or removed in it) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create(path: Path, data: bytes, what: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            write_private(path, data)
    except OSError as e:
        raise KeyFileError(f"cannot create the {what} {path}: {e} — the folder beside the config must be writable "
                           "at the first start (or put the key there yourself)") from None


def _check_private(path: Path) -> None:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyFileError(f"key file {path} is readable by others (mode {mode:o}): chmod 600 {path}")


# -- the ticket-code key ---------------------------------------------------------------------------
def ticket_key_path(cfg: HallConfig, data_dir: Path) -> Path:
    return key_dir(cfg, data_dir) / TICKET_KEY_FILE


def load_ticket_key(path: Path, legacy_hex: str | None = None) -> bytes:
    """The key that makes per-ticket codes. Created at first start; from `legacy_hex` (the secret an
    earlier version kept in the database) when given, so printed tickets stay valid."""
    try:
        if not path.exists():
            secret = bytes.fromhex(legacy_hex) if legacy_hex else os.urandom(32)
            _create(path, secret.hex().encode() + b"\n", "ticket-code key")
        _check_private(path)
        text = path.read_text(encoding="ascii").strip()
        secret = bytes.fromhex(text)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise KeyFileError(f"ticket-code key {path}: {e} — it must hold the hex key; restore it from where "
                           "you keep keys, or remove it to start over (codes of printed tickets stop working)") \
            from None
    if len(secret) < 16:
        raise KeyFileError(f"ticket-code key {path}: too short ({len(secret)} bytes, at least 16)")
    if legacy_hex and bytes.fromhex(legacy_hex) != secret:
        raise KeyFileError(f"ticket-code key {path} differs from the one this data directory's log holds — "
                           "another hall's key beside this config? Move one of them away; keeping both would "
                           "make the codes of printed tickets wrong")
    return secret


# -- the checkpoint signing key --------------------------------------------------------------------
def signing_key_path(cfg: HallConfig, data_dir: Path) -> Path:
    given = cfg.audit.signing_key
    base = key_dir(cfg, data_dir)
    return (base / given) if given else base / SIGNING_KEY_FILE


def key_id(public_raw: bytes) -> str:
    """CONTRACT §3.8: the first 16 hex digits of the SHA-256 of the raw public key."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def public_raw(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    return base64.b64encode(public_raw(key)).decode("ascii")


def parse_public_key(text: str, where: str) -> Ed25519PublicKey:
    """A public key written as base64 of the raw 32 bytes (a `.pub` file or `audit.public_key`)."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        if len(raw) != 32:
            raise ValueError(f"{len(raw)} bytes, not 32")
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as e:
        raise KeyFileError(f"{where}: not an Ed25519 public key (base64 of the raw 32 bytes): {e}") from None


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """The checkpoint signing key (PKCS#8 PEM), created with `FILE.pub` beside it when missing."""
    try:
        if not path.exists():
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            _create(path, pem, "checkpoint signing key")
        _check_private(path)
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise KeyFileError(f"signing key {path}: {e} — restore it, or remove it (and its .pub) to make a new "
                           "one; audit.public_key must then be updated") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise KeyFileError(f"signing key {path}: not an Ed25519 key")
    pub = Path(f"{path}.pub")
    want = public_b64(loaded) + "\n"
    try:
        if not pub.exists() or pub.read_text(encoding="ascii") != want:
            pub.write_text(want, encoding="ascii")
    except (OSError, UnicodeDecodeError) as e:
        raise KeyFileError(f"public key {pub}: {e}") from None
    return loaded


def verify_signature(public: Ed25519PublicKey, message: bytes, sig_b64: str) -> bool:
    try:
        public.verify(base64.b64decode(sig_b64, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True
