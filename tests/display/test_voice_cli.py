"""`hallq voice clips`: generates the Chinese clips at install time and names the Mongolian files to record."""

from __future__ import annotations

from pathlib import Path

import pytest

from hallq.cli import main
from hallq.voice import MN_CLIPS, ZH_PHRASES
from tests.display.test_voice import _tone


def test_generates_chinese_and_lists_mongolian_to_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["voice", "clips", "--cache", str(tmp_path / "cache")]) == 1
    out = capsys.readouterr().out
    assert sorted(p.stem for p in (tmp_path / "cache" / "zh").glob("*.wav")) == sorted(ZH_PHRASES)
    assert f"zh: all {len(ZH_PHRASES)} clips ready" in out
    assert "mn: 37 of 37 clips missing — record voice_dir/mn/NAME.wav" in out and "dugaar, tsonh_du" in out


def test_complete_with_recorded_mongolian(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in MN_CLIPS:
        _tone(tmp_path / "rec" / "mn" / f"{name}.wav", 0.05)
    args = ["voice", "clips", "--cache", str(tmp_path / "cache"), "--voice-dir", str(tmp_path / "rec")]
    assert main(args) == 0
    assert f"mn: all {len(MN_CLIPS)} clips ready" in capsys.readouterr().out


def test_with_config_lists_kiosk_guidance_and_areas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from hallq.voice import GUIDE_ZH, KIOSK_MN_CLIPS, area_clip
    from tests.conftest import small_hall

    cfg = small_hall()
    cfg["windows"][0]["area"] = {"zh": "二楼B区", "mn": "ᠬᠣᠶᠠᠷ ᠳᠠᠪᠬᠤᠷ B"}
    (tmp_path / "hall.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    for name in MN_CLIPS:
        _tone(tmp_path / "rec" / "mn" / f"{name}.wav", 0.05)
    args = ["voice", "clips", "--cache", str(tmp_path / "cache"), "--voice-dir", str(tmp_path / "rec"),
            "--config", str(tmp_path / "hall.yaml")]
    assert main(args) == 1
    out = capsys.readouterr().out
    area = area_clip("二楼B区")
    assert (tmp_path / "cache" / "zh" / f"{area}.wav").exists(), "the area is generated in Chinese"
    assert all((tmp_path / "cache" / "zh" / f"{n}.wav").exists() for n in GUIDE_ZH)
    n = len(KIOSK_MN_CLIPS) + 1
    assert f"mn: {n} of {len(MN_CLIPS) + n} clips missing" in out
    assert f"  {area}.wav: say ᠬᠣᠶᠠᠷ ᠳᠠᠪᠬᠤᠷ B (二楼B区)" in out
