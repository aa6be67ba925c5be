"""Config section `kiosks`: self-service terminals, their printer, scanner and credential rules."""

from __future__ import annotations

import re
from datetime import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hallq.config.idcard import IdCardConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrinterConfig(_Strict):
    # usb://VID:PID, serial:///dev/ttyS0?baud=9600, tcp://host:9100, file:///path, sim://NAME
    url: str = "sim://printer"
    profile: Literal["58mm", "80mm"] = "80mm"
    native_chinese: bool = True            # FS & + encoding where the printer supports it
    encoding: Literal["gb18030", "gbk", "big5"] = "gb18030"
    status_poll_s: float = Field(default=5.0, gt=0)
    status_timeout_s: float = Field(default=0.5, gt=0)   # wait for each DLE EOT answer
    chunk_bytes: int = Field(default=1024, ge=16)         # a job is written in chunks, reporting progress


class ScannerConfig(_Strict):
    url: str = "none://"                   # evdev:///dev/input/by-id/..., camera://0, none://
    inter_key_timeout_ms: int = Field(default=80, ge=5, le=2000)


class CredentialConfig(_Strict):
    issuer_public_keys: dict[str, str] = {}   # key id -> base64url Ed25519 public key
    max_age_s: int = Field(default=600, ge=10)
    green_channel_min_age: int | None = 70
    green_channel_flags: list[str] = ["veteran", "disability", "firefighter", "medical", "pregnant"]
    clock_skew_s: int = Field(default=30, ge=0, le=600)       # tolerated kiosk/issuer clock difference
    appointment_early_min: int = Field(default=30, ge=0)      # check-in opens this long before slot_start
    appointment_late_min: int = Field(default=15, ge=0)       # and closes this long after slot_start
    appointment_max_age_s: int | None = Field(default=None, ge=10)  # None: same as max_age_s
    key_issuers: dict[str, str] = {}      # key id -> the only `iss` that key may sign for (unlisted: any)

    @field_validator("issuer_public_keys")
    @classmethod
    def _ed25519_keys(cls, v: dict[str, str]) -> dict[str, str]:
        for kid, key in v.items():
            # 32 bytes are 43 base64url characters; the last one carries 2 zero bits
            if re.fullmatch(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]=?", key) is None:
                raise ValueError(f"key {kid!r} is not a base64url Ed25519 public key (32 bytes): paste the key "
                                 "the issuer published, or the one printed by `hallq sim token --new-key FILE`")
        return v


class KioskVoiceConfig(_Strict):
    """Spoken guidance at the kiosk (docs/kiosk.md): Chinese generated, Mongolian only from recorded clips."""

    mode: Literal["elder", "always", "off"] = "elder"   # elder: speaks in 长者 mode; a citizen may tap 再听一遍
    volume: float = Field(default=0.8, ge=0.0, le=1.0)
    quiet_hours: list[str] = []           # ["12:00-14:00", "20:00-08:00"]: no prompt by itself (再听一遍 still speaks)
    voice_dir: str | None = None          # recorded clips (zh/ and mn/ NAME.wav), as displays[].voice_dir

    @field_validator("quiet_hours")
    @classmethod
    def _spans(cls, v: list[str]) -> list[str]:
        for span in v:
            if parse_span(span) is None:
                raise ValueError(f"quiet hour span {span!r} is not HH:MM-HH:MM (e.g. 12:00-14:00)")
        return v

    def quiet_at(self, t: time) -> bool:
        """Whether local time `t` falls in a quiet span (a span may run over midnight)."""
        for span in self.quiet_hours:
            start, end = parse_span(span) or (t, t)
            if (start <= t < end) if start <= end else (t >= start or t < end):
                return True
        return False


def parse_span(span: str) -> tuple[time, time] | None:
    m = re.fullmatch(r"([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])", span)
    if m is None:
        return None
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    return time(h1, m1), time(h2, m2)


class KioskConfig(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    services: list[str] | None = None      # None = all services, in config order
    printer: PrinterConfig = PrinterConfig()
    scanner: ScannerConfig = ScannerConfig()
    credentials: CredentialConfig = CredentialConfig()
    idle_timeout_s: float = Field(default=45.0, gt=0)
    ticket_notice: dict[str, str] = {}    # {"zh": ..., "mn": ...} printed under the number
    lookup_url: str = "https://hallq.example/t"  # base of the ticket QR (ASCII)
    idcard: IdCardConfig = IdCardConfig()  # the ID card reader (docs/idcard.md); none:// = no reader
    voice: KioskVoiceConfig = KioskVoiceConfig()

    @model_validator(mode="after")
    def _idcard_issuer(self) -> KioskConfig:
        if not self.idcard.enabled:
            return self
        kid = self.idcard.kid(self.id)
        if self.credentials.key_issuers.get(kid) != "idcard":
            raise ValueError(f"kiosk {self.id}: an ID card reader signs its tokens with key {kid!r}: add "
                             f"credentials.key_issuers: {{{kid}: idcard}} and the key's public half to "
                             f"credentials.issuer_public_keys (the kiosk prints it at first start; docs/idcard.md)")
        return self
