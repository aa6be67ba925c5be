"""The monthly 回访 sample (controller/revisit.py, issue 14): a share of a past month's rated tickets drawn once with
a logged seed (anyone can draw it again from the log), results recorded per sampled ticket, in replay too."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from controller.engine import Engine
from controller.revisit import pick
from hallq.config import parse_config
from tests.conftest import small_hall

ZONE = ZoneInfo("Asia/Shanghai")


def engine() -> Engine:
    raw = small_hall()
    raw["evaluation"] = {"revisit_share": 0.5}
    return Engine(parse_config(raw))


def run(eng: Engine, log: list[dict[str, Any]], name: str, args: dict[str, Any], at: datetime) -> dict[str, Any]:
    out = eng.handle(name, args, at)
    log.extend(out.events)
    return out.reply


def rated_month(eng: Engine, log: list[dict[str, Any]]) -> list[str]:
    keys = []
    for day, n in ((datetime(2026, 11, 27, 9, 0, tzinfo=ZONE), 4), (datetime(2026, 11, 30, 9, 0, tzinfo=ZONE), 3)):
        run(eng, log, "login", {"window": "1", "staff": "S001"}, day)
        for i in range(n):
            at = day + timedelta(minutes=5 * i)
            num = run(eng, log, "issue", {"service": "general"}, at)["result"]["ticket"]["number"]
            run(eng, log, "call", {"window": "1"}, at)
            run(eng, log, "finish", {"window": "1"}, at)
            if i < n - 1:        # the last of each day stays unrated
                assert run(eng, log, "rate", {"ticket": num, "level": 4, "window": "1"}, at)["ok"]
                keys.append(f"{day.date().isoformat()}:{num}")
    return keys


def test_sample_drawn_once_with_its_seed_and_results_recorded() -> None:
    eng, log = engine(), list[dict[str, Any]]()
    keys = rated_month(eng, log)
    assert len(keys) == 5
    dec = datetime(2026, 12, 2, 10, 0, tzinfo=ZONE)
    assert run(eng, log, "revisit_sample", {"month": "2026-11", "peek": True}, dec)["result"]["sample"] is None
    r = run(eng, log, "revisit_sample", {"month": "2026-11", "by": "M001"}, dec)
    assert r["ok"], r
    s = r["result"]["sample"]
    assert s["rated"] == 5 and s["share"] == 0.5 and len(s["tickets"]) == 3 and s["by"] == "M001"
    [ev] = [e for e in log if e["type"] == "revisit.sampled"]
    assert pick(keys, ev["share"], ev["seed"]) == list(ev["tickets"])          # anyone can draw it again
    again = run(eng, log, "revisit_sample", {"month": "2026-11", "by": "M002"}, dec + timedelta(days=1))
    assert again["result"]["sample"] == s and len([e for e in log if e["type"] == "revisit.sampled"]) == 1
    first = s["tickets"][0]
    r = run(eng, log, "revisit_record", {"ticket": first["ticket"], "date": first["date"], "satisfied": True,
                                         "note": "电话回访：满意", "by": "M001"}, dec)
    assert r["ok"] and r["result"]["sample"]["called"] == 1 and r["result"]["sample"]["satisfied"] == 1
    sampled = {f"{t['date']}:{t['ticket']}" for t in s["tickets"]}
    other = next(k for k in keys if k not in sampled)
    r = run(eng, log, "revisit_record", {"ticket": other.split(":")[1], "date": other.split(":")[0],
                                         "satisfied": False}, dec)
    assert r["error"]["code"] == "NOT_SAMPLED"
    # replay: the same sample and results
    eng2 = Engine(eng.cfg)
    for i, ev in enumerate(log, 1):
        eng2.apply({**ev, "seq": i})
    assert eng2.handle("revisit_sample", {"month": "2026-11", "peek": True}, dec).reply["result"]["sample"] == \
        eng.handle("revisit_sample", {"month": "2026-11", "peek": True}, dec).reply["result"]["sample"]


@pytest.mark.parametrize("month,code", [("2026-12", "MONTH_NOT_OVER"), ("2026-13", "BAD_REQUEST"),
                                        ("2026-09", "TOO_LATE"), ("Nov", "BAD_REQUEST")])
def test_sample_refusals(month: str, code: str) -> None:
    eng, log = engine(), list[dict[str, Any]]()
    rated_month(eng, log)
    r = run(eng, log, "revisit_sample", {"month": month, "by": "M001"}, datetime(2026, 12, 2, 10, tzinfo=ZONE))
    assert r["error"]["code"] == code
