"""What the hall call screen shows, as plain data: fed controller events and retained state, no Kivy.

Keeps the latest calls (newest first, a recall highlights the number again), the waiting count per
service, and whether the controller is reachable; filtered by the display's windows/services.
Events are deduplicated by `seq`; a gap in `seq` is counted (some event was missed). Every text is
bilingual (`Msg`: Mongolian first); `texts()` / `texts_mn()` list them top to bottom for tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hallq.api import QueuesState, TicketCalled, parse_controller_status, parse_event, parse_queues, parse_ticket_called
from hallq.config import DisplayConfig, HallConfig
from hallq.text.words import Msg, msg

SEEN_KEEP = 2000  # seqs remembered for deduplication (a QoS 1 redelivery comes within seconds)


@dataclass(frozen=True)
class Call:
    number: str
    window: str
    service: str
    recall: int
    at: str
    seq: int = 0


@dataclass(frozen=True)
class Waiting:
    service: str
    count: int
    name: Msg          # 综合受理 / ᠶᠡᠷᠦᠩᠬᠡᠢ ᠬᠦᠯᠢᠶᠡᠨ ᠠᠪᠬᠤ
    waiting: Msg       # 等候 4 人 / ᠬᠦᠯᠢᠶᠡᠵᠦ ᠪᠠᠶᠢᠭ᠎ᠠ 4

    @property
    def text(self) -> Msg:
        return Msg(f"{self.name.zh} {self.waiting.zh}", f"{self.name.mn} {self.waiting.mn}")


@dataclass
class CallBoard:
    cfg: HallConfig
    display: DisplayConfig
    calls: list[Call] = field(default_factory=list)
    waiting: dict[str, int] = field(default_factory=dict)
    controller_online: bool = False
    link_up: bool = True
    last_seq: int = 0
    gaps: int = 0
    seen: set[int] = field(default_factory=set)

    # -- inputs -----------------------------------------------------------------------------
    def shows_window(self, window: str) -> bool:
        return self.display.windows is None or window in self.display.windows

    def on_called(self, ev: dict[str, Any]) -> Call | None:
        """A `ticket.called` event as a JSON object; BadPayload (a ValueError) when it is not of that shape."""
        return self.on_call(parse_ticket_called(parse_event(ev)))

    def on_call(self, ev: TicketCalled) -> Call | None:
        """A `ticket.called` event; returns the call when the screen changed (None: duplicate/filtered)."""
        seq = ev.seq
        if seq in self.seen:
            return None
        self.seen.add(seq)
        if len(self.seen) > SEEN_KEEP:
            self.seen = {s for s in self.seen if s > self.last_seq - SEEN_KEEP // 2}
        if self.last_seq and seq > self.last_seq + 1:
            self.gaps += 1
        self.last_seq = max(self.last_seq, seq)
        if not self.shows_window(ev.window) or ev.service not in self.shown_service_ids():
            return None
        call = Call(ev.ticket, ev.window, ev.service, ev.recall, ev.at, seq)
        self.calls = [call] + [c for c in self.calls if c.number != call.number][: self.display.history - 1]
        return call

    def on_queues(self, body: dict[str, Any] | QueuesState) -> None:
        q = body if isinstance(body, QueuesState) else parse_queues(body)
        self.waiting = {s.id: s.waiting for s in q.services}

    def on_controller(self, body: dict[str, Any] | bool) -> None:
        """The controller's status (a status object, or whether the screen believes it online)."""
        self.controller_online = body if isinstance(body, bool) else parse_controller_status(body).online

    def on_link(self, up: bool) -> None:
        """The MQTT session came up or went down; while down nothing on screen can be trusted as live."""
        self.link_up = up
        if not up:
            self.controller_online = False

    def should_announce(self, call: Call, now: datetime) -> bool:
        """Speak a call only while it is fresh: a backlog replayed after an outage is shown, not spoken."""
        try:
            at = datetime.fromisoformat(call.at)
        except ValueError:
            return True
        if at.tzinfo is None or now.tzinfo is None:
            return True
        return (now - at).total_seconds() <= self.display.announce_max_age_s

    # -- outputs ----------------------------------------------------------------------------
    @property
    def online(self) -> bool:
        return self.link_up and self.controller_online

    def shown_service_ids(self) -> list[str]:
        """The display's services; without a `services` filter, those of its windows (all: every service)."""
        if self.display.services is not None:
            wanted = set(self.display.services)
        elif self.display.windows is not None:
            wanted = {s for w in self.cfg.windows if w.id in self.display.windows for s in w.services}
        else:
            wanted = {s.id for s in self.cfg.services}
        return [s.id for s in self.cfg.services if s.id in wanted]

    def service_name(self, sid: str, lang: str) -> str:
        s = self.cfg.service(sid)
        if s is None:
            return sid
        return s.name.mn if lang == "mn" and s.name.mn else s.name.zh

    def hall_name(self) -> Msg:
        return Msg(self.cfg.hall.name.zh, self.cfg.hall.name.mn or "")

    def status(self) -> Msg | None:
        return None if self.online else msg("offline")

    def window_area(self, window: str) -> Msg | None:
        """Where the window is (二楼B区), when the hall names areas."""
        w = next((x for x in self.cfg.windows if x.id == window), None)
        return Msg(w.area.zh, w.area.mn) if w is not None and w.area is not None else None

    def latest(self) -> Msg:
        if not self.calls:
            return msg("welcome")
        c = self.calls[0]
        area = self.window_area(c.window)
        if area is not None:
            return msg("call_area", number=c.number, window=c.window, area=area)
        return msg("call", number=c.number, window=c.window)

    def recent(self) -> list[tuple[str, Msg]]:
        """The earlier calls, newest first: the number, and its window (with its area) in both languages."""
        return [(c.number, msg("recent_area", window=c.window, area=area) if (area := self.window_area(c.window))
                 else msg("recent", window=c.window)) for c in self.calls[1:]]

    def waiting_cells(self) -> list[Waiting]:
        return [Waiting(sid, n, Msg(self.service_name(sid, "zh"), self.service_name(sid, "mn")), msg("waiting_n", n=n))
                for sid in self.shown_service_ids() for n in [self.waiting.get(sid, 0)]]

    def waiting_pages(self) -> list[list[Waiting]]:
        """The waiting bar in pages of `waiting_per_page` services (the screen turns them)."""
        cells, k = self.waiting_cells(), self.display.waiting_per_page
        return [cells[i:i + k] for i in range(0, len(cells), k)] or [[]]

    def notice(self) -> Msg:
        n = self.display.notice
        default = msg("notice")
        return Msg(n.get("zh", default.zh), n.get("mn", default.mn if "zh" not in n else ""))

    def lines(self) -> list[Msg]:
        """Every text on the screen, top to bottom."""
        out = [self.hall_name()]
        status = self.status()
        if status:
            out.append(status)
        out.append(self.latest())
        out += [Msg(f"{n} → {w.zh}", f"{n} → {w.mn}") for n, w in self.recent()]
        out += [w.text for w in self.waiting_cells()]
        out.append(self.notice())
        return out

    def texts(self) -> list[str]:
        """The screen's Chinese texts, top to bottom (what tests compare)."""
        return [b.zh for b in self.lines() if b.zh]

    def texts_mn(self) -> list[str]:
        """The screen's Mongolian texts, top to bottom."""
        return [b.mn for b in self.lines() if b.mn]
