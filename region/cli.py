"""`hallq region ingest|serve|secure-init --config REGION.yaml` (CONTRACT §1, §7): loads REGION.yaml and hands over."""

from __future__ import annotations

import argparse
from pathlib import Path

from hallq.cli import UsageError
from hallq.config.region import RegionConfig, load_region
from hallq.mqtt import Credentials, load_credentials


def credentials(cfg: RegionConfig, path: str | None) -> Credentials | None:
    """The ingest account's credentials: --credentials, else mqtt.credentials (relative to REGION.yaml), else
    mqtt.username/password, else none (an anonymous test broker)."""
    p = path or cfg.mqtt.credentials
    if p:
        return load_credentials(str(cfg.path(p)) if not path else str(Path(p).resolve()))
    if cfg.mqtt.username:
        return Credentials(cfg.mqtt.username, cfg.mqtt.password or "", None)
    return None


def run(args: argparse.Namespace) -> int:
    cfg = load_region(args.config)
    if args.what == "secure-init":
        if not args.out:
            raise UsageError("region secure-init needs --out DIR")
        from region.secure import run as secure_run
        return secure_run(args, cfg)
    cred = credentials(cfg, args.credentials)
    if args.what == "ingest":
        from region.ingest import run as ingest_run
        return ingest_run(args, cfg, cred)
    from region.console.main import run as serve_run
    return serve_run(args, cfg, cred)
