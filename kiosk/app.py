"""The touchscreen kiosk (Kivy, 1920×1080): draws the presenter's View, turns touches into intents.

Layout and styles are in layout.kv (not kiosk.kv: Kivy would load that a second time, by the app's
name); this module only builds widgets from a View. Chinese is drawn by
Kivy with Noto Sans CJK; Mongolian by hallq.text.kivy (shaped, vertical, columns left to right).
The app runs on asyncio (`App.async_run`), the same loop as the KioskRuntime.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.anchorlayout import AnchorLayout
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from hallq.text import font_path
from hallq.text.kivy import mongolian
from hallq.text.words import Lang, Msg
from kiosk.intents import Tap, Touch
from kiosk.presenter import Button, Screen, View
from kiosk.runtime import KioskRuntime

log = logging.getLogger("hallq.kiosk")
Builder.load_file(str(Path(__file__).with_name("layout.kv")))

WHITE, GOLD, RED = (1, 1, 1, 1), (1.0, 0.82, 0.2, 1), (1.0, 0.55, 0.5, 1)
PALE, DIM, SKY = (0.9, 0.92, 0.95, 1), (0.72, 0.74, 0.78, 1), (0.7, 0.85, 1.0, 1)
FILLS = {"primary": (0.08, 0.45, 0.85, 1), "green": (0.1, 0.55, 0.3, 1), "normal": (0.13, 0.3, 0.55, 1),
         "quiet": (0.25, 0.3, 0.4, 1), "closed": (0.3, 0.32, 0.36, 1)}


class KioskRoot(BoxLayout):  # type: ignore[misc]
    pass


class ProgressStrip(Widget):  # type: ignore[misc]
    value = NumericProperty(0.0)


class KioskButton(ButtonBehavior, BoxLayout):  # type: ignore[misc]
    action = StringProperty("")
    arg = StringProperty("")
    enabled = BooleanProperty(True)
    fill = ListProperty([0.13, 0.3, 0.55, 1])


class TextMaker:
    """Msg -> widget in one language, at a size scaled for 长者模式."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale
        self.font = font_path("zh")
        self.bold = font_path("zh-bold")

    def __call__(self, m: Msg, lang: Lang, px: int, color: tuple[float, ...] = WHITE, max_height: int = 700,
                 bold: bool = False, **kw: Any) -> Widget:
        size = int(px * self.scale)
        if lang == "mn" and m.mn:
            rgb = (int(color[0] * 255), int(color[1] * 255), int(color[2] * 255))
            image = mongolian(m.mn, size, int(max_height * min(self.scale, 1.3)), rgb)
            box = AnchorLayout(anchor_x="center", anchor_y="center", **kw)
            if "size_hint_x" not in kw and "width" not in kw:  # as wide as its columns, never squeezed
                box.size_hint_x, box.width = None, image.width + 8
            box.add_widget(image)
            return box
        label = Label(text=m.zh, font_name=self.bold if bold else self.font, font_size=size, color=color,
                      halign="center", valign="middle", **kw)
        label.bind(size=lambda w, s: setattr(w, "text_size", (s[0], None)))
        return label


