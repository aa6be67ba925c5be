"""A ticket printer simulator (the device side): takes ESC/POS, answers DLE EOT, cuts jobs into PNGs, misbehaves.

One core, `PrinterSimulator.feed(bytes) -> reply bytes`, runs in-process (`sim://NAME`), behind a pty
(`PtyPrinter`, for serial:// URLs) or on a TCP port (`TcpPrinter`, for tcp:// URLs).
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devices.printer.sim import EscPosError, Paper, render_escpos
from hallq.pty import PtyEndpoint, ServedEndpoint


@dataclass
class Faults:
    paper_near_end: bool = False
    paper_out: bool = False          # stops: job bytes are dropped, status says so
    cover_open: bool = False         # stops, like paper out
    error: bool = False              # stops: cutter jam / overheat
    silent: bool = False             # never answers status queries
    garbled: bool = False            # answers status queries with a byte that is not a status byte
    bytes_per_s: float | None = None  # slow: the hosts take data no faster than this
    paper_out_after: int | None = None  # tickets left on the roll; the next one finds no paper
    near_end_within: int = 1         # the near-end sensor trips when this many tickets or fewer are left

    def stopped(self) -> bool:
        return self.paper_out or self.cover_open or self.error

    def near_end(self) -> bool:
        return self.paper_near_end or (self.paper_out_after is not None
                                       and self.paper_out_after <= self.near_end_within)


@dataclass
class Job:
    index: int
    data: bytes
    paper: Paper | None
    png: Path | None = None
    error: str = ""


def _gv0(b: bytes, i: int) -> int | None:
    if len(b) < i + 8:
        return None
    return 8 + (b[i + 4] | b[i + 5] << 8) * (b[i + 6] | b[i + 7] << 8)


def _gsk(b: bytes, i: int) -> int | None:
    return 5 + (b[i + 3] | b[i + 4] << 8) if len(b) >= i + 5 else None


def _gsv(b: bytes, i: int) -> int | None:
    return None if len(b) < i + 3 else (4 if b[i + 2] in (0x41, 0x42) else 3)


# command prefix -> its length in bytes, or a function of the buffer (None: not all here yet);
# the data inside images and QR codes must not be mistaken for DLE EOT
COMMANDS: dict[bytes, int | Callable[[bytes, int], int | None]] = {
    b"\x10\x04": 3, b"\x1b@": 2, b"\x1ba": 3, b"\x1bd": 3, b"\x1b!": 3, b"\x1bE": 3, b"\x1d!": 3,
    b"\x1c&": 2, b"\x1c.": 2, b"\x1dv0": _gv0, b"\x1d(k": _gsk, b"\x1dV": _gsv,
}


def command_length(buf: bytes, i: int) -> int | None:
    if buf[i] not in (0x10, 0x1B, 0x1C, 0x1D):
        return 1
    rest = buf[i:i + 3]
    if any(len(p) > len(rest) and p.startswith(rest) for p in COMMANDS):
        return None  # the start of a command whose prefix is still on its way
    for prefix, size in COMMANDS.items():
        if buf.startswith(prefix, i):
            n = size if isinstance(size, int) else size(buf, i)
            return None if n is None or len(buf) < i + n else n
    return 1


def status_byte(n: int, f: Faults) -> int | None:
    """The answer to DLE EOT n in the state `f`: the fixed bits 0x12 plus the flags."""
    if f.silent:
        return None
    if f.garbled:
        return 0xFF
    flags = {
        1: 0x08 if f.stopped() else 0,
        2: (0x04 if f.cover_open else 0) | (0x20 if f.paper_out else 0) | (0x40 if f.error else 0),
        3: 0,
        4: (0x0C if f.near_end() else 0) | (0x60 if f.paper_out else 0),
    }
    return 0x12 | flags[n] if n in flags else None


PAPER_80MM_DOTS = 576


class PrinterSimulator:
    """Thread-safe core; `jobs` holds every ticket cut, `dropped_bytes` what was lost while stopped."""

    def __init__(self, name: str = "printer", *, width_dots: int = PAPER_80MM_DOTS, out_dir: str | Path | None = None,
                 faults: Faults | None = None, on_job: Callable[[Job], None] | None = None) -> None:
        self.name, self.width_dots = name, width_dots
        self.out_dir = Path(out_dir) if out_dir else None
        self.faults = faults or Faults()
        self.on_job = on_job
        self.jobs: list[Job] = []
        self.dropped_bytes = 0
        self.received = bytearray()  # everything, status queries included
        self._buf = b""
        self._job = bytearray()
        self._dropping = False
        self._lock = threading.Lock()

    def feed(self, data: bytes) -> bytes:
        with self._lock:
            self.received += data
            buf, i, out = self._buf + data, 0, bytearray()
            while i < len(buf):
                n = command_length(buf, i)
                if n is None:
                    break
                cmd, i = buf[i:i + n], i + n
                if cmd.startswith(b"\x10\x04"):
                    r = status_byte(cmd[2], self.faults)
                    if r is not None:
                        out.append(r)
                else:
                    self._take(cmd)
            self._buf = buf[i:]
            return bytes(out)

    def load_paper(self) -> None:
        """A fresh roll: paper out, near end and the countdown are cleared."""
        self.faults.paper_out = self.faults.paper_near_end = False
        self.faults.paper_out_after = None

    def _take(self, cmd: bytes) -> None:
        f = self.faults
        if f.paper_out_after == 0 and not self._job and not self._dropping:
            f.paper_out = True  # the last ticket used up the roll; the sensor trips as the next one starts
        cut = cmd.startswith(b"\x1dV")
        if self._dropping or f.stopped():
            self.dropped_bytes += len(cmd)
            self._job.clear()
            self._dropping = not cut  # a stopped printer loses the rest of this job too
            return
        self._job += cmd
        if cut:
            self._finish()

    def _finish(self) -> None:
        data = bytes(self._job)
        self._job.clear()
        job = Job(len(self.jobs) + 1, data, None)
        try:
            job.paper = render_escpos(data, self.width_dots)
            if self.out_dir is not None:
                self.out_dir.mkdir(parents=True, exist_ok=True)
                job.png = self.out_dir / f"{self.name}-{job.index:04d}.png"
                job.paper.image().save(job.png)
        except (EscPosError, ValueError, IndexError) as e:
            job.error = f"cannot render job {job.index}: {e}"
        self.jobs.append(job)
        if self.faults.paper_out_after is not None:
            self.faults.paper_out_after = max(0, self.faults.paper_out_after - 1)
        if self.on_job is not None:
            self.on_job(job)


_REGISTRY: dict[str, PrinterSimulator] = {}


def register(sim: PrinterSimulator) -> PrinterSimulator:
    """Make `sim` the printer behind sim://NAME in this process."""
    _REGISTRY[sim.name] = sim
    return sim


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def simulator_named(name: str, *, out_dir: str | None = None, paper_out_after: int | None = None,
                    width_dots: int | None = None) -> PrinterSimulator:
    """The registered simulator, or a new one with these settings (so sim://printer works with no setup)."""
    sim = _REGISTRY.get(name)
    if sim is None:
        sim = register(PrinterSimulator(name, width_dots=width_dots or PAPER_80MM_DOTS, out_dir=out_dir,
                                        faults=Faults(paper_out_after=paper_out_after)))
    return sim


