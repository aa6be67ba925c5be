"""Writes old-day-f17c2c1.sqlite3: a short scripted hall day logged by the controller of commit f17c2c1.

Every event type that version wrote appears (tickets issued with and without holder and sealed rater, calls,
recalls, skips, transfers, finishes with and without prompt, pauses, prompt time-outs, ratings on the prompt
and later, work orders through every action and an overdue one, identity accesses, the day closing with
no-shows, alerts of waits, services, pauses, devices, bad reviews). Run with that commit's code:

    mkdir /tmp/f17 && git archive f17c2c1 | tar -x -C /tmp/f17 && cd /tmp/f17 && \
        PYTHONPATH=/tmp/f17 python /work/main/tests/controller/data/make_old_day.py OUT_DIR

OUT_DIR gets hallq.sqlite3 (kept here as old-day-f17c2c1.sqlite3) and state.json: what that controller's
projections held at the end (kept as old-day-f17c2c1.json), which a replay with today's code must give.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from controller.service import ControllerService
from controller.store import StoredCommand
from hallq.config import parse_config

AT = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))   # a Monday
HALL: dict[str, Any] = {
    "hall": {"id": "old-hall", "name": {"zh": "测试政务服务中心", "mn": "ᠲᠤᠷᠰᠢᠯᠲᠠ"}, "timezone": "Asia/Shanghai"},
    "mqtt": {"host": "127.0.0.1", "port": 1883},
    "data_dir": "./var",
    "services": [{"id": "general", "prefix": "A", "name": {"zh": "综合受理", "mn": "ᠶᠡᠷᠦᠩᠬᠡᠢ"}},
                 {"id": "tax", "prefix": "S", "name": {"zh": "税务", "mn": "ᠲᠠᠲᠠᠪᠤᠷᠢ"}}],
    "windows": [{"id": "1", "services": ["general", "tax"]}, {"id": "2", "services": ["tax"]},
                {"id": "3", "services": ["general"]}],
    "staff": [{"id": "S001", "name": "张三", "windows": ["1", "3"], "unit": "综合科"},
              {"id": "S002", "name": "李四", "windows": ["2", "1"], "unit": "税务科"},
              {"id": "S003", "name": "王芳", "windows": ["3"]}],
    "rules": {"recall_limit": 2},
}
W1, W2, W3 = {"window": "1"}, {"window": "2"}, {"window": "3"}
# (minutes after AT, command, arguments); "tick" / "device" are time and device status, not commands
SCRIPT: list[tuple[float, str, dict[str, Any]]] = [
    (0, "issue", {"service": "general"}), (0.2, "issue", {"service": "general", "source": "kiosk-1"}),
    (0.4, "issue", {"service": "tax", "priority": "green", "holder": "110101199001011234"}),
    (0.6, "issue", {"service": "tax", "holder": "110101199001015678", "rater": "RID1.c2VhbGVk"}),
    (0.8, "issue", {"service": "general"}), (1.0, "issue", {"service": "general"}),
    (1.2, "issue", {"service": "tax"}), (1.4, "issue", {"service": "general"}),
    (2, "login", {"window": "1", "staff": "S001"}), (2.1, "login", {"window": "2", "staff": "S002"}),
    (2.2, "login", {"window": "3", "staff": "S003"}),
    (3, "call", W1), (3.5, "recall", W1), (4, "finish", W1), (4.2, "rate", {"ticket": "S001", "level": 5,
                                                                           "window": "1", "reasons": ["热情"]}),
    (5, "call", W2), (9, "finish", W2), (9.3, "rate", {"ticket": "S002", "level": 1, "window": "2",
                                                        "reasons": ["等待太久"], "comment": "太慢"}),
    (10, "call", W3), (11, "skip", W3), (11.5, "call", W3), (12, "transfer", {"window": "3", "service": "tax"}),
    (13, "call", W1), (14, "call", W1), (15, "finish", W1),
    (17, "tick", {}),                                                   # the prompt at window 1 times out
    (18, "pause", {"window": "2", "reason": "午休"}),
    (20, "wo_verify", {"order": "WO-2026-11-23-S002", "by": "M01", "note": "核实属实", "complex": True}),
    (21, "wo_feedback", {"order": "WO-2026-11-23-S002", "by": "M01", "note": "已整改并回复"}),
    (22, "wo_revisit", {"order": "WO-2026-11-23-S002", "by": "M01", "satisfied": True}),
    (23, "rater_access", {"ticket": "S002", "by": "M01", "reason": "回访"}),
    (24, "device", {"device": "printer-1", "status": "paper_out"}), (25, "device", {"device": "printer-1",
                                                                                     "status": "ok"}),
    (26, "call", W3), (27, "finish", W3), (27.5, "rate", {"ticket": "A004", "level": 2, "window": "3"}),
    (28, "wo_appeal", {"order": "WO-2026-11-23-A004", "by": "S003", "reason": "误评", "note": "窗口误按"}),
    (29, "wo_decide", {"order": "WO-2026-11-23-A004", "by": "M01", "uphold": True, "note": "监控确认"}),
    (30, "call", W1), (31, "finish", W1), (31.2, "rate", {"ticket": "S003", "level": 1, "window": "1"}),
    (55, "tick", {}),                                                   # long waits, a long pause
    (56, "resume", W2), (57, "call", W3), (100, "tick", {}),           # a long service
    (101, "login", {"window": "1", "staff": "S002"}),                  # takes S002 from window 2
    (102, "logout", W3),                                               # finishes A005 (no prompt)
    (180, "rate", {"ticket": "A003", "level": 4, "channel": "qr"}),     # a later rating (supplementary)
    (181, "rate", {"ticket": "S001", "level": 4}),                      # already rated: refused
    (24 * 60, "tick", {}),                                              # the next day: day.closed, no-shows
    (24 * 60 + 1, "issue", {"service": "general"}),
    (10 * 24 * 60, "tick", {}),                                         # the open order is overdue
]


def _iso(t: Any) -> Any:
    return t.isoformat() if t is not None else None


def state_summary(engine: Any) -> dict[str, Any]:
    """What the engine's projections hold, as JSON (the same code reads the old and today's engine)."""
    st = engine.state
    return {
        "today": _iso(st.today), "issue_order": st.issue_order,
        "tickets": [[_iso(t.date), t.number, t.service, t.priority.value, _iso(t.issued_at), t.order, t.source,
                     t.status.value, t.window, t.staff, _iso(t.called_at), _iso(t.finished_at), t.recalls, t.rated,
                     t.holder, t.rater, t.original_service] for t in st.tickets.values()],
        "archived": {d.isoformat(): [st._archived(d)[n] for n in sorted(st._archived(d))] for d in sorted(st.archive)},
        "waiting": {s: [t.number for t in q] for s, q in st.waiting.items()},
        "sequences": {d.isoformat(): dict(v) for d, v in sorted(st.sequences.items())},
        "windows": {w.id: [w.status.value, w.staff, [_iso(w.ticket[0]), w.ticket[1]] if w.ticket else None,
                           _iso(w.since), w.paused_from.value if w.paused_from else None, w.pause_reason,
                           _iso(w.prompt_deadline)] for w in st.windows.values()},
        "staff_at": dict(st.staff_at),
        "evaluations": {f"{k[0]}/{k[1]}": e.to_json() for k, e in st.evaluations.items()},
        "mean_service_s": {s.id: round(st.times.mean(s.id), 6) for s in st.cfg.services},
        "alerted": sorted(st.alerted), "device_status": dict(st.device_status),
        "orders": {i: o.to_json() for i, o in engine.orders.orders.items()},
        "last_key": {w: _iso(t) for w, t in sorted(engine.watch.last_key.items())},
    }


class Clock:
    def __init__(self) -> None:
        self.at = AT

    def now(self) -> datetime:
        return self.at


def main(out: Path) -> None:
    clock = Clock()
    svc = ControllerService(parse_config(HALL), out, clock, yaml.safe_dump(HALL, allow_unicode=True),
                            snapshots=False)
    svc.open()
    for i, (minutes, name, args) in enumerate(SCRIPT):
        now = clock.at = AT + timedelta(minutes=minutes)
        if name == "tick":
            events, cmd = svc.engine.tick(now), None
        elif name == "device":
            events, cmd = svc.engine.device_status(args["device"], args["status"], now), None
        else:
            o = svc.engine.handle(name, args, now)
            events, cmd = o.events, StoredCommand(f"old-{i}", name, o.reply)
        if events or cmd is not None:
            svc.store.append([(events, cmd)])
    summary = {"records": svc.store.head_seq, "secret": svc.engine.secret.hex(), "state": state_summary(svc.engine)}
    (out / "state.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    svc.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
