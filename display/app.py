"""The hall call screen (Kivy, 1920×1080): hall name, the newest call large, recent calls, waiting counts,
a scrolling notice — Mongolian first (to the left, vertical, shaped by hallq.text) and Chinese.

MQTT runs in paho's thread (display.link, a persistent session); each message wakes a Kivy clock
trigger that applies it to the board (display.runtime) and redraws on the next frame.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from display.presenter import CallBoard
from display.runtime import DisplayRuntime, Screenshot, Trace
from display.widgets import ACCENT, BG, PANEL, TEXT, Ticker, WaitingBar, centred, fill, fit_label, mn_column
from hallq.config import DisplayConfig, HallConfig
from hallq.text import font_path
from hallq.text.words import Msg

RECENT_TILES = 4


class CallScreen(BoxLayout):  # type: ignore[misc]
    def __init__(self, board: CallBoard, **kw: Any) -> None:
        super().__init__(orientation="vertical", padding=24, spacing=16, **kw)
        self.board = board
        self.font = font_path("zh-bold")
        fill(self, BG)
        self.page = 0

        header = BoxLayout(size_hint_y=None, height=160, spacing=30)
        self.hall_mn = BoxLayout(size_hint_x=None, width=0)
        header.add_widget(self.hall_mn)
        self.hall_zh = Label(font_name=self.font, font_size=64, color=TEXT, halign="left", valign="middle")
        self.hall_zh.bind(size=lambda w, s: setattr(w, "text_size", s))
        header.add_widget(self.hall_zh)
        self.status = BoxLayout(size_hint_x=None, width=520, spacing=12)
        header.add_widget(self.status)
        self.add_widget(header)
        self._hall: Msg | None = None
        self._hall_name()

        body = BoxLayout(spacing=40)
        self.latest = BoxLayout(spacing=36, size_hint_x=0.6)
        fill(self.latest, PANEL)
        body.add_widget(self.latest)
        self.recent = BoxLayout(orientation="vertical", spacing=10, size_hint_x=0.4)
        body.add_widget(self.recent)
        self.add_widget(body)

        self.waiting = WaitingBar(self.font, 32, size_hint_y=None, height=160)
        self.add_widget(self.waiting)
        self.ticker = Ticker(self.font, 30, board.display.notice_speed_px_s, size_hint_y=None, height=150)
        self.add_widget(self.ticker)
        self._shown: tuple[Any, ...] = ()
        self.refresh()

    def refresh(self) -> None:
        """Redraw from the board; parts whose content did not change are left alone."""
        b = self.board
        status = b.status()
        latest = b.latest()
        recent = b.recent()[:RECENT_TILES]
        pages = b.waiting_pages()
        self.page %= len(pages)
        key = (status, latest, tuple(recent), tuple(pages[self.page]))
        if key != self._shown:
            self._shown = key
            self._status(status.mn if status else "", status.zh if status else "")
            self._latest(latest.mn, latest.zh, bool(b.calls))
            self._recent(recent)
            self.waiting.show(pages[self.page])
        self.ticker.set_text(b.notice())

    def _hall_name(self) -> None:
        hall = self.board.hall_name()
        if hall == self._hall:
            return
        self._hall = hall
        self.hall_mn.clear_widgets()
        column = centred(mn_column(hall.mn, 30, 156))
        self.hall_mn.width = column.width
        self.hall_mn.add_widget(column)
        self.hall_zh.text = hall.zh

    def reconfigured(self) -> None:
        """A new configuration runs (a reload): the hall's name and the notice's speed may have changed."""
        self._hall_name()
        self.ticker.set_speed(self.board.display.notice_speed_px_s)
        self._shown = ()
        self.refresh()

    def turn_page(self) -> None:
        self.page += 1
        self.refresh()

    def _status(self, mn: str, zh: str) -> None:
        self.status.clear_widgets()
        if zh:
            self.status.add_widget(centred(mn_column(mn, 30, 156, ACCENT)))
            lb = Label(text=zh, font_name=self.font, font_size=30, color=ACCENT, halign="left", valign="middle")
            lb.bind(size=lambda w, s: setattr(w, "text_size", s))
            self.status.add_widget(lb)

    def _latest(self, mn: str, zh: str, called: bool) -> None:
        self.latest.clear_widgets()
        self.latest.add_widget(Widget(size_hint_x=None, width=0))
        self.latest.add_widget(centred(mn_column(mn, 60 if called else 80, 470, ACCENT)))
        if called:
            c = self.board.calls[0]
            text = f"请 [size=170]{c.number}[/size] 号\n到 [size=150]{c.window}[/size] 号窗口办理"
        else:
            text = zh
        self.latest.add_widget(Label(text=text, font_name=self.font, font_size=96 if called else 110,
                                     color=ACCENT, markup=True, halign="center", valign="middle"))

    def _recent(self, recent: list[tuple[str, Any]]) -> None:
        self.recent.clear_widgets()
        for number, where in recent:
            tile = BoxLayout(spacing=24, padding=(24, 0), size_hint_y=None, height=112)
            fill(tile, PANEL)
            tile.add_widget(Label(text=number, font_name=self.font, font_size=64, color=TEXT, size_hint_x=None,
                                  width=230, halign="left", valign="middle", text_size=(230, None)))
            tile.add_widget(centred(mn_column(where.mn, 30, 108)))
            tile.add_widget(centred(fit_label(where.zh, self.font, 48)))
            tile.add_widget(BoxLayout())
            self.recent.add_widget(tile)
        self.recent.add_widget(BoxLayout())  # keeps the tiles at the top


class CallScreenApp(App):  # type: ignore[misc]
    """The call screen; `trace` and `screenshot` are the seams tests, the bench and installers use
    (`hallq display --trace/--screenshot`)."""

    def __init__(self, cfg: HallConfig, display: DisplayConfig, *, trace: Trace | None = None,
                 screenshot: Screenshot | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self._trigger = Clock.create_trigger(self._pump, 0)
        self.runtime = DisplayRuntime.for_hall(cfg, display, wake=self._trigger, trace=trace)
        self.board = self.runtime.board
        self.screen: CallScreen | None = None
        self.shot = screenshot
        self.shot_when = screenshot.when if screenshot else None  # a text: the shot is taken once it is shown
        self._unshown: list[int] | None = None
        self._pages: Any = None                 # the waiting bar's page turns (their interval may be reloaded)

    def build(self) -> CallScreen:
        Window.size = (1920, 1080)
        self.title = f"hallq — {self.board.cfg.hall.name.zh}"
        self.screen = CallScreen(self.board)
        Window.bind(on_flip=self._flipped)
        self.runtime.open()
        self._pages = Clock.schedule_interval(lambda _dt: self._turn(), self.board.display.waiting_page_s)
        if self.shot and not self.shot_when:
            Clock.schedule_once(self._screenshot, self.shot.delay_s)
        return self.screen

    def on_stop(self) -> None:
        self.runtime.close()

    def _turn(self) -> None:
        if self.screen is not None and len(self.board.waiting_pages()) > 1:
            self.screen.turn_page()

    def _pump(self, _dt: float) -> None:
        batch = self.runtime.pump()
        if batch.reconfigured and self.screen is not None:
            if self._pages.timeout != self.board.display.waiting_page_s:
                self._pages.cancel()
                self._pages = Clock.schedule_interval(lambda _dt: self._turn(), self.board.display.waiting_page_s)
            self.screen.reconfigured()
        if batch.changed and self.screen is not None:
            self.screen.refresh()
            self._unshown = (self._unshown or []) + batch.seqs

    def _flipped(self, *_a: Any) -> None:
        if self._unshown is not None:
            seqs, self._unshown = self._unshown, None
            self.runtime.screen_shown(seqs)
            if self.shot_when and self.shot_when in self.board.texts():
                self.shot_when = None
                assert self.shot is not None
                Clock.schedule_once(self._screenshot, self.shot.delay_s)

    def _screenshot(self, _dt: float) -> None:
        assert self.shot is not None
        made = Window.screenshot(str(self.shot.path.resolve()))   # Kivy numbers it: FILE0001.png
        if made:
            Path(made).replace(self.shot.path)
        Path(f"{self.shot.path}.json").write_text(json.dumps(self.board.texts(), ensure_ascii=False), encoding="utf-8")
        self.stop()