def _pace(f: Faults, n: int) -> None:
    if f.bytes_per_s:
        time.sleep(n / f.bytes_per_s)


class PtyPrinter(PtyEndpoint):
    """The simulator behind a pty; `port` is the path to open (the `link` symlink if given)."""

    thread_name = "simprinter"

    def __init__(self, sim: PrinterSimulator, link: str | Path | None = None) -> None:
        super().__init__(link)
        self.sim = sim

    @property
    def read_size(self) -> int:  # type: ignore[override]
        """Small reads while the simulated line is paced (faults may change while it runs)."""
        return 256 if self.sim.faults.bytes_per_s else 65536

    def _received(self, data: bytes) -> None:
        _pace(self.sim.faults, len(data))
        reply = self.sim.feed(data)
        if reply:
            self._send(reply)


class TcpPrinter(ServedEndpoint):
    """The simulator on a TCP port like a network printer's raw port 9100; one client at a time."""

    def __init__(self, sim: PrinterSimulator, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__()
        self.sim, self.host, self.port = sim, host, port
        self._srv: socket.socket | None = None

    def open(self) -> TcpPrinter:
        srv = socket.create_server((self.host, self.port))
        self.port = srv.getsockname()[1]
        self._srv = srv
        self._start(lambda: self._run(srv), f"simprinter-tcp-{self.port}")
        return self

    def close(self) -> None:
        self._halt()
        if self._srv is not None:
            self._srv.close()
            self._srv = None

    def _run(self, srv: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([srv], [], [], 0.05)
                if not r:
                    continue
                conn, _ = srv.accept()
            except (OSError, ValueError):
                return
            with conn:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([conn], [], [], 0.05)
                if not r:
                    continue
                data = conn.recv(256 if self.sim.faults.bytes_per_s else 65536)
                if not data:
                    return
                _pace(self.sim.faults, len(data))
                reply = self.sim.feed(data)
                if reply:
                    conn.sendall(reply)
            except OSError:
                return

