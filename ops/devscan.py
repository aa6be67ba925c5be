"""`hallq devices scan`: the USB serial adapters, printers and HID scanners of this box, and udev rules naming them.

Devices are read from sysfs (`--sysfs`, default /sys). Each is shown with its vendor/product/serial ids;
`--name bus-1=ttyUSB0 --name printer-k1=lp0 --name scanner-k1=event5` turns them into stable names
`/dev/hallq/<name>` and `--rules FILE` writes the udev rules (70-hallq.rules) with the config lines to use.
A device without a serial number is pinned to its USB port instead (the same socket every time).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

SAFE = re.compile(r"^[A-Za-z0-9._:+-]{1,64}$")
NAME = re.compile(r"^(bus|printer|scanner)-[A-Za-z0-9_-]{1,32}$")
RULES_HEADER = ("# hallq: stable device names (hallq devices scan); /dev/hallq/<name> whatever the order the\n"
                "# devices were plugged in. Reload with: udevadm control --reload && udevadm trigger\n")
_GROUP = {"serial": "dialout", "printer": "lp", "scanner": "input"}
_PREFIX = {"serial": "bus", "printer": "printer", "scanner": "scanner"}


class ScanError(Exception):
    """A bad --name or --rules: one line, exit 2."""


@dataclass(frozen=True)
class UsbDevice:
    kind: str            # serial | printer | scanner
    node: str            # ttyUSB0, lp0, event5 (the kernel name)
    vendor: str
    product: str
    serial: str
    port: str            # the USB device's kernel name (its port path, e.g. 1-1.2)
    label: str           # manufacturer and product strings

    @property
    def ids(self) -> str:
        return f"{self.vendor}:{self.product}" + (f" serial {self.serial}" if self.serial else " (no serial)")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def _usb_parent(dev: Path) -> Path | None:
    """The USB device directory (with idVendor) above a class device's `device` link."""
    try:
        d = dev.resolve()
    except OSError:
        return None
    for p in (d, *d.parents):
        if (p / "idVendor").is_file() and (p / "idProduct").is_file():
            return p
        if p.name in ("devices", "sys", "/"):
            break
    return None


def _make(kind: str, node: str, usb: Path) -> UsbDevice:
    label = " ".join(x for x in (_read(usb / "manufacturer"), _read(usb / "product")) if x)
    serial = _read(usb / "serial")
    if not SAFE.match(serial):     # a serial udev cannot quote (or a blank one): pin the port instead
        serial = ""
    return UsbDevice(kind, node, _read(usb / "idVendor").lower(), _read(usb / "idProduct").lower(),
                     serial, usb.name, (label or "(no name)").replace("\n", " "))


def _is_keyboard(event: Path) -> bool:
    """An input device that sends keys (a HID barcode scanner is a keyboard); mice and buttons-only are not."""
    caps = _read(event / "device" / "capabilities" / "key").split()
    bits = sum(bin(int(w, 16)).count("1") for w in caps if re.fullmatch(r"[0-9a-fA-F]+", w))
    return bits >= 30


def scan(sysfs: Path = Path("/sys")) -> list[UsbDevice]:
    found: list[UsbDevice] = []
    tty = sysfs / "class" / "tty"
    for entry in sorted(tty.glob("tty*")) if tty.is_dir() else []:
        if re.fullmatch(r"tty(USB|ACM)\d+", entry.name):
            usb = _usb_parent(entry / "device")
            if usb is not None:
                found.append(_make("serial", entry.name, usb))
    misc = sysfs / "class" / "usbmisc"
    for entry in sorted(misc.glob("lp*")) if misc.is_dir() else []:
        usb = _usb_parent(entry / "device")
        if usb is not None:
            found.append(_make("printer", entry.name, usb))
    inp = sysfs / "class" / "input"
    for entry in sorted(inp.glob("event*"), key=lambda p: int(p.name[5:] or 0)) if inp.is_dir() else []:
        usb = _usb_parent(entry / "device")
        if usb is not None and _is_keyboard(entry):
            found.append(_make("scanner", entry.name, usb))
    return found


