"""Byte transports to a ticket printer (usb, serial, tcp, file, sim) and the one factory that picks by URL."""

from __future__ import annotations

import select
import socket
import time
from typing import IO, TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from devices.printer.base import PrinterError, Transport
from devices.serialport import SerialPort

if TYPE_CHECKING:
    from devices.printer.simulator import PrinterSimulator

URL_FORMS = "usb://VID:PID, serial:///dev/ttyUSB0?baud=9600, tcp://host:9100, file:///path or sim://NAME"
PYSERIAL_SCHEMES = ("socket", "loop", "rfc2217", "spy", "hwgrep", "alt", "cp2110")


class _Base:
    answers_status = True

    def __init__(self, name: str, where: str) -> None:
        self.name, self.where = name, where

    def describe(self) -> str:
        return f"printer {self.name} ({self.where})"

    def _closed(self) -> PrinterError:
        return PrinterError(f"{self.describe()}: not open — call open() first")


class SerialTransport(_Base):
    """pyserial: a device path or any pyserial URL (socket://, loop://, rfc2217://)."""

    def __init__(self, name: str, port: str, baud: int = 9600, *, rtscts: bool = False, dsrdtr: bool = False,
                 write_timeout_s: float = 10.0) -> None:
        super().__init__(name, f"serial {port} {baud} baud")
        self.port, self.baud, self.rtscts, self.dsrdtr = port, baud, rtscts, dsrdtr
        self.write_timeout_s = write_timeout_s
        self._port = SerialPort(port, self.describe(), PrinterError, baudrate=baud, rtscts=rtscts, dsrdtr=dsrdtr,
                                write_timeout=write_timeout_s)

    def open(self) -> None:
        self._port.open()

    def close(self) -> None:
        self._port.close()

    def write(self, data: bytes) -> None:
        self._port.write(data, stalled=f"the printer stopped taking data for {self.write_timeout_s:g} s — check "
                                       "paper, cover and the flow-control setting")

    def read(self, n: int, timeout_s: float) -> bytes:
        import serial

        ser = self._port.opened()
        try:
            ser.timeout = timeout_s
            return bytes(ser.read(n))
        except (serial.SerialException, OSError) as e:
            raise PrinterError(f"{self.describe()}: read failed ({e}) — check the cable") from e


class TcpTransport(_Base):
    """A raw TCP port (9100, 'JetDirect'); status answers come back on the same connection."""

    def __init__(self, name: str, host: str, port: int = 9100, *, connect_timeout_s: float = 5.0,
                 write_timeout_s: float = 10.0) -> None:
        super().__init__(name, f"tcp {host}:{port}")
        self.host, self.port = host, port
        self.connect_timeout_s, self.write_timeout_s = connect_timeout_s, write_timeout_s
        self._sock: socket.socket | None = None

    def open(self) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout_s)
        except OSError as e:
            raise PrinterError(f"{self.describe()}: cannot connect ({e}) — check the printer is on, its network "
                               f"cable, and that it answers at {self.host} (ping it)") from e
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # status queries are 3 bytes each
        sock.settimeout(self.write_timeout_s)
        self._sock = sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def write(self, data: bytes) -> None:
        if self._sock is None:
            raise self._closed()
        try:
            self._sock.sendall(data)
        except OSError as e:
            raise PrinterError(f"{self.describe()}: send failed ({e or 'timed out'}) — check paper, cover and "
                               "the network") from e

    def read(self, n: int, timeout_s: float) -> bytes:
        if self._sock is None:
            raise self._closed()
        try:
            ready, _, _ = select.select([self._sock], [], [], max(0.0, timeout_s))
            if not ready:
                return b""
            data = self._sock.recv(n)
        except OSError as e:
            raise PrinterError(f"{self.describe()}: receive failed ({e}) — check the network") from e
        if not data:
            raise PrinterError(f"{self.describe()}: the printer closed the connection — check it is on")
        return data


