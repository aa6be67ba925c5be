"""The hall's 电子监察 alerts as a projection of the log (CONTRACT §3.7): ids, open/acknowledged, archive.

A league centre raises some 400 alerts a day, most of them never acknowledged, so memory stays bounded
the way tickets do: at every day change the alerts of days more than ALERT_KEEP_DAYS ago leave `live` for
`archive`, one zlib-compressed row list per day, with per-day counts so listing open alerts and counting
them never opens a day that has none. Acknowledging an archived alert brings it back to `live` until the
next day change. Driven by events alone, so a replay archives exactly where the live run did.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from controller.events import AlertAcknowledged, AlertRaised
from controller.model import ALERT_EXTRA, Alert

ALERT_KEEP_DAYS = 2
"""Days an alert stays in memory after the day it was raised; then it is archived."""
_NEW_ID = re.compile(r"^A(\d{1,12})-[0-9a-f]{8}$")


def new_alert_id(n: int, ev: dict[str, Any] | AlertRaised) -> str:
    """The id of the n-th alert of the hall: its place in the log, and a digest of what and when, so an alert
    raised after a data directory was restored from a backup never reuses the id of one raised before."""
    if isinstance(ev, AlertRaised):
        what = f"{ev.at.isoformat()}|{ev.kind}|{ev.key or ev.message}"
    else:
        what = f"{ev['at']}|{ev.get('kind')}|{ev.get('key') or ev.get('message')}"
    return f"A{n}-{hashlib.sha256(what.encode()).hexdigest()[:8]}"


class AlertBook:
    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self.live: dict[str, Alert] = {}            # by id, in raise order (revived ones at the end)
        self.archive: dict[date, bytes] = {}        # day raised -> zlib(JSON [Alert.row(), ...])
        self.archived: dict[date, list[int]] = {}   # day -> [open, acknowledged] alerts in its archive row list
        self.spans: dict[date, tuple[int, int]] = {}  # day -> lowest and highest raise order in its archive
        self.raised = 0
        self.open = 0                               # CONTRACT §3.3 state/alerts

    def day_of(self, a: Alert) -> date:
        return datetime.fromisoformat(a.at).astimezone(self.zone).date()

    # -- queries ----------------------------------------------------------------------------------
    def get(self, aid: str) -> Alert | None:
        """A live alert, or an archived one as a detached copy."""
        a = self.live.get(aid)
        if a is None:
            for day in self._days_for(aid):
                a = next((x for x in self._rows(day) if x.id == aid), None)
                if a is not None:
                    break
        return a

    def _days_for(self, aid: str) -> list[date]:
        """The archived days that may hold alert `aid`: by its raise order when the id tells it."""
        m = _NEW_ID.match(aid)
        if m is None:
            return list(self.archive)
        n = int(m.group(1))
        return [d for d, (lo, hi) in self.spans.items() if lo <= n <= hi]

    def _rows(self, day: date) -> list[Alert]:
        return [Alert(*r) for r in json.loads(zlib.decompress(self.archive[day]))]

    def page(self, state: str, since: date | None, limit: int) -> tuple[list[Alert], int]:
        """The first `limit` alerts in raise order with `state` (open, acknowledged, all) raised on or after the
        day `since`, and how many there are. Archived days are opened only while the page is not full."""
        def wanted(a: Alert) -> bool:
            return (state == "all" or a.state == state) and (since is None or self.day_of(a) >= since)

        def counted(c: list[int]) -> int:
            return c[0] + c[1] if state == "all" else c[0] if state == "open" else c[1]

        live = [a for a in self.live.values() if wanted(a)]
        total = len(live)
        old: list[Alert] = []
        for day in sorted(self.archive):
            k = counted(self.archived[day])
            if not k or (since is not None and day < since):
                continue
            total += k
            if len(old) < limit:
                old += [a for a in self._rows(day) if wanted(a)]
        return sorted(old + live, key=lambda a: a.n)[:limit], total

    # -- the projection ---------------------------------------------------------------------------
    def on_raised(self, ev: AlertRaised) -> None:
        self.raised += 1
        aid = ev.id if ev.id is not None else f"e{ev.seq}" if ev.seq is not None else new_alert_id(self.raised, ev)
        extra: dict[str, Any] = {}
        for k in ALERT_EXTRA:
            v = getattr(ev, k)
            if v is not None:
                extra[k] = v.isoformat() if k == "date" else v
        self.live[aid] = Alert(aid, self.raised, str(ev.kind), str(ev.message), ev.at.isoformat(), ev.window,
                               ev.ticket, extra or None)
        self.open += 1

    def on_acknowledged(self, ev: AlertAcknowledged) -> None:
        a = self.live.get(ev.alert) or self._revive(ev.alert)
        if a is None or a.ack is not None:   # (the engine refuses both; a replay never sees them)
            return
        a.ack = {"by": ev.by, "actor": ev.actor, "at": ev.at.isoformat(), "note": ev.note}
        self.open -= 1

    def _revive(self, aid: str) -> Alert | None:
        """An archived open alert being acknowledged comes back to `live` until the next day change."""
        for day in self._days_for(aid):
            if not self.archived[day][0]:
                continue
            rows = self._rows(day)
            hit = next((a for a in rows if a.id == aid), None)
            if hit is not None:
                self._store(day, [a for a in rows if a is not hit])
                self.live[aid] = hit
                return hit
        return None

    def _store(self, day: date, alerts: list[Alert]) -> None:
        if not alerts:
            self.archive.pop(day, None)
            self.archived.pop(day, None)
            self.spans.pop(day, None)
            return
        alerts.sort(key=lambda a: a.n)
        data = json.dumps([a.row() for a in alerts], ensure_ascii=False, separators=(",", ":"))
        self.archive[day] = zlib.compress(data.encode(), 6)
        opened = sum(a.ack is None for a in alerts)
        self.archived[day] = [opened, len(alerts) - opened]
        self.spans[day] = (alerts[0].n, alerts[-1].n)

    def compact(self, today: date) -> None:
        """Alerts of days more than ALERT_KEEP_DAYS before `today` go to the archive, open or not."""
        before = today - timedelta(days=ALERT_KEEP_DAYS)
        leaving: dict[date, list[Alert]] = {}
        for a in self.live.values():
            day = self.day_of(a)
            if day < before:
                leaving.setdefault(day, []).append(a)
        for day, alerts in leaving.items():
            self._store(day, (self._rows(day) if day in self.archive else []) + alerts)
            for a in alerts:
                del self.live[a.id]
