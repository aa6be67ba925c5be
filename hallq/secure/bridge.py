"""The hall side of CONTRACT §7: the bridge section of a hall's mosquitto.conf, carrying the hall's events, state,
checkpoints, presence and replies to the region out, and the region's commands in (QoS 1, store-and-forward)."""

from __future__ import annotations

from pathlib import Path

import yaml

from hallq.config import HallConfig
from hallq.config.regionlink import RegionLink

# Sizing (docs/region.md, "How long a hall may stay offline"). A message the hall publishes while the link is
# down waits in the bridge's queue on the hall's broker; each queued message costs its payload plus ~200 bytes.
#   village station (嘎查村站, 2 windows, ~45 tickets/day): ~6 events and ~6 state messages per ticket
#     -> ~600 messages/day, a week ~4,200 (~2 MB);
#   league centre (盟市中心, 60 windows, ~3,000 tickets/day): ~40,000 messages/day (~16 MB), a week ~280,000.
# 1,000,000 messages / 512 MiB hold a league centre's week with room to spare, a village station's year.
BRIDGE_MAX_QUEUED_MESSAGES = 1_000_000
BRIDGE_MAX_QUEUED_BYTES = 512 * 1024 * 1024
OUT = ("event/#", "state/#", "audit/#", "controller/#", "reply/region/#")


class BridgeError(ValueError):
    """The hall config's `region` section cannot make a bridge (named key, one line)."""


def _credentials(link: RegionLink, base: Path) -> tuple[str, str, str | None]:
    path = Path(link.credentials)
    if not path.is_absolute():
        path = base / path
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise BridgeError(f"region.credentials: cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    except yaml.YAMLError:
        raise BridgeError(f"region.credentials: {path} is not YAML (write it with hallq region secure-init)") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) and data[k] for k in ("username",
                                                                                               "password")):
        raise BridgeError(f"region.credentials: {path} needs username and password (hallq region secure-init)")
    for k in ("username", "password"):
        if any(c.isspace() for c in data[k]):
            raise BridgeError(f"region.credentials: {path}: {k} may not hold spaces")
    ca = data.get("ca")
    return data["username"], data["password"], ca if isinstance(ca, str) else None


def bridge_section(cfg: HallConfig, base: Path | None = None) -> str:
    """The `connection` block of the hall's mosquitto.conf for `cfg.region`; '' when the hall has none.

    Secure hall: the region's commands stay on `hallq/{hall}/cmd/region/#` (the controller takes the principal
    `region` from the topic, CONTRACT §5.2). Open hall (v1): they are mapped to `hallq/{hall}/cmd/{name}`, the only
    command topic an open controller reads."""
    link = cfg.region
    if link is None:
        return ""
    base = base or cfg.source_dir
    if cfg.secure:
        p = cfg.security.principal("region")
        if p is None or p.role != "region":
            raise BridgeError("security.principals: a hall bridged to the region needs the principal "
                              "{id: region, role: region} (the region's commands arrive as principal `region`)")
    user, password, cred_ca = _credentials(link, base)
    root = f"hallq/{cfg.hall.id}/"
    ca = link.ca or cred_ca
    if ca is not None and not Path(ca).is_absolute():
        ca = str(base / ca)
    lines = [
        "",
        "# --- the bridge to the region (CONTRACT §7), written by `hallq secure init` from the config's `region` ---",
        "# The topic lines below are the hall's boundary: mosquitto does not ACL-check bridged messages on this side.",
        f"connection region-{cfg.hall.id}",
        f"address {link.host}:{link.port}",
        f"remote_clientid hallq-bridge-{cfg.hall.id}",
        f"remote_username {user}",
        f"remote_password {password}",
        "bridge_protocol_version mqttv311",
        "try_private true",
        "# a persistent session on both sides: nothing queued for the region is dropped when the link breaks",
        "cleansession false",
        "start_type automatic",
        "restart_timeout 2 30",
        "keepalive_interval 30",
        "# the link's state for the region console, under the hall's controller/ topics: 1 up, 0 down (its will)",
        "notifications true",
        "notifications_local_only false",
        f"notification_topic {root}controller/bridge",
        "bridge_attempt_unsubscribe false",
    ]
    if link.tls:
        if ca is None:
            raise BridgeError("region.tls: true needs the regional CA: region.ca, or `ca` in the credentials file")
        lines += [f"bridge_cafile {ca}", "bridge_insecure false"]
    lines += ["# out: what the region ingests and shows"]
    lines += [f"topic {root}{t} out 1" for t in OUT]
    if cfg.secure:
        lines += ["# in: the region's commands, sent as principal `region` (role region, CONTRACT §5.3)",
                  f"topic {root}cmd/region/# in 1"]
    else:
        lines += ["# in: the region's commands; an open hall reads only cmd/{name}, so the prefix is mapped",
                  f"topic # in 1 {root}cmd/ {root}cmd/region/"]
    lines += [
        "",
        "# store-and-forward while the link is down (docs/region.md): a league centre's week, a village's year",
        f"max_queued_messages {BRIDGE_MAX_QUEUED_MESSAGES}",
        f"max_queued_bytes {BRIDGE_MAX_QUEUED_BYTES}",
    ]
    return "\n".join(lines) + "\n"
