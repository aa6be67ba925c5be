"""A secure test hall (CONTRACT §5): a hall config with principals of every role, `hallq.secure.generate`
run on it, and mosquitto started from the generated mosquitto.conf on a free port.

Use it in a test (the `secure_hall` fixture of tests/conftest.py is the same with the defaults):

    from tests.secure_hall import secure_hall

    def test_x(tmp_path):
        with secure_hall(tmp_path) as h:            # or secure_hall(tmp_path, small_hall(), tls=True)
            with h.client("kiosk-1") as kiosk:       # a BlockingClient logged in as principal kiosk-1
                kiosk.command("issue", service="general")
            # child processes: --config h.config_path --credentials h.credentials("bridge-1")

Principals (ids = MQTT usernames): kiosk-1 (kiosk), bridge-1 (bridge, all buses), display-1 (display),
console-1 (console), eval-4 (device of window "4", also in devices.mqtt), region-1 (region), plus the
account "controller". Share one hall per module where isolation allows (a module-scoped fixture with
tmp_path_factory): generating and starting takes ~0.2 s, the TLS variant a little more.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hallq.broker import Mosquitto, free_port
from hallq.config import HallConfig, load_config
from hallq.mqtt import BlockingClient
from hallq.secure import SecureLayout, generate

REPO = Path(__file__).resolve().parents[1]

PRINCIPALS: list[dict[str, Any]] = [
    {"id": "kiosk-1", "role": "kiosk"},
    {"id": "bridge-1", "role": "bridge"},
    {"id": "display-1", "role": "display"},
    {"id": "console-1", "role": "console"},
    {"id": "eval-4", "role": "device", "window": "4"},
    {"id": "region-1", "role": "region"},
]


def demo_hall() -> dict[str, Any]:
    """config/demo.yaml as a dict: 4 windows, 8 devices on bus1 (ids bus1-1 ... bus1-20), kiosk-1."""
    data: dict[str, Any] = yaml.safe_load((REPO / "config" / "demo.yaml").read_text(encoding="utf-8"))
    return data


def secure_config(base: dict[str, Any] | None = None, *, port: int = 1883, tls: bool = False,
                  principals: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """`base` (default: the demo hall) made secure: mqtt on 127.0.0.1:port (TLS or not) and a `security`
    section with `principals` (default PRINCIPALS) unless `base` already has one. A window "4" and the MQTT
    device eval-4 are added when missing, for the device principal."""
    cfg = copy.deepcopy(base if base is not None else demo_hall())
    cfg["mqtt"] = {**cfg.get("mqtt", {}), "host": "127.0.0.1", "port": port, "tls": tls}
    if "security" not in cfg:
        cfg["security"] = {"mode": "secure", "principals": copy.deepcopy(principals or PRINCIPALS)}
    ids = {p["id"] for p in cfg["security"].get("principals", [])}
    if "eval-4" in ids:
        if not any(w["id"] == "4" for w in cfg["windows"]):
            cfg["windows"].append({"id": "4", "services": [cfg["services"][0]["id"]]})
        devices = cfg.setdefault("devices", {})
        mqtt = devices.setdefault("mqtt", [])
        if not any(d["id"] == "eval-4" for d in mqtt):
            mqtt.append({"id": "eval-4", "kind": "evaluator", "window": "4"})
    return cfg


@dataclass
class SecureHall:
    """A generated secure hall with its broker running.

    `config_path` is the hall config (YAML, without credentials: give each process its own with
    `--credentials h.credentials(P)`); `cfg` the parsed config; `layout` what generate wrote (conf,
    passwd, acl, ca, credentials files); `broker` the running Mosquitto (stop()/start() keep the port)."""

    tmp: Path
    cfg_dict: dict[str, Any]
    config_path: Path
    cfg: HallConfig
    layout: SecureLayout
    broker: Mosquitto

    def credentials(self, principal: str) -> Path:
        """The credentials file of `principal` ("controller" included)."""
        return self.layout.credentials(principal)

    def config_for(self, principal: str) -> HallConfig:
        """The hall config as `principal` sees it (mqtt.credentials set): for in-process clients."""
        return self.cfg.with_credentials(str(self.credentials(principal)))

    def client(self, principal: str, name: str | None = None, subscribe: tuple[str, ...] = ()) -> BlockingClient:
        """A BlockingClient logged in as `principal` (not yet connected: use `with` or `.connect()`).
        Its `topics` and `reply_topic` are the principal's secure ones."""
        return BlockingClient(self.config_for(principal), name or principal, subscribe)


@contextmanager
def secure_hall(tmp: Path, base: dict[str, Any] | None = None, *, tls: bool = False,
                broker_user: str | None = None) -> Iterator[SecureHall]:
    """Write `secure_config(base, tls=tls)` to tmp/hall.yaml, generate into tmp/secure, start the broker;
    stop it on exit. A `base` that already has a `security` section keeps it (and its mqtt port is replaced)."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cfg_dict = secure_config(base, port=port, tls=tls)
    if not Path(cfg_dict.get("data_dir", "./var")).is_absolute():
        cfg_dict["data_dir"] = str(tmp / "data")
    config_path = tmp / "hall.yaml"
    config_path.write_text(yaml.safe_dump(cfg_dict, allow_unicode=True, sort_keys=False), encoding="utf-8")
    cfg = load_config(config_path)
    layout = generate(cfg, tmp / "secure", broker_user=broker_user)
    broker = Mosquitto.from_conf(layout.conf, port).start()
    try:
        yield SecureHall(tmp, cfg_dict, config_path, cfg, layout, broker)
    finally:
        broker.stop()
