"""Hall configuration: the YAML of CONTRACT §2 loaded and validated into typed models.

Every part of hallq reads its settings from here. Unknown keys are errors; an error names
the file, the key path and what is wrong (`ConfigError`), and the CLI turns it into exit 2.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from hallq.config.devices import BusConfig, DeviceConfig, DevicesSection, MqttDeviceConfig
from hallq.config.display import DisplayConfig
from hallq.config.kiosk import KioskConfig
from hallq.config.regionlink import RegionLink
from hallq.config.security import (
    STAFF_ROLES,
    AuditSection,
    ConsoleSection,
    PrincipalConfig,
    SecuritySection,
    StaffRole,
)
from hallq.config.supervision import SupervisionConfig
from hallq.config.upstream import UpstreamConfig

__all__ = [
    "BusConfig", "ConfigError", "DeviceConfig", "DevicesSection", "DisplayConfig", "HallConfig",
    "KioskConfig", "LocalName", "MqttDeviceConfig", "PrincipalConfig", "STAFF_ROLES", "SecuritySection",
    "StaffRole", "Strict", "UpstreamConfig", "load_config", "parse_config",
]


class ConfigError(Exception):
    """A configuration problem: `str(err)` is one line naming file, key and problem."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source, self.key, self.problem = source, key, problem
        where = f"{source}: {key}: " if key else f"{source}: "
        super().__init__(where + problem)


