"""`hallq report` from a data directory alone: JSON figures per CONTRACT §3.6, CSV and XLSX."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
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
    plan = [("issue", {"service": "general"})] * 5 + [("issue", {"service": "tax", "priority": "green"})] + [
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
    assert r["tickets"] | {} == {"issued": 6, "served": 4, "no_show": 2, "green": 1}
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
