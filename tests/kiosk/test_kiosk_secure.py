"""The headless kiosk in a secure hall (CONTRACT §5): a broker started from the generated config, the
controller and `hallq kiosk --credentials` each with their own principal, a printer on a pty.

The kiosk issues on its secure command topic; its printer status goes to `device/kiosk-1/status` (the only
device topic a kiosk may write), so the controller's paper-out alert names kiosk-1; a 绿色通道 code is sent
raw as `credential` and the controller grants green itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devices.printer.simulator import Faults, PrinterSimulator, PtyPrinter
from hallq.msb.tokens import CREDENTIAL_PREFIX, mint
from tests.conftest import ControllerProc, small_hall
from tests.kiosk.test_kiosk_gui import KEY, _public
from tests.kiosk.test_kiosk_runtime import HeadlessKiosk
from tests.secure_hall import SecureHall, secure_hall


@pytest.fixture
def printer(tmp_path: Path) -> Iterator[PrinterSimulator]:
    sim = PrinterSimulator("pty-printer", out_dir=tmp_path / "paper", faults=Faults(paper_out_after=1))
    host = PtyPrinter(sim, link=tmp_path / "ttyPRINTER").open()
    yield sim
    host.close()


@pytest.fixture
def hall(tmp_path: Path, printer: PrinterSimulator) -> Iterator[tuple[SecureHall, ControllerProc]]:
    kiosk = {"id": "k1", "printer": {"url": f"serial://{tmp_path / 'ttyPRINTER'}?baud=115200", "status_poll_s": 0.5},
             "credentials": {"issuer_public_keys": {"msb-test": _public(KEY)}}}
    with secure_hall(tmp_path / "hall", small_hall(data_dir=str(tmp_path / "data"), kiosks=[kiosk])) as h:
        ctl = ControllerProc(h.config_path, tmp_path / "data", tmp_path / "controller.log",
                             ("--credentials", str(h.credentials("controller"))))
        status = h.cfg.topic("controller", "status")
        with h.client("display-1", subscribe=(status,)) as c:
            t0 = datetime.now(UTC) - timedelta(milliseconds=5)
            ctl.start()
            try:
                c.wait_for(status, lambda b: b.get("state") == "online"
                           and datetime.fromisoformat(b["at"]) >= t0, timeout_s=30)
            except TimeoutError:
                raise AssertionError("controller did not come online:\n" + ctl.log()) from None
        try:
            yield h, ctl
        finally:
            ctl.kill()


def test_secure_kiosk_issues_green_by_credential_and_reports_its_printer(
        hall: tuple[SecureHall, ControllerProc], printer: PrinterSimulator) -> None:
    h, ctl = hall
    now = int(time.time())
    token = mint(KEY, "msb-test", CREDENTIAL_PREFIX, {
        "iss": "mengsuban", "jti": "sec-1", "iat": now - 5, "exp": now + 300, "sub": "holder-9", "name": "巴特尔",
        "idn": "150102194001011234", "birth": "1940-01-01", "flags": []})
    with h.client("console-1", subscribe=(h.cfg.topic("event", "#"),)) as staff:
        k = HeadlessKiosk(h, extra=("--credentials", str(h.credentials("kiosk-1"))))
        try:
            k.home_online()
            k.send(tap="lang", arg="zh")
            k.screen("services")
            k.send(tap="service", arg="general")
            assert k.screen("result")["texts"][1] == "A001"
            k.send(tap="home")
            k.send(tap="green", arg="zh")
            k.screen("scan")
            k.send(scan=token)
            k.screen("services")
            k.send(tap="service", arg="general")
            failed = k.screen("error")          # the second ticket runs the printer out of paper
            assert failed["texts"][1] == "A002", failed
        finally:
            assert k.stop() == 0
        issued = staff.wait_for(h.cfg.topic("event", "ticket.issued"), lambda b: b.get("ticket") == "A002")
        assert issued["priority"] == "green", "the controller verified the code itself and granted green"
        assert issued.get("principal") == "kiosk-1"
        alert = staff.wait_for(h.cfg.topic("event", "alert.raised"), lambda b: b.get("kind") == "printer_paper_out")
        assert "kiosk-1" in alert["message"], "the printer status came through device/kiosk-1/status"
        called = staff.command("login", window="1", staff="S001", actor="S001")
        assert called["window"]["staff"]["id"] == "S001"
        assert staff.command("call", window="1", actor="S001")["ticket"]["number"] == "A002", "green goes first"
    log = k.log.read_text(errors="replace")
    assert "Traceback" not in log and token not in log, log[-2000:]
    assert "FORBIDDEN" not in log
