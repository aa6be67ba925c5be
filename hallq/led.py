"""LED matrix boards: text rendered to the 1-bit matrix of a bitmap board (e.g. 64×16, 128×32, 192×64).

The same renderer drives real bitmap boards and lets the bridge's LED simulators save a PNG of what a
board shows. Text wider than the board scrolls: `Bitmap.window(offset)` is one frame.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from hallq.text import render_line

THRESHOLD = 110   # grey level below which an LED is lit: keeps 16-px CJK strokes legible


@dataclass(frozen=True)
class Bitmap:
    """Lit LEDs as a boolean array of shape (height, full width); full width ≥ board width when scrolling."""

    pixels: np.ndarray
    board_width: int

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def scrolls(self) -> bool:
        return int(self.pixels.shape[1]) > self.board_width

    def window(self, offset: int = 0) -> np.ndarray:
        """What the board shows with the text scrolled left by `offset` columns (wrapping around)."""
        w = int(self.pixels.shape[1])
        cols = [(offset + i) % w for i in range(self.board_width)]
        return self.pixels[:, cols]

    def to_text(self, offset: int = 0) -> str:
        return "\n".join("".join("#" if v else "." for v in row) for row in self.window(offset))

    def to_png(self, path: str | os.PathLike[str], offset: int = 0, scale: int = 6) -> None:
        frame = self.window(offset)
        h, w = frame.shape
        img = Image.new("RGB", (w * scale, h * scale), (20, 8, 8))
        d = ImageDraw.Draw(img)
        for y in range(h):
            for x in range(w):
                colour = (255, 40, 30) if frame[y, x] else (55, 18, 16)
                d.ellipse((x * scale + 1, y * scale + 1, (x + 1) * scale - 2, (y + 1) * scale - 2), fill=colour)
        img.save(path)


def render_led(text: str, width: int, height: int, kind: str = "zh") -> Bitmap:
    """Render one line centred vertically; centred horizontally when it fits, else padded for scrolling."""
    line = render_line(text, max(8, height - 2), kind)
    if line.height > height:
        line = line.resize((max(1, line.width * height // line.height), height))
    lit = np.asarray(line, dtype=np.uint8) < THRESHOLD
    cols = np.flatnonzero(lit.any(axis=0))
    if cols.size:
        lit = lit[:, cols[0]:cols[-1] + 1]
    h, w = lit.shape
    full_w = width if w <= width else w + width // 4   # a gap before the text comes round again
    out = np.zeros((height, full_w), dtype=bool)
    x = (width - w) // 2 if w <= width else 0
    y = (height - h) // 2
    out[y:y + h, x:x + w] = lit
    return Bitmap(out, width)
