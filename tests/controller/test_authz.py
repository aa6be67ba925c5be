"""Authorization fuzz (CONTRACT §5.3): random principals × actors × commands × windows through the pure
engine, each answer checked against the table of §5.3 written out again here, independently of
controller/authz.py. A refused command must answer FORBIDDEN and emit nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.authz import CredentialCheck, Sender
from controller.engine import Engine
from hallq.config import parse_config

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))

CONFIG: dict[str, Any] = {
    "hall": {"id": "authz", "name": {"zh": "授权厅"}},
    "services": [{"id": "general", "prefix": "A", "name": {"zh": "综合"}},
                 {"id": "tax", "prefix": "S", "name": {"zh": "税务"}}],
    "windows": [{"id": "1", "services": ["general"]}, {"id": "2", "services": ["general", "tax"]},
                {"id": "3", "services": ["tax"]}],
    "staff": [
        {"id": "S001", "name": "窗口一", "windows": ["1"]},
        {"id": "S002", "name": "导服", "windows": ["1"], "roles": ["reception"]},
        {"id": "S003", "name": "主任", "windows": ["2"], "roles": ["manager"]},
        {"id": "S004", "name": "多面手", "windows": ["2", "3"], "roles": ["window", "reception"]},
    ],
    "devices": {"buses": [
        {"id": "bus1", "port": "loop://", "devices": [{"address": 1, "kind": "evaluator", "window": "1"},
                                                      {"address": 2, "kind": "evaluator", "window": "2"}]},
        {"id": "bus2", "port": "loop://", "devices": [{"address": 1, "kind": "evaluator", "window": "3"}]}]},
    "security": {"mode": "secure", "principals": [
        {"id": "kiosk-1", "role": "kiosk"},
        {"id": "bridge-1", "role": "bridge", "buses": ["bus1"]},
        {"id": "bridge-all", "role": "bridge"},
        {"id": "eval-3", "role": "device", "window": "3"},
        {"id": "screen-1", "role": "display"},
        {"id": "console-1", "role": "console"},
        {"id": "console-win", "role": "console", "staff_roles": ["window"]},
        {"id": "region", "role": "region"},
    ]},
}

# -- the table of CONTRACT §5.3, written out on its own ------------------------------------------------
WINDOW_CMDS = {"login", "logout", "call", "recall", "skip", "finish", "transfer", "pause", "resume", "hold",
               "callback", "call_number"}
MANAGER_ONLY = {"alerts", "alert_ack", "events", "workorders", "wo_verify", "wo_feedback", "wo_revisit",
                "wo_appeal", "wo_decide", "rater_access", "retention"}
ROLE = {"kiosk-1": "kiosk", "bridge-1": "bridge", "bridge-all": "bridge", "eval-3": "device",
        "screen-1": "display", "console-1": "console", "console-win": "console", "region": "region"}
DEVICE_SCOPE = {"bridge-1": {"1", "2"}, "bridge-all": {"1", "2", "3"}, "eval-3": {"3"}}
STAFF_ROLES = {"S001": {"window"}, "S002": {"reception"}, "S003": {"manager"}, "S004": {"window", "reception"}}
STAFF_WINDOWS = {"S001": {"1"}, "S002": {"1"}, "S003": {"2"}, "S004": {"2", "3"}}
CONSOLE_ROLES = {"console-1": {"window", "reception", "manager"}, "console-win": {"window"}}


def expected_forbidden(p: str, actor: str | None, name: str, args: dict[str, Any],
                       cred: CredentialCheck | None) -> bool:
    role = ROLE[p]
    if name == "events" and actor is None:
        return False
    if role == "kiosk":
        if name == "ticket":
            return False
        if name != "issue":
            return True
        if args.get("priority", "normal") == "green":
            return not (cred is not None and cred.ok and cred.green)
        return False
    if role in ("bridge", "device"):
        if name not in WINDOW_CMDS | {"rate"} or args.get("window") not in DEVICE_SCOPE[p]:
            return True
        return name == "rate" and args.get("channel", "evaluator") != "evaluator"
    if role == "display":
        return name != "ticket"
    if role == "region":
        return name not in {"events", "alerts", "workorders", "ticket", "wo_forward"}
    # console
    if actor is None:
        return not ((name == "ticket" and "code" in args) or
                    (name == "rate" and args.get("channel") == "qr" and "code" in args))
    if actor not in STAFF_ROLES:
        return True
    roles = STAFF_ROLES[actor] & CONSOLE_ROLES[p]
    if not roles or name == "rate":
        return True
    if name in WINDOW_CMDS:
        if args.get("window") not in STAFF_WINDOWS[actor]:
            return True
        if name == "login" and args.get("staff") != actor:
            return True
        return not roles & {"window", "manager"}
    if name in MANAGER_ONLY:
        return "manager" not in roles
    if name in ("cancel", "issue"):
        return not roles & {"reception", "manager"}
    return False


def _args(name: str, window: str, staff: str, priority: str, channel: str | None, code: bool) -> dict[str, Any]:
    a: dict[str, Any] = {
        "issue": {"service": "general", "priority": priority},
        "login": {"window": window, "staff": staff},
        "transfer": {"window": window, "service": "tax"},
        "callback": {"window": window, "number": "A001"},
        "call_number": {"window": window, "number": "A001"},
        "hold": {"window": window},
        "cancel": {"number": "A001"},
        "rate": {"ticket": "A001", "level": 5, "window": window},
        "ticket": {"number": "A001"},
        "alerts": {},
        "alert_ack": {"alert": "x1", "note": "处理"},
        "workorders": {},
        "wo_verify": {"order": "WO-1", "by": staff},
        "rater_access": {"ticket": "A001", "by": staff, "reason": "回访"},
    }.get(name, {"window": window})
    a = dict(a)
    if name == "rate" and channel is not None:
        a["channel"] = channel
    if code and name in ("rate", "ticket"):
        a["code"] = "AAAAAAAA"
    return a


COMMANDS = sorted(WINDOW_CMDS | {"issue", "rate", "ticket", "cancel", "alerts", "alert_ack", "workorders",
                                 "wo_verify", "rater_access", "retention"})


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=st.sampled_from(sorted(ROLE)), actor=st.sampled_from([None, "S001", "S002", "S003", "S004", "S999"]),
       name=st.sampled_from(COMMANDS), window=st.sampled_from(["1", "2", "3"]),
       staff=st.sampled_from(["S001", "S002", "S003", "S004"]), priority=st.sampled_from(["normal", "green"]),
       channel=st.sampled_from([None, "evaluator", "qr"]), code=st.booleans(),
       cred=st.sampled_from([None, CredentialCheck(True, "age 75", green=True), CredentialCheck(True, ""),
                             CredentialCheck(False, "replayed")]))
def test_authorization_matches_the_table(p: str, actor: str | None, name: str, window: str, staff: str,
                                         priority: str, channel: str | None, code: bool,
                                         cred: CredentialCheck | None) -> None:
    cfg = parse_config(CONFIG)
    engine = Engine(cfg, b"k" * 32)
    engine.tick(T0)
    principal = cfg.security.principal(p)
    args = _args(name, window, staff, priority, channel, code)
    out = engine.handle(name, args, T0, Sender(principal, actor, cred if name == "issue" else None))
    forbidden = expected_forbidden(p, actor, name, args, cred if name == "issue" else None)
    code_got = None if out.ok else out.reply["error"]["code"]
    assert (code_got == "FORBIDDEN") == forbidden, f"{p} actor={actor} {name} {args}: got {out.reply}"
    if forbidden:
        assert out.events == [], f"a refused {name} emitted {out.events}"


def test_open_hall_refuses_nothing_by_role() -> None:
    cfg = parse_config({k: v for k, v in CONFIG.items() if k != "security"})
    engine = Engine(cfg, b"k" * 32)
    out = engine.handle("issue", {"service": "general", "priority": "green"}, T0, Sender())
    assert out.ok and out.events[-1]["type"] == "ticket.issued" and "principal" not in out.events[-1]


def test_events_carry_principal_and_actor() -> None:
    cfg = parse_config(CONFIG)
    engine = Engine(cfg, b"k" * 32)
    console = cfg.security.principal("console-1")
    out = engine.handle("issue", {"service": "general"}, T0, Sender(console, "S002"))
    assert out.ok, out.reply
    ev = out.events[-1]
    assert (ev["type"], ev["principal"], ev["actor"]) == ("ticket.issued", "console-1", "S002")
    out = engine.handle("login", {"window": "1", "staff": "S001"}, T0, Sender(cfg.security.principal("bridge-1"),
                                                                                pin_ok=True))
    assert out.ok and out.events[-1]["principal"] == "bridge-1" and "actor" not in out.events[-1]


def _bridge_login(engine: Engine, cfg: Any, pin_ok: bool | None, at: datetime, window: str = "1") -> Any:
    return engine.handle("login", {"window": window, "staff": "S001"}, at,
                         Sender(cfg.security.principal("bridge-all"), pin_ok=pin_ok))


def test_device_login_needs_the_pin_and_locks_after_five_failures() -> None:
    from datetime import timedelta
    cfg = parse_config(CONFIG)
    engine = Engine(cfg, b"k" * 32)
    engine.tick(T0)
    assert _bridge_login(engine, cfg, None, T0).reply["error"]["code"] == "BAD_CREDENTIALS"
    for i in range(3):
        out = _bridge_login(engine, cfg, False, T0 + timedelta(seconds=i + 1))
        assert out.reply["error"]["code"] == "BAD_CREDENTIALS" and out.events == []
    fifth = _bridge_login(engine, cfg, False, T0 + timedelta(seconds=5))
    assert fifth.reply["error"]["code"] == "BAD_CREDENTIALS"
    assert [(e["type"], e["kind"], e["window"]) for e in fifth.events] == [("alert.raised", "login_failures", "1")]
    assert "PIN" not in str(fifth.events) or "wrong PIN" in fifth.events[0]["message"]
    locked = _bridge_login(engine, cfg, True, T0 + timedelta(minutes=5))
    assert locked.reply["error"]["code"] == "LOCKED_OUT" and locked.events == []
    assert _bridge_login(engine, cfg, True, T0 + timedelta(minutes=5), window="2").reply["error"]["code"] \
        == "NOT_ALLOWED"   # the lock is per window: window 2 still checks normally
    after = _bridge_login(engine, cfg, True, T0 + timedelta(minutes=11))
    assert after.ok, after.reply
    engine.login_locked["1"] = T0 + timedelta(hours=1)
    engine.unlock_logins("1")
    assert _bridge_login(engine, cfg, True, T0 + timedelta(minutes=12)).ok


def test_device_login_by_id_when_configured() -> None:
    cfg = parse_config({**CONFIG, "security": {**CONFIG["security"], "device_login": "id"}})
    engine = Engine(cfg, b"k" * 32)
    assert _bridge_login(engine, cfg, None, T0).ok


def test_a_window_rates_only_the_ticket_it_serves_or_prompts() -> None:
    cfg = parse_config(CONFIG)
    engine = Engine(cfg, b"k" * 32)
    bridge = Sender(cfg.security.principal("bridge-all"), pin_ok=True)
    kiosk = Sender(cfg.security.principal("kiosk-1"))
    for _ in range(3):
        assert engine.handle("issue", {"service": "general"}, T0, kiosk).ok
    for w, staff in (("1", "S001"), ("2", "S004")):
        assert engine.handle("login", {"window": w, "staff": staff}, T0, bridge).ok
        assert engine.handle("call", {"window": w}, T0, bridge).ok        # 1 serves A001, 2 serves A002
    assert engine.handle("finish", {"window": "2"}, T0, bridge).ok
    other = engine.handle("rate", {"ticket": "A002", "level": 5, "window": "1"}, T0, bridge)
    assert other.reply["error"]["code"] == "NOT_SERVED"                    # served elsewhere
    assert engine.handle("call", {"window": "2"}, T0, bridge).ok             # A003: window 2's prompt closes
    late = engine.handle("rate", {"ticket": "A002", "level": 5, "window": "2"}, T0, bridge)
    assert late.reply["error"]["code"] == "NOT_PROMPTED" and late.events == []
    own = engine.handle("rate", {"ticket": "A001", "level": 4, "window": "1"}, T0, bridge)
    assert own.ok, own.reply
    again = engine.handle("rate", {"ticket": "A001", "level": 5, "window": "1"}, T0, bridge)
    assert again.reply["error"]["code"] == "ALREADY_RATED"


def test_the_console_raises_the_sign_in_lockout_alert_and_nothing_else() -> None:
    cfg = parse_config(CONFIG)
    engine = Engine(cfg, b"k" * 32)
    console = cfg.security.principal("console-1")
    out = engine.handle("alert_raise", {"kind": "login_failures", "staff": "S001", "message": "20 次登录失败"}, T0,
                        Sender(console))
    assert out.ok and out.reply["result"]["alert"]["staff"] == "S001"
    assert [(e["type"], e["kind"], e["staff"]) for e in out.events] == [("alert.raised", "login_failures", "S001")]
    assert engine.handle("alert_raise", {"kind": "storage", "message": "x"}, T0, Sender(console)) \
        .reply["error"]["code"] == "FORBIDDEN"
    assert engine.handle("alert_raise", {"kind": "login_failures", "message": "x"}, T0,
                         Sender(cfg.security.principal("kiosk-1"))).reply["error"]["code"] == "FORBIDDEN"
    assert engine.handle("alert_raise", {"kind": "login_failures", "message": "x"}, T0, Sender(console, "S003")) \
        .reply["error"]["code"] == "FORBIDDEN"
