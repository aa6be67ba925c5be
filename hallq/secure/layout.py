"""`generate`: everything a secure hall's broker and clients need, written into one folder (CONTRACT §5.1)."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hallq.config import HallConfig
from hallq.config.security import PRINCIPAL_ID
from hallq.secure import acl, broker, passwd, tls
from hallq.secure.files import Account, SecureError, ensure_dir, read_text, write_file

PASSWORD_BYTES = 24       # 192 random bits, URL-safe base64: 32 characters
CONTROLLER = acl.CONTROLLER
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]+|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)$")


@dataclass(frozen=True)
class SecureLayout:
    """What `generate` wrote: the broker's files, the hall CA and each account's credentials file."""

    dir: Path
    conf: Path
    passwd: Path
    acl: Path
    ca: Path | None                      # the CA clients verify the broker with; None when mqtt.tls is false
    hall_ca: Path                        # the hall CA (also signs the console's certificate)
    console_cert: Path
    console_key: Path
    accounts: tuple[str, ...]            # "controller" and every principal id
    broker_user: str
    rotated: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    def credentials(self, principal_id: str) -> Path:
        """The credentials file of `principal_id` ("controller" included), for --credentials."""
        if principal_id not in self.accounts:
            raise KeyError(f"no account {principal_id!r} in this secure hall (known: {', '.join(self.accounts)})")
        return self.dir / "credentials" / f"{principal_id}.yaml"


def _password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def _old_password(path: Path, account: str, warnings: list[str]) -> str | None:
    text = read_text(path)
    if text is None:
        return None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    pw = data.get("password") if isinstance(data, dict) else None
    if not isinstance(pw, str) or not pw or "\n" in pw:
        warnings.append(f"{path}: no readable password in it; {account} gets a new one")
        return None
    return pw


def _credentials_text(cfg: HallConfig, account: str, password: str, ca: Path | None) -> bytes:
    head = (f"# broker account of {account} in hall {cfg.hall.id} (hallq secure init); keep it secret.\n"
            f"# Use it with --credentials {{this file}} or mqtt.credentials.\n")
    body: dict[str, str] = {"username": account, "password": password}
    if ca is not None:
        body["ca"] = str(ca)
    return (head + yaml.safe_dump(body, sort_keys=False)).encode("utf-8")


def _check_reachable(out: Path, user: Account) -> None:
    """mosquitto running as `user` must be able to walk down to `out` (the folders still to be made will let it)."""
    for d in reversed(out.parents):
        if d.is_dir() and not user.can_enter(d):
            raise SecureError(f"--out {out}: the broker's account {user.name} cannot enter {d} "
                              f"(mode {d.stat().st_mode & 0o777:o}); choose a folder it can reach")


def generate(cfg: HallConfig, out: Path, *, broker_user: str | None = None,
             rotate: Sequence[str] = ()) -> SecureLayout:
    """Write (or bring up to date) the secure hall's broker configuration, password file, ACL, certificates
    and credentials into `out`. Keeps the passwords and certificates that are still good; raises SecureError."""
    if not cfg.secure:
        raise SecureError("security.mode: the hall is open; `hallq secure init` is for a hall with "
                          "security.mode: secure and its principals")
    runner = Account.current()
    owner = Account.named(broker_user) if broker_user else runner
    if owner.uid != runner.uid and runner.uid != 0:
        raise SecureError(f"--broker-user {owner.name}: only root can give the broker's files to another account")
    accounts = [CONTROLLER] + [p.id for p in cfg.security.principals]
    for rid in rotate:
        if rid not in accounts:
            raise SecureError(f"--rotate {rid}: no such principal in the config (known: {', '.join(accounts)})")
    if not _HOST.match(cfg.mqtt.host):
        raise SecureError(f"mqtt.host: {cfg.mqtt.host!r} is not a host name or an IP address")
    out = Path(os.path.abspath(out))
    if any(c.isspace() or ord(c) < 0x20 for c in str(out)):
        raise SecureError(f"--out {str(out)!r}: mosquitto.conf cannot hold a path with spaces; choose another")
    if out.exists() and not out.is_dir():
        raise SecureError(f"--out {out}: exists and is not a folder")
    other = owner.uid != runner.uid
    if other:
        _check_reachable(out, owner)
    # the folder stays the runner's; the broker's account may only pass through it (0710, its group)
    ensure_dir(out, 0o710 if other else 0o700, group=owner.gid if other else None)
    creds_dir = out / "credentials"
    ensure_dir(creds_dir, 0o700)
    data_dir = out / "broker"
    ensure_dir(data_dir, 0o700, owner)
    if other:   # a previous run for another account may have left its database or log behind
        for f in data_dir.iterdir():
            os.lchown(f, owner.uid, owner.gid)
    warnings: list[str] = []

    # certificates: the hall CA always (it signs the web console's), the broker's with mqtt.tls
    ca_crt, ca_key = out / "ca.crt", out / "ca.key"
    hall_ca = tls.ensure_ca(ca_crt, ca_key, cfg.hall.id)
    certfile = keyfile = None
    if cfg.mqtt.tls:
        certfile, keyfile = out / "server.crt", out / "server.key"
        tls.ensure_leaf(hall_ca, certfile, keyfile, cfg.mqtt.host, tls.names_for(cfg.mqtt.host), owner)
        # the broker's account must read its own certificate and key whoever made them
        for f in (certfile, keyfile):
            if os.stat(f).st_uid != owner.uid and runner.uid == 0:
                os.chown(f, owner.uid, owner.gid)
    else:
        warnings.append("mqtt.tls is false: passwords and device PINs cross the LAN in clear "
                        "(set mqtt.tls: true and run hallq secure init again)")
    console_crt, console_key = out / "console.crt", out / "console.key"
    tls.ensure_leaf(hall_ca, console_crt, console_key, f"hallq console {cfg.hall.id}",
                    tls.names_for(*tls.console_hosts(cfg.console.listen, cfg.mqtt.host)))
    ca_for_clients = ca_crt if cfg.mqtt.tls else None

    # credentials: keep what exists, add the new, renew the rotated, remove the gone
    passwords: dict[str, str] = {}
    added: list[str] = []
    for account in accounts:
        path = creds_dir / f"{account}.yaml"
        old = None if account in rotate else _old_password(path, account, warnings)
        if old is None and account not in rotate:
            added.append(account)
        passwords[account] = old or _password()
        write_file(path, _credentials_text(cfg, account, passwords[account], ca_for_clients), 0o600)
    removed: list[str] = []
    for f in sorted(creds_dir.glob("*.yaml")):
        if f.stem not in passwords and (f.stem == CONTROLLER or re.match(PRINCIPAL_ID, f.stem)):
            f.unlink()
            removed.append(f.stem)

    pw_path, acl_path = out / "passwd", out / "acl"
    previous = passwd.parse(read_text(pw_path) or "")
    write_file(pw_path, passwd.render(passwords, previous).encode(), 0o600, owner)
    write_file(acl_path, acl.render(cfg).encode(), 0o600, owner)
    files = broker.BrokerFiles(passwd=pw_path, acl=acl_path, data=data_dir, log=data_dir / "mosquitto.log",
                               cafile=ca_for_clients, certfile=certfile, keyfile=keyfile)
    conf = out / "mosquitto.conf"
    text = broker.render(cfg, files, owner.name)
    if cfg.region is not None:      # CONTRACT §7: the bridge to the regional broker (hallq/secure/bridge.py)
        from hallq.secure.bridge import BridgeError, bridge_section
        try:
            text += bridge_section(cfg)
        except BridgeError as e:
            raise SecureError(str(e)) from None
    if cfg.region is not None:      # it holds the bridge's password: readable by the broker's account only
        write_file(conf, text.encode(), 0o600, owner)
    else:
        write_file(conf, text.encode(), 0o644)
    return SecureLayout(dir=out, conf=conf, passwd=pw_path, acl=acl_path, ca=ca_for_clients, hall_ca=ca_crt,
                        console_cert=console_crt, console_key=console_key, accounts=tuple(accounts),
                        broker_user=owner.name, rotated=tuple(dict.fromkeys(rotate)), added=tuple(added),
                        removed=tuple(removed), warnings=tuple(warnings))
