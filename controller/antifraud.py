"""Suspicious ratings (刷好评, pressure on raters) are flagged, never deleted: the flags go into the
`evaluation.recorded` event itself and statistics show how many ratings carry each flag.

Pure: `RatingWatch.flags(...)` looks at what the log already says (when the prompt opened, the staff's
last key press at the window, the window's recent ratings, the holder's ratings today).
"""

from __future__ import annotations

from collections import defaultdict, deque
from datetime import date, datetime, timedelta

from controller.events import (
    EvaluationRecorded,
    HallEvent,
    TicketCalled,
    TicketFinished,
    TicketSkipped,
    TicketTransferred,
    WindowPaused,
    WindowResumed,
)
from controller.model import Ticket
from hallq.config import HallConfig

STAFF_KEY_EVENTS = frozenset({TicketCalled, TicketSkipped, TicketTransferred, WindowPaused, WindowResumed})
FLAG_TEXT = {
    "too_fast": "rated faster than a person can read the prompt",
    "staff_operating": "rated while staff were pressing keys at the window",
    "burst": "one of many ratings at the window in a short time",
    "same_rater": "the same person rated many services today",
    "after_staff_finish": "rated on the evaluator seconds after staff pressed finish",
    "page_from_hall": "rated through the ticket's page from the hall's own network right after service",
    "page_burst": "one of many page ratings for the window in a short time",
}


class RatingWatch:
    def __init__(self, cfg: HallConfig) -> None:
        self.cfg = cfg
        self.last_key: dict[str, datetime] = {}
        self.last_finish: dict[str, datetime] = {}     # window -> the staff's last explicit finish
        self.recent: dict[str, deque[datetime]] = defaultdict(deque)
        self.recent_page: dict[str, deque[datetime]] = defaultdict(deque)
        self.by_holder: dict[tuple[date, str], int] = defaultdict(int)

    def apply(self, ev: HallEvent, ticket: Ticket | None) -> None:
        kind = type(ev)
        if kind in STAFF_KEY_EVENTS:
            window = getattr(ev, "window", None)
            if window:
                self.last_key[window] = ev.at
        elif isinstance(ev, TicketFinished):
            if ev.window and ev.prompt is not False:
                self.last_finish[ev.window] = ev.at
        elif isinstance(ev, EvaluationRecorded):
            at = ev.at
            if ev.window:
                q = (self.recent if not ev.supplementary else self.recent_page)[ev.window]
                q.append(at)
                # older than the burst window seen from this rating: `flags` (at a later `now`) drops them too
                while at - q[0] > timedelta(seconds=self.cfg.evaluation.fraud_burst_window_s):
                    q.popleft()
            if ticket is not None and ticket.holder:
                self.by_holder[(ticket.date, ticket.holder)] += 1

    def forget_days(self, days: set[date]) -> None:
        """Days whose tickets are archived (their rating windows closed) need no per-holder count."""
        for key in [k for k in self.by_holder if k[0] in days]:
            del self.by_holder[key]

    def flags(self, t: Ticket, window: str | None, on_prompt: bool, now: datetime,
              origin: str | None = None) -> list[str]:
        """`origin` "hall": a page rating from the hall's own network (the console knows the address)."""
        e = self.cfg.evaluation
        out = []
        finish = self.last_finish.get(window or "")
        if on_prompt and finish is not None and t.finished_at == finish and \
                (now - finish).total_seconds() < e.fraud_after_finish_s:
            out.append("after_staff_finish")
        if not on_prompt and origin == "hall" and t.finished_at is not None and \
                (now - t.finished_at).total_seconds() < e.fraud_page_after_s:
            out.append("page_from_hall")
        if not on_prompt and window:
            pq = self.recent_page[window]
            while pq and now - pq[0] > timedelta(seconds=e.fraud_burst_window_s):
                pq.popleft()
            if len(pq) + 1 >= e.fraud_burst_count:
                out.append("page_burst")
        if on_prompt and t.finished_at is not None and (now - t.finished_at).total_seconds() < e.fraud_min_rating_s:
            out.append("too_fast")
        key = self.last_key.get(window or "")
        if on_prompt and key is not None and (now - key).total_seconds() < e.fraud_staff_key_s:
            out.append("staff_operating")
        if on_prompt and window:
            q = self.recent[window]
            while q and now - q[0] > timedelta(seconds=e.fraud_burst_window_s):
                q.popleft()
            if len(q) + 1 >= e.fraud_burst_count:
                out.append("burst")
        if t.holder and self.by_holder[(t.date, t.holder)] + 1 >= e.fraud_same_rater_per_day:
            out.append("same_rater")
        return out