class KioskApp(App):  # type: ignore[misc]
    def __init__(self, runtime: KioskRuntime, **kw: Any) -> None:
        super().__init__(**kw)
        self.runtime = runtime
        self.root_widget: KioskRoot | None = None
        self.view: View | None = None
        self.buttons: list[KioskButton] = []
        runtime.on_view = self.show

    def build(self) -> KioskRoot:
        Window.size = (1920, 1080)
        self.title = f"hallq kiosk {self.runtime.kiosk.id} — {self.runtime.cfg.hall.name.zh}"
        Window.bind(on_touch_down=lambda *_a: self.runtime.post(Touch()))
        self.root_widget = KioskRoot()
        self.show(self.runtime.presenter.view())
        return self.root_widget

    # -- drawing a View ------------------------------------------------------------------------
    def show(self, view: View) -> None:
        root = self.root_widget
        if root is None:
            return
        self.view = view
        self.buttons = []
        text = TextMaker(1.45 if view.elder else 1.0)
        self._header(root.ids.header, view, TextMaker())
        banner = root.ids.banner
        banner.clear_widgets()
        banner.height = 0
        if view.banner is not None:  # both languages: every citizen must understand why it waits
            banner.height = 150
            if view.banner.mn:
                banner.add_widget(TextMaker()(view.banner, "mn", 24, max_height=140))
            banner.add_widget(TextMaker()(view.banner, "zh", 40, bold=True))
        body = root.ids.body
        body.clear_widgets()
        body.orientation = "horizontal" if view.screen is Screen.HOME else "vertical"
        if view.screen is Screen.HOME:
            self._home(body, view)
        elif view.screen is Screen.SERVICES:
            self._services(body, view, text)
        else:
            self._message(body, view, text)

    def _header(self, header: BoxLayout, view: View, text: TextMaker) -> None:
        """The hall's name: Mongolian first (to the left, vertical), Chinese beside it, centred together."""
        header.clear_widgets()
        name = Msg(self.runtime.cfg.hall.name.zh, self.runtime.cfg.hall.name.mn)
        header.add_widget(Widget())
        if name.mn:
            header.add_widget(text(name, "mn", 34, max_height=170))
        zh = Label(text=name.zh, font_name=text.bold, font_size=60, color=WHITE, size_hint_x=None)
        zh.bind(texture_size=lambda w, s: setattr(w, "width", s[0]))
        header.add_widget(zh)
        header.add_widget(Widget())

    def _button(self, b: Button, lang: Lang, text: TextMaker, px: int, vertical_text: bool,
                max_height: int = 560) -> KioskButton:
        w = KioskButton(action=b.action, arg=b.arg, enabled=b.enabled, fill=list(FILLS.get(b.style, FILLS["normal"])),
                        orientation="horizontal" if vertical_text else "vertical", padding=18, spacing=12)
        w.bind(on_release=self._tapped)
        lg = b.lang or lang
        tall = max_height
        closed = b.style == "closed"       # greyed, still tappable: the tap says why it issues no ticket
        if vertical_text:
            w.add_widget(Widget())
        w.add_widget(text(b.label, lg, px, color=DIM if closed else WHITE, bold=True, max_height=tall))
        if b.detail is not None:
            w.add_widget(text(b.detail, lg, int(px * 0.62), color=DIM if closed else GOLD, max_height=tall))
        if b.hours is not None:
            w.add_widget(text(b.hours, lg, int(px * 0.62), color=DIM if closed else SKY, max_height=tall))
        if b.note is not None:
            w.add_widget(text(b.note, lg, int(px * 0.62), color=PALE if closed else RED, bold=closed,
                              max_height=tall))
        if vertical_text:
            w.add_widget(Widget())
        self.buttons.append(w)
        return w

    def _home(self, body: BoxLayout, view: View) -> None:
        text = TextMaker()
        for side in ("mn", "zh"):
            lg: Lang = "mn" if side == "mn" else "zh"
            half = BoxLayout(orientation="horizontal" if lg == "mn" else "vertical", spacing=18)
            if lg == "zh":
                half.add_widget(text(view.lines[0], lg, 44, color=GOLD, size_hint_y=None, height=90))
            else:
                half.add_widget(text(view.lines[0], lg, 44, color=GOLD))
            for b in view.buttons:
                if b.arg == side:
                    half.add_widget(self._button(b, lg, text, 54 if b.action == "lang" else 40, lg == "mn"))
            body.add_widget(half)

    def _services(self, body: BoxLayout, view: View, text: TextMaker) -> None:
        lang = view.lang
        services = [b for b in view.buttons if b.action == "service"]
        others = [b for b in view.buttons if b.action != "service"]
        stacked = lang == "zh" and len(view.lines) > 1     # a card holder's greeting, number, green: one per row
        top = BoxLayout(size_hint_y=None, height=(max(110, 58 * len(view.lines)) if stacked else
                                                  110 if lang == "zh" else 200), spacing=30)
        top.add_widget(text(view.title, lang, 48, bold=True, max_height=190))
        lines: BoxLayout = BoxLayout(orientation="vertical") if stacked else top
        for line in view.lines:
            lines.add_widget(text(line, lang, 36, color=GOLD, max_height=190))
        if stacked:
            top.add_widget(lines)
        body.add_widget(top)
        if lang == "mn":
            grid: Widget = BoxLayout(orientation="horizontal", spacing=12)
        else:
            cols = 2 if view.elder else 4
            grid = GridLayout(cols=cols, spacing=16)
        for b in services:
            grid.add_widget(self._button(b, lang, text, 44, lang == "mn", max_height=300))
        body.add_widget(grid)
        body.add_widget(self._button_row(others, lang, TextMaker()))

    def _button_row(self, buttons: list[Button], lang: Lang, text: TextMaker) -> BoxLayout:
        row = BoxLayout(size_hint_y=None, height=130 if lang == "zh" else 250, spacing=30, padding=(300, 0))
        for b in buttons:
            row.add_widget(self._button(b, lang, text, 40, lang == "mn", max_height=210))
        return row

    def _message(self, body: BoxLayout, view: View, text: TextMaker) -> None:
        lang = view.lang
        main = BoxLayout(orientation="horizontal" if lang == "mn" else "vertical", spacing=24)
        main.add_widget(text(view.title, lang, 56, bold=True, max_height=600))
        if view.number:
            main.add_widget(Label(text=view.number, font_name=text.bold, font_size=int(200 * text.scale),
                                  color=GOLD, size_hint_y=None if lang == "zh" else 1, height=260))
        for line in view.lines:
            main.add_widget(text(line, lang, 42, max_height=600))
        body.add_widget(main)
        if view.progress is not None:
            body.add_widget(ProgressStrip(value=view.progress))
        if view.buttons:
            body.add_widget(self._button_row(list(view.buttons), lang, TextMaker()))

    def _tapped(self, w: KioskButton) -> None:
        if w.enabled:
            self.runtime.post(Tap(w.action, w.arg))

    # -- for the autopilot and tests --------------------------------------------------------------
    def find_button(self, action: str, arg: str = "") -> KioskButton | None:
        return next((b for b in self.buttons if b.action == action and (not arg or b.arg == arg)), None)
