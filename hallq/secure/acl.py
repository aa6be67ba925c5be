"""The broker's ACL of a secure hall (CONTRACT §5.2): what each account may read and write, and its
mosquitto `acl_file` form."""

from __future__ import annotations

from typing import Literal

from hallq.config import HallConfig, PrincipalConfig

Access = Literal["read", "write", "readwrite"]
Grant = tuple[Access, str]
CONTROLLER = "controller"


def bridge_devices(cfg: HallConfig, principal: PrincipalConfig) -> list[str]:
    """Device ids a bridge principal serves: without `buses`, every device of every bus and every MQTT-native
    device (`devices.mqtt`); with `buses`, the devices of those buses only (as the bridge and the controller's
    window scope read it: CONTRACT §5.1 "default: all buses and devices.mqtt")."""
    if principal.buses is None:
        return [b.device_id(d) for b in cfg.devices.buses for d in b.devices] + [d.id for d in cfg.devices.mqtt]
    wanted = set(principal.buses)
    return [b.device_id(d) for b in cfg.devices.buses if b.id in wanted for d in b.devices]


def grants(cfg: HallConfig) -> dict[str, list[Grant]]:
    """account -> its (access, topic filter) grants, the controller first, then the principals in config order."""
    root = f"hallq/{cfg.hall.id}/"
    out: dict[str, list[Grant]] = {CONTROLLER: [
        ("read", root + "cmd/#"),                 # every principal's commands
        ("write", root + f"cmd/{CONTROLLER}/#"),  # the controller's own clients (its 补充评价 page) as itself
        ("read", root + "device/+/status"),       # device supervision
        ("readwrite", root + "controller/status"),
        ("readwrite", root + "state/#"),
        ("readwrite", root + "event/#"),
        ("readwrite", root + "audit/#"),
        ("readwrite", root + "reply/#"),
    ]}
    for p in cfg.security.principals:
        g: list[Grant] = [
            ("write", root + f"cmd/{p.id}/#"),
            ("read", root + "controller/status"),
            ("read", root + "audit/checkpoint"),
            ("read", root + "state/#"),
            ("read", root + "event/#"),
            ("read", root + f"reply/{p.id}/#"),
        ]
        if p.role == "bridge":
            g += [("readwrite", root + f"device/{d}/#") for d in bridge_devices(cfg, p)]
            g.append(("write", root + f"device/{p.id}/status"))   # the bridge's own presence (firmware_bridge)
        elif p.role == "device":
            g.append(("readwrite", root + f"device/{p.id}/#"))
        elif p.role in ("kiosk", "display"):
            g.append(("write", root + f"device/{p.id}/status"))   # a kiosk's printer status, a screen's presence
        out[p.id] = g
    return out


def render(cfg: HallConfig) -> str:
    """The `acl_file` text. Only `user` blocks with `topic` lines: a `topic` line applies to the username of
    the `user` line above it, and there is no line before the first `user` (those would be the anonymous
    clients', refused anyway) and no `pattern` line (those apply to every user)."""
    lines = [
        f"# ACL of hall {cfg.hall.id}, written by `hallq secure init`: edit the config and run it again instead.",
        "# mosquitto grants every SUBSCRIBE and delivers only what the subscriber may read;",
        "# a PUBLISH the sender may not write is dropped silently. Nothing below = denied.",
    ]
    for account, gs in grants(cfg).items():
        lines += ["", f"user {account}"]
        lines += [f"topic {access} {topic}" for access, topic in gs]
    return "\n".join(lines) + "\n"
