"""The headless call screen in a secure hall (CONTRACT §5): a broker started from the generated config, the
controller and `hallq display --credentials` with their own principals. The screen anchors its seq on the
controller's log through `cmd/display-1/events` (answered under `reply/display-1/`), shows real calls, and
a principal that tries to publish a call on `event/` is dropped by the broker."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import ControllerProc, small_hall
from tests.display.poison import CALLED
from tests.display.test_display_poison import CALL, OFFLINE, HeadlessScreen
from tests.secure_hall import SecureHall, secure_hall


@pytest.fixture
def hall(tmp_path: Path) -> Iterator[SecureHall]:
    base = small_hall(data_dir=str(tmp_path / "data"), displays=[{"id": "tv", "voice": False}])
    with secure_hall(tmp_path / "hall", base) as h:
        ctl = ControllerProc(h.config_path, tmp_path / "data", tmp_path / "controller.log",
                             ("--credentials", str(h.credentials("controller"))))
        status = h.cfg.topic("controller", "status")
        with h.client("display-1", "waiter", subscribe=(status,)) as c:
            t0 = datetime.now(UTC) - timedelta(milliseconds=5)
            ctl.start()
            try:
                c.wait_for(status, lambda b: b.get("state") == "online"
                           and datetime.fromisoformat(b["at"]) >= t0, timeout_s=30)
            except TimeoutError:
                raise AssertionError("controller did not come online:\n" + ctl.log()) from None
        try:
            yield h
        finally:
            ctl.kill()


def test_secure_screen_shows_real_calls_only(hall: SecureHall, tmp_path: Path) -> None:
    h = hall
    screen = HeadlessScreen(h.config_path, tmp_path / "display.log",
                            ("--credentials", str(h.credentials("display-1"))))
    try:
        screen.wait(lambda x: OFFLINE not in x, "the controller online")
        with h.client("console-1") as staff, h.client("kiosk-1") as kiosk:
            staff.command("login", window="1", staff="S001", actor="S001")
            assert kiosk.command("issue", service="general")["ticket"]["number"] == "A001"
            # a principal publishing on event/ is dropped by the broker's ACL: never reaches the screen
            kiosk.publish(h.cfg.topic("event", "ticket.called"), {**CALLED, "seq": 3, "ticket": "Z999"})
            staff.command("call", window="1", actor="S001")
            screen.wait(lambda x: CALL.format("A001", "1") in x, "the real call")
            kiosk.command("issue", service="general")
            staff.command("call", window="1", actor="S001")
            shown = screen.wait(lambda x: CALL.format("A002", "1") in x, "the next real call")
            assert "A001 → 1号窗口" in shown
        assert not any("Z999" in s for x in screen.seen for s in x)
        assert screen.proc.poll() is None
    finally:
        assert screen.stop() == 0
    log = screen.log.read_text(errors="replace")
    assert "Traceback" not in log and "does not answer 'events'" not in log, log[-3000:]
