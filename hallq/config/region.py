"""REGION.yaml (CONTRACT §7): the league's halls, its broker, its PostgreSQL and its console; and the optional
`region` section of a hall config (the hall's bridge to the regional broker)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, ValidationError, model_validator

from hallq.config import (
    ConfigError,
    HallSection,
    LocalName,
    MqttSection,
    Strict,
    config_error,
    load_yaml,
    read_config_file,
)
from hallq.config.regionlink import RegionLink
from hallq.config.security import ConsoleSection

Level = Literal["league", "banner", "sum", "gacha"]     # 盟/市 centre, 旗/县 centre, 苏木/乡镇 station, 嘎查/村 station
LEVEL_NAMES = {"league": {"zh": "盟市政务服务中心", "mn": "ᠠᠶᠢᠮᠠᠭ"},
               "banner": {"zh": "旗县政务服务中心", "mn": "ᠬᠣᠰᠢᠭᠤ"},
               "sum": {"zh": "苏木乡镇便民服务中心", "mn": "ᠰᠤᠮᠤ"}, "gacha": {"zh": "嘎查村便民服务站", "mn": "ᠭᠠᠴᠠᠭ᠎ᠠ"}}
HALL_ID = r"^[a-z0-9-]+$"
ACCOUNT = r"^[a-z0-9-]{1,32}$"
__all__ = ["HallEntry", "RegionConfig", "RegionLink", "load_region", "parse_region"]


class RegionSection(HallSection):
    """The region's id, names and time zone: the same rules as a hall's."""


class HallEntry(Strict):
    id: str = Field(pattern=HALL_ID, max_length=64)
    name: LocalName
    level: Level
    parent: str | None = None
    public_key: str | None = Field(default=None, pattern=r"^[A-Za-z0-9+/]{43}=$")   # §3.8: the hall's pinned key

    @property
    def account(self) -> str:
        """The hall's bridge account on the regional broker."""
        return f"hall-{self.id}"


class StaffEntry(Strict):
    """A league staff member of the region console. Roles: `viewer` (figures and halls), `supervisor` (also
    forwards 差评 work orders to halls: 电子监察), `admin` (everything)."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    name: str = Field(min_length=1)
    roles: list[Literal["viewer", "supervisor", "admin"]] = ["viewer"]


class IngestSection(Strict):
    batch: int = Field(default=5000, ge=1, le=20000)           # events per transaction at most
    flush_ms: int = Field(default=50, ge=1, le=10000)         # a batch is written at least this often
    shared: bool = False             # $share/hallq-ingest/…: several ingest processes split the load (docs/region.md)
    gap_wait_s: float = Field(default=2.0, ge=0, le=3600)     # a gap older than this is filled with `events`
    months_ahead: int = Field(default=2, ge=1, le=24)         # monthly partitions made in advance


class RegionConfig(Strict):
    _source_dir: str | None = PrivateAttr(default=None)
    region: RegionSection
    mqtt: MqttSection = MqttSection()
    postgres: str = Field(min_length=1)        # a libpq DSN: "host=… port=… dbname=… user=…" or postgresql://…
    halls: list[HallEntry] = Field(min_length=1)
    staff: list[StaffEntry] = []
    ingest: IngestSection = IngestSection()
    console: ConsoleSection = ConsoleSection(listen="127.0.0.1:8090")
    data_dir: str = "./var/region"             # the console's staff passwords (hallq.staffauth-style store)

    @model_validator(mode="after")
    def _references(self) -> RegionConfig:
        seen: set[str] = set()
        for i, h in enumerate(self.halls):
            if h.id in seen:
                raise ValueError(f"halls[{i}].id: duplicate hall id {h.id!r}")
            seen.add(h.id)
        for i, h in enumerate(self.halls):
            if h.parent is not None and h.parent not in seen:
                raise ValueError(f"halls[{i}].parent: unknown hall {h.parent!r}")
        ids = [s.id for s in self.staff]
        if len(ids) != len(set(ids)):
            raise ValueError("staff: a staff id is listed twice")
        return self

    def hall(self, hall_id: str) -> HallEntry | None:
        return next((h for h in self.halls if h.id == hall_id), None)

    @property
    def source_dir(self) -> Path:
        return Path(self._source_dir or ".")

    def path(self, p: str) -> Path:
        """A path of the config taken relative to the config file's folder."""
        q = Path(p)
        return q if q.is_absolute() else self.source_dir / q


def parse_region(data: object, source: str) -> RegionConfig:
    if not isinstance(data, dict):
        raise ConfigError(source, "", "the file must hold a YAML mapping with the sections region, postgres, halls")
    try:
        return RegionConfig.model_validate(data)
    except ValidationError as e:
        raise config_error(e, source, "docs/region.md") from None


def load_region(path: str | Path) -> RegionConfig:
    """Read and validate REGION.yaml; ConfigError with one line naming file, key and problem."""
    p = Path(path)
    cfg = parse_region(load_yaml(read_config_file(p), str(p)), str(p))
    cfg._source_dir = str(p.resolve().parent)
    return cfg
