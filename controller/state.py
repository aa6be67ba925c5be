"""The hall's state as a projection of the event log: `HallState.apply(event)` for every event.

Applying never validates and never fails: the engine validated before the event was written.
Replaying the whole log into a fresh HallState gives the state the controller had.

Memory stays bounded: when the business day changes, tickets that nothing can change any more
(finished or no-show, held by no window, their supplementary-rating window long closed) leave
`tickets` for `archive`, one zlib-compressed row list per day. Every lookup still finds them
(`ticket()`), so commands answer exactly as before; an event that touches one brings it back.
Compaction is driven by the events alone, so a replay compacts exactly where the live run did.

Appointments (CONTRACT §3.7, docs/controller.md "Appointments"): every waiting ticket is in `waiting` (green
first, then by issued_at: appointment tickets there sort as walk-ins). An appointment ticket that checked in
no later than `appointments.late_min` after its slot's start is also in `apt_ready` of its service from
`appointments.early_min` before that start on (until then in `apt_pending`, by the time it becomes due):
`call` takes green, then the head of `apt_ready`, then the head of `waiting`. Entries are plain tuples (no
ticket objects), so snapshots pickle them as they are; the events move tickets between the two as time passes
(`promote_appointments`), so a replay holds what the live run held.
"""

from __future__ import annotations

import bisect
import itertools
import json
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from controller.alerts import AlertBook
from controller.calendar import add_working_days, appointment_only, hours_text, issue_refusal, service_hours
from controller.estimate import (
    GREEN_WINDOW_S,
    EstimatorMemory,
    HallPace,
    OpenHours,
    ServiceTimes,
    replay_wait,
    residual_s,
)
from controller.events import (
    AlertAcknowledged,
    AlertRaised,
    DayClosed,
    EvaluationRecorded,
    HallEvent,
    IdentityAccessed,
    IdentityPurged,
    RepliesBound,
    RevisitRecorded,
    RevisitSampled,
    TicketCalled,
    TicketCancelled,
    TicketFinished,
    TicketHeld,
    TicketIssued,
    TicketSkipped,
    TicketTransferred,
    WindowLogin,
    WindowLogout,
    WindowPaused,
    WindowPromptClosed,
    WindowResumed,
    WorkorderChanged,
    WorkorderOpened,
)
from controller.model import (
    Evaluation,
    Priority,
    ServiceWindow,
    Ticket,
    TicketStatus,
    WindowStatus,
    window_target,
)
from controller.retention import wrapped_day
from controller.revisit import RevisitBook, ticket_key
from hallq.callorder import appointment_due
from hallq.config import HallConfig

Event = dict[str, Any]

COMPACT_MARGIN_WORKING_DAYS = 2
"""Working days kept beyond `evaluation.supplement_working_days` before a ticket is archived."""
TIMESTAMP_ALERTS = ("pause", "unattended", "device")   # alert keys ending in the moment they began
_DONE = (TicketStatus.FINISHED, TicketStatus.NO_SHOW, TicketStatus.CANCELLED)


