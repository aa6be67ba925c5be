"""What the hall call screen shows, as plain data: fed controller events and retained state, no Kivy.

Keeps the latest calls (newest first, a recall highlights the number again), the waiting count per
service, and whether the controller is reachable; filtered by the display's windows/services.
Events are deduplicated by `seq`; a gap in `seq` is counted (some event was missed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hallq.config import DisplayConfig, HallConfig


@dataclass(frozen=True)
class Call:
    number: str
    window: str
    service: str
    recall: int
    at: str


@dataclass
class CallBoard:
    cfg: HallConfig
    display: DisplayConfig
    calls: list[Call] = field(default_factory=list)
    waiting: dict[str, int] = field(default_factory=dict)
    controller_online: bool = False
    last_seq: int = 0
    gaps: int = 0
    seen: set[int] = field(default_factory=set)

    def shows_window(self, window: str) -> bool:
        return self.display.windows is None or window in self.display.windows

    def on_called(self, ev: dict[str, Any]) -> Call | None:
        """A `ticket.called` event; returns the call when the screen changed (None: duplicate/filtered)."""
        seq = int(ev.get("seq", 0))
        if seq in self.seen:
            return None
        self.seen.add(seq)
        if self.last_seq and seq > self.last_seq + 1:
            self.gaps += 1
        self.last_seq = max(self.last_seq, seq)
        window = str(ev["window"])
        if not self.shows_window(window) or (self.display.services and ev.get("service") not in
                                             self.display.services):
            return None
        call = Call(str(ev["ticket"]), window, str(ev.get("service", "")), int(ev.get("recall", 0)), str(ev["at"]))
        self.calls = [call] + [c for c in self.calls if c.number != call.number][: self.display.history - 1]
        return call

    def on_queues(self, body: dict[str, Any]) -> None:
        self.waiting = {s["id"]: int(s["waiting"]) for s in body.get("services", [])}

    def on_controller(self, body: dict[str, Any]) -> None:
        self.controller_online = body.get("state") == "online"

    def service_name(self, sid: str, lang: str) -> str:
        s = self.cfg.service(sid)
        if s is None:
            return sid
        return s.name.mn if lang == "mn" and s.name.mn else s.name.zh

    def texts(self) -> list[str]:
        """The screen's Chinese texts, top to bottom (what tests compare)."""
        out = [self.cfg.hall.name.zh]
        if not self.controller_online:
            out.append("系统连接中，请稍候")
        if self.calls:
            c = self.calls[0]
            out.append(f"请 {c.number} 号到 {c.window} 号窗口办理")
        out += [f"{c.number} → {c.window}号窗口" for c in self.calls[1:]]
        for s in self.cfg.services:
            if self.display.services is None or s.id in self.display.services:
                out.append(f"{s.name.zh} 等候 {self.waiting.get(s.id, 0)} 人")
        return out
