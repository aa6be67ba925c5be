"""Bitmap hall boards: the latest calls rendered with hallq/led.py, packed into BITMAP row chunks.

Pure functions: calls -> a 1-bit picture; picture -> rows; (rows on the board, new rows) -> the
BITMAP requests that change only what differs, each within hallbus's 250-byte payload.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from firmware_bridge.hallbus.frame import MAX_PAYLOAD
from firmware_bridge.hallbus.messages import BITMAP_HEADER, BitmapRows

LINE_PX = 32                      # one call per 32-LED line: CJK below ~24 LEDs loses strokes
MIN_TEXT_PX = 12
DEFAULT_BOARD_TEMPLATE = "{number} → {window}号窗口"


def board_lines(size: tuple[int, int]) -> int:
    return max(1, size[1] // LINE_PX)


def fit_line(text: str, width: int, height: int) -> np.ndarray:
    """One line of text, as large as fits `width` (a board of calls does not scroll), centred in `height`."""
    from hallq.led import render_led

    h = height
    while True:
        b = render_led(text, width, h)
        if not b.scrolls or h <= MIN_TEXT_PX:
            break
        h -= 2
    out = np.zeros((height, width), dtype=bool)
    top = (height - h) // 2
    out[top:top + h] = b.window(0)
    return out


def render_calls(calls: Sequence[dict[str, Any]], size: tuple[int, int], template: str | None = None) -> np.ndarray:
    """The board's picture (bool, height × width): the newest call on top, one call per line."""
    width, height = size
    n = board_lines(size)
    line_h = height // n
    out = np.zeros((height, width), dtype=bool)
    for i, call in enumerate(list(calls)[:n]):
        text = (template or DEFAULT_BOARD_TEMPLATE).format(number=call["ticket"], window=call["window"],
                                                           service=call.get("service", ""))
        out[i * line_h:(i + 1) * line_h] = fit_line(text, width, line_h)
    return out


def pack_rows(pixels: np.ndarray) -> tuple[bytes, ...]:
    """Each row as ceil(width / 8) bytes, MSB = leftmost LED, 1 = lit."""
    return tuple(np.packbits(row.astype(np.uint8)).tobytes() for row in pixels)


def chunks(shown: Sequence[bytes] | None, rows: Sequence[bytes]) -> list[BitmapRows]:
    """BITMAP requests that turn `shown` (None = unknown, e.g. after a reset) into `rows`.

    Only runs of changed rows are sent, as many rows per request as fit; the last request
    presents the picture. Nothing changed: an empty list.
    """
    if not rows:
        return []
    per = max(1, (MAX_PAYLOAD - BITMAP_HEADER) // len(rows[0]))
    changed = [y for y in range(len(rows)) if shown is None or y >= len(shown) or shown[y] != rows[y]]
    out: list[BitmapRows] = []
    i = 0
    while i < len(changed):
        y0 = changed[i]
        run = [y0]
        while i + len(run) < len(changed) and changed[i + len(run)] == y0 + len(run) and len(run) < per:
            run.append(y0 + len(run))
        out.append(BitmapRows(y0, tuple(rows[y] for y in run)))
        i += len(run)
    if out:
        out[-1] = BitmapRows(out[-1].y, out[-1].rows, present=True)
    return out
