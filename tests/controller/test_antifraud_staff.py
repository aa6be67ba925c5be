"""Anti-fraud where staff stand (issue 12): a rating seconds after the staff's own finish, page ratings from
the hall's network right after service, bursts of page ratings — flagged, never refused, never deleted."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from controller.engine import Engine, ticket_code
from hallq.config import parse_config
from tests.conftest import small_hall

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
SECRET = b"s" * 32


def _served(engine: Engine, n: int = 1) -> list[str]:
    numbers = [engine.handle("issue", {"service": "general"}, T0).reply["result"]["ticket"]["number"]
               for _ in range(n)]
    assert engine.handle("login", {"window": "3", "staff": "S003"}, T0).ok
    return numbers


def _rated_flags(out: object) -> list[str]:
    return [f for e in out.events if e["type"] == "evaluation.recorded" for f in e["flags"]]  # type: ignore[attr-defined]


def test_a_five_seconds_after_the_staffs_own_finish_is_flagged() -> None:
    engine = Engine(parse_config(small_hall()), SECRET)
    a, b = _served(engine, 2)
    t = T0 + timedelta(minutes=5)
    engine.handle("call", {"window": "3"}, t)
    engine.handle("finish", {"window": "3"}, t + timedelta(minutes=3))
    quick = engine.handle("rate", {"ticket": a, "level": 5, "window": "3"}, t + timedelta(minutes=3, seconds=2.5))
    assert quick.ok and "after_staff_finish" in _rated_flags(quick)
    engine.handle("call", {"window": "3"}, t + timedelta(minutes=4))
    engine.handle("finish", {"window": "3"}, t + timedelta(minutes=8))
    calm = engine.handle("rate", {"ticket": b, "level": 5, "window": "3"}, t + timedelta(minutes=8, seconds=9))
    assert calm.ok and "after_staff_finish" not in _rated_flags(calm)


def test_page_ratings_from_the_hall_right_after_service_are_flagged() -> None:
    cfg = parse_config(small_hall())
    engine = Engine(cfg, SECRET)
    numbers = _served(engine, 6)
    t = T0 + timedelta(minutes=1)
    for i in range(len(numbers)):
        engine.handle("call", {"window": "3"}, t + timedelta(minutes=2 * i))
        engine.handle("finish", {"window": "3"}, t + timedelta(minutes=2 * i + 1))
    later = t + timedelta(minutes=12)   # a minute after the last service
    code = ticket_code(SECRET, T0.date(), numbers[-1])
    lan = engine.handle("rate", {"ticket": numbers[-1], "level": 5, "channel": "qr", "code": code, "origin": "hall"},
                        later)
    assert lan.ok and "page_from_hall" in _rated_flags(lan)
    outside = engine.handle("rate", {"ticket": numbers[0], "level": 5, "channel": "qr",
                                     "code": ticket_code(SECRET, T0.date(), numbers[0])}, later)
    assert outside.ok and "page_from_hall" not in _rated_flags(outside)
    flags = []
    for n in numbers[1:5]:
        out = engine.handle("rate", {"ticket": n, "level": 5, "channel": "qr",
                                     "code": ticket_code(SECRET, T0.date(), n)}, later + timedelta(seconds=5))
        flags.append(_rated_flags(out))
    assert "page_burst" in flags[-1] and "page_burst" not in flags[0]


def test_a_wrong_code_tells_nothing() -> None:
    engine = Engine(parse_config(small_hall()), SECRET)
    (a,) = _served(engine)
    assert engine.handle("ticket", {"number": a, "code": "WRONGCOD"}, T0).reply["error"]["code"] == "UNKNOWN_TICKET"
    assert engine.handle("ticket", {"number": a, "code": ticket_code(SECRET, T0.date(), a)}, T0).ok
