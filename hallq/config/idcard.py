"""Config of a kiosk's ID card reader (`kiosks[].idcard`): where it is, its timeouts, the holder key, the age rule."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMES = ("serial", "socket", "loop", "rfc2217", "sim", "none")


class IdCardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = "none://"                  # serial:///dev/serial/by-id/…?baud=115200, sim://idcard, none://
    poll_interval_s: float = Field(default=0.5, gt=0, le=10)     # find-card this often while the kiosk is idle
    reply_timeout_s: float = Field(default=0.5, gt=0, le=10)     # module-only commands (status, SAM number)
    card_timeout_s: float = Field(default=2.0, gt=0, le=10)      # find, select and read (the card is involved)
    retries: int = Field(default=2, ge=0, le=5)
    holder_key_file: str | None = None    # the hall's key for the ID number's keyed hash; relative to the config
    elderly_min_age: int | None = Field(default=None, ge=50, le=120)  # None: credentials.green_channel_min_age
    accept_expired: bool = False          # an expired card still gives a real-name ticket
    # the kiosk turns a card it read into a short-lived MSB1. token signed with its own issuer key (docs/idcard.md)
    issuer_key_file: str = "idcard-issuer.key"   # Ed25519 PEM, relative to the config; made at first start if missing
    issuer_kid: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")  # None: idcard-{kiosk id}
    token_lifetime_s: int = Field(default=180, ge=120, le=300)

    def kid(self, kiosk_id: str) -> str:
        """The key id of this kiosk's ID-card issuer key in `credentials.issuer_public_keys`."""
        return self.issuer_kid or f"idcard-{kiosk_id}"

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        u = urlsplit(v)
        if u.scheme not in SCHEMES or (u.scheme == "serial" and not u.path):
            raise ValueError(f"{v!r} is not an ID card reader URL — give serial:///dev/ttyUSB0?baud=115200, "
                             "sim://NAME or none://")
        return v

    @model_validator(mode="after")
    def _key_needed(self) -> IdCardConfig:
        if self.enabled and not self.holder_key_file:
            raise ValueError("an ID card reader needs holder_key_file: the hall's secret for the keyed hash of "
                             "ID numbers (the same file on every kiosk; 32 random bytes as hex)")
        return self

    @property
    def enabled(self) -> bool:
        return not self.url.startswith("none:")
