"""A scripted three-day run of the engine through every command and event type, written as JSON lines.

engine-day-2f1fafe.jsonl holds what the engine of commit 2f1fafe (before the typed core) answered and
emitted; test_typed_core.py checks today's engine writes the same bytes. To write it with a given tree:

    PYTHONPATH=TREE python tests/controller/data/engine_day.py OUT.jsonl
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from controller.authz import Sender
from controller.engine import Engine
from hallq.config import parse_config
from hallq.config.security import PrincipalConfig
from hallq.config.supervision import SupervisionConfig

AT = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
SECRET = b"k" * 32


def hall() -> dict[str, Any]:
    out = _hall()
    if "escalate_after_s" in SupervisionConfig.model_fields:   # 督办 (issue 14) is newer than the golden day
        out["supervision"] = {"escalate_after_s": 86400}
    return out


def _hall() -> dict[str, Any]:
    return {
        "hall": {"id": "day-hall", "name": {"zh": "测试政务服务中心", "mn": "ᠲᠤᠷᠰᠢᠯᠲᠠ"}, "timezone": "Asia/Shanghai"},
        "mqtt": {"host": "127.0.0.1", "port": 1883},
        "data_dir": "./var",
        "services": [{"id": "general", "prefix": "A", "name": {"zh": "综合受理", "mn": "ᠶᠡᠷᠦᠩᠬᠡᠢ"}},
                     {"id": "tax", "prefix": "S", "name": {"zh": "税务", "mn": "ᠲᠠᠲᠠᠪᠤᠷᠢ"}}],
        "windows": [{"id": "1", "services": ["general", "tax"]}, {"id": "2", "services": ["tax"]},
                    {"id": "3", "services": ["general"]}],
        "staff": [{"id": "S001", "name": "张三", "windows": ["1", "3"], "roles": ["window", "manager"]},
                  {"id": "S002", "name": "李四", "windows": ["2", "1"]},
                  {"id": "S003", "name": "王芳", "windows": ["3"]}],
        "rules": {"recall_limit": 2},
    }


def script() -> list[tuple[str, dict[str, Any]]]:
    w1, w2 = {"window": "1"}, {"window": "2"}
    return [("issue", {"service": "general"})] * 6 + [
        ("issue", {"service": "tax", "priority": "green", "source": "kiosk-1", "holder": "H1", "reason": "old"}),
        ("issue", {"service": "tax", "holder": "H1"}),
        ("issue", {"service": "tax", "rater": "RID1.abc", "holder": "H2"}),
        ("login", {"window": "1", "staff": "S001"}), ("login", {"window": "2", "staff": "S002"}),
        ("login", {"window": "3", "staff": "S003"}), ("login", {"window": "3", "staff": "S001"}),
        ("login", {"window": "1", "staff": "S001"}),
        ("call", w1), ("recall", w1), ("recall", w1), ("recall", w1), ("skip", w1),
        ("call", w1), ("finish", w1), ("rate", {"ticket": "$1", "level": 5, "window": "1", "comment": "好"}),
        ("call", w2), ("finish", w2), ("rate", {"ticket": "$2", "level": 1, "window": "2", "reasons": ["慢"]}),
        ("issue", {"service": "tax"}), ("call", w2), ("transfer", {"window": "2", "service": "general"}),
        ("call", w1), ("pause", {"window": "1", "reason": "break"}), ("pause", w1), ("resume", w1),
        ("hold", {"window": "1", "note": "缺材料"}), ("call", w1), ("hold", w1),
        ("callback", {"window": "1", "number": "A003"}), ("call_number", {"window": "1", "number": "A006"}),
        ("cancel", {"number": "A005", "reason": "left"}), ("finish", w1),
        ("call", w2), ("finish", w2),
        ("wo_verify", {"order": "$wo", "by": "M1", "note": "checked", "complex": True}),
        ("wo_appeal", {"order": "$wo", "by": "S002", "reason": "误评"}),
        ("wo_decide", {"order": "$wo", "by": "M2", "uphold": False, "note": "no"}),
        ("wo_feedback", {"order": "$wo", "by": "M1", "note": "fixed"}),
        ("wo_revisit", {"order": "$wo", "by": "M1", "satisfied": True}),
        ("rater_access", {"ticket": "S002", "by": "M1", "reason": "回访"}),
        ("workorders", {}), ("alerts", {"state": "all"}), ("ticket", {"number": "A001"}),
        ("bogus", {}), ("call", {"window": "9"}), ("issue", {"service": 3}), ("rate", {"ticket": "A001"}),
        ("pause", {"window": "3"}), ("logout", {"window": "3"}), ("logout", w2),
    ]


def run_day() -> tuple[Engine, list[str], list[dict[str, Any]]]:
    """The engine after the run, the JSON lines, and every event in order."""
    cfg = parse_config(hall())
    eng = Engine(cfg, SECRET)
    console = Sender(PrincipalConfig(id="console-1", role="console"), actor="S001")
    lines: list[str] = []
    events: list[dict[str, Any]] = []
    last: dict[str, str] = {}

    def out(what: str, reply: Any, evs: list[dict[str, Any]]) -> None:
        lines.append(json.dumps({"what": what, "reply": reply, "events": evs}, ensure_ascii=False))
        events.extend(evs)

    now = AT
    for day in range(3):
        for name, args in script():
            now += timedelta(seconds=37)
            args = {k: (last.get(v[1:], v) if isinstance(v, str) and v.startswith("$") else v)
                    for k, v in args.items()}
            o = eng.handle(name, dict(args), now, console if name == "call" and day == 2 else None)
            for e in o.events:
                if e["type"] == "ticket.called":
                    last[e["window"]] = e["ticket"]
                if e["type"] == "workorder.opened":
                    last["wo"] = e["order"]
            out(name, o.reply, o.events)
        out("device", None, eng.device_status("printer-1", "paper_out", now))
        out("clock", None, eng.clock_alert(now, "clock_jump", "the clock jumped"))
        out("storage", None, eng.recovered_storage(now, now - timedelta(minutes=3), "the disk was full"))
        now += timedelta(hours=2)
        out("tick", None, eng.tick(now))
        raised = [e for e in events if e["type"] == "alert.raised"]
        o = eng.handle("alert_ack", {"alert": raised[day]["id"], "note": "seen", "by": "M1"}, now,
                       console if day == 1 else None)
        out("alert_ack", o.reply, o.events)
        now += timedelta(days=1)
        out("tick", None, eng.tick(now))
    return eng, lines, events


if __name__ == "__main__":
    Path(sys.argv[1]).write_text("\n".join(run_day()[1]) + "\n", encoding="utf-8")