class Strict(BaseModel):
    """Base of every config model: unknown keys are errors, models are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalName(Strict):
    """A name in both languages of the hall. Mongolian is standard Unicode (U+1800–U+18AF)."""

    zh: str = Field(min_length=1)
    mn: str = ""

    @field_validator("mn")
    @classmethod
    def _no_presentation_forms(cls, v: str) -> str:
        if any(0xE000 <= ord(c) <= 0xF8FF for c in v):
            raise ValueError("Mongolian must be standard Unicode (U+1800–U+18AF), not private-use "
                             "presentation forms")
        return v


HALL_ID = r"^[a-z0-9-]+$"
Ident = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]


class HallSection(Strict):
    id: str = Field(pattern=HALL_ID, max_length=64)
    name: LocalName
    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Asia/Shanghai)") from None
        return v


class MqttSection(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    tls: bool = False
    keepalive_s: int = Field(default=15, ge=5, le=600)
    credentials: str | None = None      # a principal's credentials file (`hallq secure init`): username, password, ca


class ServiceConfig(Strict):
    id: str = Field(pattern=r"^[a-z0-9_-]{1,32}$")
    prefix: str = Field(pattern=r"^[A-Z]{1,2}$")
    name: LocalName
    daily_quota: int | None = Field(default=None, ge=1)
    default_service_s: float = Field(default=300.0, gt=0)
    target_service_s: float | None = Field(default=None, gt=0)   # 承诺时限 for rankings (default: supervision's)
    area: LocalName | None = None        # where its windows are (二楼B区): on the ticket and the citizen's page
    hours: HoursSection | None = None    # this service's own opening hours (instead of the hall's `hours`)
    appointment_only: AppointmentOnly | None = None   # days it takes only appointments (周六日预约办)


class WindowConfig(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,16}$")
    services: list[str] = Field(min_length=1)
    name: LocalName | None = None
    area: LocalName | None = None        # where the window is (二楼B区): on the call screen and in the call voice


class StaffConfig(Strict):
    id: Ident
    name: str = Field(min_length=1)
    windows: list[str] = Field(min_length=1)
    unit: str | None = None
    roles: list[StaffRole] = ["window"]


class RulesSection(Strict):
    recall_limit: int = Field(default=2, ge=0, le=20)


class EvaluationSection(Strict):
    prompt_timeout_s: float = Field(default=60.0, gt=0)
    supplement_working_days: int = Field(default=5, ge=0, le=60)
    bad_reasons: list[str] = ["态度不好", "效率低", "一次性告知不清", "多次跑腿", "环境设施差", "其他"]
    workorder_days_simple: int = Field(default=5, ge=1, le=60)    # feedback to the rater, in working days
    workorder_days_complex: int = Field(default=15, ge=1, le=120)
    revisit_share: float = Field(default=0.05, ge=0, le=1)       # the monthly 回访 sample: share of rated tickets
    # citizens' personal data (holder hashes, sealed rater identities) of a service day is purged this many days
    # later, unless a 差评 work order of that day is still open (controller/retention.py, docs/privacy.md)
    identity_keep_days: int = Field(default=90, ge=30, le=3650)
    fraud_min_rating_s: float = Field(default=1.5, ge=0)         # faster than a person reads the prompt
    fraud_staff_key_s: float = Field(default=3.0, ge=0)          # a staff key press this close to the rating
    fraud_burst_count: int = Field(default=5, ge=2)              # this many ratings at one window ...
    fraud_burst_window_s: float = Field(default=60.0, gt=0)      # ... within this time
    fraud_same_rater_per_day: int = Field(default=3, ge=2)       # the same holder rating this many services a day
    fraud_after_finish_s: float = Field(default=4.0, ge=0)       # on the evaluator this soon after staff pressed finish
    fraud_page_after_s: float = Field(default=120.0, ge=0)       # through the page this soon after service ...
    hall_networks: list[str] = []                                # ... from these networks (CIDR): the hall's own LAN

    @field_validator("hall_networks")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        import ipaddress
        for n in v:
            try:
                ipaddress.ip_network(n, strict=False)
            except ValueError:
                raise ValueError(f"{n!r} is not a network (use CIDR, e.g. 192.168.10.0/24)") from None
        return v
    web_port: int | None = Field(default=None, ge=1, le=65535)   # ignored: the ticket page is `hallq console`'s /t
    web_host: str = "127.0.0.1"
    rater_public_key: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{43}$")  # `hallq rater new-key`


_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class HoursSection(Strict):
    """Opening hours. Absent in the config = always open."""

    weekly: dict[Weekday, list[str]]
    issue_cutoff_min: int = Field(default=0, ge=0, le=240)
    closed_dates: list[date] = []
    open_dates: dict[date, list[str]] = {}

    @field_validator("weekly", "open_dates")
    @classmethod
    def _spans(cls, v: dict[Any, list[str]]) -> dict[Any, list[str]]:
        for spans in v.values():
            for s in spans:
                m = _SPAN.match(s)
                if not m or (m[1], m[2]) >= (m[3], m[4]):
                    raise ValueError(f"opening span {s!r} must look like '08:30-12:00' (start before end)")
        return v

    def spans_on(self, day: date) -> list[tuple[time, time]]:
        """Opening spans of one calendar day, as (start, end) local times."""
        if day in self.closed_dates:
            return []
        raw = self.open_dates.get(day, self.weekly.get(WEEKDAYS[day.weekday()], []))
        out = []
        for s in raw:
            a, b = s.split("-")
            end = time.max if b == "24:00" else time.fromisoformat(b)
            out.append((time.fromisoformat(a), end))
        return out


class AppointmentOnly(Strict):
    """Days a service issues only appointment tickets (a weekend opening for appointments, 预约办)."""

    weekdays: list[Weekday] = []
    dates: list[date] = []

    @field_validator("weekdays", "dates")
    @classmethod
    def _no_repeats(cls, v: list[Any]) -> list[Any]:
        if len(set(v)) != len(v):
            raise ValueError("each day may be named once")
        return v

    def on(self, day: date) -> bool:
        return day in self.dates or WEEKDAYS[day.weekday()] in self.weekdays


class AppointmentsSection(Strict):
    """How the queue treats a checked-in appointment (CONTRACT §3.7; docs/controller.md "Appointments"):
    one that checks in up to `late_min` after its slot's start is called after green and before walk-ins from
    `early_min` before that start on; one that checks in later is a walk-in."""

    early_min: int = Field(default=30, ge=0, le=720)
    late_min: int = Field(default=15, ge=0, le=720)


ServiceConfig.model_rebuild()


class HallConfig(Strict):
    _source_dir: str | None = PrivateAttr(default=None)
    hall: HallSection
    mqtt: MqttSection = MqttSection()
    data_dir: str = "./var"
    services: list[ServiceConfig] = Field(min_length=1)
    windows: list[WindowConfig] = Field(min_length=1)
    staff: list[StaffConfig] = []
    rules: RulesSection = RulesSection()
    evaluation: EvaluationSection = EvaluationSection()
    hours: HoursSection | None = None
    appointments: AppointmentsSection = AppointmentsSection()
    devices: DevicesSection = DevicesSection()
    kiosks: list[KioskConfig] = []
    displays: list[DisplayConfig] = []
    supervision: SupervisionConfig = SupervisionConfig()
    upstream: UpstreamConfig = UpstreamConfig()
    security: SecuritySection = SecuritySection()
    audit: AuditSection = AuditSection()
    console: ConsoleSection = ConsoleSection()
    region: RegionLink | None = None        # CONTRACT §7: the hall's bridge to the regional broker

    @model_validator(mode="after")
    def _cross_references(self) -> HallConfig:
        _unique(self.services, "services", "id")
        _unique(self.services, "services", "prefix")
        _unique(self.windows, "windows", "id")
        _unique(self.staff, "staff", "id")
        _unique(self.kiosks, "kiosks", "id")
        _unique(self.displays, "displays", "id")
        services = {s.id for s in self.services}
        windows = {w.id for w in self.windows}
        for i, w in enumerate(self.windows):
            for j, s in enumerate(w.services):
                if s not in services:
                    raise _Ref(f"windows[{i}].services[{j}]", f"unknown service {s!r} (known: {_list(services)})")
        for i, svc in enumerate(self.services):
            _check_appointment_only(i, svc, self.hours)
        for i, st in enumerate(self.staff):
            for j, wid in enumerate(st.windows):
                if wid not in windows:
                    raise _Ref(f"staff[{i}].windows[{j}]", f"unknown window {wid!r} (known: {_list(windows)})")
        for i, k in enumerate(self.kiosks):
            for j, s in enumerate(k.services or []):
                if s not in services:
                    raise _Ref(f"kiosks[{i}].services[{j}]", f"unknown service {s!r} (known: {_list(services)})")
        seen_ids: set[str] = set()
        for i, bus in enumerate(self.devices.buses):
            for j, dev in enumerate(bus.devices):
                key = f"devices.buses[{i}].devices[{j}]"
                if dev.window is not None and dev.window not in windows:
                    raise _Ref(key + ".window", f"unknown window {dev.window!r} (known: {_list(windows)})")
                did = dev.id or f"{bus.id}-{dev.address}"
                if did in seen_ids:
                    raise _Ref(key, f"device id {did!r} is used twice")
                seen_ids.add(did)
        for i, mdev in enumerate(self.devices.mqtt):
            if mdev.window is not None and mdev.window not in windows:
                raise _Ref(f"devices.mqtt[{i}].window", f"unknown window {mdev.window!r}")
        _unique(self.security.principals, "security.principals", "id")
        buses = {b.id for b in self.devices.buses}
        for i, pr in enumerate(self.security.principals):
            if pr.window is not None and pr.window not in windows:
                raise _Ref(f"security.principals[{i}].window",
                           f"unknown window {pr.window!r} (known: {_list(windows)})")
            for j, bid in enumerate(pr.buses or []):
                if bid not in buses:
                    raise _Ref(f"security.principals[{i}].buses[{j}]", f"unknown bus {bid!r} (known: {_list(buses)})")
        return self

    # -- look-ups used by every part -------------------------------------------------------
    def service(self, service_id: str) -> ServiceConfig | None:
        return next((s for s in self.services if s.id == service_id), None)

    def window(self, window_id: str) -> WindowConfig | None:
        return next((w for w in self.windows if w.id == window_id), None)

    def kiosk(self, kiosk_id: str) -> KioskConfig | None:
        return next((k for k in self.kiosks if k.id == kiosk_id), None)

    def display(self, display_id: str) -> DisplayConfig | None:
        return next((d for d in self.displays if d.id == display_id), None)

    @property
    def secure(self) -> bool:
        """True when the hall runs locked (CONTRACT §5): principals' topics, authorization."""
        return self.security.mode == "secure"

    @property
    def source_dir(self) -> Path:
        """The folder of the config file (relative key and credentials paths are taken from here)."""
        return Path(self._source_dir or ".")

    def with_credentials(self, path: str | None) -> HallConfig:
        """This config with `mqtt.credentials` set (the `--credentials` flag of every long-running command)."""
        if not path:
            return self
        new = self.model_copy(update={"mqtt": self.mqtt.model_copy(update={"credentials": str(Path(path).resolve())})})
        new._source_dir = self._source_dir
        return new

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.hall.timezone)

    def topic(self, *parts: str) -> str:
        """An MQTT topic under this hall: topic('cmd', 'issue') -> 'hallq/{hall}/cmd/issue'."""
        return "/".join(("hallq", self.hall.id, *parts))


