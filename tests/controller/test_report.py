"""`hallq report` from a data directory alone: JSON figures per CONTRACT §3.6, CSV and XLSX."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from openpyxl import load_workbook

from controller.engine import Engine
from controller.store import EventStore, StoredCommand
from hallq.config import parse_config
from tests.conftest import REPO, small_hall


def _day(data: Path) -> None:
    raw = small_hall()
    cfg = parse_config(raw)
    eng, store = Engine(cfg), EventStore(data).open()
    store.record_config(yaml.safe_dump(raw, allow_unicode=True))
    now = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    plan: list[tuple[str, dict[str, Any]]] = [("issue", {"service": "general"})] * 5 + [
        ("issue", {"service": "tax", "priority": "green"}),
        ("login", {"window": "1", "staff": "S001"}),
        ("call", {"window": "1"}), ("finish", {"window": "1"}), ("rate", {"ticket": "S001", "level": 5, "window": "1"}),
        ("call", {"window": "1"}), ("finish", {"window": "1"}), ("rate", {"ticket": "A001", "level": 1, "window": "1"}),
        ("call", {"window": "1"}), ("finish", {"window": "1"}),                 # A002 served, not rated
        ("call", {"window": "1"}), ("skip", {"window": "1"}),                   # A003 no-show
        ("call", {"window": "1"}), ("finish", {"window": "1"}), ("rate", {"ticket": "A004", "level": 3, "window": "1"}),
        ("wo_verify", {"order": "WO-2026-11-23-A001", "by": "M01", "note": "核实属实"}),
    ]
    for i, (name, args) in enumerate(plan):
        out = eng.handle(name, args, now + timedelta(minutes=3 * i))
        assert out.ok, out.reply
        store.append([(out.events, StoredCommand(f"c{i}", name, out.reply))])
    # the next day closes A005 as no-show
    store.append([(eng.tick(now + timedelta(days=1)), None)])
    store.close()


def _report(data: Path, fmt: str, out: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "hallq", "report", "--data", str(data), "--date", "2026-11-23",
                          "--format", fmt, "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


def test_json_report_figures(tmp_path: Path) -> None:
    _day(tmp_path / "data")
    _report(tmp_path / "data", "json", tmp_path / "r.json")
    r = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert r["date"] == "2026-11-23"
    assert r["tickets"] | {} == {"issued": 6, "served": 4, "no_show": 2, "held": 0, "cancelled": 0, "green": 1}
    ev = r["evaluations"]
    assert (ev["rated"], ev["unrated"], ev["good"], ev["bad"]) == (3, 1, 2, 1)
    assert ev["good_rate"] == round(2 / 3, 4) and ev["bad_rate"] == round(1 / 3, 4)
    assert ev["unrated_rate"] == 0.25
    assert r["by_window"]["1"]["served"] == 4 and r["by_staff"]["S001"]["bad"] == 1
    assert r["wait_s"]["max"] is not None and r["log_intact"] is True
    wo = r["work_orders"]
    assert (wo["opened"], wo["rectified"], wo["rectified_rate"], wo["overdue"]) == (1, 0, 0.0, 0)
    assert wo["by_state"] == {"rectifying": 1} and wo["orders"][0]["ticket"] == "A001"
    assert ev["flagged"] == 0 and ev["flags"] == {}, "ratings three minutes apart are not suspicious"


def test_csv_and_xlsx(tmp_path: Path) -> None:
    _day(tmp_path / "data")
    _report(tmp_path / "data", "csv", tmp_path / "r.csv")
    rows = list(csv.reader((tmp_path / "r.csv").open(encoding="utf-8-sig")))
    assert rows[0] == ["section", "key", "metric", "value"]
    assert ["tickets", "", "issued", "6"] in rows
    _report(tmp_path / "data", "xlsx", tmp_path / "r.xlsx")
    wb = load_workbook(tmp_path / "r.xlsx")
    assert "窗口 Window" in wb.sheetnames and "差评工单 Work orders" in wb.sheetnames
    assert wb["差评工单 Work orders"]["I2"].value == "整改中"
    _report(tmp_path / "data", "png", tmp_path / "r.png")
    from PIL import Image

    img = Image.open(tmp_path / "r.png")
    assert img.size == (1600, 1200) and len(img.convert("L").getcolors(65536) or []) > 10
    assert wb["窗口 Window"]["B2"].value == 5, "window 1 called 5 of the 6 tickets"


def test_report_counts_held_cancelled_and_alerts(tmp_path: Path) -> None:
    """v2 (CONTRACT §3.7): held and cancelled tickets, alerts raised / acknowledged / open; an alert of a log
    written before alerts had ids is acknowledged under the id derived from its seq, in the engine and here."""
    from controller.report import build_report

    raw = small_hall(supervision={"wait_alert_s": 600})
    cfg = parse_config(raw)
    data = tmp_path / "data"
    eng, store = Engine(cfg), EventStore(data).open()
    store.record_config(yaml.safe_dump(raw, allow_unicode=True))
    t0 = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    old = {"type": "alert.raised", "at": t0.isoformat(), "kind": "unattended", "key": "unattended:3:x",
           "message": "window 3 is unattended", "window": "3"}
    [[old]] = store.append([([old], None)])          # an alert as v1 wrote it: no id
    eng.apply(old)
    plan: list[tuple[str, dict[str, Any]]] = [("issue", {"service": "general"})] * 4 + [
        ("issue", {"service": "tax"}),
        ("login", {"window": "1", "staff": "S001"}),
        ("call", {"window": "1"}), ("hold", {"window": "1", "note": "缺材料"}),          # A001 held …
        ("call", {"window": "1"}), ("finish", {"window": "1"}),                         # A002 served
        ("callback", {"window": "1", "number": "A001"}), ("finish", {"window": "1"}),   # … A001 called back, served
        ("rate", {"ticket": "A001", "level": 2, "window": "1"}),                       # bad review: alert
        ("call", {"window": "1"}), ("hold", {"window": "1"}),                           # A003 held, never back
        ("cancel", {"number": "A004", "reason": "left"}),
        ("alert_ack", {"alert": f"e{old['seq']}", "note": "已安排", "by": "M01"}),
    ]
    for i, (name, args) in enumerate(plan):
        out = eng.handle(name, args, t0 + timedelta(minutes=i))
        assert out.ok, (name, out.reply)
        store.append([(out.events, StoredCommand(f"c{i}", name, out.reply))])
    store.append([(eng.tick(t0 + timedelta(minutes=40)), None)])      # S001 has waited: long_wait
    store.append([(eng.tick(t0 + timedelta(days=1)), None)])          # A003 (held) and S001 closed as no-show
    store.close()
    rep = build_report(data, t0.date(), t0.date())
    assert rep["tickets"] | {} == {"issued": 5, "served": 2, "no_show": 2, "held": 2, "cancelled": 1, "green": 0}
    assert rep["by_window"]["1"]["held"] == 2 and rep["by_service"]["general"]["cancelled"] == 1
    assert (rep["service_s"]["mean"], rep["service_s"]["max"]) == (90.0, 120.0), \
        "A001 served 60 s before its hold and 60 s after the call-back; A002 60 s"
    assert (rep["wait_s"]["mean"], rep["wait_s"]["max"]) == (480.0, 660.0), "waits end at the first call"
    assert rep["alerts"] == {"raised": 5, "acknowledged": 1, "open": 4, "by_kind": {     # long waits: A003, A004, S001
        "bad_review": {"raised": 1, "acknowledged": 0, "open": 1},
        "long_wait": {"raised": 3, "acknowledged": 0, "open": 3},
        "unattended": {"raised": 1, "acknowledged": 1, "open": 0}}}
    assert eng.state.open_alerts == 4
    _report(data, "csv", tmp_path / "r.csv")
    rows = list(csv.reader((tmp_path / "r.csv").open(encoding="utf-8-sig")))
    assert ["alerts", "", "acknowledged", "1"] in rows and ["tickets", "", "held", "2"] in rows
    assert ["alerts", "", "by_kind.unattended.acknowledged", "1"] in rows
    _report(data, "xlsx", tmp_path / "r.xlsx")
    summary = [[c.value for c in row] for row in load_workbook(tmp_path / "r.xlsx")["汇总 Summary"].iter_rows()]
    assert ["alerts", "open", 4] in summary


def test_stored_text_never_becomes_a_formula(tmp_path: Path) -> None:
    raw = small_hall()
    raw["staff"][0]["name"] = '=HYPERLINK("http://evil.example","点我")'
    raw["hall"]["name"]["zh"] = "=SUM(1,2)中心"
    cfg = parse_config(raw)
    data = tmp_path / "data"
    eng, store = Engine(cfg), EventStore(data).open()
    store.record_config(yaml.safe_dump(raw, allow_unicode=True))
    now = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    plan: list[tuple[str, dict[str, Any]]] = [
        ("issue", {"service": "general"}), ("login", {"window": "1", "staff": "S001"}), ("call", {"window": "1"}),
        ("finish", {"window": "1"}), ("rate", {"ticket": "A001", "level": 1, "window": "1", "reasons": ["=1+2"],
                                               "comment": "=cmd|' /C calc'!A0"})]
    for i, (name, args) in enumerate(plan):
        out = eng.handle(name, args, now + timedelta(minutes=i))
        assert out.ok, out.reply
        store.append([(out.events, StoredCommand(f"c{i}", name, out.reply))])
    store.close()
    _report(data, "xlsx", tmp_path / "r.xlsx")
    wb = load_workbook(tmp_path / "r.xlsx")
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    texts = {c.value for c in cells if isinstance(c.value, str)}
    assert any(t.startswith("=") for t in texts), "the stored '=' text should still be in the report as written"
    _report(data, "csv", tmp_path / "r.csv")
    rows = list(csv.reader((tmp_path / "r.csv").open(encoding="utf-8")))
    assert not [v for row in rows for v in row if v.startswith(("=", "+", "@"))]
