"""Call screen presenter: events in -> exact screen texts and order (both languages); dedup by seq; filters."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from display.presenter import CallBoard
from hallq.config import parse_config
from tests.conftest import small_hall

AT = "2026-11-23T09:00:00+08:00"
NOTICE_ZH = "请留意叫号，过号请重新取号。"


def _called(seq: int, number: str, window: str, recall: int = 0, service: str = "general") -> dict[str, Any]:
    return {"type": "ticket.called", "seq": seq, "at": AT, "ticket": number,
            "date": "2026-11-23", "service": service, "window": window, "recall": recall}


def _board(**display: Any) -> CallBoard:
    cfg = parse_config(small_hall(displays=[{"id": "tv", **display}]))
    return CallBoard(cfg, cfg.displays[0])


def test_screen_texts_in_order() -> None:
    b = _board()
    b.on_controller({"state": "online"})
    b.on_queues({"services": [{"id": "general", "waiting": 4}, {"id": "tax", "waiting": 1}]})
    for ev in (_called(1, "A001", "1"), _called(2, "S001", "2", service="tax"), _called(3, "A002", "3")):
        b.on_called(ev)
    assert b.texts() == ["测试政务服务中心", "请 A002 号到 3 号窗口办理", "S001 → 2号窗口", "A001 → 1号窗口",
                         "综合受理 等候 4 人", "税务 等候 1 人", NOTICE_ZH]
    assert b.on_called(_called(3, "A002", "3")) is None, "the same event twice is shown once"
    assert b.on_called(_called(4, "A001", "1", recall=1)) is not None
    assert b.texts()[1] == "请 A001 号到 1 号窗口办理", "a recall highlights the number again"
    assert b.texts().count("A001 → 1号窗口") == 0
    b.on_called(_called(7, "A003", "1"))
    assert b.gaps == 1, "seq 5 and 6 were missed"


def test_mongolian_texts_in_order_number_then_window() -> None:
    b = _board(notice={"mn": "ᠮᠡᠨᠳᠦ", "zh": "欢迎"})
    b.on_controller({"state": "online"})
    b.on_queues({"services": [{"id": "general", "waiting": 4}, {"id": "tax", "waiting": 1}]})
    b.on_called(_called(1, "A001", "1"))
    b.on_called(_called(2, "A012", "3"))
    assert b.texts_mn() == ["ᠲᠤᠷᠰᠢᠯᠲᠠ", "A012 ᠳ᠋ᠤᠭᠠᠷ ᠂ 3 ᠳ᠋ᠤᠭᠠᠷ ᠴᠣᠩᠬᠣ ᠳ᠋ᠤ ᠣᠴᠢᠨ᠎ᠠ ᠤᠤ", "A001 → 1 ᠳ᠋ᠤᠭᠠᠷ ᠴᠣᠩᠬᠣ",
                            "ᠶᠡᠷᠦᠩᠬᠡᠢ ᠬᠦᠯᠢᠶᠡᠵᠦ ᠪᠠᠶᠢᠭ᠎ᠠ 4", "ᠲᠠᠲᠠᠪᠤᠷᠢ ᠬᠦᠯᠢᠶᠡᠵᠦ ᠪᠠᠶᠢᠭ᠎ᠠ 1", "ᠮᠡᠨᠳᠦ"]
    cells = b.waiting_cells()
    assert [(c.name.mn, c.waiting.mn, c.name.zh, c.waiting.zh) for c in cells] == [
        ("ᠶᠡᠷᠦᠩᠬᠡᠢ", "ᠬᠦᠯᠢᠶᠡᠵᠦ ᠪᠠᠶᠢᠭ᠎ᠠ 4", "综合受理", "等候 4 人"),
        ("ᠲᠠᠲᠠᠪᠤᠷᠢ", "ᠬᠦᠯᠢᠶᠡᠵᠦ ᠪᠠᠶᠢᠭ᠎ᠠ 1", "税务", "等候 1 人")]
    assert b.notice().mn == "ᠮᠡᠨᠳᠦ" and b.notice().zh == "欢迎"


def test_filters_and_reconnecting() -> None:
    b = _board(windows=["1"])
    assert "系统连接中，请稍候" in b.texts()
    assert b.on_called(_called(1, "S001", "2", service="tax")) is None
    assert b.on_called(_called(2, "A001", "1")) is not None
    assert b.calls[0].number == "A001" and len(b.calls) == 1
    b.on_controller({"state": "online"})
    assert "系统连接中，请稍候" not in b.texts()
    b.on_link(False)
    assert b.texts()[1] == "系统连接中，请稍候", "a lost broker shows the reconnecting line"
    b.on_link(True)
    assert "系统连接中，请稍候" in b.texts(), "until the retained controller status comes again"
    b.on_controller({"state": "online"})
    assert "系统连接中，请稍候" not in b.texts()


def test_waiting_bar_follows_the_display_windows_and_pages() -> None:
    tax_only = _board(windows=["2"])
    assert tax_only.shown_service_ids() == ["tax"], "window 2 takes tax only"
    assert [c.name.zh for c in tax_only.waiting_cells()] == ["税务"]
    assert tax_only.on_called(_called(1, "A001", "2", service="general")) is None, "a service not on this screen"
    explicit = _board(services=["general"])
    assert explicit.shown_service_ids() == ["general"]
    paged = _board(waiting_per_page=1)
    assert [[c.service for c in p] for p in paged.waiting_pages()] == [["general"], ["tax"]]


def test_only_fresh_calls_are_announced() -> None:
    b = _board(announce_max_age_s=60)
    call = b.on_called(_called(1, "A001", "1"))
    assert call is not None
    at = datetime.fromisoformat(AT)
    assert b.should_announce(call, at + timedelta(seconds=5))
    assert not b.should_announce(call, at + timedelta(minutes=10)), "a backlog after an outage is shown, not spoken"


def test_dedup_memory_stays_bounded() -> None:
    b = _board()
    for seq in range(1, 5001):
        b.on_called(_called(seq, f"A{seq:03d}", "1"))
    assert len(b.seen) <= 2000
    assert b.on_called(_called(5000, "A5000", "1")) is None
