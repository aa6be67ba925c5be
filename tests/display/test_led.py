"""LED matrix rendering: exact bitmaps (golden files looked at), board sizes, scrolling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from firmware_bridge.hallbus.messages import Show
from firmware_bridge.sim.device import SimLed
from hallq.led import render_led

DATA = Path(__file__).parent / "data"


def test_a012_on_a_64x16_board_is_the_golden_bitmap() -> None:
    got = render_led("A012", 64, 16).to_text() + "\n"
    assert got == (DATA / "A012_64x16.txt").read_text(), "the 64×16 rendering of A012 changed:\n" + got


def test_sizes_and_scrolling() -> None:
    for w, h in ((64, 16), (128, 32), (192, 64)):
        b = render_led("请A012号到3号窗口", w, h)
        assert b.window().shape == (h, w)
        assert b.pixels.any()
    short = render_led("A1", 64, 16)
    assert not short.scrolls
    long = render_led("请A012号到3号窗口办理", 64, 16)
    assert long.scrolls
    assert not np.array_equal(long.window(0), long.window(10)), "scrolling moves the text"
    full = long.pixels.shape[1]
    assert np.array_equal(long.window(0), long.window(full)), "scrolling wraps around"


def test_led_simulator_saves_what_it_shows(tmp_path: Path) -> None:
    led = SimLed(17)
    led.apply(0x03, Show(0, "请A012号到3号窗口"))
    out = tmp_path / "board.png"
    led.save_png(out, 128, 32)
    img = Image.open(out)
    assert img.size == (128 * 6, 32 * 6)
