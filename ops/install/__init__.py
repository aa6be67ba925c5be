"""`hallq install`: a Debian 12 hall box (village station, centre server, kiosk or call-screen box) set up for real:
the hallq user, /etc/hallq/hall.yaml, the secure broker (`hallq secure init`), systemd units and udev rules.

With `--root DIR` every file goes under DIR and the system steps (useradd, chown, systemctl, udevadm) are only
printed: a dry run an installer can read, and what the tests check.
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hallq.config import ConfigError, HallConfig, load_config, parse_config_text
from ops.install import units
from ops.install.questions import Answers, ask, hall_config

SHAPES = ("village", "centre", "kiosk", "screen")
# mosquitto: to pass through /etc/hallq/secure (0710 root:mosquitto, as secure init makes it) to the credentials
GROUPS = {"village": ["dialout", "lp", "input", "video", "render", "audio", "mosquitto"],
          "centre": ["dialout", "mosquitto"],
          "kiosk": ["lp", "dialout", "input", "video", "render"], "screen": ["video", "render", "audio"]}
UDEV_RULES = "etc/udev/rules.d/70-hallq.rules"


class InstallError(Exception):
    """Why the install stops, in one line (nothing half-done is left unnamed)."""


@dataclass
class Plan:
    root: Path
    real: bool                      # root is "/" and we act on the system
    done: list[str] = field(default_factory=list)
    todo: list[list[str]] = field(default_factory=list)

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    def write(self, absolute: str, text: str, mode: int, *, keep: bool = False) -> Path:
        p = self.path(absolute)
        if keep and p.exists():
            self.done.append(f"kept {absolute} (already there)")
            return p
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, mode)
        os.replace(tmp, p)
        self.done.append(f"wrote {absolute} ({mode:o})")
        return p

    def mkdir(self, absolute: str, mode: int) -> Path:
        p = self.path(absolute)
        p.mkdir(parents=True, exist_ok=True)
        os.chmod(p, mode)
        self.done.append(f"made {absolute}/ ({mode:o})")
        return p

    def system(self, *cmd: str) -> None:
        """Run a system command on a real install; record it as a step to take under --root."""
        self.todo.append(list(cmd))
        if not self.real:
            return
        res = subprocess.run(list(cmd), capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise InstallError(f"{' '.join(cmd)} failed: {(res.stderr or res.stdout).strip()[:300]}")


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _groups_present(names: list[str]) -> list[str]:
    out = []
    for g in names:
        try:
            grp.getgrnam(g)
        except KeyError:
            continue
        out.append(g)
    return out


def _hallq_bin(given: str | None) -> str:
    if given:
        return given
    beside = Path(sys.executable).parent / "hallq"
    found = str(beside) if beside.exists() else shutil.which("hallq")
    return os.path.abspath(found or "/opt/hallq/venv/bin/hallq")


def install(args: argparse.Namespace) -> Plan:
    shape = args.shape
    root = Path(args.root or "/").resolve()
    real = str(root) == "/"
    if real and os.geteuid() != 0:
        raise InstallError("a real install needs root (sudo hallq install ...), or give --root DIR for a dry run")
    plan = Plan(root, real)
    etc = units.Paths().etc
    config_abs = f"{etc}/hall.yaml"

    # 1. the hall config: given, or made from the questionnaire
    if args.from_config:
        try:
            text = Path(args.from_config).read_text(encoding="utf-8")
        except OSError as e:
            raise InstallError(f"--from-config {args.from_config}: {e.strerror or e}") from None
    elif shape in ("kiosk", "screen"):
        raise InstallError(f"a {shape} box runs against the hall's server: give --from-config with the server's "
                           "/etc/hallq/hall.yaml (and --credentials with this box's credentials file)")
    else:
        answers = Answers.from_args(args)
        if not args.yes:
            answers = ask(answers, input_fn=input, out=sys.stdout)
        text = yaml.safe_dump(hall_config(answers, shape), allow_unicode=True, sort_keys=False)
    if not (args.keep_config and plan.path(config_abs).exists()):
        try:
            parse_config_text(text, config_abs)      # a bad answer or file: nothing written
        except ConfigError as e:
            raise InstallError(str(e)) from None
    plan.mkdir(etc, 0o771)     # the controller writes its keys here; the broker passes through to secure/
    cfg_path = plan.write(config_abs, text, 0o640, keep=args.keep_config)
    try:
        cfg = load_config(cfg_path)
    except ConfigError as e:
        raise InstallError(f"{config_abs}: {e}") from None
    kiosk_id = args.kiosk or (cfg.kiosks[0].id if cfg.kiosks else "1")
    board = args.board or (cfg.displays[0].id if cfg.displays else "hall")
    if shape in ("kiosk", "village") and cfg.kiosk(kiosk_id) is None:
        raise InstallError(f"{config_abs}: kiosks: no kiosk {kiosk_id!r} (known: "
                           f"{', '.join(k.id for k in cfg.kiosks) or 'none'}) — give --kiosk")

    # 2. the hallq user and its folders
    groups = _groups_present(GROUPS[shape]) if real else GROUPS[shape]
    if not (real and _user_exists(units.USER)):
        plan.system("useradd", "--system", "--home-dir", "/var/lib/hallq", "--shell", "/usr/sbin/nologin",
                    "--user-group", units.USER)
    plan.system("usermod", "--append", "--groups", ",".join(groups), units.USER)
    paths = units.Paths(hallq=_hallq_bin(args.hallq_bin), backups=args.backups, keep=args.keep, hall=cfg.hall.id,
                        local_broker=shape in ("village", "centre"))
    plan.mkdir(paths.data, 0o750)
    plan.system("chown", f"{units.USER}:{units.USER}", paths.data)
    plan.system("chown", f"root:{units.USER}", etc, config_abs)
    if shape in ("village", "centre"):
        plan.mkdir(paths.backups, 0o750)
        plan.system("chown", f"{units.USER}:{units.USER}", paths.backups)

    # 3. the secure broker (another box's credentials come with --credentials)
    if shape in ("village", "centre"):
        _secure(plan, cfg, paths, real)
    elif args.credentials:
        principal = f"kiosk-{kiosk_id}" if shape == "kiosk" else f"display-{board}"
        try:
            creds = Path(args.credentials).read_text(encoding="utf-8")
        except OSError as e:
            raise InstallError(f"--credentials {args.credentials}: {e.strerror or e}") from None
        plan.mkdir(f"{paths.secure}/credentials", 0o750)
        plan.write(paths.credentials(principal), creds, 0o640)
        plan.system("chown", "-R", f"root:{units.USER}", paths.secure)
    elif cfg.secure:
        raise InstallError("the hall is secure: give --credentials with this box's credentials file (made by "
                           "`hallq secure init` on the server)")

    # 4. systemd units, udev rules
    for name, text in units.units_for(shape, paths, kiosk_id, board).items():
        plan.write(f"/etc/systemd/system/{name}", text, 0o644)
    if args.udev_rules:
        try:
            rules = Path(args.udev_rules).read_text(encoding="utf-8")
        except OSError as e:
            raise InstallError(f"--udev-rules {args.udev_rules}: {e.strerror or e}") from None
        plan.write(f"/{UDEV_RULES}", rules, 0o644)
        plan.system("udevadm", "control", "--reload")
        plan.system("udevadm", "trigger")
    enabled = [u for u in units.enabled_for(shape, paths, kiosk_id, board)
               if u != "hallq-bridge.service" or cfg.devices.buses or cfg.devices.mqtt]
    plan.system("systemctl", "daemon-reload")
    if shape in ("village", "centre"):
        plan.system("systemctl", "disable", "--now", "mosquitto.service")
    plan.system("systemctl", "enable", *enabled)
    plan.write(f"{etc}/install.json", yaml.safe_dump({"shape": shape, "kiosk": kiosk_id, "board": board,
                                                     "enabled": enabled, "hallq": paths.hallq}), 0o644)
    return plan


def _secure(plan: Plan, cfg: HallConfig, paths: units.Paths, real: bool) -> None:
    from hallq.secure.files import SecureError
    from hallq.secure.layout import generate

    if not cfg.secure:
        sys.stderr.write("hallq install: warning: the hall config is OPEN (security.mode: open): anyone on the LAN "
                         "can issue and call — no broker accounts are made\n")
        return
    # the broker runs as mosquitto; a dry run (--root) writes the files as its runner and lists the real step
    user = "mosquitto" if real and _user_exists("mosquitto") else None
    if not real:
        plan.todo.append(["hallq", "secure", "init", "--config", f"{paths.etc}/hall.yaml", "--out", paths.secure,
                          "--broker-user", "mosquitto"])
    try:
        layout = generate(cfg, plan.path(paths.secure), broker_user=user)
    except (SecureError, OSError) as e:
        raise InstallError(f"hallq secure init: {e}") from None
    plan.done.append(f"hallq secure init: {len(layout.accounts)} broker accounts ({', '.join(layout.accounts)}) "
                     f"in {paths.secure}")
    for w in layout.warnings:
        sys.stderr.write(f"hallq install: warning: {w}\n")
    plan.system("chown", f"root:{units.USER}", f"{paths.secure}/credentials")
    plan.system("chmod", "0750", f"{paths.secure}/credentials")
    plan.system("chgrp", units.USER, *[str(p) for p in sorted(
        paths.credentials(a) for a in layout.accounts)])
    plan.system("chmod", "0640", *[paths.credentials(a) for a in layout.accounts])
    plan.system("chgrp", units.USER, f"{paths.secure}/console.key")      # the console (user hallq) serves HTTPS
    plan.system("chmod", "0640", f"{paths.secure}/console.key")


def run(args: argparse.Namespace) -> int:
    try:
        plan = install(args)
    except InstallError as e:
        sys.stderr.write(f"hallq install: {e}\n")
        return 2
    for line in plan.done:
        print(line)
    if plan.real:
        print("done: the units start at boot; reboot, or start them now with systemctl start " +
              " ".join(units.enabled_for(args.shape, units.Paths(), args.kiosk or "1", args.board or "hall")))
    else:
        print(f"--root {plan.root}: the system steps a real install takes:")
        for cmd in plan.todo:
            print("  " + " ".join(cmd))
    print("then check the box with: hallq doctor --config /etc/hallq/hall.yaml")
    return 0
