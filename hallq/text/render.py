"""Render text to images with Pillow + libraqm (HarfBuzz shaping).

Traditional Mongolian is shaped as a horizontal line (so letters take their joined initial, medial
and final forms) and rotated 90° clockwise: it then reads top to bottom, columns left to right.
Kivy's own text provider cannot do this, so the kiosk and the call screen show these images as
textures and the printer prints them as rasters.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, features

FAMILIES = {  # kind -> (fontconfig pattern, a word in the file name, Debian package)
    "mn": ("Noto Sans Mongolian", "mongolian", "fonts-noto-core"),
    "zh": ("Noto Sans CJK SC", "cjk", "fonts-noto-cjk"),
    "zh-bold": ("Noto Sans CJK SC:style=Bold", "cjk", "fonts-noto-cjk"),
}


class FontMissing(RuntimeError):
    pass


@functools.cache
def font_path(kind: str) -> str:
    family, word, package = FAMILIES[kind]
    try:
        path = subprocess.run(["fc-match", "-f", "%{file}", family], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        path = ""
    if not path or word not in Path(path).name.lower():
        raise FontMissing(f"font {family!r} is not installed: apt-get install {package} (scripts/setup does it)")
    return path


@functools.cache
def _font(kind: str, px: int) -> ImageFont.FreeTypeFont:
    if not features.check("raqm"):
        raise FontMissing("Pillow was built without libraqm: Mongolian cannot be shaped; install Pillow's wheels")
    return ImageFont.truetype(font_path(kind), px, layout_engine=ImageFont.Layout.RAQM)


def _mongolian_font_has(c: str) -> bool:
    """Noto Sans Mongolian covers the script and its spaces and joiners, not Latin letters or digits."""
    o = ord(c)
    return 0x1800 <= o <= 0x18AF or c in " \u00a0\u200c\u200d\u202f" or 0x11660 <= o <= 0x1166C


def font_runs(text: str, kind: str) -> list[tuple[str, str]]:
    """Split a line into runs of one font each: Mongolian text keeps its font, anything else (a ticket
    number, digits, Chinese) takes the CJK font, which has Latin and digits."""
    if kind != "mn":
        return [(text, kind)] if text else []
    runs: list[tuple[str, str]] = []
    for c in text:
        k = "mn" if _mongolian_font_has(c) or (c == " " and runs and runs[-1][1] == "mn") else "zh"
        if runs and runs[-1][1] == k:
            runs[-1] = (runs[-1][0] + c, k)
        else:
            runs.append((c, k))
    return runs


def render_line(text: str, px: int, kind: str = "zh", fill: int = 0, background: int = 255) -> Image.Image:
    """One horizontal line as a grayscale ('L') image, tightly cropped with a small margin.

    Runs in different fonts share one baseline, so "ᠳ᠋ᠤᠭᠠᠷ A012" is shaped Mongolian then the number.
    """
    runs = font_runs(text, kind) or [(" ", kind)]
    fonts = [_font(k, px) for _, k in runs]
    widths = [f.getlength(t, direction="ltr") for (t, _), f in zip(runs, fonts, strict=True)]
    ascent = max(f.getmetrics()[0] for f in fonts)
    descent = max(f.getmetrics()[1] for f in fonts)
    canvas = Image.new("L", (max(1, int(sum(widths)) + 2 * px), ascent + descent + 2 * px), background)
    draw = ImageDraw.Draw(canvas)
    x = float(px)
    for ((t, _), f), w in zip(zip(runs, fonts, strict=True), widths, strict=True):
        draw.text((x, px + ascent), t, font=f, fill=fill, anchor="ls", direction="ltr")
        x += w
    inverted = canvas.point(lambda v: 255 - v) if background > fill else canvas
    box = inverted.getbbox() or (px, px, px + 1, px + 1)
    pad = max(2, px // 8)
    return canvas.crop((box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad))


def render_mongolian_vertical(text: str, px: int, fill: int = 0, background: int = 255,
                              max_height: int | None = None) -> Image.Image:
    """Traditional Mongolian, shaped and vertical; words wrap into further columns, left to right."""
    if max_height is None:
        return render_line(text, px, "mn", fill, background).rotate(-90, expand=True)
    columns: list[Image.Image] = []
    words, current = text.split(" "), ""
    for word in words:
        trial = f"{current} {word}".strip()
        if current and render_line(trial, px, "mn").width > max_height:
            columns.append(render_line(current, px, "mn", fill, background).rotate(-90, expand=True))
            current = word
        else:
            current = trial
    if current:
        columns.append(render_line(current, px, "mn", fill, background).rotate(-90, expand=True))
    out = Image.new("L", (sum(c.width for c in columns), max(c.height for c in columns)), background)
    x = 0
    for c in columns:
        out.paste(c, (x, 0))
        x += c.width
    return out


def bilingual_block(mn: str, zh: str, px: int, width: int, background: int = 255) -> Image.Image:
    """Mongolian vertical on the left, Chinese to its right at the same size, centred in `width`."""
    parts: list[Image.Image] = []
    if mn:
        parts.append(render_mongolian_vertical(mn, px, background=background, max_height=px * 8))
    zh_img = render_line(zh, px, "zh-bold", background=background)
    if zh_img.width > width - sum(p.width for p in parts) - px:
        zh_img = zh_img.resize((max(1, width - sum(p.width for p in parts) - px),
                                max(1, zh_img.height * (width - sum(p.width for p in parts) - px) // zh_img.width)))
    parts.append(zh_img)
    h = max(p.height for p in parts)
    total = sum(p.width for p in parts) + px // 2 * (len(parts) - 1)
    out = Image.new("L", (width, h), background)
    x = max(0, (width - total) // 2)
    for p in parts:
        out.paste(p, (x, (h - p.height) // 2))
        x += p.width + px // 2
    return out
