"""Opening hours on the real Kivy kiosk (Xvfb), driven by touch against the real controller, both on one simulated
clock (`--clock`): a service with its hours, one greyed before its afternoon span, one on its appointment-only
day. A tap on the greyed one sends nothing and says why; an appointment code still checks in on its
appointment-only day; screenshots are kept (docs/img/kiosk-hours-*.png with HALLQ_UPDATE_DOCS=1)."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from hallq.broker import Mosquitto
from hallq.mqtt import CommandError
from hallq.msb.tokens import APPOINTMENT_PREFIX, mint
from tests.conftest import Hall, small_hall
from tests.kiosk.test_kiosk_gui import DOCS, _public, _run_kiosk

pytestmark = pytest.mark.gui
TZ = ZoneInfo("Asia/Shanghai")
KEY = Ed25519PrivateKey.generate()
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
GREY, BLUE = (77, 82, 92), (33, 77, 140)      # kiosk/app.py FILLS: closed, normal


def _share(img: Image.Image, rgb: tuple[int, int, int]) -> float:
    """The share of the screen painted in `rgb` (a button's fill), within a few levels."""
    a = np.asarray(img.convert("RGB"), dtype=np.int16)
    return float((np.abs(a - np.array(rgb)).max(axis=2) <= 3).mean())


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs an X display: scripts/test runs under xvfb-run")
def test_hours_and_closed_services_by_touch(tmp_path: Path, mosquitto: Mosquitto) -> None:
    # a day ahead of the wall clock, 10:30 in the hall: the controller's "online since" is after the test began
    day = (datetime.now(TZ) + timedelta(days=2)).date()
    start = datetime.combine(day, time(10, 30), TZ)
    every = {d: ["08:30-12:00"] for d in DAYS}
    kiosk = {"id": "k1", "printer": {"url": f"sim://hours-printer?out={tmp_path / 'paper'}", "status_poll_s": 1},
             "credentials": {"issuer_public_keys": {"msb-test": _public(KEY)}}}
    raw = small_hall(
        mosquitto.port, data_dir=str(tmp_path / "data"), kiosks=[kiosk], staff=[],
        services=[
            {"id": "general", "prefix": "A", "name": {"zh": "综合受理", "mn": "ᠶᠡᠷᠦᠩᠬᠡᠢ"}, "hours": {"weekly": every}},
            {"id": "tax", "prefix": "S", "name": {"zh": "税务", "mn": "ᠲᠠᠲᠠᠪᠤᠷᠢ"},
             "hours": {"weekly": {d: ["14:00-17:00"] for d in DAYS}}},
            {"id": "social", "prefix": "B", "name": {"zh": "社保", "mn": "ᠨᠡᠶᠢᠭᠡᠮ"}, "hours": {"weekly": every},
             "appointment_only": {"weekdays": [DAYS[day.weekday()]]}},
        ],
        windows=[{"id": "1", "services": ["general", "tax", "social"]}])
    h = Hall(tmp_path, mosquitto, raw)
    clock = start.isoformat()
    h.controller.extra = ("--clock", clock)
    slot = start + timedelta(minutes=10)
    iat = int(start.timestamp())
    token = mint(KEY, "msb-test", APPOINTMENT_PREFIX, {
        "iss": "mengsuban", "jti": "apt-hours-1", "iat": iat - 5, "exp": iat + 300, "sub": "holder-7",
        "name": "巴特尔", "idn": "150102195001011234", "hall": "test-hall", "service": "social",
        "slot_start": slot.isoformat(), "slot_end": (slot + timedelta(minutes=30)).isoformat()})
    shots = tmp_path / "shots"
    steps: list[dict[str, Any]] = [
        {"wait": "home"},
        {"tap": "lang", "arg": "zh"}, {"wait": "services"}, {"sleep": 1.0},
        {"shot": str(shots / "services.png")}, {"dump": str(shots / "services.json")},
        {"tap": "service", "arg": "tax"}, {"wait": "error"},
        {"shot": str(shots / "closed.png")}, {"dump": str(shots / "closed.json")},
        {"tap": "back"}, {"wait": "services"},
        {"tap": "service", "arg": "social"}, {"wait": "error"}, {"dump": str(shots / "walk-in-barred.json")},
        {"tap": "home"}, {"wait": "home"},
        {"tap": "lang", "arg": "mn"}, {"wait": "services"}, {"sleep": 1.0},
        {"shot": str(shots / "services-mn.png")}, {"dump": str(shots / "services-mn.json")},
        {"tap": "service", "arg": "general"}, {"wait": "result"},
        {"tap": "home"}, {"wait": "home"},
        {"tap": "appointment", "arg": "zh"}, {"wait": "scan"}, {"scan": token}, {"wait": "result"},
        {"shot": str(shots / "appointment.png")}, {"dump": str(shots / "appointment.json")},
        {"quit": True},
    ]
    try:
        h.start_controller()
        log = _run_kiosk(h, steps, extra=("--clock", clock))
        with h.client("check") as c:
            assert c.command("ticket", number="A001")["ticket"]["priority"] == "normal"
            assert c.command("ticket", number="B001")["ticket"]["priority"] == "appointment", \
                "an appointment checks in on its service's appointment-only day"
            for never in ("S001", "B002"):
                with pytest.raises(CommandError):
                    c.command("ticket", number=never)
    finally:
        h.controller.kill()

    texts = json.loads((shots / "services.json").read_text())["texts"]
    assert texts[:4] == ["请选择办理的业务", "综合受理", "等候 0 人 · 暂无窗口", "今日 08:30–12:00"], texts
    assert texts[4:8] == ["税务", "等候 0 人 · 暂无窗口", "今日 14:00–17:00", "14:00 起取号"], "greyed: why"
    assert texts[8:12] == ["社保", "等候 0 人 · 暂无窗口", "今日 08:30–12:00", "今日仅限预约"], texts
    closed = json.loads((shots / "closed.json").read_text())
    assert closed["texts"] == ["该业务现在不能取号", "税务：14:00 起取号", "今日 14:00–17:00", "返回", "回首页"], closed
    barred = json.loads((shots / "walk-in-barred.json").read_text())
    assert barred["texts"][1:4] == ["社保：今日仅限预约", "今日 08:30–12:00",
                                    "已预约的群众请回首页点「预约签到」扫预约码"], barred
    mn = json.loads((shots / "services-mn.json").read_text())["texts"]
    assert "ᠥᠨᠥᠳᠥᠷ 14:00–17:00" in mn and "14:00 ᠴᠠᠭ ᠠᠴᠠ ᠳ᠋ᠤᠭᠠᠷ ᠣᠯᠭᠣᠨ᠎ᠠ" in mn, mn
    appointment = json.loads((shots / "appointment.json").read_text())
    assert appointment["texts"][:2] == ["您的号码", "B001"], appointment
    assert "issue tax" not in log and "issue social refused" not in log, "a greyed tap sends nothing"

    services, closed_png = Image.open(shots / "services.png"), Image.open(shots / "closed.png")
    assert services.size == (1920, 1080)
    assert _share(services, GREY) > 0.08, "the closed services are greyed"
    assert _share(services, BLUE) > 0.05, "the open one keeps its colour"
    assert len(closed_png.convert("L").resize((96, 54)).getcolors(4096) or []) > 8, "the refusal looks blank"
    if os.environ.get("HALLQ_UPDATE_DOCS"):
        for name in ("services", "closed", "services-mn", "appointment"):
            shutil.copy(shots / f"{name}.png", DOCS / f"kiosk-hours-{name}.png")
