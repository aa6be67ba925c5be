"""Printer transports and driver: a ticket through pty serial, tcp, file and sim arrives byte for byte and scans."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
import zbar

from devices.printer.base import PrinterError
from devices.printer.cli import sample_ticket
from devices.printer.driver import PrintFailed, TicketPrinter
from devices.printer.escpos import PROFILES, render_ticket_bytes
from devices.printer.sim import render_escpos
from devices.printer.simulator import (
    Faults,
    PrinterSimulator,
    PtyPrinter,
    TcpPrinter,
    command_length,
    register,
    unregister,
)
from devices.printer.transport import transport_for_url
from hallq.config import load_config
from hallq.config.kiosk import PrinterConfig
from tests.conftest import REPO

CFG = load_config(REPO / "config/demo.yaml")
TICKET = sample_ticket(CFG)
DATA = render_ticket_bytes(TICKET, PROFILES["80mm"])


def _zbar(img: object) -> list[str]:
    arr = np.ascontiguousarray(np.asarray(img.convert("L"), dtype=np.uint8))  # type: ignore[attr-defined]
    return [s.data.decode("ascii") for s in zbar.Scanner().scan(arr)]


class Bench:
    """A simulator reachable by one URL kind; `received()` is what reached the paper path."""

    def __init__(self, kind: str, tmp: Path, faults: Faults | None = None) -> None:
        self.kind, self.tmp = kind, tmp
        self.sim = PrinterSimulator(f"bench-{kind}", out_dir=tmp / "png", faults=faults)
        self.host: PtyPrinter | TcpPrinter | None = None
        if kind == "pty":
            self.host = PtyPrinter(self.sim, tmp / "ttyPRN").open()
            self.url = f"serial://{self.host.port}?baud=115200"
        elif kind == "tcp":
            self.host = TcpPrinter(self.sim).open()
            self.url = f"tcp://127.0.0.1:{self.host.port}"
        elif kind == "sim":
            register(self.sim)
            self.url = f"sim://{self.sim.name}"
        else:
            self.url = f"file://{tmp}/printer.bin"

    def received(self) -> bytes:
        if self.kind == "file":
            return (self.tmp / "printer.bin").read_bytes()
        return b"".join(j.data for j in self.sim.jobs)

    def close(self) -> None:
        if self.host is not None:
            self.host.close()
        unregister(self.sim.name)


@pytest.fixture(params=["pty", "tcp", "file", "sim"])
def bench(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bench]:
    b = Bench(request.param, tmp_path)
    yield b
    b.close()


def test_ticket_arrives_byte_for_byte_and_scans(bench: Bench) -> None:
    p = TicketPrinter(PrinterConfig(url=bench.url, status_timeout_s=2.0), "kiosk-1")
    steps: list[float] = []
    p.open()
    try:
        st = p.print_job(DATA, steps.append, what=f"ticket {TICKET.number}")
    finally:
        p.close()
    assert bench.received() == DATA, f"{bench.kind}: the printer must receive exactly the ticket's bytes"
    assert steps[0] == 0.0 and steps[-1] == 1.0 and steps == sorted(steps) and len(steps) > 2
    if bench.kind == "file":
        assert st.state == "unknown" and "check ticket A001 came out" in st.detail, st
        paper = render_escpos(bench.received())
    else:
        assert st.state == "ok", st
        job = bench.sim.jobs[0]
        assert job.png is not None and job.png.exists() and job.paper is not None
        paper = job.paper
        from PIL import Image

        assert _zbar(Image.open(job.png)) == [TICKET.qr_payload], "the saved PNG's QR must scan"
    assert _zbar(paper.image()) == [TICKET.qr_payload]


def test_status_query_inside_image_data_is_not_a_command() -> None:
    img = b"\x1dv0\x00\x02\x00\x02\x00" + b"\x10\x04\x01\x10"
    assert command_length(img, 0) == len(img)
    sim = PrinterSimulator("x")
    job = b"\x1b@" + img + b"\x1dVB\x00"
    assert sim.feed(job[:5]) == b"" and sim.feed(job[5:]) == b"", "image bytes must not be answered"
    assert [j.data for j in sim.jobs] == [job]


@pytest.mark.parametrize("kind", ["tcp", "sim"])
def test_paper_runs_out_after_one_ticket(kind: str, tmp_path: Path) -> None:
    b = Bench(kind, tmp_path, Faults(paper_out_after=1))
    p = TicketPrinter(PrinterConfig(url=b.url, status_timeout_s=2.0), "kiosk-1")
    p.open()
    try:
        assert p.print_job(DATA).state == "paper_near_end", "the last ticket of the roll prints, near end"
        with pytest.raises(PrintFailed) as e:
            p.print_job(DATA, what="ticket A002")
        assert e.value.state == "paper_out"
        assert f"printer kiosk-1 ({kind} " in str(e.value) and "ticket A002 kept" in str(e.value), str(e.value)
        assert "while printing" in str(e.value) and "reprint" in str(e.value)
        assert len(b.sim.jobs) == 1 and b.sim.dropped_bytes == len(DATA), "a printer without paper prints nothing"
        with pytest.raises(PrintFailed, match="out of paper — ticket A003 kept; load a new roll") as e2:
            p.print_job(DATA, what="ticket A003")
        assert "while printing" not in str(e2.value), "a known stop must refuse before sending"
        assert b.sim.dropped_bytes == len(DATA), "nothing is sent to a printer known to be out of paper"
        b.sim.load_paper()
        assert p.print_job(DATA).state == "ok" and len(b.sim.jobs) == 2
    finally:
        p.close()
        b.close()


def test_cover_open_refuses_without_sending(tmp_path: Path) -> None:
    b = Bench("sim", tmp_path, Faults(cover_open=True))
    p = TicketPrinter(PrinterConfig(url=b.url), "kiosk-2")
    p.open()
    try:
        with pytest.raises(PrintFailed, match=r"printer kiosk-2 \(sim bench-sim\): cover open — the ticket kept; "
                                              "close the cover") as e:
            p.print_job(DATA)
        assert e.value.state == "cover_open" and b.sim.received == b"\x10\x04\x01\x10\x04\x02\x10\x04\x04"
    finally:
        p.close()
        b.close()


def test_write_error_is_a_print_failure(tmp_path: Path) -> None:
    b = Bench("tcp", tmp_path)
    p = TicketPrinter(PrinterConfig(url=b.url, status_timeout_s=2.0), "kiosk-1")
    p.open()
    try:
        b.close()  # the printer drops the connection mid-shift
        with pytest.raises(PrintFailed, match=r"printer kiosk-1 \(tcp 127.0.0.1:\d+\): send failed .* the ticket "
                                              "kept, reprint it from the kiosk menu") as e:
            p.print_job(DATA)
        assert e.value.state == "offline"
    finally:
        p.close()


def test_slow_printer_paces_the_job(tmp_path: Path) -> None:
    b = Bench("pty", tmp_path, Faults(bytes_per_s=200_000))
    p = TicketPrinter(PrinterConfig(url=b.url, status_timeout_s=2.0), "kiosk-1")
    p.open()
    try:
        t0 = time.monotonic()
        assert p.print_job(DATA).state == "ok"
        assert time.monotonic() - t0 >= 0.8 * len(DATA) / 200_000, "a slow printer takes its time"
        assert [j.data for j in b.sim.jobs] == [DATA]
    finally:
        p.close()
        b.close()


def test_silent_printer_still_prints_but_says_so(tmp_path: Path) -> None:
    b = Bench("sim", tmp_path, Faults(silent=True))
    p = TicketPrinter(PrinterConfig(url=b.url, status_timeout_s=0.05), "kiosk-1")
    p.open()
    try:
        st = p.print_job(DATA, what="ticket A001")
    finally:
        p.close()
        b.close()
    assert st.state == "unknown" and "did not report its status" in st.detail
    assert [j.data for j in b.sim.jobs] == [DATA]


@pytest.mark.parametrize("url, words", [
    ("usb://0416:5011", "no USB device 0416:5011 — check the cable and power, and that `lsusb` lists 0416:5011"),
    ("tcp://127.0.0.1:1", "printer kiosk-1 (tcp 127.0.0.1:1): cannot connect"),
    ("serial:///dev/nonexistent-printer", "printer kiosk-1 (serial /dev/nonexistent-printer 9600 baud): cannot open"),
    ("file:///nonexistent-dir/x.bin", "printer kiosk-1 (file /nonexistent-dir/x.bin): cannot open"),
])
def test_open_failures_name_the_printer(url: str, words: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import usb.core

    monkeypatch.setattr(usb.core, "find", lambda **_: None)
    t = transport_for_url(url, name="kiosk-1")
    with pytest.raises(PrinterError) as e:
        t.open()
    assert words in str(e.value)


@pytest.mark.parametrize("url, words", [
    ("usb://zz:5011", "usb://VID:PID"), ("gopher://x", "give usb://VID:PID"), ("tcp://h:9100?timeout=x", "timeout="),
])
def test_bad_urls(url: str, words: str) -> None:
    with pytest.raises(PrinterError, match=words):
        transport_for_url(url)


def test_url_kinds() -> None:
    cases = {"usb://0416:5011?interface=1&out=0x02&in=0x81": "printer p (usb 0416:5011)",
             "serial:///dev/ttyUSB0?baud=19200": "printer p (serial /dev/ttyUSB0 19200 baud)",
             "/dev/ttyS0": "printer p (serial /dev/ttyS0 9600 baud)",
             "loop://": "printer p (serial loop:// 9600 baud)",
             "tcp://10.0.0.5": "printer p (tcp 10.0.0.5:9100)",
             "file:///dev/usb/lp0": "printer p (file /dev/usb/lp0)",
             "sim://front": "printer p (sim front)"}
    for url, desc in cases.items():
        assert transport_for_url(url, name="p").describe() == desc


def test_print_test_cli_to_tcp_simulator(tmp_path: Path) -> None:
    sim = PrinterSimulator("cli", out_dir=tmp_path / "png")
    host = TcpPrinter(sim).open()
    raw = yaml.safe_load((REPO / "config/demo.yaml").read_text(encoding="utf-8"))
    raw["kiosks"][0]["printer"].update(url=f"tcp://127.0.0.1:{host.port}", status_timeout_s=2.0)
    kid = raw["kiosks"][0]["id"]
    cfg = tmp_path / "hall.yaml"
    cfg.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    cmd = [sys.executable, "-m", "hallq", "print-test", "--config", str(cfg), "--kiosk", kid]
    try:
        res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert f"to printer {kid} (tcp 127.0.0.1:{host.port}); status ok" in res.stdout, res.stdout
        assert [j.data for j in sim.jobs] == [DATA]
        sim.faults.paper_out = True
        bad = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)
        assert bad.returncode == 1 and f"printer {kid} (tcp 127.0.0.1:{host.port}): out of paper" in bad.stderr
    finally:
        host.close()


def test_simcli_on_tcp(tmp_path: Path) -> None:
    code = "import sys; from devices.printer.simcli import run; sys.exit(run(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, "--tcp", "0", "--out", str(tmp_path), "--name", "bench",
                             "--paper-out-after", "1"], cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("simulated printer on tcp://127.0.0.1:"), first
        url = first.split()[3].rstrip(";")
        p = TicketPrinter(PrinterConfig(url=url, status_timeout_s=2.0), "kiosk-1")
        p.open()
        try:
            p.print_job(DATA)
            with pytest.raises(PrintFailed, match="out of paper"):
                p.print_job(DATA)
        finally:
            p.close()
        assert proc.stdout.readline().startswith(f"ticket 1: {len(DATA)} bytes, saved {tmp_path}/bench-0001.png")
        assert _zbar(__import__("PIL.Image").Image.open(tmp_path / "bench-0001.png")) == [TICKET.qr_payload]
    finally:
        proc.terminate()
        proc.wait(10)
