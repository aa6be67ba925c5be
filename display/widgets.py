"""Kivy pieces of the call screen: bilingual blocks (Mongolian vertical on the left), the waiting bar
and the scrolling notice. They only draw what the presenter hands them.
"""

from __future__ import annotations

from typing import Any

from kivy.animation import Animation
from kivy.graphics import Color, Rectangle
from kivy.graphics.scissor_instructions import ScissorPop, ScissorPush
from kivy.uix.anchorlayout import AnchorLayout
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from display.presenter import Waiting
from hallq.text.kivy import mongolian
from hallq.text.words import Msg

RGBA = tuple[float, float, float, float]
BG: RGBA = (0.05, 0.12, 0.25, 1)
PANEL: RGBA = (0.08, 0.17, 0.33, 1)
ACCENT: RGBA = (1.0, 0.82, 0.2, 1)
TEXT: RGBA = (1, 1, 1, 1)
SOFT: RGBA = (0.8, 0.85, 1, 1)


def rgb(c: RGBA) -> tuple[int, int, int]:
    return int(c[0] * 255), int(c[1] * 255), int(c[2] * 255)


def fill(widget: Widget, colour: RGBA) -> None:
    """A solid background that follows the widget's size."""
    with widget.canvas.before:
        Color(*colour)
        rect = Rectangle(pos=widget.pos, size=widget.size)

    def follow(*_a: Any) -> None:
        rect.pos, rect.size = widget.pos, widget.size

    widget.bind(pos=follow, size=follow)


def fit_label(text: str, font: str, px: int, colour: RGBA = TEXT, **kw: Any) -> Label:
    """A label of its text's natural size (for BoxLayouts that should not stretch it)."""
    lb = Label(text=text, font_name=font, font_size=px, color=colour, size_hint=(None, None), **kw)
    lb.texture_update()
    lb.size = lb.texture_size
    return lb


def mn_column(text: str, px: int, max_height: int, colour: RGBA = TEXT) -> Widget:
    """Shaped vertical Mongolian, or an empty spacer when there is none."""
    if not text:
        return Widget(size_hint=(None, None), size=(0, 0))
    return mongolian(text, px, max_height, rgb(colour))


def centred(w: Widget) -> AnchorLayout:
    """`w` at its natural size, centred vertically in a box of its width (for horizontal BoxLayouts)."""
    box = AnchorLayout(anchor_y="center", size_hint_x=None, width=w.width)
    box.add_widget(w)
    return box


class WaitingCell(BoxLayout):  # type: ignore[misc]
    """One service: its name and count in Mongolian, vertical, on the left; the Chinese to its right."""

    def __init__(self, cell: Waiting, font: str, px: int, height: int, **kw: Any) -> None:
        super().__init__(orientation="horizontal", spacing=px // 2, padding=(px // 2, 0), size_hint_x=None, **kw)
        fill(self, PANEL)
        parts: list[Widget] = [mn_column(cell.name.mn, px, height - 14), mn_column(cell.waiting.mn, px, height - 14),
                               fit_label(f"{cell.name.zh}\n{cell.waiting.zh}", font, px, halign="left",
                                         line_height=1.2)]
        for p in parts:
            self.add_widget(centred(p))
        self.width = sum(p.width for p in parts) + self.spacing * (len(parts) - 1) + px


class WaitingBar(BoxLayout):  # type: ignore[misc]
    """One page of waiting counts; `show(page)` replaces the cells."""

    def __init__(self, font: str, px: int, **kw: Any) -> None:
        super().__init__(orientation="horizontal", spacing=16, **kw)
        self.font, self.px = font, px

    def show(self, page: list[Waiting]) -> None:
        self.clear_widgets()
        for cell in page:
            self.add_widget(WaitingCell(cell, self.font, self.px, int(self.height)))
        self.add_widget(Widget())  # the cells keep their natural width, from the left


class Ticker(Widget):  # type: ignore[misc]
    """The scrolling notice: Mongolian (vertical columns, read left to right) then Chinese, right to left.

    The strip moves at `speed_px_s` and starts again from the right edge when it has left on the
    left; `set_text` rebuilds it only when the notice changed. It is clipped with a GL scissor, not a
    StencilView: a stencil doubled the cost of every frame under software GL. An empty notice does not
    animate, so the screen is only redrawn when a call or a count changes.
    """

    def __init__(self, font: str, px: int, speed_px_s: float, **kw: Any) -> None:
        super().__init__(**kw)
        fill(self, PANEL)
        with self.canvas.before:
            self._clip = ScissorPush(x=0, y=0, width=1, height=1)
        with self.canvas.after:
            ScissorPop()
        self.font, self.px, self.speed = font, px, speed_px_s
        self.notice: Msg | None = None
        self.strip: BoxLayout | None = None
        self._anim: Animation | None = None
        self.bind(size=lambda *_a: self._restart(), pos=lambda *_a: self._restart())

    def set_speed(self, speed_px_s: float) -> None:
        if speed_px_s != self.speed:
            self.speed = speed_px_s
            self._restart()

    def _clip_to_self(self) -> None:
        c = self._clip
        c.x, c.y, c.width, c.height = int(self.x), int(self.y), max(1, int(self.width)), max(1, int(self.height))

    def set_text(self, notice: Msg) -> None:
        if notice == self.notice:
            return
        self.notice = notice
        if self.strip is not None:
            if self._anim is not None:
                self._anim.cancel(self.strip)
            self.remove_widget(self.strip)
        strip = BoxLayout(orientation="horizontal", spacing=self.px * 2, size_hint=(None, None))
        parts: list[Widget] = []
        if notice.mn:
            parts.append(mn_column(notice.mn, self.px, int(self.height) - 12, SOFT))
        if notice.zh:
            parts.append(fit_label(notice.zh, self.font, self.px, SOFT))
        for p in parts:
            box = AnchorLayout(anchor_y="center", size_hint=(None, 1), width=p.width)
            box.add_widget(p)
            strip.add_widget(box)
        if not parts:
            self.strip = None
            return
        strip.width = sum(p.width for p in parts) + strip.spacing * max(0, len(parts) - 1)
        strip.height = self.height
        self.strip = strip
        self.add_widget(strip)
        self._restart()

    def _restart(self) -> None:
        self._clip_to_self()
        strip = self.strip
        if strip is None:
            return
        if self._anim is not None:
            self._anim.cancel(strip)
        strip.height, strip.y = self.height, self.y
        self._run()

    def _run(self, *_a: Any) -> None:
        strip = self.strip
        if strip is None:
            return
        strip.x = self.x + self.width  # not self.right: in a size callback that alias is not updated yet
        distance = self.width + strip.width
        self._anim = Animation(x=self.x - strip.width, duration=distance / self.speed)
        self._anim.bind(on_complete=self._run)
        self._anim.start(strip)
