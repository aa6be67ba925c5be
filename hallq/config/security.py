"""Config sections `security` (principals and their roles), `audit` (the checkpoint signing key) and
`console` (the web console's listener): who may connect to the hall's broker and act.

Without `security` (or with `mode: open`) the hall runs as v1: an anonymous broker and `cmd/{name}`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hallq.config.kiosk import PrinterConfig

Role = Literal["kiosk", "bridge", "display", "console", "device", "region"]
StaffRole = Literal["window", "reception", "manager"]
STAFF_ROLES: tuple[StaffRole, ...] = ("window", "reception", "manager")

PRINCIPAL_ID = r"^[a-z0-9-]{1,32}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrincipalConfig(_Strict):
    """Something that connects to the broker besides the controller; `id` is its MQTT username."""

    id: str = Field(pattern=PRINCIPAL_ID)
    role: Role
    buses: list[str] | None = None              # bridge: the buses it runs (default: all, and devices.mqtt)
    staff_roles: list[StaffRole] | None = None  # console: the staff roles its actors may use (default: all)
    window: str | None = None                   # device: its window

    @model_validator(mode="after")
    def _fields_of_role(self) -> PrincipalConfig:
        if self.id == "controller":
            raise ValueError("'controller' is the controller's own account, not a principal id")
        if self.role == "device" and self.window is None:
            raise ValueError(f"principal {self.id!r} (role device) needs its 'window'")
        if self.role != "device" and self.window is not None:
            raise ValueError(f"principal {self.id!r}: 'window' is only for role device")
        if self.role != "bridge" and self.buses is not None:
            raise ValueError(f"principal {self.id!r}: 'buses' is only for role bridge")
        if self.role != "console" and self.staff_roles is not None:
            raise ValueError(f"principal {self.id!r}: 'staff_roles' is only for role console")
        return self


class SecuritySection(_Strict):
    mode: Literal["open", "secure"] = "open"
    device_login: Literal["pin", "id"] = "pin"   # in secure mode: a device login needs the staff PIN
    principals: list[PrincipalConfig] = []

    @property
    def secure(self) -> bool:
        return self.mode == "secure"

    def principal(self, pid: str) -> PrincipalConfig | None:
        return next((p for p in self.principals if p.id == pid), None)


class AuditSection(_Strict):
    signing_key: str | None = None       # default: audit-signing.key beside the config file
    public_key: str | None = Field(default=None, pattern=r"^[A-Za-z0-9+/]{43}=$")  # base64 of the raw 32 bytes
    checkpoint_every: int = Field(default=1000, ge=1, le=1000)


class ConsoleSection(_Strict):
    listen: str = Field(default="127.0.0.1:8080", pattern=r"^\[?[^\s\[\]]+\]?:\d{1,5}$")
    idle_timeout_s: float = Field(default=28800.0, gt=0)
    cert: str | None = None              # PEM certificate for HTTPS (default: the hall CA's console.crt)
    key: str | None = None
    max_connections: int = Field(default=200, ge=1)
    printer: PrinterConfig | None = None   # the 导服台's ticket printer (the kiosk's printer settings)
    lookup_url: str = ""                   # base of the printed ticket's QR (the console's /t), e.g. https://host/t
