"""`hallq region ingest|serve|secure-init --config REGION.yaml` (CONTRACT §1, §7): loads REGION.yaml and hands over."""

from __future__ import annotations

import argparse
from pathlib import Path

from hallq.config.region import RegionConfig, load_region
from hallq.errors import UsageError
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
    if args.what == "passwd":
        return passwd(args, cfg)
    cred = credentials(cfg, args.credentials)
    if args.what == "ingest":
        from region.ingest import run as ingest_run
        return ingest_run(args, cfg, cred)
    from region.console.main import run as serve_run
    return serve_run(args, cfg, cred)


def passwd(args: argparse.Namespace, cfg: RegionConfig) -> int:
    """`hallq region passwd --config REGION.yaml --staff ID`: a league staff member's console password from stdin,
    kept as `hallq staff passwd` keeps a hall's (scrypt, `data_dir/staff-secrets.json`)."""
    import sys

    from hallq.staffauth import StaffSecrets
    if not args.staff or not any(s.id == args.staff for s in cfg.staff):
        known = ", ".join(s.id for s in cfg.staff) or "none"
        raise UsageError(f"--staff: give a staff id of {args.config} (staff: {known})")
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError("the password is read from standard input (a pipe or a file), not the terminal")
    text = sys.stdin.buffer.readline(2048).decode("utf-8", "replace").rstrip("\r\n")
    store = StaffSecrets(cfg.path(cfg.data_dir))
    try:
        store.data_dir.mkdir(parents=True, exist_ok=True)
        store.set_password(args.staff, text)
    except ValueError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"cannot write {store.path}: {e.strerror}") from None
    sys.stderr.write(f"hallq region passwd: password of {args.staff} set in {store.path}\n")
    return 0