class _Ref(ValueError):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(problem)
        self.key = key


def _list(items: set[str]) -> str:
    return ", ".join(sorted(items))


def _unique(items: list[Any], section: str, attr: str) -> None:
    seen: set[Any] = set()
    for i, it in enumerate(items):
        v = getattr(it, attr)
        if v in seen:
            raise _Ref(f"{section}[{i}].{attr}", f"duplicate {attr} {v!r}")
        seen.add(v)


def _check_appointment_only(i: int, svc: ServiceConfig, hall_hours: HoursSection | None) -> None:
    """An appointment-only day must be a day the service is open (its own hours, else the hall's)."""
    only = svc.appointment_only
    hours = svc.hours if svc.hours is not None else hall_hours
    if only is None or hours is None:
        return
    whose = "its own hours" if svc.hours is not None else "the hall's hours"
    for j, wd in enumerate(only.weekdays):
        if not hours.weekly.get(wd):
            raise _Ref(f"services[{i}].appointment_only.weekdays[{j}]",
                       f"service {svc.id!r} is closed on {wd} ({whose} have no span that day): give the service "
                       f"`hours` with a span on {wd} to open it for appointments")
    for j, day in enumerate(only.dates):
        if not hours.spans_on(day):
            raise _Ref(f"services[{i}].appointment_only.dates[{j}]",
                       f"service {svc.id!r} is closed on {day.isoformat()} ({whose}): add it to `open_dates` "
                       "of the service's `hours` to open it for appointments")


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def parse_config(data: Any, source: str = "<config>") -> HallConfig:
    """Validate an already-parsed YAML document; raises ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(source, "", "the file must hold a YAML mapping with the sections hall, services, windows")
    try:
        return HallConfig.model_validate(data)
    except ValidationError as e:
        raise config_error(e, source) from None


def config_error(e: ValidationError, source: str, doc: str = "docs/configuration.md") -> ConfigError:
    """The first problem of a validation as one line naming the file, the key path and what is wrong."""
    err = e.errors()[0]
    ctx = err.get("ctx") or {}
    inner = ctx.get("error")
    if isinstance(inner, _Ref):
        return ConfigError(source, inner.key, str(inner))
    key = _loc(tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-"))))
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = f"unknown key (a typo? see {doc} for the keys of this section)"
    elif err["type"] == "missing":
        msg = "required key is missing"
    msg = msg.removeprefix("Value error, ")
    if "input" in err and err["type"] not in ("missing", "extra_forbidden") and not isinstance(
        err["input"], dict | list
    ):
        msg += f" (got {err['input']!r})"
    if ": " in msg and not key:
        key, msg = msg.split(": ", 1)
    return ConfigError(source, key, msg)


def config_sha(text: str) -> str:
    """The SHA-256 a configuration's text is known by (the controller's log, reloads, the console's /config)."""
    return hashlib.sha256(text.encode()).hexdigest()