def rule(dev: UsbDevice, name: str) -> str:
    """The udev rule lines that give `dev` the name /dev/hallq/`name`."""
    match = [f'ATTRS{{idVendor}}=="{dev.vendor}"', f'ATTRS{{idProduct}}=="{dev.product}"']
    match.append(f'ATTRS{{serial}}=="{dev.serial}"' if dev.serial else f'KERNELS=="{dev.port}"')
    group = _GROUP[dev.kind]
    head = f"# {name}: {dev.label}, {dev.ids}, was {dev.node} when scanned\n"
    if not dev.serial:
        head += f"# no serial number: pinned to USB port {dev.port} — keep it plugged into the same socket\n"
    tail = f'SYMLINK+="hallq/{name}", GROUP="{group}", MODE="0660"'
    if dev.kind == "serial":
        return head + ", ".join(['SUBSYSTEM=="tty"', *match, tail]) + "\n"
    if dev.kind == "printer":
        usb = [f'ATTR{{idVendor}}=="{dev.vendor}"', f'ATTR{{idProduct}}=="{dev.product}"',
               f'ATTR{{serial}}=="{dev.serial}"' if dev.serial else f'KERNEL=="{dev.port}"']
        return (head + ", ".join(['SUBSYSTEM=="usbmisc"', 'KERNEL=="lp[0-9]*"', *match, tail]) + "\n"
                + ", ".join(['SUBSYSTEM=="usb"', 'ENV{DEVTYPE}=="usb_device"', *usb, f'GROUP="{group}"',
                             'MODE="0660"']) + "\n")
    # the scanner types like a keyboard: libinput (the kiosk's cage session) must not take it as one
    return head + ", ".join(['SUBSYSTEM=="input"', 'KERNEL=="event[0-9]*"', *match, tail,
                             'ENV{LIBINPUT_IGNORE_DEVICE}="1"']) + "\n"


def config_line(dev: UsbDevice, name: str) -> str:
    path = f"/dev/hallq/{name}"
    if dev.kind == "serial":
        return f"devices.buses[id: {name[4:]}].port: {path}"
    if dev.kind == "printer":
        return (f"kiosks[id: {name[8:]}].printer.url: file://{path}   "
                f"(or usb://{dev.vendor}:{dev.product} for status through libusb)")
    return f"kiosks[id: {name[8:]}].scanner.url: evdev://{path}"


def render_rules(named: list[tuple[UsbDevice, str]]) -> str:
    return RULES_HEADER + "".join("\n" + rule(d, n) for d, n in named)


def parse_names(given: list[str], found: list[UsbDevice]) -> list[tuple[UsbDevice, str]]:
    by_node = {d.node: d for d in found}
    out: list[tuple[UsbDevice, str]] = []
    seen: set[str] = set()
    for item in given:
        name, sep, node = item.partition("=")
        node = node.removeprefix("/dev/").removeprefix("input/").removeprefix("usb/")
        if not sep or not NAME.match(name):
            raise ScanError(f"--name {item!r}: give NAME=DEVICE with NAME bus-<id>, printer-<kiosk> or "
                            "scanner-<kiosk>, e.g. --name bus-1=ttyUSB0")
        dev = by_node.get(node)
        if dev is None:
            raise ScanError(f"--name {item!r}: no device {node!r} found (found: "
                            f"{', '.join(by_node) or 'none'})")
        if _PREFIX[dev.kind] != name.split("-", 1)[0]:
            raise ScanError(f"--name {item!r}: {node} is a {dev.kind} device; name it "
                            f"{_PREFIX[dev.kind]}-<id>")
        if name in seen:
            raise ScanError(f"--name {item!r}: {name} is given twice")
        seen.add(name)
        out.append((dev, name))
    return out


def report(found: list[UsbDevice]) -> str:
    if not found:
        return ("no USB serial adapters, printers or HID scanners found — plug them in (a printer needs the usblp "
                "driver: modprobe usblp) and scan again\n")
    lines = []
    titles = {"serial": "USB serial adapters (RS-485 buses)", "printer": "printers", "scanner": "HID scanners "
              "(and other keyboards: the scanner is the one that types when you scan)"}
    for kind in ("serial", "printer", "scanner"):
        mine = [d for d in found if d.kind == kind]
        if mine:
            lines.append(f"{titles[kind]}:")
            for d in mine:
                lines.append(f"  {d.node:<10} {d.ids:<36} {d.label}   (name it: --name {_PREFIX[kind]}-ID={d.node})")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    found = scan(Path(args.sysfs))
    try:
        named = parse_names(args.name, found)
    except ScanError as e:
        sys.stderr.write(f"hallq devices scan: {e}\n")
        return 2
    sys.stdout.write(report(found))
    if named:
        text = render_rules(named)
        if args.rules:
            path = Path(args.rules)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.tmp")
                tmp.write_text(text, encoding="utf-8")
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
            except OSError as e:
                sys.stderr.write(f"hallq devices scan: --rules {path}: {e.strerror or e}\n")
                return 2
            sys.stdout.write(f"\nwrote {path}; then: udevadm control --reload && udevadm trigger\n")
        else:
            sys.stdout.write("\n" + text)
        sys.stdout.write("\nconfig lines:\n" + "".join(f"  {config_line(d, n)}\n" for d, n in named))
    return 0
