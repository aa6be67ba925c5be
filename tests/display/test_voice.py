"""Voice: exact clip sequence, a WAV whose length is the clips plus gaps, recalls again, no duplicates."""

from __future__ import annotations

import wave
from pathlib import Path

from display.voice import GAP_S, Announcer, ClipLibrary, plan


def _dur(p: Path) -> float:
    with wave.open(str(p), "rb") as w:
        return w.getnframes() / w.getframerate()


def test_clip_sequence() -> None:
    assert plan("A012", "3") == ["qing", "A", "0", "1", "2", "hao", "dao", "3", "hao", "chuangkou", "banli"]


def test_announcements_queue_and_length(tmp_path: Path) -> None:
    lib = ClipLibrary(tmp_path / "cache", tmp_path / "recorded")
    played: list[Path] = []
    a = Announcer(lib, tmp_path / "out", play=played.append, keep=True)
    assert a.announce(5, "A012", "3")
    assert not a.announce(5, "A012", "3"), "the same event is announced once"
    assert a.announce(6, "A012", "3", recall=1), "a recall is announced again"
    a.wait()
    zh = [p for p in played if p.name.endswith("-zh.wav")]
    assert [p.name for p in zh] == ["000005-zh.wav", "000006-zh.wav"]
    names = plan("A012", "3")
    clips = sum(_dur(lib.path("zh", n)) for n in names)  # type: ignore[arg-type]
    assert abs(_dur(zh[0]) - (clips + GAP_S * (len(names) - 1))) < 0.01
    assert not any(p.name.endswith("-mn.wav") for p in played), "no Mongolian clips recorded: not faked"


def test_recorded_clips_take_precedence(tmp_path: Path) -> None:
    lib = ClipLibrary(tmp_path / "cache", tmp_path / "recorded")
    generated = lib.path("zh", "qing")
    assert generated is not None and generated.is_relative_to(tmp_path / "cache")
    rec = tmp_path / "recorded" / "zh" / "qing.wav"
    rec.parent.mkdir(parents=True)
    rec.write_bytes(generated.read_bytes())
    assert lib.path("zh", "qing") == rec
