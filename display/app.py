"""The hall call screen (Kivy, 1920×1080): hall name, the newest call large, recent calls, waiting counts,
a scrolling notice — Mongolian first (to the left, vertical, shaped by hallq.text) and Chinese.

MQTT runs in paho's thread (hallq.mqtt.BlockingClient); the Kivy clock takes the messages every 100 ms.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.image import Texture
from kivy.core.window import Window
from kivy.graphics import Color, Rectangle
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.image import Image as KivyImage
from kivy.uix.label import Label
from PIL import Image

from display.presenter import CallBoard
from display.voice import Announcer, ClipLibrary
from hallq.config import DisplayConfig, HallConfig
from hallq.mqtt import BlockingClient
from hallq.text import font_path, render_mongolian_vertical

BG, ACCENT, TEXT = (0.05, 0.12, 0.25, 1), (1.0, 0.82, 0.2, 1), (1, 1, 1, 1)


def texture(img: Image.Image) -> Texture:
    rgba = img.convert("RGBA")
    tex = Texture.create(size=rgba.size, colorfmt="rgba")
    tex.blit_buffer(rgba.tobytes(), colorfmt="rgba", bufferfmt="ubyte")
    tex.flip_vertical()
    return tex


def mongolian(text: str, px: int, max_height: int) -> KivyImage:
    """Shaped vertical Mongolian as a Kivy image (Kivy's text provider cannot shape it)."""
    img = render_mongolian_vertical(text, px, fill=0, background=255, max_height=max_height)
    alpha = img.point(lambda v: 255 - v)
    white = Image.new("RGBA", img.size, (255, 255, 255, 0))
    white.putalpha(alpha)
    tex = texture(white)
    return KivyImage(texture=tex, size_hint=(None, None), size=tex.size)


class CallScreen(BoxLayout):  # type: ignore[misc]
    def __init__(self, board: CallBoard, **kw: Any) -> None:
        super().__init__(orientation="vertical", padding=30, spacing=20, **kw)
        self.board = board
        self.font = font_path("zh-bold")
        with self.canvas.before:
            Color(*BG)
            self._bg = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=self._resize, size=self._resize)
        cfg = board.cfg
        header = BoxLayout(size_hint_y=None, height=250, spacing=24)
        if cfg.hall.name.mn:
            header.add_widget(mongolian(cfg.hall.name.mn, 40, 220))
        header.add_widget(Label(text=cfg.hall.name.zh, font_name=self.font, font_size=64, color=TEXT,
                                halign="left", valign="middle"))
        self.status = Label(text="", font_name=self.font, font_size=30, color=ACCENT, size_hint_x=0.35)
        header.add_widget(self.status)
        self.add_widget(header)
        body = BoxLayout(spacing=40)
        self.latest = Label(text="", font_name=self.font, font_size=120, color=ACCENT, markup=True,
                            halign="center", valign="middle")
        body.add_widget(self.latest)
        self.recent = Label(text="", font_name=self.font, font_size=54, color=TEXT, size_hint_x=0.45,
                            halign="left", valign="top", markup=True)
        self.recent.bind(size=lambda w, s: setattr(w, "text_size", s))
        body.add_widget(self.recent)
        self.add_widget(body)
        self.queues = Label(text="", font_name=self.font, font_size=40, color=TEXT, size_hint_y=None, height=70)
        self.add_widget(self.queues)
        notice = board.display.notice.get("zh") or "请留意叫号，过号请重新取号。办不成事请到 “办不成事反映” 窗口。"
        self.notice = Label(text=notice, font_name=self.font, font_size=36, color=(0.8, 0.85, 1, 1),
                            size_hint_y=None, height=60)
        self.add_widget(self.notice)
        self.refresh()

    def _resize(self, *_a: Any) -> None:
        self._bg.pos, self._bg.size = self.pos, self.size

    def refresh(self) -> None:
        b = self.board
        self.status.text = "" if b.controller_online else "系统连接中，请稍候"
        if b.calls:
            c = b.calls[0]
            self.latest.text = f"请 [size=180]{c.number}[/size] 号\n到 [size=160]{c.window}[/size] 号窗口办理"
        else:
            self.latest.text = "欢迎光临"
        self.recent.text = "\n".join(f"{c.number}  →  {c.window} 号窗口" for c in b.calls[1:6])
        self.queues.text = "    ".join(f"{b.service_name(s.id, 'zh')} 等候 {b.waiting.get(s.id, 0)} 人"
                                       for s in b.cfg.services[:6])


class CallScreenApp(App):  # type: ignore[misc]
    def __init__(self, cfg: HallConfig, display: DisplayConfig, **kw: Any) -> None:
        super().__init__(**kw)
        self.board = CallBoard(cfg, display)
        t = cfg.topic
        self.client = BlockingClient(cfg, f"display-{display.id}",
                                     (t("event", "ticket.called"), t("state", "queues"), t("controller", "status")))
        self.read = 0
        self.screen: CallScreen | None = None
        self.shot = os.environ.get("HALLQ_SCREENSHOT")
        self.announcer: Announcer | None = None
        if display.voice:
            cache = Path.home() / ".cache" / "hallq" / "voice"
            recorded = Path(display.voice_dir) if display.voice_dir else None
            self.announcer = Announcer(ClipLibrary(cache, recorded), cache / "announcements",
                                       tuple(display.languages))

    def build(self) -> CallScreen:
        Window.size = (1920, 1080)
        self.title = f"hallq — {self.board.cfg.hall.name.zh}"
        self.screen = CallScreen(self.board)
        try:
            self.client.connect(timeout_s=5)
        except ConnectionError:
            Clock.schedule_once(lambda _dt: self._reconnect(), 3)
        Clock.schedule_interval(self._poll, 0.1)
        if self.shot:
            Clock.schedule_once(self._screenshot, float(os.environ.get("HALLQ_SCREENSHOT_AFTER_S", "4")))
        return self.screen

    def _reconnect(self) -> None:
        try:
            self.client.connect(timeout_s=5)
        except ConnectionError:
            Clock.schedule_once(lambda _dt: self._reconnect(), 3)

    def _poll(self, _dt: float) -> None:
        msgs = self.client.received[self.read:]
        self.read += len(msgs)
        for m in msgs:
            try:
                body = m.json()
            except ValueError:
                continue
            if m.topic.endswith("/ticket.called"):
                call = self.board.on_called(body)
                if call is not None and self.announcer is not None:
                    self.announcer.announce(int(body.get("seq", 0)), call.number, call.window, call.recall)
            elif m.topic.endswith("/state/queues"):
                self.board.on_queues(body)
            elif m.topic.endswith("/controller/status"):
                self.board.on_controller(body)
        if msgs and self.screen is not None:
            self.screen.refresh()

    def _screenshot(self, _dt: float) -> None:
        assert self.shot is not None
        Window.screenshot(self.shot)
        Path(self.shot + ".json").write_text(json.dumps(self.board.texts(), ensure_ascii=False))
        self.stop()
