"""The 导服台 prints the tickets it issues on its own ESC/POS printer (`console.printer`), with the kiosk's
encoder: the bytes on the printer's line are a whole ticket whose QR opens the ticket's page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devices.printer.escpos import INIT
from devices.printer.sim import render_escpos
from hallq.broker import Mosquitto
from tests.conftest import Hall
from tests.console.desk import PASSWORDS, ConsoleProc, console_hall, set_password


@pytest.fixture
def desk_with_printer(tmp_path: Path) -> Iterator[tuple[ConsoleProc, Path]]:
    broker = Mosquitto(workdir=tmp_path / "broker").start()
    paper = tmp_path / "reception-printer.bin"
    cfg = console_hall(broker.port)
    cfg["console"] = {"printer": {"url": f"file://{paper}", "profile": "80mm"},
                      "lookup_url": "https://hall.example/t"}
    hall = Hall(tmp_path, broker, cfg)
    set_password(hall, "R001", PASSWORDS["R001"])
    hall.start_controller()
    console = ConsoleProc(hall, tmp_path).start()
    try:
        yield console, paper
    finally:
        console.stop()
        hall.controller.kill()
        broker.stop()


def test_a_ticket_issued_at_the_desk_is_printed(desk_with_printer: tuple[ConsoleProc, Path]) -> None:
    console, paper = desk_with_printer
    with httpx.Client(base_url=console.url, timeout=15) as c:
        r = c.post("/api/session", json={"staff": "R001", "password": PASSWORDS["R001"]})
        csrf = r.json()["csrf"]
        r = c.post("/api/tickets", json={"service": "general", "priority": "green", "reason": "八十岁老人"},
                   headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200, r.text
        body = r.json()
    assert body["printed"] is True, body
    data = paper.read_bytes()
    assert data.startswith(INIT) and body["ticket"]["number"].encode("gb18030") in data
    printed = render_escpos(data)
    assert printed.qr_payloads == [f"https://hall.example/t?q={body['ref']}"]
