"""The ID card at the kiosk: the reader polled in a worker thread, and a card turned into a short-lived MSB1. token.

The controller gives green only for a code it verifies itself (CONTRACT §5.3). A card the kiosk read is
therefore sent as a `credential` token that the kiosk signs with its own Ed25519 issuer key (issuer `idcard`,
`sub` = the keyed hash of the ID number, never the number; docs/idcard.md). The controller checks it like any
蒙速办 code — each token once — against `credentials.issuer_public_keys`, where `key_issuers` lets that key sign
for issuer `idcard` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devices.idcard import CardPlaced, CardRefused, CardWatch, ReaderDown, ReaderError, ReaderUp, reader_for_url
from devices.idcard.holder import CardHolder, load_holder_key
from hallq.clock import Clock
from hallq.config import HallConfig, KioskConfig
from hallq.msb.tokens import CREDENTIAL_PREFIX, b64url_encode, mint
from hallq.text.words import msg
from kiosk.intents import CardRead, CardRejected, Intent, ReaderChanged

log = logging.getLogger("hallq.kiosk")

ISSUER = "idcard"


class IdCardSetupError(ValueError):
    """The kiosk's ID card set-up is incomplete; the message says what to add where."""


def public_key_text(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b64url_encode(raw)


def load_or_create_issuer_key(path: Path) -> tuple[Ed25519PrivateKey, bool]:
    """The kiosk's ID-card issuer key (Ed25519 PEM, mode 0600); created when the file does not exist."""
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        key = Ed25519PrivateKey.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return key, True
    except OSError as e:
        raise IdCardSetupError(f"ID card issuer key {path}: cannot read it ({e.strerror})") from None
    try:
        loaded = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise IdCardSetupError(f"ID card issuer key {path}: not an unencrypted PEM private key — delete it to have "
                               "a new one made at the next start (then paste its public key into the config)") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise IdCardSetupError(f"ID card issuer key {path}: not an Ed25519 key")
    return loaded, False


class CardTokens:
    """Mints the `credential` token of a card holder: MSB1., issuer `idcard`, each with a new random `jti`."""

    def __init__(self, key: Ed25519PrivateKey, kid: str, lifetime_s: int) -> None:
        self.key, self.kid, self.lifetime_s = key, kid, lifetime_s

    def mint(self, holder: CardHolder, now: datetime) -> str:
        iat = int(now.timestamp())
        claims = {"iss": ISSUER, "sub": holder.holder_key, "jti": secrets.token_urlsafe(12), "iat": iat,
                  "exp": iat + self.lifetime_s, "name": holder.name.strip() or "-", "idm": holder.id_masked,
                  "birth": holder.birth_date.isoformat(), "flags": []}
        return mint(self.key, self.kid, CREDENTIAL_PREFIX, claims)

    @classmethod
    def for_kiosk(cls, cfg: HallConfig, kiosk: KioskConfig) -> CardTokens:
        """Load (or at first start make) the issuer key and check that the config trusts it for `idcard` only."""
        ic = kiosk.idcard
        kid = ic.kid(kiosk.id)
        path = Path(cfg.source_dir or ".") / ic.issuer_key_file
        key, made = load_or_create_issuer_key(path)
        public = public_key_text(key)
        paste = (f"kiosks[{kiosk.id}].credentials: issuer_public_keys: {{{kid}: {public}}} and "
                 f"key_issuers: {{{kid}: {ISSUER}}}")
        if made:
            log.warning("kiosk %s: made the ID card issuer key %s; its public key is %s", kiosk.id, path, public)
        configured = kiosk.credentials.issuer_public_keys.get(kid, "").rstrip("=")
        if configured != public:
            what = "is not in" if not configured else "does not match"
            raise IdCardSetupError(f"the ID card issuer key {path} {what} the config: add {paste} (a new key "
                                   "after `hallq secure init --rotate` or a lost kiosk: docs/security.md)")
        if kiosk.credentials.key_issuers.get(kid) != ISSUER:
            raise IdCardSetupError(f"key {kid} may sign for any issuer: add {paste}")
        return cls(key, kid, ic.token_lifetime_s)


class KioskCardReader:
    """Polls the reader in its own worker thread (CardWatch) and posts what happens as intents."""

    def __init__(self, cfg: HallConfig, kiosk: KioskConfig, post: Callable[[Intent], None], clock: Clock) -> None:
        self.cfg, self.kiosk, self.post, self.clock = cfg, kiosk, post, clock
        ic = kiosk.idcard
        self.watch: CardWatch | None = None
        self.tokens: CardTokens | None = None
        if not ic.enabled:
            return
        assert ic.holder_key_file is not None      # the config requires it for an enabled reader
        try:
            reader = reader_for_url(ic.url, name=kiosk.id, reply_timeout_s=ic.reply_timeout_s,
                                    card_timeout_s=ic.card_timeout_s, retries=ic.retries)
        except ReaderError as e:
            raise IdCardSetupError(str(e)) from None
        if reader is None:
            return
        key = load_holder_key(Path(cfg.source_dir or ".") / ic.holder_key_file)
        min_age = ic.elderly_min_age if ic.elderly_min_age is not None else kiosk.credentials.green_channel_min_age
        self.watch = CardWatch(reader, key, elderly_min_age=min_age, accept_expired=ic.accept_expired,
                               rater_public_key=cfg.evaluation.rater_public_key)
        self.tokens = CardTokens.for_kiosk(cfg, kiosk)
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.watch is not None

    def start(self) -> None:
        if self.watch is not None:
            self._task = asyncio.get_running_loop().create_task(self._poll_forever())

    def stop(self) -> None:
        if self.watch is None:
            return
        if self._task is not None:
            self._task.cancel()
        with contextlib.suppress(ReaderError, OSError):
            self.watch.close()

    def green_reason(self, holder: CardHolder) -> str | None:
        """The controller's rule (credentials.green_channel_min_age on the birth date), so green is only offered
        when the controller will grant it."""
        limit = self.kiosk.credentials.green_channel_min_age
        return f"age {holder.age}" if limit is not None and holder.age >= limit else None

    async def _poll_forever(self) -> None:
        assert self.watch is not None
        watch, every = self.watch, self.kiosk.idcard.poll_interval_s
        while True:
            today = self.clock.now().astimezone(self.cfg.zone).date()
            try:
                event = await asyncio.to_thread(watch.step, today)
            except Exception:    # a driver bug must not end the watch: logged, the reader reopened
                log.exception("kiosk %s: the ID card reader failed unexpectedly; reopening it", self.kiosk.id)
                with contextlib.suppress(Exception):
                    watch.close()
                await asyncio.sleep(max(every, 2.0))
                continue
            if isinstance(event, CardPlaced):
                h = event.holder
                log.info("kiosk %s: ID card of %s read (%s)", self.kiosk.id, h.holder_key, h.id_masked)
                self.post(CardRead(h, self.green_reason(h)))
            elif isinstance(event, CardRefused):
                log.info("kiosk %s: ID card refused: %s", self.kiosk.id, event.log)
                self.post(CardRejected(msg(f"idcard_{event.problem}")))
            elif isinstance(event, ReaderDown):
                log.error("kiosk %s: %s", self.kiosk.id, event.log)
                self.post(ReaderChanged(False))
            elif isinstance(event, ReaderUp):
                log.info("kiosk %s: ID card reader %s answers again", self.kiosk.id, event.reader)
                self.post(ReaderChanged(True))
            await asyncio.sleep(every)
