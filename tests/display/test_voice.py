"""Voice: exact clip sequences per language, a WAV whose length is the clips plus gaps, recalls again,
no duplicates, recorded clips (Mongolian included) take precedence."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

from hallq.voice import GAP_S, MN_CLIPS, ORDER, RATE, Announcer, ClipLibrary, plan

DOCS = Path(__file__).resolve().parents[2] / "docs" / "display.md"


def _dur(p: Path) -> float:
    with wave.open(str(p), "rb") as w:
        return w.getnframes() / w.getframerate()


def _tone(path: Path, seconds: float, hz: float = 440.0) -> None:
    """A stand-in for a recorded clip (a test fixture: real halls record speech)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(RATE * seconds)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / RATE)))
                               for i in range(n)))


def test_clip_sequence() -> None:
    assert plan("A012", "3") == ["qing", "A", "0", "1", "2", "hao", "dao", "3", "hao", "chuangkou", "banli"]


def test_mongolian_order_is_number_then_window_then_verb() -> None:
    assert plan("A012", "3", "mn") == ["A", "0", "1", "2", "dugaar", "3", "dugaar", "tsonh_du", "ochina_uu"]
    assert plan("S101", "12", "mn")[-5:] == ["1", "2", "dugaar", "tsonh_du", "ochina_uu"]
    assert set(ORDER) == {"zh", "mn"}


def test_every_mongolian_clip_name_is_documented() -> None:
    doc = DOCS.read_text(encoding="utf-8")
    missing = [n for n in MN_CLIPS if f"`{n}`" not in doc and f"`{n}.wav`" not in doc]
    assert not missing, f"docs/display.md does not list the Mongolian clips {missing}"


def test_announcements_queue_and_length(tmp_path: Path) -> None:
    lib = ClipLibrary(tmp_path / "cache", tmp_path / "recorded")
    played: list[Path] = []
    started: list[tuple[int, str]] = []
    a = Announcer(lib, tmp_path / "out", play=played.append, keep=True,
                  on_start=lambda s, lang: started.append((s, lang)))
    assert a.announce(5, "A012", "3")
    assert not a.announce(5, "A012", "3"), "the same event is announced once"
    assert a.announce(6, "A012", "3", recall=1), "a recall is announced again"
    a.wait()
    zh = [p for p in played if p.name.endswith("-zh.wav")]
    assert [p.name for p in zh] == ["000005-zh.wav", "000006-zh.wav"]
    assert started == [(5, "zh"), (6, "zh")]
    names = plan("A012", "3")
    paths = [lib.path("zh", n) for n in names]
    clips = sum(_dur(p) for p in paths if p is not None)
    assert None not in paths
    assert abs(_dur(zh[0]) - (clips + GAP_S * (len(names) - 1))) < 0.01
    assert not any(p.name.endswith("-mn.wav") for p in played), "no Mongolian clips recorded: not faked"


def test_recorded_mongolian_clips_are_announced_first(tmp_path: Path) -> None:
    rec = tmp_path / "recorded"
    for i, name in enumerate(MN_CLIPS):
        _tone(rec / "mn" / f"{name}.wav", 0.2 + 0.01 * (i % 7), 300 + 10 * i)
    lib = ClipLibrary(tmp_path / "cache", rec)
    played: list[Path] = []
    a = Announcer(lib, tmp_path / "out", ("mn", "zh"), play=played.append, keep=True)
    a.announce(1, "A012", "3")
    a.wait()
    assert [p.name for p in played] == ["000001-mn.wav", "000001-zh.wav"], "Mongolian first, then Chinese"
    names = plan("A012", "3", "mn")
    expected = sum(_dur(rec / "mn" / f"{n}.wav") for n in names) + GAP_S * (len(names) - 1)
    assert abs(_dur(played[0]) - expected) < 0.01, f"the Mongolian WAV should last {expected:.3f} s"


def test_recorded_clips_take_precedence(tmp_path: Path) -> None:
    lib = ClipLibrary(tmp_path / "cache", tmp_path / "recorded")
    generated = lib.path("zh", "qing")
    assert generated is not None and generated.is_relative_to(tmp_path / "cache")
    rec = tmp_path / "recorded" / "zh" / "qing.wav"
    rec.parent.mkdir(parents=True)
    rec.write_bytes(generated.read_bytes())
    assert lib.path("zh", "qing") == rec
