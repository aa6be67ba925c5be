"""Where to go: a window's or service's area (二楼B区) on the ticket bytes, the call screen and in the call voice;
a hall without areas keeps its tickets, screen texts and announcements exactly as before."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from devices.printer.escpos import CHINESE_OFF, CHINESE_ON, PROFILES, mongolian_raster, render_ticket_bytes
from devices.printer.ticket import TicketData
from display.presenter import CallBoard
from hallq.config import parse_config
from hallq.voice import GAP_S, Announcer, ClipLibrary, area_clip, hall_area_clips, hall_areas, plan
from tests.conftest import small_hall
from tests.display.test_voice import _dur, _tone

AREA = {"zh": "二楼B区", "mn": "ᠬᠣᠶᠠᠷ ᠳᠠᠪᠬᠤᠷ B"}
AT = "2026-11-23T09:00:00+08:00"
T = TicketData("测试政务服务中心", "ᠲᠤᠷᠰᠢᠯᠲᠠ", "A012", "综合受理", "ᠶᠡᠷᠦᠩᠬᠡᠢ", 5, 12, "2026-11-23 09:12",
               "HQ1:test-hall:2026-11-23:A012:K7Q2")


def _hall_with_areas() -> dict[str, Any]:
    cfg = small_hall(displays=[{"id": "tv"}])
    cfg["windows"][0]["area"] = AREA
    cfg["services"][1]["area"] = {"zh": "一楼A区"}
    return cfg


def _called(seq: int, number: str, window: str, service: str = "general") -> dict[str, Any]:
    return {"type": "ticket.called", "seq": seq, "at": AT, "ticket": number, "date": "2026-11-23",
            "service": service, "window": window, "recall": 0}


def test_area_on_the_ticket_bytes() -> None:
    p = PROFILES["80mm"]
    plain = render_ticket_bytes(T, p)
    assert render_ticket_bytes(dataclasses.replace(T, area_zh="", area_mn=""), p) == plain, \
        "no area: not a byte changes"
    zh_only = render_ticket_bytes(dataclasses.replace(T, area_zh="二楼B区"), p)
    line = b"\x1d!\x01" + CHINESE_ON + "办理地点：二楼B区".encode("gb18030") + CHINESE_OFF + b"\n\x1d!\x00"
    assert zh_only.count(line) == 1, "办理地点 in double height, native GB18030"
    assert zh_only.replace(line, b"") == plain, "inserted, nothing else changed"
    both = render_ticket_bytes(dataclasses.replace(T, area_zh="二楼B区", area_mn=AREA["mn"]), p)
    mn = mongolian_raster("ᠪᠠᠶᠢᠷᠢ : " + AREA["mn"], 20, p)
    assert both.replace(mn + line, b"") == plain, "the Mongolian raster goes right above the Chinese line"
    assert both.index(mn + line) < both.index("前面还有".encode("gb18030")), "under the service, before the wait"


def test_area_on_the_call_screen() -> None:
    cfg = parse_config(_hall_with_areas())
    b = CallBoard(cfg, cfg.displays[0])
    b.on_controller(True)
    b.on_called(_called(1, "A001", "1"))
    b.on_called(_called(2, "A002", "3"))
    assert b.texts()[1:3] == ["请 A002 号到 3 号窗口办理", "A001 → 二楼B区 1号窗口"]
    b.on_called(_called(3, "A003", "1"))
    assert b.texts()[1] == "请 A003 号到 二楼B区 1 号窗口办理"
    assert b.lines()[1].mn == "A003 ᠳ᠋ᠤᠭᠠᠷ ᠂ ᠬᠣᠶᠠᠷ ᠳᠠᠪᠬᠤᠷ B 1 ᠳ᠋ᠤᠭᠠᠷ ᠴᠣᠩᠬᠣ ᠳ᠋ᠤ ᠣᠴᠢᠨ᠎ᠠ ᠤᠤ"
    assert b.window_area("3") is None


def test_area_in_the_call_voice(tmp_path: Path) -> None:
    cfg = parse_config(_hall_with_areas())
    assert hall_areas(cfg) == ["二楼B区", "一楼A区"]
    assert hall_area_clips(cfg)[area_clip("二楼B区")] == ("二楼B区", AREA["mn"])
    zh = plan("A003", "1", "zh", "二楼B区")
    assert zh == ["qing", "A", "0", "0", "3", "hao", "dao", area_clip("二楼B区"), "1", "hao", "chuangkou", "banli"]
    mn = plan("A003", "1", "mn", "二楼B区")
    assert mn == ["A", "0", "0", "3", "dugaar", area_clip("二楼B区"), "1", "dugaar", "tsonh_du", "ochina_uu"]
    assert plan("A003", "1", "zh", None) == plan("A003", "1"), "no area: the announcement as before"
    rec = tmp_path / "recorded"
    for i, name in enumerate(dict.fromkeys(zh + mn)):
        for lang in ("zh", "mn"):
            _tone(rec / lang / f"{name}.wav", 0.05 + 0.01 * (i % 5), 300 + 10 * i)
    played: list[Path] = []
    a = Announcer(ClipLibrary(tmp_path / "cache", rec, hall_areas(cfg)), tmp_path / "out", ("mn", "zh"),
                  play=played.append, keep=True)
    a.announce(9, "A003", "1", area="二楼B区")
    a.wait()
    assert [p.name for p in played] == ["000009-mn.wav", "000009-zh.wav"]
    for wav, names, lang in ((played[0], mn, "mn"), (played[1], zh, "zh")):
        expected = sum(_dur(rec / lang / f"{n}.wav") for n in names) + GAP_S * (len(names) - 1)
        assert abs(_dur(wav) - expected) < 0.01, (lang, _dur(wav), expected)
