"""Config section `devices`: serial buses of window devices and MQTT-native devices."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


DeviceKind = Literal["evaluator", "led", "hall_led", "keypad"]

KEY_ACTIONS = ("call", "recall", "skip", "finish", "pause", "resume", "hold", "logout", "enter", "clear")
KEY_ACTIONS_WITH_ARG = ("transfer", "login")
# enter, clear and digit:N type a PIN after a login key (docs/keypad.md)
_ACTION = re.compile(rf"^(?:({'|'.join(KEY_ACTIONS)})|({'|'.join(KEY_ACTIONS_WITH_ARG)}):([A-Za-z0-9_-]{{1,32}})"
                     r"|digit:[0-9])$")
# The key codes of the common legacy caller keypads (docs/keypad.md); a bus or device `key_map` replaces it.
DEFAULT_KEY_MAP: dict[int, str] = {1: "call", 2: "recall", 3: "skip", 4: "finish", 5: "pause", 6: "resume",
                                   7: "logout", 13: "enter", 27: "clear",
                                   **{0x30 + d: f"digit:{d}" for d in range(10)}}   # digit keys send '0'..'9'
PIN_KEY_CODES = {"enter": 13, "clear": 27, **{str(d): 0x30 + d for d in range(10)}}


def _check_key_map(km: dict[int, str] | None) -> dict[int, str] | None:
    if km is None:
        return None
    for code, action in km.items():
        if not 0 <= code <= 255:
            raise ValueError(f"key code {code} is outside 0..255")
        if not _ACTION.match(action):
            raise ValueError(f"key {code}: {action!r} is not an action — use one of {', '.join(KEY_ACTIONS)}, "
                             "transfer:SERVICE, login:STAFF, digit:0-9 (PIN entry)")
    return km


class DeviceConfig(_Strict):
    """One device on a bus. `id` defaults to `{bus id}-{address}`."""

    address: int = Field(ge=1, le=247)
    kind: DeviceKind
    window: str | None = None
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,32}$")
    encoding: Literal["gb18030", "utf-8"] = "gb18030"
    template: str | None = None          # LED text, e.g. "请{number}号到{window}号窗口"
    size: tuple[int, int] | None = None  # bitmap boards: (width, height) in LEDs
    key_map: dict[int, str] | None = None  # legacy keypads: key code -> action (replaces the bus's)
    digits: int = Field(default=3, ge=1, le=8)          # legacy keypads: digits of the number display
    beep_ms: int | None = Field(default=None, ge=10, le=2550)  # evaluators: BEEP this long on a call
    windows: list[str] | None = None     # hall boards: the windows whose calls they show (None = all)

    @field_validator("key_map")
    @classmethod
    def _key_map(cls, v: dict[int, str] | None) -> dict[int, str] | None:
        return _check_key_map(v)

    @model_validator(mode="after")
    def _sizes(self) -> DeviceConfig:
        if self.size is not None and not (8 <= self.size[0] <= 1024 and 8 <= self.size[1] <= 256):
            raise ValueError(f"size {list(self.size)} must be [width 8..1024, height 8..256] LEDs")
        return self


class BusConfig(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    port: str = Field(min_length=1)
    baud: int = Field(default=9600, ge=1200, le=921600)
    protocol: Literal["hallbus", "legacy-keypad", "keypad"] = "hallbus"   # "keypad" = "legacy-keypad"
    rs485: bool = False
    poll_interval_ms: int = Field(default=50, ge=5, le=10000)
    reply_timeout_ms: int = Field(default=60, ge=10, le=5000)
    retries: int = Field(default=2, ge=0, le=10)
    schedule: Literal["event", "weighted"] = "event"   # poll scheduler (docs/hallbus.md); weighted = v1's
    output_poll_ms: int = Field(default=3000, ge=50, le=60000)  # liveness polls of devices without keys
    key_map: dict[int, str] | None = None  # legacy keypads: key code -> action for every keypad of the bus
    devices: list[DeviceConfig] = []

    @field_validator("key_map")
    @classmethod
    def _key_map(cls, v: dict[int, str] | None) -> dict[int, str] | None:
        return _check_key_map(v)

    @property
    def is_keypad(self) -> bool:
        return self.protocol in ("legacy-keypad", "keypad")

    @model_validator(mode="after")
    def _kinds(self) -> BusConfig:
        for d in self.devices:
            if self.is_keypad and d.kind != "keypad":
                raise ValueError(f"device {d.address} is a {d.kind}: a {self.protocol} bus holds only keypads")
            if d.key_map is not None and d.kind != "keypad":
                raise ValueError(f"device {d.address}: key_map is only for keypads on a legacy-keypad bus")
        return self

    def device_id(self, dev: DeviceConfig) -> str:
        return dev.id or f"{self.id}-{dev.address}"

    def key_map_of(self, dev: DeviceConfig) -> dict[int, str]:
        """The key map of a keypad: its own, else the bus's, else DEFAULT_KEY_MAP."""
        return dict(dev.key_map or self.key_map or DEFAULT_KEY_MAP)


class MqttDeviceConfig(_Strict):
    """A network device speaking JSON on the broker (see docs/devices-mqtt.md)."""

    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    kind: DeviceKind
    window: str | None = None


class DevicesSection(_Strict):
    buses: list[BusConfig] = []
    mqtt: list[MqttDeviceConfig] = []
