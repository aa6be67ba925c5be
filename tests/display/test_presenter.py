"""Call screen presenter: events in -> exact screen texts and order; dedup by seq; filters."""

from __future__ import annotations

from typing import Any

from display.presenter import CallBoard
from hallq.config import parse_config
from tests.conftest import small_hall


def _called(seq: int, number: str, window: str, recall: int = 0, service: str = "general") -> dict[str, Any]:
    return {"type": "ticket.called", "seq": seq, "at": "2026-11-23T09:00:00+08:00", "ticket": number,
            "date": "2026-11-23", "service": service, "window": window, "recall": recall}


def _board(**display: Any) -> CallBoard:
    cfg = parse_config(small_hall(displays=[{"id": "tv", **display}]))
    return CallBoard(cfg, cfg.displays[0])


def test_screen_texts_in_order() -> None:
    b = _board()
    b.on_controller({"state": "online"})
    b.on_queues({"services": [{"id": "general", "waiting": 4}, {"id": "tax", "waiting": 1}]})
    for ev in (_called(1, "A001", "1"), _called(2, "S001", "2"), _called(3, "A002", "3")):
        b.on_called(ev)
    assert b.texts() == ["测试政务服务中心", "请 A002 号到 3 号窗口办理", "S001 → 2号窗口", "A001 → 1号窗口",
                         "综合受理 等候 4 人", "税务 等候 1 人"]
    assert b.on_called(_called(3, "A002", "3")) is None, "the same event twice is shown once"
    assert b.on_called(_called(4, "A001", "1", recall=1)) is not None
    assert b.texts()[1] == "请 A001 号到 1 号窗口办理", "a recall highlights the number again"
    assert b.texts().count("A001 → 1号窗口") == 0
    b.on_called(_called(7, "A003", "1"))
    assert b.gaps == 1, "seq 5 and 6 were missed"


def test_filters_and_reconnecting() -> None:
    b = _board(windows=["1"])
    assert "系统连接中，请稍候" in b.texts()
    assert b.on_called(_called(1, "S001", "2", service="tax")) is None
    assert b.on_called(_called(2, "A001", "1")) is not None
    assert b.calls[0].number == "A001" and len(b.calls) == 1
