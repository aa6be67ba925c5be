"""Config section `displays`: hall call screens and voice announcers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DisplayConfig(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    windows: list[str] | None = None       # None = every window
    services: list[str] | None = None
    voice: bool = True
    voice_dir: str | None = None           # professionally recorded clips override generated ones
    languages: list[Literal["mn", "zh"]] = ["mn", "zh"]
    notice: dict[str, str] = {}
    history: int = Field(default=8, ge=1, le=30)
    # added for the call screen's session, notice and voice (docs/display.md)
    client_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")  # None: hallq-{hall}-display-{id}
    notice_speed_px_s: float = Field(default=90.0, gt=0, le=2000)
    waiting_per_page: int = Field(default=4, ge=1, le=12)
    waiting_page_s: float = Field(default=8.0, gt=0)
    announce_max_age_s: float = Field(default=60.0, gt=0)   # older calls (a session's backlog) are shown, not spoken
