"""电子监察 alerts: each rule fires once per occasion, from time alone or from device status."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from controller.engine import Engine
from controller.state import HallState
from hallq.config import parse_config
from tests.conftest import small_hall

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
SUP = {"wait_alert_s": 600, "service_alert_s": 900, "pause_alert_s": 300, "unattended_alert_s": 600}


def _engine(**extra: Any) -> Engine:
    return Engine(parse_config(small_hall(supervision=SUP, **extra)))


def _kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["kind"] for e in events if e["type"] == "alert.raised"]


def test_long_wait_alert_once_per_ticket() -> None:
    e = _engine()
    e.handle("issue", {"service": "general"}, T0)
    assert _kinds(e.tick(T0 + timedelta(seconds=599))) == []
    alerts = e.tick(T0 + timedelta(seconds=600))
    assert _kinds(alerts) == ["long_wait"] and alerts[0]["ticket"] == "A001"
    assert "A001" in alerts[0]["message"]
    assert _kinds(e.tick(T0 + timedelta(seconds=900))) == [], "raised once"


def test_long_service_and_long_pause() -> None:
    e = _engine()
    e.handle("issue", {"service": "general"}, T0)
    e.handle("login", {"window": "1", "staff": "S001"}, T0)
    e.handle("call", {"window": "1"}, T0)
    assert _kinds(e.tick(T0 + timedelta(seconds=901))) == ["long_service"]
    e.handle("finish", {"window": "1"}, T0 + timedelta(seconds=902))
    e.handle("pause", {"window": "1", "reason": "午休"}, T0 + timedelta(seconds=1000))
    alerts = e.tick(T0 + timedelta(seconds=1300))
    assert _kinds(alerts) == ["long_pause"] and "午休" in alerts[0]["message"]


def test_unattended_window_only_in_opening_hours() -> None:
    e = _engine(hours={"weekly": {"mon": ["08:30-17:30"]}})
    opening = T0.replace(hour=8, minute=30)
    assert _kinds(e.tick(opening + timedelta(seconds=599))) == []
    first = e.tick(opening + timedelta(seconds=600))
    assert sorted(a["window"] for a in first) == ["1", "2", "3"], "nobody logged in 10 min after opening"
    events = e.handle("login", {"window": "1", "staff": "S001"}, T0).events
    events += e.handle("logout", {"window": "1"}, T0 + timedelta(seconds=1)).events
    assert _kinds(events) == []
    again = [a for a in e.tick(T0 + timedelta(seconds=601)) if a["kind"] == "unattended"]   # (督办 besides)
    assert [a["window"] for a in again] == ["1"], "window 1 left unattended again"
    night = datetime(2026, 11, 23, 20, 0, tzinfo=TZ)
    assert _kinds(_engine(hours={"weekly": {"mon": ["08:30-17:30"]}}).tick(night)) == []


def test_device_alerts_once_per_episode() -> None:
    e = _engine()
    assert _kinds(e.device_status("bus1-17", "offline", T0)) == ["device_offline"]
    assert _kinds(e.device_status("bus1-17", "offline", T0)) == []
    assert e.device_status("bus1-17", "online", T0) == []
    assert _kinds(e.device_status("bus1-17", "offline", T0)) == ["device_offline"]
    assert _kinds(e.device_status("kiosk-1-printer", "paper_out", T0)) == ["printer_paper_out"]


def test_replay_does_not_raise_again() -> None:
    e = _engine()
    out = e.handle("issue", {"service": "general"}, T0).events + e.tick(T0 + timedelta(seconds=700))
    fresh = HallState(e.cfg)
    for ev in out:
        fresh.apply(ev)
    e2 = _engine()
    e2.state = fresh
    assert _kinds(e2.tick(T0 + timedelta(seconds=800))) == []
