"""Rater identity sealed for the hall's privacy key: X25519 + HKDF-SHA256 + AES-256-GCM ("RID1." tokens).

A kiosk that verified a 蒙速办 code seals the holder's name and ID number with the hall's public key;
the controller stores only the sealed text (encrypted at rest, in the log and its backups). Opening it
needs the private key, which the controller does not hold: the `hallq rater` tool does, and every opening
is first recorded in the event log (who, why) by the controller.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "RID1."
INFO = b"hallq rater identity v1"


class SealError(ValueError):
    """A sealed identity that cannot be opened (wrong key, damaged or edited text)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(shared: bytes, eph: bytes, recipient: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=eph + recipient, info=INFO).derive(shared)


def public_key_text(key: X25519PrivateKey) -> str:
    return _b64(key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def seal(public_key: str, identity: dict[str, Any]) -> str:
    """The identity as ASCII only the private key's holder can read."""
    recipient = _unb64(public_key)
    eph = X25519PrivateKey.generate()
    eph_pub = eph.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key = _key(eph.exchange(X25519PublicKey.from_public_bytes(recipient)), eph_pub, recipient)
    nonce = os.urandom(12)
    body = AESGCM(key).encrypt(nonce, json.dumps(identity, ensure_ascii=False).encode("utf-8"), PREFIX.encode())
    return PREFIX + _b64(eph_pub + nonce + body)


def open_sealed(private_key: X25519PrivateKey, sealed: str) -> dict[str, Any]:
    if not sealed.startswith(PREFIX):
        raise SealError("not a sealed rater identity (it must start with RID1.)")
    try:
        raw = _unb64(sealed[len(PREFIX):])
        eph_pub, nonce, body = raw[:32], raw[32:44], raw[44:]
        recipient = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        key = _key(private_key.exchange(X25519PublicKey.from_public_bytes(eph_pub)), eph_pub, recipient)
        data = json.loads(AESGCM(key).decrypt(nonce, body, PREFIX.encode()))
    except (InvalidTag, ValueError) as e:
        raise SealError("the sealed identity does not open with this key (another hall's key, or the text was "
                        "damaged or edited)") from e
    if not isinstance(data, dict):
        raise SealError("the sealed identity holds no identity")
    return data


def load_private_key(path: str) -> X25519PrivateKey:
    with open(path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    if not isinstance(key, X25519PrivateKey):
        raise SealError(f"{path} is not an X25519 private key (make one with `hallq rater new-key FILE`)")
    return key


def new_private_key_pem() -> tuple[bytes, str]:
    key = X25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem, public_key_text(key)
