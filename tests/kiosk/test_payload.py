"""Routing a scanned string: credential, appointment, our ticket QR, or not recognised (with a reason)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.scanner import Scan
from hallq.clock import SystemClock
from hallq.config import parse_config
from hallq.text.words import WORDS
from hallq.ticketqr import TicketRef
from kiosk.intents import ScanRejected
from kiosk.payload import classify
from kiosk.peripherals import KioskScanner
from tests.conftest import small_hall

TOKEN_TAIL = "eyJhbGciOiJFZERTQSJ9.e30.AAAA"

ROUTES = [
    # scanned text                                                   kind           ticket
    ("MSB1." + TOKEN_TAIL,                                           "credential",  None),
    ("APT1." + TOKEN_TAIL,                                           "appointment", None),
    ("MSB1." + TOKEN_TAIL + "\r\n",                                  "credential",  None),   # scanner's Enter
    ("HQ1:demo-hall:2026-11-23:A012:K7Q2",                           "ticket",
     TicketRef("demo-hall", date(2026, 11, 23), "A012", "K7Q2")),
    ("HQ1:demo-hall:2026-11-23:S001:-",                              "ticket",
     TicketRef("demo-hall", date(2026, 11, 23), "S001", None)),
    ("HQ1:xilinhot-1:2026-01-02:AB1234:ABCDEFGH\n",                  "ticket",
     TicketRef("xilinhot-1", date(2026, 1, 2), "AB1234", "ABCDEFGH")),
    ("https://hallq.example/t?q=HQ1:demo-hall:2026-11-23:A012:K7Q2", "ticket",
     TicketRef("demo-hall", date(2026, 11, 23), "A012", "K7Q2")),
    ("https://hallq.example/t?lang=mn&q=HQ1%3Ademo-hall%3A2026-11-23%3AA012%3AK7Q2", "ticket",
     TicketRef("demo-hall", date(2026, 11, 23), "A012", "K7Q2")),
    ("HQ1:demo-hall:2026-02-30:A012:K7Q2",                           "unknown",     None),   # no such day
    ("HQ1:Demo Hall:2026-11-23:A012:K7Q2",                           "unknown",     None),
    ("HQ1:demo-hall:2026-11-23:A012",                                "unknown",     None),
    ("ftp://hallq.example/t?q=HQ1:demo-hall:2026-11-23:A012:K7Q2",   "unknown",     None),
    ("https://hallq.example/t?q=x&q=HQ1:demo-hall:2026-11-23:A012:K7Q2", "unknown", None),
    ("https://weixin.qq.com/r/abc",                                  "unknown",     None),
    ("msb1." + TOKEN_TAIL,                                           "unknown",     None),
    ("6901234567892",                                                "unknown",     None),   # a barcode
    ("",                                                             "unknown",     None),
    ("\r\n",                                                         "unknown",     None),
    ("MSB1.张三",                                                    "unknown",     None),
    ("MSB1." + TOKEN_TAIL + "\x00",                                  "unknown",     None),
    ("HQ1:demo-hall:2026-11-23:A012:K7Q2\tx",                        "unknown",     None),
    ("MSB1." + "A" * 5000,                                           "unknown",     None),
]


@pytest.mark.parametrize(("text", "kind", "ticket"), ROUTES, ids=[repr(r[0][:40]) for r in ROUTES])
def test_routing_table(text: str, kind: str, ticket: TicketRef | None) -> None:
    r = classify(text)
    assert r.kind == kind, f"{text!r}: expected {kind}, got {r.kind} ({r.reason})"
    assert r.ticket == ticket
    if kind == "unknown":
        assert r.reason, f"{text!r}: an unknown scan needs a reason for the log"
    else:
        assert not r.reason and not r.text.endswith(("\r", "\n"))


@pytest.mark.parametrize(("text", "needle"), [
    ("MSB1.张三", "non-ASCII"), ("abc\x1bdef", "control"), ("", "empty"), ("A" * 5000, "longer"),
    ("HQ1:demo-hall:2026-13-01:A012:K7Q2", "ticket QR"),
])
def test_unknown_says_why(text: str, needle: str) -> None:
    assert needle in classify(text).reason


def test_routed_repr_does_not_carry_the_token() -> None:
    r = classify("MSB1." + TOKEN_TAIL)
    assert TOKEN_TAIL not in repr(r) and r.text == "MSB1." + TOKEN_TAIL


@given(st.text(max_size=300))
def test_classify_never_raises(text: str) -> None:
    r = classify(text)
    assert r.kind in ("credential", "appointment", "ticket", "unknown")
    if r.kind != "unknown":
        assert r.text.isascii()


def test_an_unknown_or_unreadable_scan_tells_the_citizen_in_both_languages(tmp_path: Path) -> None:
    """What the kiosk shows for a code it cannot use: the table's `not_recognised` (zh and mn)."""
    cfg = parse_config(small_hall(kiosks=[{"id": "k1"}]))
    scanner = KioskScanner(cfg, cfg.kiosks[0], tmp_path, lambda _i: None, SystemClock())
    scanner.replay.open()
    try:
        for scan in (Scan("hello world", "test"), Scan("", "test", error="checksum")):
            refused = scanner.route(scan)
            assert refused == ScanRejected(WORDS["not_recognised"]), scan
            assert refused.reason.zh and refused.reason.mn
    finally:
        scanner.replay.close()
