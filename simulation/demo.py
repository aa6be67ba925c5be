"""`hallq demo`: the whole hall on this machine.

A private mosquitto, the controller, the bridge with simulated evaluators and LED boards on
pseudo-terminals, the kiosk and the hall call screen (windows when a display is present), and
a gentle living hall: staff log in, citizens take tickets, are called, served and rate.

It runs secure by default (CONTRACT §5): `hallq.secure.generate` writes the broker's config, ACL and one
credentials file per part into the demo's folder, mosquitto starts from that config, every part connects
as its own principal, and the demo staff sign in at the windows with PINs. `--open` runs the v1 way.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from hallq.broker import BrokerError, Mosquitto, free_port
from hallq.config import ConfigError, HallConfig, load_config, parse_config
from hallq.errors import UsageError

log = logging.getLogger("simulation.demo")
REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "config" / "demo.yaml"


class Part:
    """One hallq process of the demo."""

    def __init__(self, name: str, argv: list[str], logdir: Path, module: bool = False) -> None:
        self.name, self.argv, self.logdir = name, argv, logdir
        self.module = module  # argv runs a module of its own (`-m …`), not a hallq command
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str] | None = None) -> None:
        logf = open(self.logdir / f"{self.name}.log", "ab")  # noqa: SIM115 (the child owns it)
        cmd = [sys.executable, *self.argv] if self.module else [sys.executable, "-m", "hallq", *self.argv]
        self.proc = subprocess.Popen(cmd, stdout=logf, stderr=logf,
                                     stdin=subprocess.DEVNULL, cwd=REPO,
                                     env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})))
        log.info("started %s (pid %d), log: %s", self.name, self.proc.pid, self.logdir / f"{self.name}.log")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _have(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def run(args: argparse.Namespace) -> int:
    cfg_path = Path(args.config) if args.config else DEFAULT_CONFIG
    try:
        raw: dict[str, Any] = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
        parse_config(raw, str(cfg_path))
    except FileNotFoundError:
        raise UsageError(f"--config {cfg_path}: file not found") from None
    except ConfigError as e:
        raise UsageError(f"config error: {e}") from None
    work = Path(tempfile.mkdtemp(prefix="hallq-demo-"))
    data = Path(args.data) if args.data else work / "data"
    secure = not getattr(args, "open", False)
    port = free_port()
    raw.setdefault("mqtt", {})["port"] = port
    raw["mqtt"]["host"] = "127.0.0.1"
    raw["data_dir"] = str(data)
    platform = free_port()  # a fake regional 好差评 platform receiving every evaluation
    raw.setdefault("upstream", {})["url"] = f"http://127.0.0.1:{platform}/evaluations"
    console_port = free_port() if _have("console.main") else None
    if console_port is not None:   # the console serves the citizen's ticket page behind the ticket QR
        raw.setdefault("console", {})["listen"] = f"127.0.0.1:{console_port}"
        for k in raw.get("kiosks") or []:
            k["lookup_url"] = f"http://127.0.0.1:{console_port}/t"
    token_help = _demo_kiosks(raw, work)
    who = _secure_section(raw) if secure else None
    sim_stop = _start_simulated_buses(raw)
    demo_cfg = work / "hall.yaml"
    demo_cfg.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    try:
        cfg = load_config(demo_cfg)
    except ConfigError as e:
        raise UsageError(f"config error: {e}") from None
    cred: dict[str, list[str]] = {}
    pins: dict[str, str] = {}
    try:
        if who is not None:
            from hallq.secure import SecureError, generate

            try:
                layout = generate(cfg, work / "secure")
            except SecureError as e:
                raise UsageError(f"hallq demo: {e}") from None
            cred = {part: ["--credentials", str(layout.credentials(pid))] for part, pid in who.items()}
            broker = Mosquitto.from_conf(layout.conf, port).start()
            pins, passwords = _demo_secrets(cfg, data)
        else:
            broker = Mosquitto(port=port, workdir=work / "broker").start()
            passwords = {}
    except BrokerError as e:
        raise UsageError(str(e)) from None
    gui = bool(os.environ.get("DISPLAY")) and not args.no_gui
    conf = ["--config", str(demo_cfg)]
    parts = [Part("platform", ["-m", "controller.platform_fake", "--port", str(platform), "--store",
                               str(work / "platform-records.jsonl")], work, module=True),
             Part("controller", ["controller", *conf, "--data", str(data), *cred.get("controller", [])], work)]
    if raw.get("devices", {}).get("buses") and sim_stop is not None:
        parts.append(Part("bridge", ["bridge", *conf, "--data", str(work / "bridge"), *cred.get("bridge", [])],
                          work))
    flag = [] if gui else ["--headless"]
    pilot = ["--autopilot", str(_autopilot(cfg, work / "kiosk-autopilot.json"))] if gui else []
    for module, items in (("display.main", [("display", d.id, ["--board", d.id]) for d in cfg.displays]),
                          ("kiosk.main", [("kiosk", k.id, ["--kiosk", k.id, *pilot]) for k in cfg.kiosks])):
        if not _have(module):
            if items:
                print(f"hallq demo: the {items[0][0]} is not in this build yet; running without it", flush=True)
            continue
        if module == "display.main" and not gui:
            print("hallq demo: no display (or --no-gui): running without the call screen", flush=True)
            continue
        parts += [Part(f"{kind}-{pid}", [kind, *conf, *extra, *flag, *cred.get(f"{kind}-{pid}", [])], work)
                  for kind, pid, extra in items]
    if console_port is not None:
        parts.append(Part("console", ["console", *conf, "--data", str(data), *cred.get("console", [])], work))
    mode = "secure (every part with its own principal; hallq demo --open runs without)" if who else "open"
    print(f"hallq demo: hall {cfg.hall.id} ({cfg.hall.name.zh}); broker 127.0.0.1:{broker.port}, {mode}; "
          f"logs and data in {work}", flush=True)
    print(f"hallq demo: fake 好差评 platform http://127.0.0.1:{platform}/_fake/records", flush=True)
    if console_port is not None:
        print(f"hallq demo: staff console http://127.0.0.1:{console_port}/ ; the citizen's ticket page behind the "
              f"ticket QR http://127.0.0.1:{console_port}/t?q=…", flush=True)
    if pins:
        print("hallq demo: demo staff PINs (evaluator login) " +
              ", ".join(f"{s} {p}" for s, p in pins.items()) +
              ("; console passwords " + ", ".join(f"{s} {p}" for s, p in passwords.items()) if passwords else ""),
              flush=True)
    for p in parts:
        p.start()
    if token_help:
        print(token_help, flush=True)
    from simulation.livinghall import LivingHall
    from simulation.simday.plan import make_plan
    from simulation.simday.scenario import load_scenario

    scenario = load_scenario(REPO / "config" / "scenarios" / "village.yaml")  # its visitors, at the demo's pace
    actors = _actors(cfg, who, cred, pins) if who is not None else None
    hall = LivingHall(cfg, seed=int(time.time()), plan=lambda seed: list(make_plan(scenario, seed).visitors),
                      services=[s.id for s in scenario.services], actors=actors)
    stopping = False

    def _stop(*_a: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    deadline = time.monotonic() + args.duration if args.duration else None
    try:
        hall.start()
        next_report = time.monotonic() + 10
        while not stopping and (deadline is None or time.monotonic() < deadline):
            hall.step()
            if time.monotonic() >= next_report:
                next_report += 10
                print(f"hallq demo: {hall.summary()}", flush=True)
            for p in parts:
                if p.proc is not None and not p.alive():
                    print(f"hallq demo: {p.name} exited with code {p.proc.returncode}; see "
                          f"{work / (p.name + '.log')}", flush=True)
                    p.proc = None
            time.sleep(0.2)
    finally:
        hall.close()
        for p in reversed(parts):
            p.stop()
        if sim_stop is not None:
            sim_stop()
        broker.stop()
    print(f"hallq demo: stopped. {hall.summary()}  Data: {data}", flush=True)
    return 0


def _principal_id(name: str) -> str:
    """A part's id as a principal id ([a-z0-9-]{1,32})."""
    return (re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-") or "part")[:32]


RECEPTION_STAFF = "R001"


def _secure_section(raw: dict[str, Any]) -> dict[str, str]:
    """Make the demo's config copy secure: one principal per part; returns part name -> principal id.

    Parts: the bridge, each kiosk and display (principal id = its id), the console, and the living hall's
    three roles: `livinghall-kiosk` (kiosk: citizens taking tickets), `livinghall-desk` (console acting for
    the reception staff R001, added here: green-channel tickets) and `desk-N` (device of window N: its staff
    log in with their PIN, call, serve, and their evaluator's ratings)."""
    who: dict[str, str] = {"controller": "controller", "bridge": "bridge", "console": "console",
                           "livinghall-kiosk": "livinghall-kiosk", "livinghall-desk": "livinghall-desk"}
    principals: list[dict[str, Any]] = [{"id": "bridge", "role": "bridge"}, {"id": "console", "role": "console"},
                                        {"id": "livinghall-kiosk", "role": "kiosk"},
                                        {"id": "livinghall-desk", "role": "console", "staff_roles": ["reception"]}]
    for k in raw.get("kiosks") or []:
        pid = _principal_id(str(k["id"]))
        who[f"kiosk-{k['id']}"] = pid
        principals.append({"id": pid, "role": "kiosk"})
    for d in raw.get("displays") or []:
        pid = _principal_id(str(d["id"]))
        who[f"display-{d['id']}"] = pid
        principals.append({"id": pid, "role": "display"})
    for i, w in enumerate(raw.get("windows") or [], 1):
        who[f"window-{w['id']}"] = f"desk-{i}"
        principals.append({"id": f"desk-{i}", "role": "device", "window": str(w["id"])})
    staff = raw.setdefault("staff", [])
    if not any(s.get("id") == RECEPTION_STAFF for s in staff) and raw.get("windows"):
        staff.append({"id": RECEPTION_STAFF, "name": "导服台", "windows": [str(raw["windows"][0]["id"])],
                      "roles": ["reception"]})
    raw["security"] = {"mode": "secure", "device_login": "pin", "principals": principals}
    return who


def _demo_secrets(cfg: HallConfig, data: Path) -> tuple[dict[str, str], dict[str, str]]:
    """PINs (and console passwords, when the console is in this build) of the demo staff, stored the way
    `hallq staff pin|passwd` stores them; returned so the demo can print them (a demo only!)."""
    from hallq.staffauth import StaffSecrets

    store = StaffSecrets(data)
    pins: dict[str, str] = {}
    passwords: dict[str, str] = {}
    for i, s in enumerate(cfg.staff, 1):
        pins[s.id] = f"{1000 + i:04d}"
        store.set_pin(s.id, pins[s.id])
        if _have("console.main"):
            passwords[s.id] = f"demo-{s.id.lower()}"
            store.set_password(s.id, passwords[s.id])
    return pins, passwords


def _actors(cfg: HallConfig, who: dict[str, str], cred: dict[str, list[str]], pins: dict[str, str]) -> Any:
    """The living hall's principals (simulation/livinghall.py, Actors)."""
    from simulation.livinghall import Actors

    def as_(part: str) -> HallConfig:
        return cfg.with_credentials(cred[part][1])

    reception = (as_("livinghall-desk"), RECEPTION_STAFF) if any(s.id == RECEPTION_STAFF for s in cfg.staff) \
        else None
    return Actors(kiosk=as_("livinghall-kiosk"), windows={w.id: as_(f"window-{w.id}") for w in cfg.windows},
                  reception=reception, pins=pins)


def _demo_kiosks(raw: dict[str, Any], work: Path) -> str:
    """Give each kiosk a simulated scanner (a FIFO) and a test 蒙速办 issuer key; say how to scan a code."""
    kiosks = raw.get("kiosks") or []
    if not kiosks or not _have("kiosk.credentials_cli"):
        return ""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from hallq.msb.tokens import b64url_encode

    key = Ed25519PrivateKey.generate()
    pem = work / "msb-demo-key.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    public = b64url_encode(key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    for k in kiosks:
        fifo = work / (k["id"] + "-scanner.fifo")
        os.mkfifo(fifo)
        k.setdefault("scanner", {})["url"] = f"pipe://{fifo}"
        k.setdefault("credentials", {}).setdefault("issuer_public_keys", {})["msb-demo"] = public
        if (k.get("idcard") or {}).get("url", "none://") != "none://":   # the ID card simulator (docs/idcard.md)
            from kiosk.idcard import load_or_create_issuer_key, public_key_text

            ic = k["idcard"]
            ic.setdefault("holder_key_file", "idcard.key")
            (work / ic["holder_key_file"]).write_text(os.urandom(32).hex())
            issuer, _ = load_or_create_issuer_key(work / ic.setdefault("issuer_key_file", f"idcard-{k['id']}.key"))
            kid = ic.get("issuer_kid") or f"idcard-{k['id']}"
            k["credentials"]["issuer_public_keys"][kid] = public_key_text(issuer)
            k["credentials"].setdefault("key_issuers", {})[kid] = "idcard"
    first = kiosks[0]["id"]
    return (f"hallq demo: scan a 蒙速办 code at kiosk {first} (an elderly citizen gets the green channel):\n"
            f"  hallq sim scanner --fifo {work / (first + '-scanner.fifo')} --type \"$(hallq sim token --key {pem} "
            f"--kid msb-demo --name 巴特尔 --idn 150102195001011234 --birth 1950-01-01)\"")


def _autopilot(cfg: Any, path: Path) -> Path:
    """A visitor at the kiosk every 25 s, alternating Mongolian and Chinese, each taking the first open service:
    the script for `hallq kiosk --autopilot`, written to `path`."""
    visit = []
    for lang in ("mn", "zh"):
        service = cfg.services[0].id if lang == "mn" else cfg.services[-1].id
        visit += [{"wait": "home", "timeout_s": 60}, {"sleep": 4}, {"tap": "lang", "arg": lang},
                  {"wait": "services"}, {"sleep": 3}, {"tap": "service", "arg": service},
                  {"wait": "result", "timeout_s": 60}, {"sleep": 5}, {"tap": "home"}, {"sleep": 8}]
    if any(k.idcard.url.startswith("sim:") for k in cfg.kiosks):   # an elderly citizen with an ID card
        visit += [{"wait": "home", "timeout_s": 60}, {"sleep": 4}, {"card": "elder"}, {"wait": "services"},
                  {"sleep": 4}, {"tap": "service", "arg": cfg.services[0].id}, {"wait": "result", "timeout_s": 60},
                  {"sleep": 5}, {"tap": "home"}, {"card": "remove"}, {"sleep": 8}]
    path.write_text(json.dumps([{"repeat": visit, "every_s": 1}], ensure_ascii=False), encoding="utf-8")
    return path


def _start_simulated_buses(raw: dict[str, Any]) -> Any:
    """Run the configured buses' devices as simulators on ptys; rewrite the bus ports. None if unavailable."""
    buses = raw.get("devices", {}).get("buses") or []
    if not buses:
        return None
    if not _have("firmware_bridge.sim"):
        log.warning("device simulators are not available: the demo runs without the serial bus")
        raw["devices"]["buses"] = []
        return None
    from firmware_bridge.sim import demo_bus

    handle = demo_bus(parse_config(raw))
    for bus in buses:
        bus["port"] = handle.ports[bus["id"]]
    return handle.stop
