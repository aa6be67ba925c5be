"""The short questionnaire of `hallq install` (or its flags): enough to write a first /etc/hallq/hall.yaml that
the hall manager then completes (staff, opening hours, devices)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, TextIO

# a start every hall has; the installer renames and adds services in the YAML afterwards
DEFAULT_SERVICES = [("general", "A", "综合受理", "ᠶᠡᠷᠦᠩᠬᠡᠢ ᠬᠦᠯᠢᠶᠡᠨ ᠠᠪᠬᠤ")]


@dataclass(frozen=True)
class Answers:
    hall_id: str = "hall"
    name_zh: str = "政务服务中心"
    name_mn: str = "ᠵᠠᠰᠠᠭ ᠤᠨ ᠠᠯᠪᠠᠨ ᠤ ᠦᠢᠯᠡᠴᠢᠯᠡᠭᠡ ᠶᠢᠨ ᠲᠥᠪ"
    timezone: str = "Asia/Shanghai"
    windows: int = 2
    kiosks: int = 1
    server: str = "127.0.0.1"
    port: int = 8883
    bus: str = ""                  # the RS-485 adapter of the window devices ("" = none yet)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Answers:
        given = {f.name: getattr(args, f.name) for f in fields(cls) if getattr(args, f.name, None) is not None}
        return cls(**given)


QUESTIONS = [("hall_id", "hall id (letters, digits, -)"), ("name_zh", "hall name in Chinese"),
             ("name_mn", "hall name in Mongolian"), ("timezone", "time zone"), ("windows", "number of windows"),
             ("kiosks", "number of kiosks"), ("server", "broker host the other boxes reach (this box's address)"),
             ("bus", "RS-485 adapter of the window devices (/dev/hallq/bus-1 after `hallq devices scan`; "
                     "empty: none yet)")]


def ask(a: Answers, *, input_fn: Callable[[str], str], out: TextIO) -> Answers:
    """Ask each question with its current answer as the default (Enter keeps it)."""
    out.write("A few questions for /etc/hallq/hall.yaml (Enter keeps the [default]):\n")
    for name, text in QUESTIONS:
        current = getattr(a, name)
        while True:
            try:
                got = input_fn(f"{text} [{current}]: ").strip()
            except EOFError:          # no more answers (stdin closed): the defaults for the rest
                out.write("\n")
                return a
            if not got:
                break
            try:
                value: Any = int(got) if isinstance(current, int) else got
            except ValueError:
                out.write("  a number, please\n")
                continue
            a = replace(a, **{name: value})
            break
    return a


def hall_config(a: Answers, shape: str) -> dict[str, Any]:
    services = [{"id": sid, "prefix": prefix, "name": {"zh": zh, "mn": mn}} for sid, prefix, zh, mn in DEFAULT_SERVICES]
    windows = [{"id": str(i), "services": [services[0]["id"]]} for i in range(1, max(a.windows, 1) + 1)]
    kiosks = [{"id": str(i), "printer": {"url": f"file:///dev/hallq/printer-{i}"},
               "scanner": {"url": f"evdev:///dev/hallq/scanner-{i}"}} for i in range(1, max(a.kiosks, 1) + 1)]
    principals: list[dict[str, Any]] = [{"id": f"kiosk-{k['id']}", "role": "kiosk"} for k in kiosks]
    principals += [{"id": "display-hall", "role": "display"}, {"id": "console-1", "role": "console"}]
    cfg: dict[str, Any] = {
        "hall": {"id": a.hall_id, "name": {"zh": a.name_zh, "mn": a.name_mn}, "timezone": a.timezone},
        "mqtt": {"host": a.server, "port": a.port, "tls": True},
        "data_dir": "/var/lib/hallq",
        "services": services,
        "windows": windows,
        "staff": [{"id": "S001", "name": "管理员", "windows": [w["id"] for w in windows],
                   "roles": ["window", "manager"]}],
        "kiosks": kiosks,
        "displays": [{"id": "hall"}],
        "console": {"listen": "0.0.0.0:8443"},    # HTTPS with secure init's console certificate
    }
    if a.bus:
        cfg["devices"] = {"buses": [{"id": "1", "port": a.bus, "rs485": True}]}
        principals.append({"id": "bridge-1", "role": "bridge"})
    cfg["security"] = {"mode": "secure", "principals": principals}
    return cfg
