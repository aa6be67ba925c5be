"""Printer status: DLE EOT reply parsing, the poller against the simulator on a pty and on TCP, the watcher."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.printer.base import Transport
from devices.printer.simulator import Faults, PrinterSimulator, PtyPrinter, TcpPrinter, status_byte
from devices.printer.status import PrinterStatus, StatusWatcher, parse_status, poll_status
from devices.printer.transport import transport_for_url

OK = {1: 0x12, 2: 0x12, 4: 0x12}


@pytest.mark.parametrize("replies, state, words", [
    (OK, "ok", "ready"),
    ({**OK, 1: 0x12 | 0x08}, "offline", "offline"),
    ({**OK, 2: 0x12 | 0x04}, "cover_open", "cover open"),
    ({**OK, 2: 0x12 | 0x20}, "paper_out", "paper end"),
    ({**OK, 2: 0x12 | 0x40}, "error", "error"),
    ({**OK, 4: 0x12 | 0x0C}, "paper_near_end", "near end"),
    ({**OK, 4: 0x12 | 0x04}, "paper_near_end", "near end"),   # printers that set one bit of the pair
    ({**OK, 4: 0x12 | 0x08}, "paper_near_end", "near end"),
    ({**OK, 4: 0x12 | 0x60}, "paper_out", "paper out"),
    ({**OK, 4: 0x12 | 0x20}, "paper_out", "paper out"),
    ({**OK, 4: 0x12 | 0x40}, "paper_out", "paper out"),
    ({1: 0x1A, 2: 0x12 | 0x24, 4: 0x12 | 0x6C}, "cover_open", "cover open"),  # the first thing to fix wins
    ({1: 0x1A, 2: 0x12 | 0x20, 4: 0x12 | 0x6C}, "paper_out", "paper out"),
    ({**OK, 1: 0x12 | 0x04}, "ok", "ready"),    # drawer-kick pin: not ours
    ({**OK, 1: 0xFF}, "unknown", "0xFF"),       # fixed bits wrong: garbage, not "everything set"
    ({**OK, 2: 0x00}, "unknown", "not a status byte"),
    ({**OK, 4: 0x13}, "unknown", "0x13"),       # bit 0 set
    ({**OK, 4: 0x92}, "unknown", "0x92"),       # bit 7 set
    ({**OK, 1: 0x10}, "unknown", "0x10"),       # bit 1 clear (an echoed DLE)
    ({1: 0x12, 2: 0x12}, "unknown", "no answer to DLE EOT 4"),
    ({}, "unknown", "no answer to DLE EOT 1"),
    ({1: None, 2: 0x12, 4: 0x12}, "unknown", "no answer"),
])
def test_parse_status(replies: dict[int, int | None], state: str, words: str) -> None:
    st = parse_status(replies)
    assert (st.state, words in st.detail) == (state, True), f"{replies} should be {state} ({words!r}), got {st}"


def test_simulator_answers_with_fixed_bits() -> None:
    for f in (Faults(), Faults(paper_out=True, cover_open=True, error=True, paper_near_end=True)):
        for n in (1, 2, 3, 4):
            b = status_byte(n, f)
            assert b is not None and b & 0x93 == 0x12, f"DLE EOT {n} -> {b!r} must keep the fixed bits"
    assert status_byte(1, Faults(silent=True)) is None


@pytest.fixture(params=["pty", "tcp"])
def wired(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[PrinterSimulator, Transport]]:
    """A simulator behind a real pty (through the serial transport) or a TCP port (through tcp://)."""
    sim = PrinterSimulator("bench")
    host: PtyPrinter | TcpPrinter
    if request.param == "pty":
        host = PtyPrinter(sim, tmp_path / "ttyPRN").open()
        url = f"serial://{host.port}?baud=115200"
    else:
        host = TcpPrinter(sim).open()
        url = f"tcp://127.0.0.1:{host.port}"
    t = transport_for_url(url, name="kiosk-1")
    t.open()
    yield sim, t
    t.close()
    host.close()


@pytest.mark.parametrize("faults, state", [
    ({}, "ok"),
    ({"paper_near_end": True}, "paper_near_end"),
    ({"paper_out": True}, "paper_out"),
    ({"cover_open": True}, "cover_open"),
    ({"error": True}, "error"),
    ({"silent": True}, "unknown"),
    ({"garbled": True}, "unknown"),
])
def test_poll_status_against_simulator(wired: tuple[PrinterSimulator, Transport], faults: dict[str, bool],
                                       state: str) -> None:
    sim, t = wired
    for k, v in faults.items():
        setattr(sim.faults, k, v)
    st = poll_status(t, timeout_s=0.2 if state == "unknown" else 2.0)  # answered polls do not wait the timeout
    assert st.state == state, f"with {faults} the printer should read {state}, got {st}"


def test_poll_recovers_after_silence_and_late_answers(wired: tuple[PrinterSimulator, Transport]) -> None:
    sim, t = wired
    t.write(b"\x10\x04\x01\x10\x04\x04")  # answers nobody reads: the next poll must not take them for its own
    deadline = time.monotonic() + 5
    while len(sim.received) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # the answers are on their way back, as after a poll that gave up
    sim.faults.paper_out = True
    assert poll_status(t, timeout_s=2.0).state == "paper_out"
    sim.load_paper()
    assert poll_status(t, timeout_s=2.0).state == "ok"


def test_file_transport_never_reports_ok(tmp_path: Path) -> None:
    t = transport_for_url(f"file://{tmp_path}/out.bin", name="kiosk-1")
    t.open()
    st = poll_status(t, timeout_s=0.05)
    t.close()
    assert st.state == "unknown" and "cannot report its status" in st.detail
    assert (tmp_path / "out.bin").read_bytes() == b"", "status queries must not end up in the file"


def test_watcher_reports_transitions_only() -> None:
    w = StatusWatcher(unknown_after=2)
    seq = ["ok", "ok", "paper_near_end", "paper_near_end", "paper_out", "ok", "unknown", "ok", "unknown", "unknown",
           "unknown", "ok"]
    changes = [c for s in seq if (c := w.feed(PrinterStatus(s, s))) is not None]  # type: ignore[arg-type]
    assert [(c.old.state if c.old else None, c.new.state) for c in changes] == [
        (None, "ok"), ("ok", "paper_near_end"), ("paper_near_end", "paper_out"), ("paper_out", "ok"),
        ("ok", "unknown"), ("unknown", "ok")], "one missed answer is no news; two in a row are"
