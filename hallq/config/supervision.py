"""Config section `supervision`: thresholds of 电子监察 alerts."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SupervisionConfig(_Strict):
    """Thresholds of 电子监察 alerts."""

    wait_alert_s: float = Field(default=1800, gt=0)
    service_alert_s: float = Field(default=2400, gt=0)
    pause_alert_s: float = Field(default=1800, gt=0)
    unattended_alert_s: float = Field(default=900, gt=0)
    escalate_after_s: float = Field(default=1800, gt=0)   # an alert still open this long is 督办: marked, re-raised
