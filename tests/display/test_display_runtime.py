"""The call screen's runtime: the voice is decided where calls arrive, before the screen's loop runs;
fresh calls of the screen's windows are spoken once per seq, recalls again, old and foreign ones not;
the screen's board still gets every message in order."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from display.runtime import DisplayRuntime
from hallq.clock import ScaledClock
from hallq.config import parse_config
from hallq.mqtt import Message
from hallq.voice import MN_CLIPS, Announcer, ClipLibrary
from tests.conftest import small_hall
from tests.display.test_voice import _tone

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
TOPIC = "hallq/test-hall/event/ticket.called"


def _called(seq: int, number: str, window: str, recall: int = 0, age_s: float = 1.0) -> Message:
    body: dict[str, Any] = {"type": "ticket.called", "seq": seq, "at": (NOW - timedelta(seconds=age_s)).isoformat(),
                            "ticket": number, "date": "2026-11-23", "service": "general", "window": window,
                            "recall": recall}
    return Message(TOPIC, json.dumps(body).encode())


def test_voice_is_decided_on_arrival_and_the_screen_sees_every_message(tmp_path: Path) -> None:
    rec = tmp_path / "recorded"
    for name in MN_CLIPS:
        _tone(rec / "mn" / f"{name}.wav", 0.05)
    played: list[Path] = []
    announcer = Announcer(ClipLibrary(tmp_path / "cache", rec), tmp_path / "out", ("mn",), play=played.append,
                          keep=True)
    cfg = parse_config(small_hall(displays=[{"id": "tv", "windows": ["1", "2"], "announce_max_age_s": 60}]))
    rt = DisplayRuntime(cfg, cfg.displays[0], clock=ScaledClock(NOW, speed=0), announcer=announcer)
    rt.sequence.last = 0    # anchored: the controller's log holds nothing before these (no fetch needed)
    for m in (_called(1, "A001", "1"), _called(1, "A001", "1"),      # QoS 1 redelivery
              _called(2, "A002", "3"),                               # another screen's window
              Message(TOPIC, b"{not json"),                          # dropped, nothing else changes
              _called(3, "A001", "1", recall=1),                     # a recall is spoken again
              _called(4, "A003", "1", age_s=600)):                   # backlog after an outage: shown, not spoken
        rt._put(m)
    announcer.wait()
    assert [p.name for p in played] == ["000001-mn.wav", "000003-mn.wav"], "spoken before the screen's loop ran"
    assert rt.board.calls == [], "the screen's board changes only when its loop pumps"
    batch = rt.pump()
    assert batch.seqs == [1, 3, 4]
    assert rt.drops.dropped == 1
    assert [c.number for c in rt.board.calls] == ["A003", "A001"]
    announcer.wait()
    assert len(played) == 2, "pumping speaks nothing more"
