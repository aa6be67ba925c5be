"""hallq/webauth.py with a fake clock: sessions expire when idle, the lockout windows end, an ack unlocks."""

from __future__ import annotations

from hallq.webauth import PER_ADDR, LoginGuard, Sessions


def test_session_idle_timeout() -> None:
    s = Sessions(idle_timeout_s=100)
    a = s.create("S001", now=0)
    assert s.get(a.sid, 90) is a          # use keeps it alive
    assert s.get(a.sid, 180) is a
    assert s.get(a.sid, 281) is None      # idle 101 s
    assert s.get("nope", 0) is None and s.get(None, 0) is None


def test_csrf_compare() -> None:
    a = Sessions(10).create("S001", 0)
    assert a.csrf_ok(a.csrf) and not a.csrf_ok(a.csrf + "x") and not a.csrf_ok(None) and not a.csrf_ok("é")


def test_per_id_and_address_lock_lasts_the_rest_of_ten_minutes() -> None:
    g = LoginGuard()
    for t in range(5):
        assert not g.refused("S001", "a", t)
        g.failed("S001", "a", t)
    assert g.refused("S001", "a", 10) and not g.refused("S001", "b", 10)
    assert g.refused("S001", "a", 599) and not g.refused("S001", "a", 600.5)


def test_twenty_for_everyone_until_ten_minutes_or_ack() -> None:
    g = LoginGuard()
    locked = [g.failed("S001", f"addr{i % 7}", float(i)) for i in range(20)]
    assert locked == [False] * 19 + [True]
    assert g.refused("S001", "elsewhere", 30) and g.refused("S001", "elsewhere", 618)
    assert not g.refused("S001", "elsewhere", 620)
    for i in range(20):
        g.failed("S002", f"x{i}", 1000.0 + i)
    assert g.refused("S002", "y", 1030)
    g.unlock("S002")
    assert not g.refused("S002", "y", 1031)


def test_per_address_across_ids_allows_at_least_twenty() -> None:
    g = LoginGuard()
    for i in range(20):
        assert not g.refused(f"id{i}", "a", i)
        g.failed(f"id{i}", "a", i)
    assert not g.refused("another", "a", 21)
    for i in range(PER_ADDR):
        g.failed(f"z{i}", "b", 0)
    assert g.refused("anyone", "b", 1)
