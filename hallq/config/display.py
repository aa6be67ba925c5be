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
