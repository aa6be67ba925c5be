"""`hallq region secure-init`: the regional broker's mosquitto.conf, accounts and ACL (CONTRACT §7). Each hall's
bridge account writes only its own hall's outgoing topics and reads only the region's commands to it; only the
ingest account (shared by `hallq region ingest` and `hallq region serve`) writes commands."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from hallq.api import MESSAGE_MAX_BYTES
from hallq.config.region import RegionConfig
from hallq.secure import passwd, tls
from hallq.secure.files import Account, SecureError, ensure_dir, read_text, write_file

INGEST = "ingest"
# The ingest's persistent session holds what arrives while no ingest runs: ~1,000 events/s at a region's
# morning peak, so 2,000,000 messages are ~30 minutes of peak or a quiet night; beyond that the gap filler
# (`events`, CONTRACT §3.7) fetches the rest from each hall's own log.
MAX_QUEUED_MESSAGES = 2_000_000
MAX_QUEUED_BYTES = 1024 * 1024 * 1024
MAX_CONNECTIONS = 20_000


@dataclass(frozen=True)
class RegionLayout:
    dir: Path
    conf: Path
    accounts: tuple[str, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]

    def credentials(self, account: str) -> Path:
        return self.dir / "credentials" / f"{account}.yaml"


def grants(cfg: RegionConfig) -> dict[str, list[tuple[str, str]]]:
    """account -> [(access, topic filter)] of the regional broker."""
    out: dict[str, list[tuple[str, str]]] = {INGEST: [("read", "hallq/#"), ("write", "hallq/+/cmd/region/#")]}
    for h in cfg.halls:
        root = f"hallq/{h.id}/"
        out[h.account] = [("write", root + t) for t in ("event/#", "state/#", "audit/#", "controller/#",
                                                        "reply/region/#")]
        out[h.account].append(("read", root + "cmd/region/#"))
    return out


def render_acl(cfg: RegionConfig) -> str:
    lines = [f"# ACL of region {cfg.region.id}, written by `hallq region secure-init`: edit REGION.yaml and run it "
             "again instead.", "# Nothing below = denied. A hall's bridge account sees only its own hall."]
    for account, gs in grants(cfg).items():
        lines += ["", f"user {account}"] + [f"topic {a} {t}" for a, t in gs]
    return "\n".join(lines) + "\n"


def render_conf(cfg: RegionConfig, out: Path, user: str, tls_files: tuple[Path, Path, Path] | None) -> str:
    m = cfg.mqtt
    lines = [
        f"# mosquitto configuration of region {cfg.region.id}, written by `hallq region secure-init`.",
        f"# Start it with: mosquitto -c {out / 'mosquitto.conf'}",
        "per_listener_settings false",
        f"user {user}",
        "allow_anonymous false",
        f"password_file {out / 'passwd'}",
        f"acl_file {out / 'acl'}",
        "persistence true",
        f"persistence_location {out / 'broker'}/",
        "autosave_interval 10",
        "persistent_client_expiration 30d",
        f"message_size_limit {MESSAGE_MAX_BYTES}",
        "# the ingest's session while no ingest runs (see region/secure.py for the numbers)",
        f"max_queued_messages {MAX_QUEUED_MESSAGES}",
        f"max_queued_bytes {MAX_QUEUED_BYTES}",
        "# the ingest acknowledges a batch after its commit: up to this many in flight make one batch",
        "max_inflight_messages 10000",
        "set_tcp_nodelay true",
        f"log_dest file {out / 'broker' / 'mosquitto.log'}",
        "log_type error", "log_type warning", "log_type notice",
        "connection_messages true",
        f"listener {m.port} {m.host.strip('[]')}",
    ]
    if tls_files is not None:
        ca, crt, key = tls_files
        lines += [f"cafile {ca}", f"certfile {crt}", f"keyfile {key}"]
    lines += ["# one bridge per hall (~14,000 village stations in a region spread over several brokers)",
              f"max_connections {MAX_CONNECTIONS}"]
    return "\n".join(lines) + "\n"


def _old_password(path: Path) -> str | None:
    text = read_text(path)
    try:
        data = yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        return None
    pw = data.get("password") if isinstance(data, dict) else None
    return pw if isinstance(pw, str) and pw and "\n" not in pw else None


def generate(cfg: RegionConfig, out: Path, *, broker_user: str | None = None) -> RegionLayout:
    """Write (or bring up to date) the regional broker's files into `out`; passwords that exist are kept."""
    runner = Account.current()
    owner = Account.named(broker_user) if broker_user else runner
    if owner.uid != runner.uid and runner.uid != 0:
        raise SecureError(f"--broker-user {owner.name}: only root can give the broker's files to another account")
    out = Path(os.path.abspath(out))
    if any(c.isspace() for c in str(out)):
        raise SecureError(f"--out {str(out)!r}: mosquitto.conf cannot hold a path with spaces")
    ensure_dir(out, 0o711 if owner.uid != runner.uid else 0o700)
    ensure_dir(out / "credentials", 0o700)
    ensure_dir(out / "broker", 0o700, owner)
    tls_files = None
    ca_path: Path | None = None
    if cfg.mqtt.tls:
        ca = tls.ensure_ca(out / "ca.crt", out / "ca.key", f"region {cfg.region.id}")
        tls.ensure_leaf(ca, out / "server.crt", out / "server.key", cfg.mqtt.host, tls.names_for(cfg.mqtt.host), owner)
        tls_files = (out / "ca.crt", out / "server.crt", out / "server.key")
        ca_path = out / "ca.crt"
    accounts = list(grants(cfg))
    passwords: dict[str, str] = {}
    added: list[str] = []
    for account in accounts:
        path = out / "credentials" / f"{account}.yaml"
        old = _old_password(path)
        if old is None:
            added.append(account)
        passwords[account] = old or secrets.token_urlsafe(24)
        body: dict[str, str] = {"username": account, "password": passwords[account]}
        if ca_path is not None:
            body["ca"] = str(ca_path)
        head = f"# account {account} on the broker of region {cfg.region.id} (hallq region secure-init); secret.\n"
        write_file(path, (head + yaml.safe_dump(body, sort_keys=False)).encode(), 0o600)
    removed = []
    for f in sorted((out / "credentials").glob("*.yaml")):
        if f.stem not in passwords:
            f.unlink()
            removed.append(f.stem)
    previous = passwd.parse(read_text(out / "passwd") or "")
    write_file(out / "passwd", passwd.render(passwords, previous).encode(), 0o600, owner)
    write_file(out / "acl", render_acl(cfg).encode(), 0o600, owner)
    conf = out / "mosquitto.conf"
    write_file(conf, render_conf(cfg, out, owner.name, tls_files).encode(), 0o644)
    return RegionLayout(out, conf, tuple(accounts), tuple(added), tuple(removed))


def run(args: argparse.Namespace, cfg: RegionConfig) -> int:
    try:
        lay = generate(cfg, Path(args.out), broker_user=args.broker_user)
    except SecureError as e:
        sys.stderr.write(f"hallq region secure-init: {e}\n")
        return 2
    print(f"{lay.dir}: regional broker of {cfg.region.id} for {len(lay.accounts)} accounts "
          f"(ingest and {len(cfg.halls)} hall bridges)")
    if lay.added:
        print(f"new accounts: {', '.join(lay.added)}")
    if lay.removed:
        print(f"removed accounts: {', '.join(lay.removed)}")
    print(f"each hall's config takes region: {{host, port, credentials: {lay.dir}/credentials/hall-ID.yaml}}")
    print(f"start the broker with: mosquitto -c {lay.conf}")
    return 0
