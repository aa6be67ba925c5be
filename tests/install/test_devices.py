"""`hallq devices scan` on a fake sysfs (two RS-485 adapters, one without a serial number, a USB printer, a HID
scanner, a mouse): what it lists, the udev rules it writes (against a golden file; `udevadm test` does not run
here: no udev in the container) and the config lines."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ops.devscan import scan
from tests.conftest import REPO

GOLDEN = Path(__file__).parent / "golden" / "70-hallq.rules"
USB = "devices/pci0000:00/0000:00:14.0/usb1"


def _usb(sysfs: Path, port: str, vid: str, pid: str, serial: str | None, maker: str, product: str) -> Path:
    d = sysfs / USB / port
    d.mkdir(parents=True)
    for name, value in (("idVendor", vid), ("idProduct", pid), ("manufacturer", maker), ("product", product),
                        ("serial", serial)):
        if value is not None:
            (d / name).write_text(value + "\n")
    return d


def _class(sysfs: Path, cls: str, name: str, device: Path) -> Path:
    c = sysfs / "class" / cls / name
    c.mkdir(parents=True)
    device.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.relpath(device, c), c / "device")
    return c


def fake_sysfs(root: Path) -> Path:
    s = root / "sys"
    ftdi = _usb(s, "1-1", "0403", "6001", "A10K3X2Z", "FTDI", "FT232R USB UART")
    _class(s, "tty", "ttyUSB0", ftdi / "1-1:1.0" / "ttyUSB0")
    ch340 = _usb(s, "1-2", "1a86", "7523", None, "QinHeng", "CH340 serial")
    _class(s, "tty", "ttyUSB1", ch340 / "1-2:1.0" / "ttyUSB1")
    (s / "devices" / "platform" / "serial8250" / "tty" / "ttyS0").mkdir(parents=True)
    _class(s, "tty", "ttyS0", s / "devices" / "platform" / "serial8250" / "tty" / "ttyS0")
    prn = _usb(s, "1-3", "0416", "5011", "PRN001", "Winbond", "POS58 Printer")
    _class(s, "usbmisc", "lp0", prn / "1-3:1.0")
    scn = _usb(s, "1-4", "0c2e", "0b61", "SCN9", "Honeywell", "Barcode Scanner")
    kbd = scn / "1-4:1.0" / "0003:0C2E:0B61.0001" / "input" / "input7"
    _class(s, "input", "event5", kbd)
    (kbd / "capabilities").mkdir()
    (kbd / "capabilities" / "key").write_text("1000000000007 ff800000000007ff febeffdff3cfffff fffffffffffffffe\n")
    mouse = _usb(s, "1-5", "046d", "c077", None, "Logitech", "USB Optical Mouse")
    m_in = mouse / "1-5:1.0" / "input" / "input8"
    _class(s, "input", "event3", m_in)
    (m_in / "capabilities").mkdir()
    (m_in / "capabilities" / "key").write_text("1f0000 0 0 0 0\n")
    return s


def hallq(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hallq", "devices", "scan", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def test_scan_finds_adapters_printer_and_scanner_not_the_mouse(tmp_path: Path) -> None:
    found = scan(fake_sysfs(tmp_path))
    assert [(d.kind, d.node, d.vendor, d.product, d.serial, d.port) for d in found] == [
        ("serial", "ttyUSB0", "0403", "6001", "A10K3X2Z", "1-1"),
        ("serial", "ttyUSB1", "1a86", "7523", "", "1-2"),
        ("printer", "lp0", "0416", "5011", "PRN001", "1-3"),
        ("scanner", "event5", "0c2e", "0b61", "SCN9", "1-4"),
    ]
    res = hallq("--sysfs", str(tmp_path / "sys"))
    assert res.returncode == 0, res.stderr
    assert "ttyUSB1    1a86:7523 (no serial)" in res.stdout
    assert "(name it: --name printer-ID=lp0)" in res.stdout
    assert "event3" not in res.stdout and "ttyS0" not in res.stdout


def test_udev_rules_match_the_golden_file(tmp_path: Path) -> None:
    rules = tmp_path / "etc" / "udev" / "rules.d" / "70-hallq.rules"
    res = hallq("--sysfs", str(fake_sysfs(tmp_path)), "--name", "bus-1=ttyUSB0", "--name", "bus-2=/dev/ttyUSB1",
                "--name", "printer-k1=lp0", "--name", "scanner-k1=/dev/input/event5", "--rules", str(rules))
    assert res.returncode == 0, res.stderr
    assert rules.read_text() == GOLDEN.read_text(), "the udev rules changed: check them, then update the golden file"
    assert oct(rules.stat().st_mode & 0o777) == "0o644"
    assert "devices.buses[id: 1].port: /dev/hallq/bus-1" in res.stdout
    assert "kiosks[id: k1].scanner.url: evdev:///dev/hallq/scanner-k1" in res.stdout
    assert "kiosks[id: k1].printer.url: file:///dev/hallq/printer-k1" in res.stdout


def _udevadm_verifies() -> bool:
    """`udevadm verify` (systemd 254 and later; Debian 12 has 252) is here."""
    if shutil.which("udevadm") is None:
        return False
    return subprocess.run(["udevadm", "verify", "--help"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not _udevadm_verifies(), reason="no `udevadm verify` on this machine: the golden file checks")
def test_udevadm_accepts_the_rules(tmp_path: Path) -> None:
    res = subprocess.run(["udevadm", "verify", str(GOLDEN)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize(("name", "why"), [
    ("printer-k1=ttyUSB0", "ttyUSB0 is a serial device; name it bus-<id>"),
    ("bus-1=ttyUSB9", "no device 'ttyUSB9' found"),
    ("bus 1=ttyUSB0", "give NAME=DEVICE"),
    ("bus-1", "give NAME=DEVICE"),
])
def test_bad_names_are_one_line(tmp_path: Path, name: str, why: str) -> None:
    res = hallq("--sysfs", str(fake_sysfs(tmp_path)), "--name", name)
    assert res.returncode == 2 and why in res.stderr and "Traceback" not in res.stderr, res.stderr
