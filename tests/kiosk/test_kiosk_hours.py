"""A service's opening hours at the kiosk (pure presenter): today's hours on its button, greyed with the reason
when it issues no ticket, a tap that says why instead of sending `issue` — at the opening and closing minute, on
an appointment-only day (an appointment still checks in), and with no hours of its own (the hall's, or none).
The kiosk's decision is the controller's rule (hallq/opening.py): checked minute by minute against
controller.calendar.service_refusal."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from controller.calendar import service_refusal
from hallq.config import parse_config
from hallq.opening import Issuing, hours_opening, service_opening
from hallq.text.words import Lang
from hallq.voice import guide
from kiosk.hours import why_closed
from kiosk.intents import AppointmentRead, ControllerChanged, IssueTicket, QueuesChanged, Tap, Tick, Touch
from kiosk.presenter import Button, KioskPresenter, Prompt, Screen
from tests.conftest import small_hall

TZ = ZoneInfo("Asia/Shanghai")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
EVERY_DAY = (*WEEKDAYS, "sat", "sun")


def local(day: int, hm: str, s: int = 0) -> datetime:
    """November `day` 2026 at `hm` in the hall (the 23rd is a Monday, the 28th a Saturday)."""
    h, m = map(int, hm.split(":"))
    return datetime(2026, 11, day, h, m, s, tzinfo=TZ)


def hall(**over: Any) -> dict[str, Any]:
    """general: no hours of its own (the hall's, 08:30-17:30 on weekdays); tax: its own, with a lunch break;
    social: its own, every day, and on Saturdays appointments only."""
    return small_hall(
        hours={"weekly": {d: ["08:30-17:30"] for d in WEEKDAYS}},
        services=[
            {"id": "general", "prefix": "A", "name": {"zh": "综合受理", "mn": "ᠶᠡᠷᠦᠩᠬᠡᠢ"}},
            {"id": "tax", "prefix": "S", "name": {"zh": "税务", "mn": "ᠲᠠᠲᠠᠪᠤᠷᠢ"},
             "hours": {"weekly": {d: ["09:00-12:00", "14:00-17:00"] for d in WEEKDAYS}}},
            {"id": "social", "prefix": "B", "name": {"zh": "社保", "mn": "ᠨᠡᠶᠢᠭᠡᠮ"},
             "hours": {"weekly": {d: ["09:00-12:00"] for d in EVERY_DAY}},
             "appointment_only": {"weekdays": ["sat"]}},
        ],
        windows=[{"id": "1", "services": ["general", "tax", "social"]}], staff=[],
        kiosks=[{"id": "k1", "idle_timeout_s": 600}], **over)


def kiosk(now: datetime, **over: Any) -> KioskPresenter:
    cfg = parse_config(hall(**over))
    p = KioskPresenter(cfg, cfg.kiosks[0], now)
    p.handle(ControllerChanged(True), now)
    p.handle(QueuesChanged([{"id": s, "waiting": 0, "est_wait_s": None, "issuing": "open"}
                            for s in ("general", "tax", "social")]), now)
    p.handle(Tap("lang", "zh"), now)
    return p


def button(p: KioskPresenter, service: str) -> Button:
    return next(b for b in p.view().buttons if b.arg == service)


def shows(b: Button, lang: Lang = "zh") -> tuple[str, str | None, str | None]:
    """(style, hours line, note) of a service button."""
    return b.style, b.hours.get(lang) if b.hours else None, b.note.get(lang) if b.note else None


# -- the edges --------------------------------------------------------------------------------------------
def test_opening_minute() -> None:
    p = kiosk(local(23, "08:59", 59))
    hours = "今日 09:00–12:00、14:00–17:00"
    assert shows(button(p, "tax")) == ("closed", hours, "09:00 起取号")
    assert button(p, "tax").enabled, "greyed, but a tap still says why"
    assert p.handle(Tap("service", "tax"), local(23, "08:59", 59)) == [], "no issue the controller would refuse"
    v = p.view()
    assert v.screen is Screen.ERROR
    assert v.texts() == ["该业务现在不能取号", "税务：09:00 起取号", hours, "返回", "回首页"]
    assert v.voice == Prompt("closed")
    p.handle(Tap("back"), local(23, "08:59", 59))
    assert p.view().screen is Screen.SERVICES
    p.handle(Tick(), local(23, "09:00"))          # the minute turns: the kiosk's clock alone opens it
    assert shows(button(p, "tax")) == ("normal", hours, None)
    assert p.handle(Tap("service", "tax"), local(23, "09:00")) == [IssueTicket("tax", "normal", None, "kiosk:k1")]


def test_closing_minute_and_the_lunch_break() -> None:
    p = kiosk(local(23, "11:59", 59))
    assert shows(button(p, "tax"))[::2] == ("normal", None)
    p.handle(Tick(), local(23, "12:00"))
    assert shows(button(p, "tax"))[::2] == ("closed", "14:00 起取号")
    p.handle(Touch(), local(23, "16:59", 59))     # hours later (a touch: the visit has not timed out)
    assert shows(button(p, "tax"))[::2] == ("normal", None)
    p.handle(Tick(), local(23, "17:00"))
    assert shows(button(p, "tax"))[::2] == ("closed", "已停止取号")
    assert p.handle(Tap("service", "tax"), local(23, "17:00")) == []
    assert "税务：已停止取号" in p.view().texts()


def test_the_issue_cutoff_closes_earlier() -> None:
    raw = hall()
    raw["services"][1]["hours"]["issue_cutoff_min"] = 30
    cfg = parse_config(raw)
    assert service_opening(cfg, "tax", local(23, "16:29", 59)).issuing is Issuing.OPEN
    assert service_opening(cfg, "tax", local(23, "16:30")).issuing is Issuing.STOPPED
    assert service_opening(cfg, "tax", local(23, "11:45")).opens_at == local(23, "14:00").time()


def test_appointment_only_day() -> None:
    sat = local(28, "10:00")
    p = kiosk(sat)
    assert shows(button(p, "social")) == ("closed", "今日 09:00–12:00", "今日仅限预约")
    assert shows(button(p, "general"))[::2] == ("closed", "今日不取号"), "the hall's hours: closed on Saturday"
    assert shows(button(p, "tax")) == ("closed", None, "今日不取号"), "no span today: no hours line"
    assert p.handle(Tap("service", "social"), sat) == []
    v = p.view()
    assert v.texts()[:4] == ["该业务现在不能取号", "社保：今日仅限预约", "今日 09:00–12:00",
                             "已预约的群众请回首页点「预约签到」扫预约码"]
    assert v.voice == Prompt("appointment_only")
    # a checked-in appointment (APT1. code) is issued on its appointment-only day ...
    p.handle(Tap("home"), sat)
    p.handle(Tap("appointment", "zh"), sat)
    assert p.handle(AppointmentRead("apt:h", "张三", "social", token="APT1.t"), sat) == [
        IssueTicket("social", "appointment", "APT1.t", "appointment:k1")]
    # ... but, as the controller rules, only within the service's hours
    p.go_home(sat)
    p.handle(Tap("appointment", "zh"), local(28, "12:00"))
    assert p.handle(AppointmentRead("apt:h", "张三", "social", token="APT1.u"), local(28, "12:00")) == []
    v = p.view()
    assert v.texts() == ["该业务现在不能取号", "社保：已停止取号", "今日 09:00–12:00", "回首页"]
    assert v.voice == Prompt("closed")
    # a walk-in on a weekday is served as usual
    assert shows(button(kiosk(local(23, "10:00")), "social")) == ("normal", "今日 09:00–12:00", None)


def test_no_hours_of_its_own_follow_the_hall() -> None:
    p = kiosk(local(23, "08:29", 59))
    assert shows(button(p, "general")) == ("closed", None, "08:30 起取号")
    p.handle(Tick(), local(23, "08:30"))
    assert shows(button(p, "general")) == ("normal", None, None), "no hours line: the hall's hours are the hall's"
    p.handle(Touch(), local(23, "17:29", 59))
    assert shows(button(p, "general")) == ("normal", None, None)
    p.handle(Tick(), local(23, "17:30"))
    assert shows(button(p, "general")) == ("closed", None, "已停止取号")


def test_no_hours_at_all_is_always_open() -> None:
    cfg = parse_config(small_hall(kiosks=[{"id": "k1"}]))
    p = KioskPresenter(cfg, cfg.kiosks[0], local(23, "03:00"))
    p.handle(ControllerChanged(True), local(23, "03:00"))
    p.handle(Tap("lang", "zh"), local(28, "03:00"))
    assert [shows(b) for b in p.view().buttons if b.action == "service"] == [("normal", None, None)] * 2
    assert p.handle(Tap("service", "general"), local(28, "23:59")) == [IssueTicket("general", "normal", None,
                                                                                    "kiosk:k1")]
    assert hours_opening(None, local(28, "23:59")).issues(appointment=False)


def test_mongolian_wording() -> None:
    p = kiosk(local(23, "12:30"))
    p.handle(Tap("home"), local(23, "12:30"))
    p.handle(Tap("lang", "mn"), local(23, "12:30"))
    assert shows(button(p, "tax"), "mn") == ("closed", "ᠥᠨᠥᠳᠥᠷ 09:00–12:00 ᠂ 14:00–17:00",
                                             "14:00 ᠴᠠᠭ ᠠᠴᠠ ᠳ᠋ᠤᠭᠠᠷ ᠣᠯᠭᠣᠨ᠎ᠠ")
    p.handle(Touch(), local(23, "17:00"))
    assert shows(button(p, "tax"), "mn")[2] == "ᠳ᠋ᠤᠭᠠᠷ ᠣᠯᠭᠣᠬᠤ ᠵᠣᠭᠰᠠᠪᠠ"
    sat = kiosk(local(28, "10:00"))
    sat.handle(Tap("home"), local(28, "10:00"))
    sat.handle(Tap("lang", "mn"), local(28, "10:00"))
    assert shows(button(sat, "social"), "mn")[2] == "ᠥᠨᠥᠳᠥᠷ ᠵᠥᠪᠬᠡᠨ ᠤᠷᠢᠳᠴᠢᠯᠠᠨ ᠵᠠᠬᠢᠶᠠᠯᠠᠭᠰᠠᠨ"
    assert shows(button(sat, "general"), "mn")[2] == "ᠥᠨᠥᠳᠥᠷ ᠳ᠋ᠤᠭᠠᠷ ᠣᠯᠭᠣᠬᠤ ᠦᠭᠡᠢ"


def test_elder_mode_speaks_why() -> None:
    p = kiosk(local(28, "10:00"))
    p.handle(Tap("home"), local(28, "10:00"))
    p.handle(Tap("elder", "zh"), local(28, "10:00"))
    p.handle(Tap("service", "social"), local(28, "10:00"))
    v = p.view()
    assert v.speak and v.voice == Prompt("appointment_only") and "再听一遍" in v.texts()
    assert guide("appointment_only", "zh") == ["g_appointment_only"] and guide("closed", "mn") == ["g_closed"]


def test_the_retained_closed_note_is_still_shown_not_obeyed() -> None:
    """`issuing: closed` in retained state (forgeable in an open hall) with the kiosk's rule saying open: the
    note is shown and the tap still goes to the controller (docs/kiosk.md)."""
    p = kiosk(local(23, "10:00"))
    p.handle(QueuesChanged([{"id": "general", "waiting": 0, "est_wait_s": None, "issuing": "closed"}]),
             local(23, "10:00"))
    assert shows(button(p, "general")) == ("normal", None, "暂停取号")
    assert p.handle(Tap("service", "general"), local(23, "10:00")) != []


# -- one rule: the kiosk greys a service exactly when the controller would refuse it -------------------------
@pytest.mark.parametrize("day", [23, 28, 29])
def test_the_kiosk_and_the_controller_agree_minute_by_minute(day: int) -> None:
    raw = hall()
    raw["services"][1]["hours"]["issue_cutoff_min"] = 15
    cfg = parse_config(raw)
    t = local(day, "00:00")
    while t.day == day:
        for s in ("general", "tax", "social"):
            o = service_opening(cfg, s, t)
            for appointment in (False, True):
                refused = service_refusal(cfg, s, t, appointment) is not None
                assert (why_closed(o, appointment) is not None) == refused, (s, t, appointment)
        t += timedelta(minutes=1)
