"""The time guard (controller/timeguard.py): clock steps are held and alerted, the passing of time is not."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from controller.engine import Engine
from controller.timeguard import TimeGuard
from hallq.config import parse_config
from tests.conftest import small_hall

Z = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 16, 0, tzinfo=Z)


def test_time_passing_is_taken_as_it_is() -> None:
    g = TimeGuard(Z)
    assert g.now(T0, 100.0, T0.date()) == T0
    late = T0 + timedelta(hours=8, minutes=30)          # 00:30 next day, and 8.5 h really passed
    assert g.now(late, 100.0 + 8.5 * 3600, T0.date()) == late
    assert g.take_alerts() == []


def test_a_forward_jump_of_days_is_held_and_alerted() -> None:
    g = TimeGuard(Z)
    g.now(T0, 0.0, T0.date())
    used = g.now(T0 + timedelta(days=2), 10.0, T0.date())
    assert used == T0 + timedelta(seconds=10)
    (kind, message), = g.take_alerts()
    assert kind == "clock_jump" and "not applied" in message
    assert g.now(T0 + timedelta(days=2, seconds=5), 15.0, T0.date()) == T0 + timedelta(seconds=15)
    assert g.take_alerts() == []                        # alerted once per occasion


def test_a_backward_step_never_takes_the_log_back() -> None:
    g = TimeGuard(Z)
    g.now(T0, 0.0, T0.date())
    used = g.now(T0 - timedelta(days=2), 30.0, T0.date())
    assert used == T0 + timedelta(seconds=30)
    assert [k for k, _ in g.take_alerts()] == ["clock_backwards"]


def test_a_small_step_across_midnight_waits_a_minute() -> None:
    g = TimeGuard(Z, confirm_s=60)
    evening = datetime(2026, 11, 23, 23, 50, tzinfo=Z)
    g.now(evening, 0.0, evening.date())
    stepped = evening + timedelta(hours=1)               # 00:50: only a step makes it tomorrow
    held = g.now(stepped, 1.0, evening.date())
    assert held.date() == evening.date()
    assert g.now(stepped + timedelta(seconds=61), 62.0, evening.date()) == stepped + timedelta(seconds=61)


def test_a_start_after_a_weekend_applies_the_day_change() -> None:
    g = TimeGuard(Z)
    monday = datetime(2026, 11, 30, 8, 0, tzinfo=Z)
    g.last_used = datetime(2026, 11, 27, 18, 0, tzinfo=Z)   # Friday evening's last event
    assert g.now(monday, 5.0, date(2026, 11, 27)) == monday


def test_the_waiting_queue_survives_a_jump() -> None:
    cfg = parse_config(small_hall())
    engine, g = Engine(cfg, b"k" * 32), TimeGuard(Z)
    assert engine.handle("issue", {"service": "general"}, g.now(T0, 0.0, None)).ok
    now = g.now(T0 + timedelta(days=1), 60.0, engine.state.today)
    assert "day.closed" not in [e["type"] for e in engine.tick(now)]
    assert engine.handle("ticket", {"number": "A001"}, now).reply["result"]["ticket"]["status"] == "waiting"
