"""Text shared by kiosk, display and printer: the bilingual word table (`words.py`, pure) and shaped traditional
Mongolian and CJK lines (`render.py`, Pillow with raqm), loaded only when used, so pure presenters that import
only the words need no image library."""

from __future__ import annotations

from typing import Any

__all__ = ["FontMissing", "bilingual_block", "font_path", "render_line", "render_mongolian_vertical"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from hallq.text import render
        return getattr(render, name)
    raise AttributeError(f"module 'hallq.text' has no attribute {name!r}")
