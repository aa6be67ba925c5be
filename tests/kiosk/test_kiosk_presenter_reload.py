"""A reloaded configuration in the kiosk presenter (pure): taken at once on the home screen; a citizen in the
middle of a visit finishes it with the services and hours they started with, and the kiosk takes the new one
when it is back home (tap, result timeout, idle timeout); a newer reload replaces one still waiting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hallq.config import HallConfig, parse_config
from hallq.text.words import msg
from kiosk.intents import (
    ControllerChanged,
    IssueDone,
    IssueTicket,
    PrintDone,
    QueuesChanged,
    Reconfigure,
    Reconfigured,
    Tap,
    Tick,
)
from kiosk.presenter import KioskPresenter, Screen
from tests.conftest import small_hall

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in the hall
QUEUES = [{"id": "general", "waiting": 0, "est_wait_s": None, "issuing": "open"},
          {"id": "tax", "waiting": 0, "est_wait_s": None, "issuing": "open"}]
TICKET = {"number": "A001", "service": "general", "priority": "normal", "status": "waiting",
          "issued_at": "2026-11-23T10:00:05+08:00", "window": None, "ahead": 0, "est_wait_s": None}
STOPPED = msg("issuing_stopped").zh


def config(renamed: bool = False) -> HallConfig:
    raw = small_hall(kiosks=[{"id": "k1", "idle_timeout_s": 30}])
    if renamed:       # general renamed; tax open 08:00-09:00 only, so closed at 10:00
        raw["services"][0]["name"] = {"zh": "综合窗口", "mn": "ᠶᠡᠷᠦᠩᠬᠡᠢ"}
        raw["services"][1]["hours"] = {"weekly": {d: ["08:00-09:00"] for d in ("mon", "tue", "wed", "thu", "fri",
                                                                                "sat", "sun")}}
    return parse_config(raw)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def presenter() -> KioskPresenter:
    cfg = config()
    p = KioskPresenter(cfg, cfg.kiosks[0], T0)
    p.handle(ControllerChanged(True), T0)
    p.handle(QueuesChanged(QUEUES), T0)
    return p


def reload_(p: KioskPresenter, now: datetime) -> list[Any]:
    new = config(renamed=True)
    return p.handle(Reconfigure(new, new.kiosks[0], "b" * 64, "services changed"), now)


def services(p: KioskPresenter, now: datetime) -> list[str]:
    p.handle(Tap("lang", "zh"), now)
    assert p.screen is Screen.SERVICES
    return p.view().texts()


def test_on_the_home_screen_the_new_configuration_is_taken_at_once() -> None:
    p = presenter()
    assert reload_(p, at(1)) == [Reconfigured("b" * 64, "services changed")]
    assert p.pending is None
    texts = services(p, at(2))
    assert "综合窗口" in texts and "综合受理" not in texts
    i = texts.index("税务")
    assert STOPPED in texts[i:], "tax is greyed with its reason: open 08:00-09:00 only"
    assert next(b for b in p.view().buttons if b.arg == "tax").style == "closed"
    assert p.handle(Tap("service", "tax"), at(3)) == [], "a tap on it sends no issue"
    assert p.screen is Screen.ERROR and p.view().title == msg("service_closed")


def test_a_visit_under_way_finishes_with_the_configuration_it_started_with() -> None:
    p = presenter()
    before = services(p, at(1))
    assert reload_(p, at(2)) == [] and p.pending is not None
    assert p.view().texts() == before, "nothing changes under the citizen's finger"
    effects = p.handle(Tap("service", "tax"), at(3))        # still open for this visit
    assert [type(e) for e in effects] == [IssueTicket] and effects[0].service == "tax"
    p.handle(IssueDone(dict(TICKET, number="S001", service="tax"), ""), at(4))
    p.handle(PrintDone(), at(5))
    assert p.screen is Screen.RESULT and p.cfg.service("general").name.zh == "综合受理"
    assert p.handle(Tick(), at(10)) == [], "the result is still shown"
    assert p.handle(Tick(), at(17.5)) == [Reconfigured("b" * 64, "services changed")], "home after 12 s: taken"
    assert p.screen is Screen.HOME and p.pending is None
    assert "综合窗口" in services(p, at(18))


def test_idle_timeout_and_home_tap_also_take_it_and_a_newer_reload_wins() -> None:
    p = presenter()
    services(p, at(1))
    reload_(p, at(2))
    newest = config()
    assert p.handle(Reconfigure(newest, newest.kiosks[0], "c" * 64), at(3)) == []
    assert p.handle(Tick(), at(20)) == []
    assert p.handle(Tick(), at(32)) == [Reconfigured("c" * 64, "")], "idle 30 s: home, and the newest is taken"
    services(p, at(33))
    reload_(p, at(34))
    assert p.handle(Tap("home"), at(35)) == [Reconfigured("b" * 64, "services changed")]
