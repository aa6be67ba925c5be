"""The scenario YAML of `hallq sim day`: load and validate it into typed models (errors name file and key)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def clock_s(hhmm: str) -> int:
    """'09:30' -> seconds since local midnight."""
    h, m = hhmm.split(":")
    return int(h) * 3600 + int(m) * 60


class ScenarioError(Exception):
    """A scenario problem: `str(err)` is one line naming file, key and problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _hhmm(v: str) -> str:
    if not _HHMM.match(v):
        raise ValueError(f"time {v!r} must look like '08:30'")
    return v


class ServiceMix(_Strict):
    """One service: its share of arrivals and its service time (log-normal: mean and coefficient of variation)."""

    id: str = Field(pattern=r"^[a-z0-9_-]{1,32}$")
    prefix: str = Field(pattern=r"^[A-Z]{1,2}$")
    zh: str
    department: str
    share: float = Field(gt=0)
    service_mean_s: float = Field(gt=0)
    service_cv: float = Field(default=0.6, ge=0, le=3)
    transfer_to: str | None = None      # a transfer goes to this service


class Department(_Strict):
    """The old way: a department with its own queue and its dedicated windows."""

    id: str
    zh: str
    windows: int = Field(ge=1)


class WindowGroup(_Strict):
    """The pooled hall (一窗受理): `count` windows taking `services` ('*' = every service)."""

    count: int = Field(ge=1)
    services: list[str] | str


class StaffPlan(_Strict):
    """When staff come and go: A posts log in at `login`, lunch by pause or by the B post (AB岗)."""

    login: str = "08:30"
    login_late_max_s: float = Field(default=300, ge=0)
    lunch_start: str = "12:00"
    lunch_minutes: float = Field(default=60, ge=0)
    lunch_stagger_minutes: float = Field(default=30, ge=0)   # the second half of the windows goes later
    b_post_lunch_share: float = Field(default=0.3, ge=0, le=1)   # windows kept open at lunch by the B post
    a_absent_share: float = Field(default=0.05, ge=0, le=1)     # A post absent all day: the B post works

    @field_validator("login", "lunch_start")
    @classmethod
    def _times(cls, v: str) -> str:
        return _hhmm(v)


class Incident(_Strict):
    """A scripted event that 电子监察 must notice."""

    at: str
    kind: str = Field(pattern=r"^(late_login|long_pause|long_service|device)$")
    window: int | None = Field(default=None, ge=1)         # 1-based index into the windows
    minutes: float = Field(default=0, ge=0)
    device: str | None = None
    status: dict[str, Any] | None = None

    @field_validator("at")
    @classmethod
    def _times(cls, v: str) -> str:
        return _hhmm(v)


class Scenario(_Strict):
    name: str
    hall_id: str = Field(pattern=r"^[a-z0-9-]+$")
    date: date
    seed: int = 1
    open: str = "08:30"
    close: str = "17:30"
    hours: list[tuple[str, str]] | None = None   # opening spans of the hall; default one span open–close
    tickets_per_day: float = Field(gt=0)
    profile: list[tuple[str, float]] = Field(min_length=2)   # (time, relative rate), linear in between
    green_share: float = Field(default=0.05, ge=0, le=1)
    no_show_share: float = Field(default=0.04, ge=0, le=1)
    transfer_share: float = Field(default=0.03, ge=0, le=1)
    rating_share: float = Field(default=0.8, ge=0, le=1)
    bad_rating_share: float = Field(default=0.03, ge=0, le=1)
    changeover_s: tuple[float, float] = (10.0, 40.0)    # finish -> next call
    recall_gap_s: float = Field(default=30, gt=0)
    services: list[ServiceMix] = Field(min_length=1)
    departments: list[Department] = Field(min_length=1)
    windows: list[WindowGroup] = Field(min_length=1)
    staff: StaffPlan = StaffPlan()
    incidents: list[Incident] = []
    supervision: dict[str, float] = {}

    @field_validator("open", "close")
    @classmethod
    def _times(cls, v: str) -> str:
        return _hhmm(v)

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: list[tuple[str, str]] | None) -> list[tuple[str, str]] | None:
        if v is None:
            return v
        if not v:
            raise ValueError('give at least one span, e.g. [["08:30", "12:00"], ["13:30", "17:00"]], '
                             "or leave hours out for one span from open to close")
        bounds = [clock_s(_hhmm(t)) for span in v for t in span]
        if bounds != sorted(bounds) or any(a >= b for a, b in zip(bounds[::2], bounds[1::2], strict=True)):
            raise ValueError("spans must be in order, each start before its end, and must not overlap")
        return v

    @field_validator("profile")
    @classmethod
    def _profile(cls, v: list[tuple[str, float]]) -> list[tuple[str, float]]:
        for t, r in v:
            _hhmm(t)
            if r < 0:
                raise ValueError(f"rate at {t} must be ≥ 0")
        if [clock_s(t) for t, _ in v] != sorted({clock_s(t) for t, _ in v}):
            raise ValueError("profile times must increase")
        return v

    @model_validator(mode="after")
    def _refs(self) -> Scenario:
        ids = {s.id for s in self.services}
        depts = {d.id for d in self.departments}
        for i, s in enumerate(self.services):
            if s.department not in depts:
                raise ValueError(f"services[{i}].department: unknown department {s.department!r}")
            if s.transfer_to is not None and s.transfer_to not in ids:
                raise ValueError(f"services[{i}].transfer_to: unknown service {s.transfer_to!r}")
        for i, g in enumerate(self.windows):
            if g.services != "*" and (isinstance(g.services, str) or not set(g.services) <= ids):
                raise ValueError(f"windows[{i}].services: must be '*' or a list of known services")
        if self.window_count != sum(d.windows for d in self.departments):
            raise ValueError(f"windows: the pooled hall has {self.window_count} windows but the departments "
                             f"have {sum(d.windows for d in self.departments)}; compare like with like")
        if self.hours is not None and (self.hours[0][0], self.hours[-1][1]) != (self.open, self.close):
            raise ValueError(f"hours: the spans must run from open ({self.open}) to close ({self.close}), "
                             f"not {self.hours[0][0]}–{self.hours[-1][1]}")
        for i, inc in enumerate(self.incidents):
            if inc.window is not None and inc.window > self.window_count:
                raise ValueError(f"incidents[{i}].window: there are only {self.window_count} windows")
        return self

    @property
    def opening_spans(self) -> list[tuple[str, str]]:
        """The hall's opening spans (`HH:MM`, `HH:MM`): `hours`, or one span from open to close."""
        return [(a, b) for a, b in self.hours] if self.hours is not None else [(self.open, self.close)]

    def reopens_after(self, t: float) -> float | None:
        """The start of the next opening span after t (seconds since midnight), None when none is left today."""
        return next((float(clock_s(a)) for a, _ in self.opening_spans if clock_s(a) > t), None)

    @property
    def window_count(self) -> int:
        return sum(g.count for g in self.windows)

    def service(self, sid: str) -> ServiceMix:
        return next(s for s in self.services if s.id == sid)


def load_scenario(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"{p}: file not found") from None
    except yaml.YAMLError as e:
        raise ScenarioError(f"{p}: not valid YAML ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("scenario"), dict):
        raise ScenarioError(f"{p}: the file must hold a mapping with a 'scenario' section")
    try:
        return Scenario.model_validate(data["scenario"])
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(x) for x in err["loc"])
        raise ScenarioError(f"{p}: scenario.{key}: {err['msg'].removeprefix('Value error, ')}".replace(
            "scenario.: ", "scenario: ")) from None
