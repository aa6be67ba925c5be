"""`hallq bridge --config FILE`: master every configured bus and connect it to the controller."""

from __future__ import annotations

import argparse
from pathlib import Path

from firmware_bridge.bridge import Bridge
from hallq.cli import UsageError
from hallq.runner import run_until_signal


def run(args: argparse.Namespace) -> int:
    cfg = args.cfg
    if not cfg.devices.buses and not cfg.devices.mqtt:
        raise UsageError(f"{args.config}: devices.buses and devices.mqtt are empty — there is nothing to bridge")
    data = Path(args.data) if getattr(args, "data", None) else Path(cfg.data_dir) / "bridge"
    bridge = Bridge(cfg, data)

    run_until_signal(bridge.run)
    return 0