def read_config_file(path: str | Path) -> str:
    """A configuration file's text; ConfigError when it is missing or unreadable."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(p), "", "file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(str(p), "", f"cannot read: {e}") from None


def load_config(path: str | Path, text: str | None = None) -> HallConfig:
    """Read and validate a hall config file; raises ConfigError with a one-line message. `text`: the file's
    content when the caller read it already (a reload hashes exactly the text it validated)."""
    p = Path(path)
    cfg = parse_config_text(read_config_file(p) if text is None else text, str(p))
    cfg._source_dir = str(p.resolve().parent)
    if cfg.mqtt.credentials and not Path(cfg.mqtt.credentials).is_absolute():
        cfg = cfg.with_credentials(str(p.resolve().parent / cfg.mqtt.credentials))
    return cfg


MAX_YAML_DEPTH = 20      # a hall config is a few levels deep; deeper is an error, never a RecursionError


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (the second would silently win) and bounded nesting."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _value in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key] + 1}; the second would silently win)",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _depth(node: yaml.Node) -> int:
    best, stack = 0, [(node, 1)]
    while stack:
        n, d = stack.pop()
        best = max(best, d)
        if d > MAX_YAML_DEPTH:
            return d
        if isinstance(n, yaml.MappingNode):
            stack.extend((v, d + 1) for _k, v in n.value)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend((v, d + 1) for v in n.value)
    return best


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML strictly (duplicate keys and nesting deeper than MAX_YAML_DEPTH are errors); ConfigError."""
    try:
        loader = _StrictLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if _depth(node) > MAX_YAML_DEPTH:
                raise ConfigError(source, f"line {node.start_mark.line + 1}",
                                  f"nested deeper than {MAX_YAML_DEPTH} levels: not a hall configuration")
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(source, where, f"not valid YAML: {getattr(e, 'problem', e)}") from None
    except RecursionError:
        raise ConfigError(source, "", f"nested deeper than {MAX_YAML_DEPTH} levels: not a hall configuration") from None


def parse_config_text(text: str, source: str) -> HallConfig:
    return parse_config(load_yaml(text, source), source)
