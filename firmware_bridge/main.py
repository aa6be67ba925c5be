"""`hallq bridge --config FILE`: master every configured bus and connect it to the controller."""

from __future__ import annotations

import argparse
from pathlib import Path

from firmware_bridge.bridge import Bridge, bridge_scope
from hallq.config import HallConfig
from hallq.errors import UsageError
from hallq.runner import run_until_signal


def check_references(cfg: HallConfig, source: str) -> None:
    """Key maps and hall boards name services, staff and windows that exist (else exit 2 naming the key)."""
    known = {"transfer": {s.id for s in cfg.services}, "login": {s.id for s in cfg.staff}}
    windows = {w.id for w in cfg.windows}
    for i, bus in enumerate(cfg.devices.buses):
        maps = [(f"devices.buses[{i}].key_map", bus.key_map)] + \
            [(f"devices.buses[{i}].devices[{j}].key_map", d.key_map) for j, d in enumerate(bus.devices)]
        for key, km in maps:
            for code, action in (km or {}).items():
                name, _, arg = action.partition(":")
                if arg and name in known and arg not in known[name]:
                    what = "service" if name == "transfer" else "staff"
                    raise UsageError(f"{source}: {key}[{code}]: unknown {what} {arg!r} "
                                     f"(known: {', '.join(sorted(known[name]))})")
        for j, d in enumerate(bus.devices):
            for w in d.windows or []:
                if w not in windows:
                    raise UsageError(f"{source}: devices.buses[{i}].devices[{j}].windows: unknown window {w!r} "
                                     f"(known: {', '.join(sorted(windows))})")


def run(args: argparse.Namespace) -> int:
    cfg = args.cfg
    if not cfg.devices.buses and not cfg.devices.mqtt:
        raise UsageError(f"{args.config}: devices.buses and devices.mqtt are empty — there is nothing to bridge")
    check_references(cfg, str(args.config))
    principal, buses, mqtt_devices = bridge_scope(cfg)
    if not buses and not mqtt_devices:
        raise UsageError(f"{args.config}: principal {principal}'s buses are not in devices.buses — there is "
                         "nothing for this bridge to run")
    data = Path(args.data) if getattr(args, "data", None) else Path(cfg.data_dir) / "bridge"
    bridge = Bridge(cfg, data)

    run_until_signal(bridge.run)
    return 0
