"""The optional `region:` section of a hall config (CONTRACT §7): the regional broker its mosquitto bridges to."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RegionLink(BaseModel):
    """`region: {host, port, tls?, credentials}`: where the hall's broker bridges to, as which account."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1, max_length=253)
    port: int = Field(default=1883, ge=1, le=65535)
    tls: bool = False
    ca: str | None = None       # the regional CA (default: `ca` of the credentials file)
    credentials: str            # the hall's account on the regional broker (`hallq region secure-init` writes it)