class FileTransport(_Base):
    """Appends every job to a file or device node (a log, /dev/usb/lp0); reads never answer."""

    answers_status = False

    def __init__(self, name: str, path: str, *, truncate: bool = False) -> None:
        super().__init__(name, f"file {path}")
        self.path, self.truncate = path, truncate
        self._f: IO[bytes] | None = None

    def open(self) -> None:
        try:
            self._f = open(self.path, "wb" if self.truncate else "ab")  # noqa: SIM115 — closed in close()
        except OSError as e:
            raise PrinterError(f"{self.describe()}: cannot open ({e.strerror}) — check the directory exists "
                               "and this user may write there") from e

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def write(self, data: bytes) -> None:
        if self._f is None:
            raise self._closed()
        try:
            self._f.write(data)
            self._f.flush()
        except OSError as e:
            raise PrinterError(f"{self.describe()}: write failed ({e.strerror}) — check the disk or device") from e

    def read(self, n: int, timeout_s: float) -> bytes:
        if self._f is None:
            raise self._closed()
        return b""


class SimTransport(_Base):
    """An in-process printer simulator, found by name (created with defaults if nobody registered one)."""

    def __init__(self, name: str, sim_name: str, *, out_dir: str | None = None,
                 paper_out_after: int | None = None, width_dots: int | None = None) -> None:
        super().__init__(name, f"sim {sim_name}")
        self.sim_name, self.out_dir, self.paper_out_after = sim_name, out_dir, paper_out_after
        self.width_dots = width_dots
        self.simulator: PrinterSimulator | None = None  # kept after close() so its jobs can be read
        self._open = False
        self._rx = bytearray()

    def open(self) -> None:
        from devices.printer.simulator import simulator_named

        self.simulator = simulator_named(self.sim_name, out_dir=self.out_dir, paper_out_after=self.paper_out_after,
                                         width_dots=self.width_dots)
        self._rx.clear()
        self._open = True

    def close(self) -> None:
        self._open = False

    def write(self, data: bytes) -> None:
        sim = self.simulator
        if sim is None or not self._open:
            raise self._closed()
        bps = sim.faults.bytes_per_s
        if bps:
            time.sleep(len(data) / bps)
        self._rx += sim.feed(data)

    def read(self, n: int, timeout_s: float) -> bytes:
        if not self._open:
            raise self._closed()
        out = bytes(self._rx[:n])
        del self._rx[:n]
        return out


def transport_for_url(url: str, *, name: str = "printer", sim_out_dir: str | None = None,
                      sim_width_dots: int | None = None) -> Transport:
    """The transport for a printer URL; constructs only — `open()` does the I/O. For sim://, where the
    simulated paper goes (unless the URL says `?out=`) and its width, when the simulator is made here."""
    u = urlsplit(url)
    q = {k: v[-1] for k, v in parse_qs(u.query).items()}

    def num(key: str, default: float) -> float:
        try:
            return float(q.get(key, default))
        except ValueError:
            raise PrinterError(f"printer {name}: {key}={q[key]!r} in {url!r} is not a number") from None

    if u.scheme == "usb":
        from devices.printer.usb_transport import UsbTransport

        vid, _, pid = u.netloc.partition(":")
        try:
            ids = int(vid, 16), int(pid, 16)
            ep = {k: int(q[k], 0) for k in ("out", "in") if k in q}
        except ValueError:
            raise PrinterError(f"printer {name}: {url!r} is not usb://VID:PID[?interface=N&out=0x01&in=0x82] "
                               "with hex ids as lsusb shows them, e.g. usb://0416:5011") from None
        return UsbTransport(name, *ids, interface=int(num("interface", 0)), out_ep=ep.get("out"),
                            in_ep=ep.get("in"), timeout_s=num("timeout", 10.0))
    if u.scheme in ("serial", "") and u.path:
        return SerialTransport(name, u.path, int(num("baud", 9600)), rtscts=q.get("rtscts") == "1",
                               dsrdtr=q.get("dsrdtr") == "1", write_timeout_s=num("write_timeout", 10.0))
    if u.scheme in PYSERIAL_SCHEMES:
        return SerialTransport(name, url)
    if u.scheme == "tcp" and u.hostname:
        return TcpTransport(name, u.hostname, u.port or 9100, connect_timeout_s=num("timeout", 5.0),
                            write_timeout_s=num("write_timeout", 10.0))
    if u.scheme == "file" and u.path:
        return FileTransport(name, u.path, truncate=q.get("truncate") == "1")
    if u.scheme == "sim":
        after = q.get("paper_out_after")
        return SimTransport(name, u.netloc or u.path.strip("/") or "printer", out_dir=q.get("out") or sim_out_dir,
                            paper_out_after=int(after) if after is not None and after.isdigit() else None,
                            width_dots=sim_width_dots)
    raise PrinterError(f"printer {name}: cannot use {url!r} — give {URL_FORMS}")
