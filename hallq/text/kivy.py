"""Shaped text as Kivy widgets: traditional Mongolian rendered by Pillow + raqm and shown as a texture.

Kivy's own text provider leaves Mongolian letters isolated, so the kiosk and the call screen draw it
here: shaped, vertical, columns left to right, in any colour. Textures are cached by text and size.
"""

from __future__ import annotations

import functools
from typing import Any

from kivy.core.image import Texture
from kivy.uix.image import Image as KivyImage
from PIL import Image

from hallq.text.render import render_mongolian_vertical


def texture(img: Image.Image) -> Texture:
    """A Pillow image as a Kivy texture (Kivy's origin is bottom-left)."""
    rgba = img.convert("RGBA")
    tex = Texture.create(size=rgba.size, colorfmt="rgba")
    tex.blit_buffer(rgba.tobytes(), colorfmt="rgba", bufferfmt="ubyte")
    tex.flip_vertical()
    return tex


@functools.lru_cache(maxsize=512)
def mongolian_texture(text: str, px: int, max_height: int, color: tuple[int, int, int] = (255, 255, 255)) -> Texture:
    """Shaped vertical Mongolian in `color` on a transparent background, wrapped to `max_height`."""
    img = render_mongolian_vertical(text, px, fill=0, background=255, max_height=max_height)
    out = Image.new("RGBA", img.size, (*color, 0))
    out.putalpha(img.point(lambda v: 255 - v))
    return texture(out)


def mongolian(text: str, px: int, max_height: int, color: tuple[int, int, int] = (255, 255, 255),
              **kw: Any) -> KivyImage:
    """A Kivy image widget of its natural size showing shaped vertical Mongolian."""
    tex = mongolian_texture(text, px, max_height, color)
    return KivyImage(texture=tex, size_hint=(None, None), size=tex.size, **kw)
