"""Engine unit tests: every command and error code of CONTRACT §3.2, on the pure core."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from controller.engine import Engine
from controller.state import HallState
from hallq.config import parse_config
from tests.conftest import small_hall

TZ = ZoneInfo("Asia/Shanghai")
MON = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)  # a Monday


class Run:
    """Drives an engine with a clock that advances one second per command."""

    def __init__(self, **extra: Any) -> None:
        self.cfg = parse_config(small_hall(**extra))
        self.engine = Engine(self.cfg)
        self.now = MON
        self.log: list[dict[str, Any]] = []

    def __call__(self, name: str, **args: Any) -> dict[str, Any]:
        out = self.engine.handle(name, args, self.now)
        self.log += out.events
        self.now += timedelta(seconds=1)
        return out.reply

    def ok(self, name: str, **args: Any) -> dict[str, Any]:
        r = self(name, **args)
        assert r["ok"], f"{name} {args} was expected to succeed, got {r}"
        return dict(r["result"])

    def err(self, name: str, **args: Any) -> str:
        r = self(name, **args)
        assert not r["ok"], f"{name} {args} was expected to fail, got {r}"
        assert r["error"]["message"], "an error must carry a human message"
        return str(r["error"]["code"])

    def window(self, wid: str) -> dict[str, Any]:
        return self.engine.state.window_json(wid)

    def types(self) -> list[str]:
        return [e["type"] for e in self.log]


def test_numbers_are_per_service_per_day_and_never_reused() -> None:
    r = Run()
    got = [r.ok("issue", service=s)["ticket"]["number"] for s in ("general", "general", "tax", "general")]
    assert got == ["A001", "A002", "S001", "A003"]
    r.now = MON + timedelta(days=1)
    assert r.ok("issue", service="general")["ticket"]["number"] == "A001", "numbering restarts each day"


def test_numbers_grow_past_999() -> None:
    r = Run()
    for _ in range(999):
        r.ok("issue", service="tax")
    assert r.ok("issue", service="tax")["ticket"]["number"] == "S1000"


@pytest.mark.parametrize(("name", "args", "code"), [
    ("issue", {"service": "nope"}, "UNKNOWN_SERVICE"),
    ("issue", {"service": "tax", "priority": "vip"}, "BAD_REQUEST"),
    ("issue", {}, "BAD_REQUEST"),
    ("issue", {"service": 3}, "BAD_REQUEST"),
    ("login", {"window": "9", "staff": "S001"}, "UNKNOWN_WINDOW"),
    ("login", {"window": "1", "staff": "S999"}, "UNKNOWN_STAFF"),
    ("login", {"window": "2", "staff": "S001"}, "NOT_ALLOWED"),
    ("logout", {"window": "9"}, "UNKNOWN_WINDOW"),
    ("call", {"window": "9"}, "UNKNOWN_WINDOW"),
    ("call", {"window": "1"}, "NOT_LOGGED_IN"),
    ("recall", {"window": "9"}, "UNKNOWN_WINDOW"),
    ("skip", {"window": "9"}, "UNKNOWN_WINDOW"),
    ("finish", {"window": "9"}, "UNKNOWN_WINDOW"),
    ("transfer", {"window": "9", "service": "tax"}, "UNKNOWN_WINDOW"),
    ("transfer", {"window": "1", "service": "nope"}, "UNKNOWN_SERVICE"),
    ("pause", {"window": "9"}, "UNKNOWN_WINDOW"),
    ("pause", {"window": "1"}, "NOT_LOGGED_IN"),
    ("resume", {"window": "9"}, "UNKNOWN_WINDOW"),
    ("resume", {"window": "1"}, "NOT_LOGGED_IN"),
    ("rate", {"ticket": "A001", "level": 5}, "UNKNOWN_TICKET"),
    ("rate", {"ticket": "A001", "level": 6}, "BAD_REQUEST"),
    ("rate", {"ticket": "A001", "level": "5"}, "BAD_REQUEST"),
    ("rate", {"ticket": "A001", "level": 5, "reasons": "slow"}, "BAD_REQUEST"),
    ("rate", {"ticket": "A001", "level": 5, "window": "9"}, "UNKNOWN_WINDOW"),
    ("ticket", {"number": "A001"}, "UNKNOWN_TICKET"),
    ("ticket", {"number": "A001", "date": "2026-13-01"}, "BAD_REQUEST"),
    ("frobnicate", {}, "BAD_REQUEST"),
])
def test_errors_on_an_empty_hall(name: str, args: dict[str, Any], code: str) -> None:
    assert Run().err(name, **args) == code


def test_call_order_green_first_then_earliest_across_services() -> None:
    r = Run()
    r.ok("issue", service="general")               # A001
    r.ok("issue", service="tax")                   # S001
    r.ok("issue", service="general", priority="green")  # A002 (green)
    r.ok("issue", service="tax")                   # S002
    r.ok("login", window="1", staff="S001")
    order = [r.ok("call", window="1")["ticket"]["number"] for _ in range(4)]
    assert order == ["A002", "A001", "S001", "S002"]
    assert r.ok("call", window="1") == {"ticket": None}
    assert r.window("1")["status"] == "rating", "the implicit finish leaves the window in rating"


def test_ahead_counts_what_call_would_take_first() -> None:
    r = Run()
    r.ok("issue", service="general")
    r.ok("issue", service="tax")
    third = r.ok("issue", service="tax")["ticket"]
    assert third["ahead"] == 2, "window 1 takes general too, so A001 goes before S002"
    green = r.ok("issue", service="tax", priority="green")["ticket"]
    assert green["ahead"] == 0
    assert r.ok("ticket", number="S002")["ticket"]["ahead"] == 3


def test_wait_estimate_needs_an_open_window_and_grows_with_the_queue() -> None:
    r = Run()
    assert r.ok("issue", service="tax")["ticket"]["est_wait_s"] is None, "no window open: unknown"
    r.ok("login", window="2", staff="S002")
    r.ok("call", window="2")
    e1 = r.ok("issue", service="tax")["ticket"]["est_wait_s"]
    e2 = r.ok("issue", service="tax")["ticket"]["est_wait_s"]
    assert 0 < e1 < e2


def test_call_finishes_the_current_ticket_and_rating_prompt_flow() -> None:
    r = Run()
    r.ok("issue", service="general")
    r.ok("issue", service="general")
    r.ok("login", window="3", staff="S003")
    r.ok("call", window="3")
    assert r.window("3") | {"since": None} == r.window("3") | {"since": None}
    assert r.window("3")["status"] == "serving" and r.window("3")["ticket"] == "A001"
    r.ok("call", window="3")
    assert r.ok("ticket", number="A001")["ticket"]["status"] == "finished"
    fin = r.ok("finish", window="3")["ticket"]
    assert fin["number"] == "A002" and fin["status"] == "finished"
    assert r.window("3")["status"] == "rating" and r.window("3")["ticket"] == "A002"
    ev = r.ok("rate", ticket="A002", level=5, window="3")["evaluation"]
    assert ev["channel"] == "evaluator" and ev["supplementary"] is False
    assert r.window("3")["status"] == "idle"
    assert r.err("rate", ticket="A002", level=4) == "ALREADY_RATED"
    # A001 was finished by the call without a prompt: it can be rated supplementarily
    sup = r.ok("rate", ticket="A001", level=4)["evaluation"]
    assert sup["supplementary"] is True and sup["channel"] == "qr"


def test_rating_prompt_times_out_to_idle_unrated() -> None:
    r = Run()
    r.ok("issue", service="general")
    r.ok("login", window="3", staff="S003")
    r.ok("call", window="3")
    r.ok("finish", window="3")
    r.now += timedelta(seconds=61)
    events = r.engine.tick(r.now)
    assert [e["type"] for e in events] == ["window.prompt_closed"]
    assert r.window("3")["status"] == "idle"
    assert not any(e["type"] == "evaluation.recorded" for e in r.log + events), "never a default rating"
    assert r.ok("ticket", number="A001")["ticket"]["rated"] is False


def test_recall_counts_and_limit() -> None:
    r = Run()
    r.ok("issue", service="general")
    r.ok("login", window="1", staff="S001")
    assert r.err("recall", window="1") == "NO_CURRENT_TICKET"
    r.ok("call", window="1")
    assert r.ok("recall", window="1")["recalls"] == 1
    assert r.ok("recall", window="1")["recalls"] == 2
    assert r.err("recall", window="1") == "RECALL_LIMIT"
    called = [e for e in r.log if e["type"] == "ticket.called"]
    assert [e["recall"] for e in called] == [0, 1, 2]


def test_skip_is_no_show_and_window_idle() -> None:
    r = Run()
    r.ok("issue", service="general")
    r.ok("login", window="1", staff="S001")
    assert r.err("skip", window="1") == "NO_CURRENT_TICKET"
    r.ok("call", window="1")
    assert r.ok("skip", window="1")["ticket"]["status"] == "no_show"
    assert r.window("1")["status"] == "idle"
    assert r.err("rate", ticket="A001", level=5) == "NOT_SERVED"


def test_finish_and_transfer_need_a_current_ticket() -> None:
    r = Run()
    r.ok("login", window="1", staff="S001")
    assert r.err("finish", window="1") == "NO_CURRENT_TICKET"
    assert r.err("transfer", window="1", service="tax") == "NO_CURRENT_TICKET"
    assert r.err("transfer", window="1", service="nope") == "UNKNOWN_SERVICE", "UNKNOWN_* wins"


def test_transfer_keeps_number_priority_and_issued_at() -> None:
    r = Run()
    a1 = r.ok("issue", service="general")["ticket"]
    r.ok("issue", service="tax")  # S001, issued after A001
    r.ok("login", window="3", staff="S003")
    r.ok("call", window="3")
    moved = r.ok("transfer", window="3", service="tax")["ticket"]
    assert (moved["number"], moved["service"], moved["status"], moved["issued_at"]) == \
        ("A001", "tax", "waiting", a1["issued_at"])
    assert r.window("3")["status"] == "idle"
    r.ok("login", window="2", staff="S002")
    assert r.ok("call", window="2")["ticket"]["number"] == "A001", "transferred ticket keeps its place"


def test_pause_and_resume() -> None:
    r = Run()
    r.ok("issue", service="general")
    r.ok("login", window="1", staff="S001")
    r.ok("call", window="1")
    assert r.ok("pause", window="1", reason="lunch")["window"]["status"] == "paused"
    assert r.err("call", window="1") == "PAUSED"
    assert r.err("finish", window="1") == "PAUSED"
    w = r.ok("resume", window="1")["window"]
    assert (w["status"], w["ticket"]) == ("serving", "A001"), "resume returns to serving with the ticket"
    r.ok("finish", window="1")
    r.ok("pause", window="1")
    assert r.ok("resume", window="1")["window"]["status"] == "idle"


def test_login_takeover_and_logout() -> None:
    r = Run()
    r.ok("issue", service="general")
    r.ok("login", window="1", staff="S001")
    r.ok("call", window="1")
    w = r.ok("login", window="1", staff="S002")["window"]   # B post takes over, the ticket stays
    assert (w["staff"]["id"], w["status"], w["ticket"]) == ("S002", "serving", "A001")
    r.ok("login", window="3", staff="S001")
    w = r.ok("logout", window="1")["window"]
    assert (w["status"], w["staff"], w["ticket"]) == ("closed", None, None)
    assert r.ok("ticket", number="A001")["ticket"]["status"] == "finished"
    assert r.ok("logout", window="1")["window"]["status"] == "closed"


def test_login_elsewhere_leaves_the_first_window() -> None:
    r = Run()
    r.ok("login", window="1", staff="S001")
    r.ok("login", window="3", staff="S001")
    assert r.window("1")["status"] == "closed" and r.window("3")["staff"]["id"] == "S001"


def test_rating_rules() -> None:
    r = Run()
    r.ok("issue", service="general")
    r.ok("issue", service="general")
    assert r.err("rate", ticket="A001", level=5) == "NOT_SERVED"
    r.ok("login", window="1", staff="S001")
    r.ok("call", window="1")
    assert r.err("rate", ticket="A001", level=5) == "NOT_SERVED", "serving, but not rated at its window"
    assert r.err("rate", ticket="A001", level=5, window="3") == "NOT_SERVED"
    ev = r.ok("rate", ticket="A001", level=2, window="1", reasons=["slow"])["evaluation"]
    assert ev["level"] == 2 and ev["reasons"] == ["slow"]
    alert = [e for e in r.log if e["type"] == "alert.raised"]
    assert alert and alert[0]["kind"] == "bad_review" and alert[0]["ticket"] == "A001"
    r.ok("finish", window="1")
    assert r.window("1")["status"] == "idle", "already rated: no prompt"


def _served_on_30_september() -> Run:
    r = Run()
    r.now = datetime(2026, 9, 30, 10, 0, tzinfo=TZ)
    r.ok("issue", service="general")
    r.ok("login", window="1", staff="S001")
    r.ok("call", window="1")
    r.ok("finish", window="1")
    return r


def test_supplementary_rating_window_skips_holidays() -> None:
    # served Wednesday 2026-09-30; 1-7 October 2026 are the National Day holidays and Saturday
    # 10 October is an adjusted working day: the 5 working days are Oct 8, 9, 10, 12, 13
    r = _served_on_30_september()
    r.now = datetime(2026, 10, 13, 16, 0, tzinfo=TZ)
    assert r.ok("rate", ticket="A001", date="2026-09-30", level=5)["evaluation"]["supplementary"]
    late = _served_on_30_september()
    late.now = datetime(2026, 10, 14, 9, 0, tzinfo=TZ)
    assert late.err("rate", ticket="A001", date="2026-09-30", level=5) == "RATING_CLOSED"


def test_error_precedence() -> None:
    r = Run()
    r.ok("issue", service="general")
    r.ok("login", window="1", staff="S001")
    r.ok("call", window="1")
    r.ok("finish", window="1")
    r.ok("rate", ticket="A001", level=5, window="1")
    # already rated AND level bad: BAD_REQUEST first; already rated before NOT_SERVED
    assert r.err("rate", ticket="A001", level=0) == "BAD_REQUEST"
    assert r.err("rate", ticket="A001", level=5, window="3") == "ALREADY_RATED"
    r.ok("pause", window="1")
    assert r.err("call", window="1") == "PAUSED"


def test_hours_and_issue_cutoff_and_late_service() -> None:
    hours = {"weekly": {"mon": ["08:30-12:00", "13:00-17:30"]}, "issue_cutoff_min": 30}
    r = Run(hours=hours)
    r.now = MON.replace(hour=8, minute=0)
    assert r.err("issue", service="general") == "SERVICE_CLOSED"
    r.now = MON.replace(hour=11, minute=20)
    r.ok("issue", service="general")
    r.now = MON.replace(hour=11, minute=45)
    assert r.err("issue", service="general") == "SERVICE_CLOSED", "cut-off 30 min before the span ends"
    r.now = MON.replace(hour=18, minute=0)
    r.ok("login", window="1", staff="S001")
    assert r.ok("call", window="1")["ticket"]["number"] == "A001", "延时服务: issued tickets are still served"
    r.now = MON + timedelta(days=1)  # Tuesday: no span
    assert r.err("issue", service="general") == "SERVICE_CLOSED"


def test_daily_quota() -> None:
    r = Run(services=[{"id": "general", "prefix": "A", "name": {"zh": "综合"}, "daily_quota": 2},
                      {"id": "tax", "prefix": "S", "name": {"zh": "税务"}}])
    r.ok("issue", service="general")
    assert [s["issuing"] for s in r.engine.state.queues_json(r.now)["services"]] == ["open", "open"]
    r.ok("issue", service="general")
    assert r.err("issue", service="general") == "SERVICE_CLOSED"
    q = r.engine.state.queues_json(r.now)["services"]
    assert [(s["issuing"], s["issued"], s["quota"]) for s in q] == [("quota", 2, 2), ("open", 0, None)], \
        "the kiosk shows a service over its quota as such"


def test_issue_returns_a_per_ticket_code_from_the_hall_secret() -> None:
    r = Run()
    r.engine.secret = b"s" * 32
    a, b = r.ok("issue", service="general"), r.ok("issue", service="general")
    assert a["code"] != b["code"] and len(a["code"]) == 8 and a["code"].isalnum()
    again = Run()
    again.engine.secret = b"s" * 32
    assert again.ok("issue", service="general")["code"] == a["code"], "the code depends on day, number, secret"
    other = Run()
    other.engine.secret = b"t" * 32
    assert other.ok("issue", service="general")["code"] != a["code"]


def test_day_end_closes_waiting_tickets_as_no_show() -> None:
    r = Run()
    r.ok("issue", service="general")
    r.ok("issue", service="tax")
    r.now = MON.replace(hour=23, minute=59) + timedelta(minutes=2)
    assert r.ok("ticket", number="A001", date="2026-11-23")["ticket"]["status"] == "no_show"
    closed = [e for e in r.log if e["type"] == "day.closed"]
    assert closed and closed[0]["no_show"] == ["A001", "S001"]
    assert r.ok("issue", service="general")["ticket"]["number"] == "A001"


def test_one_open_ticket_per_person_and_service() -> None:
    r = Run()
    r.ok("issue", service="general", holder="h-1")
    assert r.err("issue", service="general", holder="h-1") == "ALREADY_WAITING"
    r.ok("issue", service="tax", holder="h-1")


def test_replay_rebuilds_the_same_state() -> None:
    r = Run()
    for s in ("general", "tax", "general", "tax", "general"):
        r.ok("issue", service=s, priority="green" if s == "tax" else "normal")
    r.ok("login", window="1", staff="S001")
    r.ok("login", window="2", staff="S002")
    r.ok("call", window="1")
    r.ok("call", window="2")
    r.ok("recall", window="2")
    r.ok("transfer", window="1", service="tax")
    r.ok("call", window="1")
    r.ok("finish", window="1")
    r.ok("rate", ticket="S001", level=1, window="1")
    r.ok("pause", window="2")
    fresh = HallState(r.cfg)
    for ev in r.log:
        fresh.apply(ev)
    live = r.engine.state
    assert {w: fresh.window_json(w) for w in fresh.windows} == {w: live.window_json(w) for w in live.windows}
    assert {k: fresh.ticket_json(t) for k, t in fresh.tickets.items()} == \
        {k: live.ticket_json(t) for k, t in live.tickets.items()}
    assert fresh.queues_json(r.now) == live.queues_json(r.now)
    assert date(2026, 11, 23) in fresh.sequences