def event(type_: str, at: datetime, **fields: Any) -> Event:
    return {"type": type_, "at": at.isoformat(), **fields}


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def _dt(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s is not None else None


def ticket_row(t: Ticket) -> list[Any]:
    """Everything a Ticket holds, as a JSON-able row (the day is the archive's key; a slot only when set)."""
    row = [t.number, t.service, t.priority.value, t.issued_at.isoformat(), t.order, t.source, t.status.value,
           t.window, t.staff, _iso(t.called_at), _iso(t.finished_at), t.recalls, t.rated, t.holder, t.rater,
           t.original_service]
    if t.slot_from is not None:
        row += [_iso(t.slot_from), _iso(t.slot_to)]
    return row


def ticket_from_row(day: date, r: list[Any]) -> Ticket:
    slot = (_dt(r[16]), _dt(r[17])) if len(r) > 17 else (None, None)
    return Ticket(r[0], day, r[1], Priority(r[2]), datetime.fromisoformat(r[3]), r[4], r[5], TicketStatus(r[6]),
                  r[7], r[8], _dt(r[9]), _dt(r[10]), r[11], r[12], r[13], r[14], r[15], *slot)


AptEntry = tuple[datetime, int, tuple[date, str]]   # (issued_at or due time, issue order, ticket key)
def _due(e: AptEntry) -> datetime:
    return e[0]


_AFTER_GREEN = (1, datetime.min.replace(tzinfo=UTC), -1)   # sorts after every green ticket, before the rest


class HallState:
    def __init__(self, cfg: HallConfig, compact: bool = True) -> None:
        self.cfg = cfg
        self.compact = compact
        self.tickets: dict[tuple[date, str], Ticket] = {}      # live tickets, in issue order
        self.archive: dict[date, bytes] = {}                    # compacted days: zlib(JSON [ticket_row, ...])
        self.newest: Ticket | None = None                       # the ticket issued last
        self.waiting: dict[str, list[Ticket]] = {s.id: [] for s in cfg.services}
        self.sequences: dict[date, dict[str, int]] = {}
        self.windows: dict[str, ServiceWindow] = {w.id: ServiceWindow(w.id, tuple(w.services)) for w in cfg.windows}
        self.staff_names = {s.id: s.name for s in cfg.staff}
        self.staff_at: dict[str, str] = {}
        self.evaluations: dict[tuple[date, str], Evaluation] = {}
        self.times = ServiceTimes({s.id: s.default_service_s for s in cfg.services})
        self.issue_order = 0
        self.today: date | None = None
        self.last_seq = 0
        self.alerted: set[str] = set()            # keys of alerts already raised (supervision)
        self.device_status: dict[str, str] = {}   # last status seen per device
        self.held: set[tuple[date, str]] = set()  # keys of held tickets (挂起), out of every queue
        self.alerts = AlertBook(cfg.zone)        # 电子监察 alerts with their ids and acknowledgements
        self.revisits = RevisitBook()             # the monthly 回访 sample (controller/revisit.py)
        # personal data per service day (controller/retention.py): tickets holding a holder hash or a sealed
        # identity, and of those sealed before day keys; days purged, with the day of their purge
        self.identities: dict[date, int] = {}
        self.unwrapped: dict[date, int] = {}
        self.purged: dict[date, date] = {}
        # appointments within their slot, per service, by (issued_at, order); early ones by (due, order)
        self.apt_ready: dict[str, list[AptEntry]] = {s.id: [] for s in cfg.services}
        self.apt_pending: list[AptEntry] = []
        # windows able to call each service, and the services those windows also call
        self.windows_of: dict[str, list[str]] = {s.id: [] for s in cfg.services}
        for w in cfg.windows:
            for s in w.services:
                self.windows_of[s].append(w.id)
        self.competing: dict[str, set[str]] = {
            s: {x for wid in wids for x in self.windows[wid].services} for s, wids in self.windows_of.items()
        }

    # -- queries ----------------------------------------------------------------------------
    def ticket(self, day: date, number: str) -> Ticket | None:
        """A ticket of any day; an archived one comes back as a detached copy (nothing may change it)."""
        t = self.tickets.get((day, number))
        if t is None and day in self.archive:
            row = self._archived(day).get(number)
            t = ticket_from_row(day, row) if row is not None else None
        return t

    def _archived(self, day: date) -> dict[str, list[Any]]:
        cache = self.__dict__.get("_archive_cache")
        if cache is None or cache[0] != day:
            rows = json.loads(zlib.decompress(self.archive[day]))
            cache = self.__dict__["_archive_cache"] = (day, {r[0]: r for r in rows})
        rows_by_number: dict[str, list[Any]] = cache[1]
        return rows_by_number

    def window_ticket(self, w: ServiceWindow) -> Ticket | None:
        return self.tickets.get(w.ticket) if w.ticket else None

    def ahead_of(self, t: Ticket) -> int:
        """Waiting tickets that `call` would take before t (CONTRACT §3.2): green, then appointments within
        their slot, then the rest, each by issued_at."""
        if t.status is not TicketStatus.WAITING:
            return 0
        key = t.sort_key()
        at = (t.issued_at, t.order)
        after = (t.issued_at, t.order + 1)
        ready = self.appointment_ready(t)
        green = t.priority is Priority.GREEN
        n = 0
        for s in self.competing.get(t.service, {t.service}):
            q = self.waiting.get(s, [])
            r = self.apt_ready.get(s, [])
            if green:
                n += bisect.bisect_left(q, key, key=Ticket.sort_key)
            elif ready:   # the greens, and the appointments within their slot before it
                n += bisect.bisect_left(q, _AFTER_GREEN, key=Ticket.sort_key) + bisect.bisect_left(r, at)
            else:         # everyone before it, and the appointments within their slot after it
                n += bisect.bisect_left(q, key, key=Ticket.sort_key) + len(r) - bisect.bisect_left(r, after)
        return n

    # -- appointments ---------------------------------------------------------------------------
    def appointment_due(self, t: Ticket) -> datetime | None:
        """When `t` joins the appointments called before walk-ins: without a slot when it checked in; with one,
        `appointments.early_min` before the slot's start. None: never (not an appointment, or it checked in
        more than `appointments.late_min` after the slot's start: a walk-in). The rule is hallq/callorder.py's,
        which the console's queue lists share."""
        return appointment_due(t.priority, t.issued_at, t.slot_from, self.cfg)

    def appointment_ready(self, t: Ticket) -> bool:
        """True when `t` waits among the appointments within their slot (taken after green, before the rest)."""
        if t.priority is not Priority.APPOINTMENT:
            return False
        r = self.apt_ready.get(t.service, [])
        i = bisect.bisect_left(r, (t.issued_at, t.order))
        return i < len(r) and r[i][2] == t.key

    def next_appointment(self, services: tuple[str, ...]) -> Ticket | None:
        """The appointment within its slot that `call` takes first at a window of `services` (after green)."""
        best: AptEntry | None = None
        for s in services:
            r = self.apt_ready.get(s)
            if r and (best is None or r[0] < best):
                best = r[0]
        return self.tickets[best[2]] if best is not None else None

    def promote_appointments(self, now: datetime) -> None:
        """Early appointments whose time has come join the appointments within their slot."""
        p = self.apt_pending
        if not p or p[0][0] > now:
            return
        cut = bisect.bisect_right(p, now, key=_due)
        due = p[:cut]
        del p[:cut]
        for _, order, key in due:
            t = self.tickets.get(key)
            if t is not None and t.status is TicketStatus.WAITING:
                bisect.insort(self.apt_ready[t.service], (t.issued_at, order, key))

    def _enqueue_appointment(self, t: Ticket, at: datetime) -> None:
        due = self.appointment_due(t)
        if due is None:
            return
        if due <= at:
            bisect.insort(self.apt_ready[t.service], (t.issued_at, t.order, t.key))
        else:
            bisect.insort(self.apt_pending, (due, t.order, t.key))

    def _unqueue_appointment(self, t: Ticket) -> None:
        r = self.apt_ready.get(t.service, [])
        i = bisect.bisect_left(r, (t.issued_at, t.order))
        if i < len(r) and r[i][2] == t.key:
            del r[i]
            return
        due = self.appointment_due(t)
        if due is not None:
            p = self.apt_pending
            i = bisect.bisect_left(p, (due, t.order))
            if i < len(p) and p[i][2] == t.key:
                del p[i]

    def _capacity(self, service: str) -> tuple[int, int]:
        open_, free = 0, 0
        for wid in self.windows_of.get(service, []):
            st = self.windows[wid].status
            if st in (WindowStatus.IDLE, WindowStatus.SERVING, WindowStatus.RATING):
                open_ += 1
                if st is not WindowStatus.SERVING:
                    free += 1
        return open_, free

    def est_wait(self, service: str, ahead: int) -> int | None:
        """Seconds until a ticket of `service` with `ahead` tickets before it is called (controller/estimate.py)."""
        now = self._est_now()
        mem = self._est_memory()
        self._est_learn(mem, now)
        free = self._est_free_in(service, mem.pace, now)
        if not free:
            return None
        comp = self.competing.get(service, {service})
        queued = {x: len(self.waiting.get(x, [])) for x in comp}
        n = sum(queued.values())
        mean = sum(k * self.times.mean(x) for x, k in queued.items()) / n if n else self.times.mean(service)
        occupancy = mem.pace.occupancy_s(mean)
        green = sum(mem.pace.green_per_s.get(x, 0.0) for x in comp) * occupancy / len(free)
        hours = self._est_hours(now)
        if hours is None:
            return replay_wait(ahead, free, occupancy, green)
        return hours.wait(ahead, free, occupancy, green)

    def _est_memory(self) -> EstimatorMemory:
        mem = self.__dict__.get("_estimator")
        if mem is None:
            mem = self.__dict__["_estimator"] = EstimatorMemory()
        assert isinstance(mem, EstimatorMemory)
        return mem

    def _est_now(self) -> datetime | None:
        """The latest moment the state knows of: the newest ticket or window change."""
        times = [w.since for w in self.windows.values() if w.since is not None]
        if self.newest is not None:
            times.append(self.newest.issued_at)
        return max(times) if times else None

    def _est_hours(self, now: datetime | None) -> OpenHours | None:
        """Today's opening hours seen from `now` in the hall's time zone; None when they change nothing
        (no hours configured, or open from now on without a gap)."""
        if self.cfg.hours is None or now is None:
            return None
        local = now.astimezone(self.cfg.zone)
        hours = OpenHours.at(self.cfg.hours.spans_on(local.date()), local.time())
        return None if hours.always else hours

    def _est_free_in(self, service: str, pace: HallPace, now: datetime | None) -> list[float]:
        """For each window that can call `service`: seconds until it is free to call."""
        out = []
        comp = self.competing.get(service, {service})
        # every window that takes some of the tickets ahead drains the queue in front of this one
        wids = [wid for wid, w in self.windows.items() if comp.intersection(w.services)] \
            if self.windows_of.get(service) else []
        for wid in wids:
            w = self.windows[wid]
            since = (now - w.since).total_seconds() if now is not None and w.since is not None else 0.0
            if w.status is WindowStatus.IDLE:
                out.append(0.0)
            elif w.status is WindowStatus.RATING:
                out.append(max(0.0, pace.changeover_s - since))
            elif w.status is WindowStatus.SERVING:
                t = self.window_ticket(w)
                served = (now - t.called_at).total_seconds() if t and t.called_at and now else 0.0
                out.append(residual_s(self.times.mean(t.service if t else service), served) + pace.changeover_s)
            elif w.status is WindowStatus.PAUSED:
                out.append(max(pace.pause_s - since, 60.0) + pace.changeover_s)
        return out

    def _est_learn(self, mem: EstimatorMemory, now: datetime | None) -> None:
        """Learn the hall's pace from what changed at the windows and the tickets issued since the last look."""
        pace = mem.pace
        for wid, w in self.windows.items():
            cur = (w.ticket, w.status, w.since)
            prev = mem.seen.get(wid)
            mem.seen[wid] = cur
            if prev is None or prev == cur:
                continue
            if prev[1] is WindowStatus.PAUSED and w.status not in (WindowStatus.PAUSED, WindowStatus.CLOSED) \
                    and prev[2] and w.since:
                pace.observe_pause((w.since - prev[2]).total_seconds())
            t = self.window_ticket(w)
            if w.status is WindowStatus.SERVING and t is not None and w.ticket != prev[0]:
                last = mem.last_ticket.get(wid)
                if last is not None and last is not t and last.called_at and last.finished_at:
                    no_show = last.status is TicketStatus.NO_SHOW
                    if no_show or last.status is TicketStatus.FINISHED:
                        pace.observe_call_outcome(no_show, (last.finished_at - last.called_at).total_seconds())
                    if t.called_at is not None and last.status is TicketStatus.FINISHED:
                        pace.observe_changeover((t.called_at - last.finished_at).total_seconds())
                mem.last_ticket[wid] = t
        if self.issue_order > mem.tickets_seen:   # tickets_seen: the issue order looked at last
            seen = mem.tickets_seen
            fresh = list(itertools.takewhile(lambda t: t.order > seen, reversed(self.tickets.values())))
            mem.greens.extend((t.issued_at, t.service) for t in reversed(fresh) if t.priority is Priority.GREEN)
            mem.tickets_seen = self.issue_order
        if now is not None:
            while mem.greens and (now - mem.greens[0][0]).total_seconds() > GREEN_WINDOW_S:
                mem.greens.popleft()
            counts = Counter(s for _, s in mem.greens)
            pace.green_per_s = {s: k / GREEN_WINDOW_S for s, k in counts.items()}

    def ticket_json(self, t: Ticket) -> dict[str, Any]:
        if t.status is TicketStatus.WAITING:
            ahead = self.ahead_of(t)
            return t.to_json(ahead, self.est_wait(t.service, ahead))
        return t.to_json(0, 0)

    def window_json(self, wid: str) -> dict[str, Any]:
        w = self.windows[wid]
        t = self.window_ticket(w)
        return {
            "id": w.id,
            "status": w.status.value,
            "staff": {"id": w.staff, "name": self.staff_names.get(w.staff, w.staff)} if w.staff else None,
            "ticket": t.number if t else None,
            "services": list(w.services),
            "since": w.since.isoformat() if w.since else None,
            "reason": w.pause_reason,
            "prompt_until": w.prompt_deadline.isoformat() if w.prompt_deadline else None,
        }

    def queues_json(self, now: datetime) -> dict[str, Any]:
        """CONTRACT §3.3 plus, per service, whether tickets are issued now (`issuing`: open, closed, quota)."""
        local = now.astimezone(self.cfg.zone)
        day = local.date()
        hall_closed = issue_refusal(self.cfg.hours, local) is not None
        issued = self.sequences.get(day, {})
        held = Counter(self.tickets[k].service for k in self.held)
        out = []
        for s in self.cfg.services:
            ahead = sum(len(self.waiting.get(x, [])) for x in self.competing.get(s.id, {s.id}))
            n = issued.get(s.id, 0)
            hours = service_hours(self.cfg, s.id)
            closed = hall_closed if s.hours is None else issue_refusal(hours, local) is not None
            only = appointment_only(self.cfg, s.id, day)
            issuing = "closed" if closed or only else "quota" if s.daily_quota is not None and n >= s.daily_quota \
                else "open"
            row: dict[str, Any] = {
                "id": s.id, "waiting": len(self.waiting[s.id]), "est_wait_s": self.est_wait(s.id, ahead),
                "mean_service_s": round(self.times.mean(s.id)), "issuing": issuing, "issued": n,
                "quota": s.daily_quota, "held": held.get(s.id, 0)}
            if only:
                row["appointment_only"] = True   # closed to walk-ins; a checked-in appointment still gets a ticket
            if s.hours is not None or s.appointment_only is not None:
                row["hours"] = hours_text(hours, day)   # today's opening spans ("" when closed all day)
            out.append(row)
        return {"at": now.isoformat(), "services": out}

    @property
    def open_alerts(self) -> int:
        """Alerts not acknowledged yet (CONTRACT §3.3 state/alerts)."""
        return self.alerts.open

    # -- the projection -----------------------------------------------------------------------
    def apply(self, ev: HallEvent | Mapping[str, Any]) -> None:
        """Apply one event (typed, or a logged dict: an unknown type raises UnknownEvent)."""
        if not isinstance(ev, HallEvent):
            ev = HallEvent.from_json(ev)
        day = self.today
        if self.apt_pending and self.apt_pending[0][0] <= ev.at:
            self.promote_appointments(ev.at)
        _APPLY[type(ev)](self, ev)
        if ev.seq is not None:
            self.last_seq = ev.seq
        if self.compact and self.today != day:
            self._compact()

    def _on_nothing(self, ev: HallEvent) -> None:
        """Events that change no queue state (work orders, identity accesses)."""

    def _on_alert_raised(self, ev: AlertRaised) -> None:
        if ev.key is not None:
            self.alerted.add(ev.key)
        if ev.device is not None:
            self.device_status[ev.device] = ev.status if ev.status is not None else ""
        self.alerts.on_raised(ev)

    def _on_alert_acknowledged(self, ev: AlertAcknowledged) -> None:
        self.alerts.on_acknowledged(ev)

    def _on_revisit_sampled(self, ev: RevisitSampled) -> None:
        self.revisits.on_sampled(ev.month, list(ev.tickets), ev.seed, ev.share, ev.rated, ev.at.isoformat(), ev.by)

    def _on_revisit_recorded(self, ev: RevisitRecorded) -> None:
        self.revisits.on_recorded(ticket_key(ev.date, ev.ticket), {"satisfied": ev.satisfied, "note": ev.note,
                                                                    "by": ev.by, "at": ev.at.isoformat()})

    def _on_identity_purged(self, ev: IdentityPurged) -> None:
        """The day's holder hashes and sealed identities leave memory too (the log keeps only unreadable text)."""
        day = ev.date
        self.identities.pop(day, None)
        self.unwrapped.pop(day, None)
        self.purged[day] = ev.at.astimezone(self.cfg.zone).date()
        for key, t in self.tickets.items():
            if key[0] == day:
                t.holder = t.rater = None
        if day in self.archive:
            rows = list(self._archived(day).values())
            for r in rows:
                r[13] = r[14] = None       # ticket_row's holder and rater
            self._archive(day, rows)

    def _t(self, ev: TicketEvent) -> Ticket:
        key = (ev.date, ev.ticket)
        t = self.tickets.get(key)
        return t if t is not None else self._revive(key)

    def _revive(self, key: tuple[date, str]) -> Ticket:
        """An archived ticket an event changes (a rating accepted after the clock went back) lives again."""
        t = ticket_from_row(key[0], self._archived(key[0])[key[1]])
        self.tickets[key] = t
        self.tickets = dict(sorted(self.tickets.items(), key=lambda kv: kv[1].order))
        return t

    # -- compaction ---------------------------------------------------------------------------
    def _compact(self) -> None:
        """Archive the tickets nothing can change any more; forget alert keys nothing looks at again."""
        assert self.today is not None
        keep = self.cfg.evaluation.supplement_working_days + COMPACT_MARGIN_WORKING_DAYS
        held = {w.ticket for w in self.windows.values() if w.ticket is not None}
        zone = self.cfg.zone
        closes: dict[date, date] = {}
        leaving: dict[date, list[Ticket]] = {}
        old: dict[date, bool] = {}   # served on or after its day: a day too recent has nothing to archive
        for key, t in self.tickets.items():
            too_new = old.get(t.date)
            if too_new is None:
                too_new = old[t.date] = add_working_days(t.date, keep) >= self.today
            if too_new or t.status not in _DONE or key in held:
                continue
            served_on = (t.finished_at or t.issued_at).astimezone(zone).date()
            last = closes.get(served_on)
            if last is None:
                last = closes[served_on] = add_working_days(served_on, keep)
            if last < self.today:
                leaving.setdefault(t.date, []).append(t)
        for day, ts in leaving.items():
            rows = dict(self._archived(day)) if day in self.archive else {}
            for t in ts:
                rows[t.number] = ticket_row(t)
                del self.tickets[t.key]
                self.evaluations.pop(t.key, None)
            self._archive(day, sorted(rows.values(), key=lambda r: r[4]))
        if leaving:
            self._forget_alerts()
        self.alerts.compact(self.today)

    def _archive(self, day: date, rows: list[list[Any]]) -> None:
        """Keep `rows` (ticket_row lists in issue order) as the day's archive."""
        data = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
        self.archive[day] = zlib.compress(data.encode(), 6)
        self.__dict__.pop("_archive_cache", None)

    def archived_days(self) -> set[date]:
        """Days whose tickets are all archived."""
        return set(self.archive) - {t.date for t in self.tickets.values()}

    def _forget_alerts(self) -> None:
        """Alert keys of archived days, and of moments two days past, can never be raised again."""
        assert self.today is not None
        gone = {d.isoformat() for d in self.archived_days()}
        before = (self.today - timedelta(days=2)).isoformat()
        current = {f"pause:{w.id}:{w.since.isoformat()}" for w in self.windows.values()
                   if w.status is WindowStatus.PAUSED and w.since is not None}
        drop = set()
        for key in self.alerted:
            kind, _, rest = key.partition(":")
            if kind in ("wait", "service"):
                if rest[:10] in gone:
                    drop.add(key)
            elif kind in TIMESTAMP_ALERTS and key not in current:
                moment = rest.split(":", 2 if kind == "device" else 1)[-1]
                if moment[:10] < before and moment[4:5] == "-":
                    drop.add(key)
        self.alerted -= drop

    def _unqueue(self, t: Ticket) -> None:
        q = self.waiting.get(t.service, [])
        i = bisect.bisect_left(q, t.sort_key(), key=Ticket.sort_key)
        if i < len(q) and q[i] is t:
            del q[i]
        if t.priority is Priority.APPOINTMENT:
            self._unqueue_appointment(t)

    def _set_window(self, w: ServiceWindow, status: WindowStatus, at: datetime) -> None:
        if w.status is not status:
            w.since = at
        w.status = status
        if status is not WindowStatus.RATING:
            w.prompt_deadline = None

    def _move(self, w: ServiceWindow, move: str, at: datetime) -> None:
        """The window machine (`WINDOW_MACHINE` in controller/model.py) takes the window where `move` goes."""
        self._set_window(w, window_target(w.status, move, w.paused_from), at)

    def _on_ticket_issued(self, ev: TicketIssued) -> None:
        day = ev.date
        self.today = max(self.today or day, day)
        self.issue_order += 1
        t = Ticket(ev.ticket, day, ev.service, ev.priority, ev.at, self.issue_order, ev.source, holder=ev.holder,
                   rater=ev.rater, slot_from=ev.slot_from, slot_to=ev.slot_to)
        if ev.holder is not None or ev.rater is not None:
            self.identities[day] = self.identities.get(day, 0) + 1
            if ev.rater is not None and wrapped_day(ev.rater) is None:
                self.unwrapped[day] = self.unwrapped.get(day, 0) + 1
        self.tickets[t.key] = t
        self.newest = t
        seqs = self.sequences.setdefault(day, {})
        seqs[t.service] = seqs.get(t.service, 0) + 1
        q = self.waiting[t.service]
        if not q or q[-1].sort_key() <= t.sort_key():
            q.append(t)                 # where insort puts it, found without a search (the usual case)
        else:
            bisect.insort(q, t, key=Ticket.sort_key)
        if t.priority is Priority.APPOINTMENT:
            self._enqueue_appointment(t, ev.at)

    def _on_ticket_called(self, ev: TicketCalled) -> None:
        t = self._t(ev)
        w = self.windows[ev.window]
        if ev.recall:
            t.recalls = ev.recall
            self._move(w, "recall", ev.at)
            return
        if t.status is TicketStatus.HELD:
            self.held.discard(t.key)
        else:
            self._unqueue(t)
        t.status, t.window, t.staff, t.called_at, t.recalls = TicketStatus.SERVING, w.id, w.staff, ev.at, 0
        w.ticket = t.key
        self._move(w, "callback" if ev.callback else "call_number" if ev.by_number else "call", ev.at)

    def _on_ticket_finished(self, ev: TicketFinished) -> None:
        t = self._t(ev)
        w = self.windows[ev.window]
        at = ev.at
        t.status, t.finished_at = TicketStatus.FINISHED, at
        if t.called_at is not None:
            self.times.observe(t.service, (at - t.called_at).total_seconds())
        if t.rated or ev.prompt is False:
            w.ticket = None
            self._move(w, "finish_unprompted", at)
        else:
            self._move(w, "finish", at)
            w.prompt_deadline = at + timedelta(seconds=self.cfg.evaluation.prompt_timeout_s)

    def _on_ticket_skipped(self, ev: TicketSkipped) -> None:
        t = self._t(ev)
        w = self.windows[ev.window]
        t.status, t.finished_at = TicketStatus.NO_SHOW, ev.at
        w.ticket = None
        self._move(w, "skip", ev.at)

    def _on_ticket_held(self, ev: TicketHeld) -> None:
        t = self._t(ev)
        w = self.windows[ev.window]
        t.status = TicketStatus.HELD
        self.held.add(t.key)
        w.ticket = None
        self._move(w, "hold", ev.at)

    def _on_ticket_cancelled(self, ev: TicketCancelled) -> None:
        t = self._t(ev)
        if t.status is TicketStatus.HELD:
            self.held.discard(t.key)
        else:
            self._unqueue(t)
        t.status, t.finished_at = TicketStatus.CANCELLED, ev.at

    def _on_ticket_transferred(self, ev: TicketTransferred) -> None:
        t = self._t(ev)
        w = self.windows[ev.window]
        t.original_service = t.original_service or t.service
        t.service, t.status, t.recalls, t.window = ev.service, TicketStatus.WAITING, 0, None
        bisect.insort(self.waiting[t.service], t, key=Ticket.sort_key)
        if t.priority is Priority.APPOINTMENT:   # the appointment keeps its place among appointments
            self._enqueue_appointment(t, ev.at)
        w.ticket = None
        self._move(w, "transfer", ev.at)

    def _on_window_login(self, ev: WindowLogin) -> None:
        w = self.windows[ev.window]
        if w.staff and self.staff_at.get(w.staff) == w.id:
            del self.staff_at[w.staff]
        w.staff = ev.staff
        self.staff_at[w.staff] = w.id
        self._move(w, "login", ev.at)

    def _on_window_logout(self, ev: WindowLogout) -> None:
        w = self.windows[ev.window]
        if w.staff and self.staff_at.get(w.staff) == w.id:
            del self.staff_at[w.staff]
        w.staff, w.ticket, w.paused_from, w.pause_reason = None, None, None, None
        self._move(w, "logout", ev.at)

    def _on_window_paused(self, ev: WindowPaused) -> None:
        w = self.windows[ev.window]
        if w.status is WindowStatus.RATING:
            w.ticket = None
        w.paused_from = WindowStatus.SERVING if w.status is WindowStatus.SERVING else WindowStatus.IDLE
        w.pause_reason = ev.reason
        self._move(w, "pause", ev.at)

    def _on_window_resumed(self, ev: WindowResumed) -> None:
        w = self.windows[ev.window]
        target = window_target(w.status, "resume", w.paused_from)
        w.paused_from, w.pause_reason = None, None
        self._set_window(w, target, ev.at)

    def _on_window_prompt_closed(self, ev: WindowPromptClosed) -> None:
        w = self.windows[ev.window]
        w.ticket = None
        self._move(w, "prompt_closed", ev.at)

    def _on_evaluation_recorded(self, ev: EvaluationRecorded) -> None:
        t = self._t(ev)
        t.rated = True
        self.revisits.on_rated(t.date, t.number)
        self.evaluations[t.key] = Evaluation(t.number, t.date, ev.window, ev.staff, t.service, ev.level, ev.channel,
                                             list(ev.reasons), ev.at, bool(ev.supplementary))
        wid = ev.window
        if wid in self.windows:
            w = self.windows[wid]
            if w.status is WindowStatus.RATING and w.ticket == t.key:
                w.ticket = None
                self._move(w, "rated", ev.at)

    def _on_day_closed(self, ev: DayClosed) -> None:
        day = ev.date
        for number in ev.no_show:
            t = self.tickets[(day, number)]
            if t.status is TicketStatus.HELD:
                self.held.discard(t.key)
            else:
                self._unqueue(t)
            t.status, t.finished_at = TicketStatus.NO_SHOW, ev.at
        self.today = max(self.today or day, ev.next)


TicketEvent = (TicketCalled | TicketFinished | TicketSkipped | TicketHeld | TicketCancelled | TicketTransferred
               | EvaluationRecorded)
# every event type's projection: a type missing here is a KeyError at once, never a silently skipped event
_APPLY: dict[type[HallEvent], Callable[[HallState, Any], None]] = {
    TicketIssued: HallState._on_ticket_issued,
    TicketCalled: HallState._on_ticket_called,
    TicketFinished: HallState._on_ticket_finished,
    TicketSkipped: HallState._on_ticket_skipped,
    TicketHeld: HallState._on_ticket_held,
    TicketCancelled: HallState._on_ticket_cancelled,
    TicketTransferred: HallState._on_ticket_transferred,
    WindowLogin: HallState._on_window_login,
    WindowLogout: HallState._on_window_logout,
    WindowPaused: HallState._on_window_paused,
    WindowResumed: HallState._on_window_resumed,
    WindowPromptClosed: HallState._on_window_prompt_closed,
    EvaluationRecorded: HallState._on_evaluation_recorded,
    DayClosed: HallState._on_day_closed,
    AlertRaised: HallState._on_alert_raised,
    AlertAcknowledged: HallState._on_alert_acknowledged,
    WorkorderOpened: HallState._on_nothing,
    WorkorderChanged: HallState._on_nothing,
    IdentityAccessed: HallState._on_nothing,
    IdentityPurged: HallState._on_identity_purged,
    RevisitSampled: HallState._on_revisit_sampled,
    RevisitRecorded: HallState._on_revisit_recorded,
    RepliesBound: HallState._on_nothing,
}
