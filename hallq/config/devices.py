"""Config section `devices`: serial buses of window devices and MQTT-native devices."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


DeviceKind = Literal["evaluator", "led", "hall_led", "keypad"]


class DeviceConfig(_Strict):
    """One device on a bus. `id` defaults to `{bus id}-{address}`."""

    address: int = Field(ge=1, le=247)
    kind: DeviceKind
    window: str | None = None
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,32}$")
    encoding: Literal["gb18030", "utf-8"] = "gb18030"
    template: str | None = None          # LED text, e.g. "请{number}号到{window}号窗口"
    size: tuple[int, int] | None = None  # bitmap boards: (width, height) in LEDs
    key_map: dict[int, str] | None = None  # legacy keypads: key code -> action


class BusConfig(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    port: str = Field(min_length=1)
    baud: int = Field(default=9600, ge=1200, le=921600)
    protocol: Literal["hallbus", "keypad"] = "hallbus"
    rs485: bool = False
    poll_interval_ms: int = Field(default=50, ge=5, le=10000)
    reply_timeout_ms: int = Field(default=60, ge=10, le=5000)
    retries: int = Field(default=2, ge=0, le=10)
    devices: list[DeviceConfig] = []

    def device_id(self, dev: DeviceConfig) -> str:
        return dev.id or f"{self.id}-{dev.address}"


class MqttDeviceConfig(_Strict):
    """A network device speaking JSON on the broker (see docs/devices-mqtt.md)."""

    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    kind: DeviceKind
    window: str | None = None


class DevicesSection(_Strict):
    buses: list[BusConfig] = []
    mqtt: list[MqttDeviceConfig] = []
