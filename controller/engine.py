"""The queue engine: a pure, synchronous core (CONTRACT §3.2).

`Engine.handle(name, args, now)` validates a command against the current state and returns
its reply and the events it produced; `Engine.tick(now)` returns the events that time alone
causes (rating prompts timing out, the business day ending). No I/O, no threads, no clock:
time is always passed in. Every event is applied to the state as it is produced, and the
same `apply` rebuilds the state from the log at start-up.

Inside, commands are the typed dataclasses of `controller/commands.py` (handler `_cmd_{name}(now, cmd)`)
and events those of `controller/events.py`; at the boundary (the service, the store, snapshots) events
are the dicts they have always been: `handle`/`tick` return `to_json()` of each, `apply` takes a logged dict.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from controller.alerts import new_alert_id
from controller.antifraud import RatingWatch
from controller.authz import Sender, authorize
from controller.calendar import add_working_days, service_refusal
from controller.commands import (
    AlertAck,
    AlertRaise,
    Alerts,
    Call,
    Callback,
    CallNumber,
    Cancel,
    Finish,
    Hold,
    Issue,
    Login,
    Logout,
    Pause,
    Rate,
    RaterAccess,
    Recall,
    Resume,
    Retention,
    RevisitRecord,
    RevisitSample,
    Skip,
    TicketQuery,
    Transfer,
    WoForward,
    WorkOrderCommand,
    WorkOrders,
    parse_command,
)
from controller.events import (
    AlertAcknowledged,
    AlertRaised,
    DayClosed,
    EvaluationRecorded,
    HallEvent,
    IdentityAccessed,
    IdentityPurged,
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
    ALERT_STATES,
    TICKET_COMMAND_STATUSES,
    CommandFailed,
    Priority,
    ServiceWindow,
    Ticket,
    TicketStatus,
    WindowStatus,
    state_error,
)
from controller.retention import HOLDER_PREFIX, KeyUnavailable, MemoryDayKeys, holder_hash, unwrap, wrap, wrapped_day
from controller.revisit import MONTH, make_seed, month_of, pick, previous_month, ticket_key
from controller.state import Event, HallState
from controller.supervision import device_alert, escalations, supervise
from controller.workorders import CLOSED, WorkOrderBook, order_id
from hallq.config import HallConfig

BAD_LEVELS = (1, 2)
Done = tuple[dict[str, Any], list[Event]]   # a command's result and the events it caused (as dicts)
_FIXED: dict[timedelta, timezone] = {}   # fixed-offset time zones by offset (Engine._at)


@dataclass
class Outcome:
    """What one command did: `reply` is the contract reply body without `id`."""

    reply: dict[str, Any]
    events: list[Event] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.reply.get("ok"))


def number_of(prefix: str, seq: int) -> str:
    return f"{prefix}{seq:03d}"


HELD_PREFIXES = ("hk1:", HOLDER_PREFIX)   # a holder already hashed (hk1: before day keys)
PRIVATE_FIELDS = ("holder", "rater")   # kept in the log, never published (CONTRACT §3.4: no citizen identifiers)


def public_event(ev: Event) -> Event:
    """An event as it is published and answered by `events`: without the keyed holder hash and the sealed
    rater identity, which stay in the log for the controller's own rules."""
    if any(k in ev for k in PRIVATE_FIELDS):
        return {k: v for k, v in ev.items() if k not in PRIVATE_FIELDS}
    return ev


def ticket_code(secret: bytes, day: date, number: str) -> str:
    """The per-ticket code printed in the ticket QR: proves the holder has the paper (补充评价)."""
    mac = hmac.new(secret, f"{day.isoformat()}:{number}".encode("ascii"), hashlib.sha256).digest()
    return base64.b32encode(mac[:5]).decode("ascii")


LOGIN_FAILURES_MAX = 5
LOGIN_LOCK = timedelta(minutes=10)
WORKORDERS_PAGE = 200      # work orders in one `workorders` reply, unless `limit` says otherwise
WORKORDERS_MAX = 1000
ALERTS_PAGE = 200          # alerts in one `alerts` reply, unless `limit` says otherwise
ALERTS_MAX = 1000


class Engine:
    def __init__(self, cfg: HallConfig, secret: bytes = b"", compact: bool = True) -> None:
        self.cfg = cfg
        self.secret = secret
        self.state = HallState(cfg, compact)
        self.orders = WorkOrderBook(cfg)
        self.watch = RatingWatch(cfg)
        self.keys = MemoryDayKeys()     # the service day keys (controller/retention.py); the service gives its own
        self._prefix = {s.id: s.prefix for s in cfg.services}
        self._staff = {s.id: s for s in cfg.staff}
        self._sender = Sender()
        self._ticked_at: datetime | None = None
        self._now_in: datetime | None = None     # the last `now` given, and its fixed-offset form (`_at`)
        self._now_at: datetime | None = None
        self.login_failures: dict[str, list[datetime]] = {}   # window -> recent failed device logins (not logged)
        self.login_locked: dict[str, datetime] = {}           # window -> refused until

    # -- entry points ---------------------------------------------------------------------------
    def apply(self, ev: Event) -> None:
        """Apply a logged event to every projection the engine keeps (replay at start). An event of a type
        this controller does not know raises `controller.events.UnknownEvent`."""
        self._apply(HallEvent.from_json(ev))

    def _apply(self, ev: HallEvent) -> None:
        day = self.state.today
        self.state.apply(ev)
        kind = type(ev)
        if kind is WorkorderOpened or kind is WorkorderChanged:
            self.orders.apply(ev)
        t = self.state.ticket(ev.date, ev.ticket) if isinstance(ev, EvaluationRecorded) else None
        self.watch.apply(ev, t)
        if self.state.compact and self.state.today != day and self.watch.by_holder:
            self.watch.forget_days(self.state.archived_days())

    def _at(self, now: datetime) -> datetime:
        """`now` with a fixed UTC offset, as an event's time reads back from the log: live and replayed
        state hold the same datetimes (and add durations the same way in zones with summer time)."""
        tz = now.tzinfo
        if tz is None or type(tz) is timezone:
            return now
        if now is not self._now_in:
            offset = now.utcoffset()
            if offset is None:
                return now
            fixed = _FIXED.get(offset)
            if fixed is None:
                fixed = _FIXED[offset] = timezone(offset) if offset else UTC   # (as datetime.fromisoformat)
            self._now_in, self._now_at = now, now.replace(tzinfo=fixed)
        assert self._now_at is not None
        return self._now_at

    def local_date(self, now: datetime) -> date:
        return now.astimezone(self.cfg.zone).date()

    def tick(self, now: datetime) -> list[Event]:
        """Events caused by time alone, already applied."""
        now = self._at(now)
        self._ticked_at = now
        self.state.promote_appointments(now)   # early appointments whose time has come
        out: list[Event] = []
        today = self.local_date(now)
        if self.state.today is not None and today > self.state.today:
            stale = [t for q in self.state.waiting.values() for t in q if t.date < today]
            stale += [self.state.tickets[k] for k in self.state.held if k[0] < today]   # held: closed as no-show
            for day in sorted({t.date for t in stale}):
                left = sorted((t for t in stale if t.date == day), key=lambda t: t.order)
                out.append(self._emit(DayClosed(at=now, date=day, next=today, no_show=tuple(t.number for t in left))))
            if not out:
                out.append(self._emit(DayClosed(at=now, date=self.state.today, next=today)))
        for w in self.state.windows.values():
            if w.status is WindowStatus.RATING and w.prompt_deadline is not None and now >= w.prompt_deadline:
                t = self.state.window_ticket(w)
                out.append(self._emit(WindowPromptClosed(at=now, window=w.id, reason="timeout",
                                                         ticket=t.number if t else None, date=t.date if t else None)))
        out += [self._emit(ev) for ev in supervise(self.state, now)]
        out += [self._emit(ev) for ev in self.orders.overdue(now, self.state.alerted)]
        out += [self._emit(ev) for ev in escalations(self.state, now)]
        return out

    def device_status(self, device: str, status: str, now: datetime) -> list[Event]:
        """A device reported its status (CONTRACT §3.5): alerts for offline devices and paper."""
        return [self._emit(ev) for ev in device_alert(self.state, device, status, self._at(now))]

    def handle(self, name: str, body: dict[str, Any], now: datetime, sender: Sender | None = None) -> Outcome:
        """Run one command. Time-caused events come first, so the outcome reflects `now`.

        `sender` (secure halls, CONTRACT §5): who sent it; authorization is checked right after the
        arguments, and every event the command causes carries `principal` (and `actor`)."""
        now = self._at(now)
        # the service ticks once per batch at the batch's time: the same instant needs no second pass
        events = self.tick(now) if self._ticked_at is None or now > self._ticked_at else []
        self._sender = sender or Sender()
        try:
            cmd, args = parse_command(name, body)
            authorize(self.cfg, self._sender, name, args)
            result, produced = getattr(self, "_cmd_" + name)(now, cmd)
        except CommandFailed as e:
            return Outcome({"ok": False, "error": {"code": e.code, "message": e.message}}, events + e.events)
        finally:
            self._sender = Sender()
        if sender is not None and sender.principal is not None:
            for ev in produced:
                ev["principal"] = sender.principal.id
        if sender is not None and sender.actor is not None:
            for ev in produced:
                ev["actor"] = sender.actor
        return Outcome({"ok": True, "result": result}, events + produced)

    def _emit(self, ev: HallEvent) -> Event:
        """Apply a new event; its dict (the logged and published form)."""
        if type(ev) is AlertRaised and ev.id is None:
            ev = replace(ev, id=new_alert_id(self.state.alerts.raised + 1, ev))
        self._apply(ev)
        return ev.to_json()

    def holder_hash(self, holder_key: str, day: date) -> str:
        """A keyed hash of a citizen's holder key for one service day: lets the controller enforce one open ticket
        per person without a published or backed-up value that names anyone, linkable to nobody once the day's
        key is destroyed (controller/retention.py)."""
        return holder_hash(self.secret, self._day_key(day), holder_key)

    def _day_key(self, day: date) -> bytes:
        if day in self.state.purged:
            raise CommandFailed("BAD_REQUEST", f"the personal data of {day.isoformat()} was purged: nothing of a "
                                "citizen can be recorded for that day")
        try:
            return self.keys.key_for(day)
        except KeyUnavailable as e:
            raise CommandFailed("UNAVAILABLE", f"cannot keep a citizen's data safely: {e}") from None

    # -- shared checks -------------------------------------------------------------------------
    def _window(self, wid: str) -> ServiceWindow:
        w = self.state.windows.get(wid)
        if w is None:
            raise CommandFailed("UNKNOWN_WINDOW", f"window {wid!r} is not in this hall "
                                f"(windows: {', '.join(self.state.windows)})")
        return w

    def _service(self, sid: str) -> str:
        if sid not in self._prefix:
            raise CommandFailed("UNKNOWN_SERVICE", f"service {sid!r} is not offered here "
                                f"(services: {', '.join(self._prefix)})")
        return sid

    def _window_for(self, command: str, wid: str) -> ServiceWindow:
        w = self._window(wid)
        code = state_error(command, w.status)
        if code is not None:
            raise CommandFailed(code, _STATE_MESSAGES[code].format(window=w.id, command=command))
        return w

    def _current(self, w: ServiceWindow) -> Ticket:
        t = self.state.window_ticket(w)
        assert t is not None, f"window {w.id} is serving without a ticket"
        return t

    def _tj(self, t: Ticket) -> dict[str, Any]:
        return self.state.ticket_json(t)


    # -- commands ------------------------------------------------------------------------------
    def _cmd_issue(self, now: datetime, c: Issue) -> Done:
        sid = self._service(c.service)
        holder, rater = c.holder, c.rater
        cred = self._sender.credential
        if cred is not None and cred.ok:   # the controller's own check of the scanned code wins over any claim
            holder, rater = cred.holder, cred.rater or rater
        elif self._sender.principal is not None:
            holder = None                  # a principal cannot claim a holder without a verified code
        local = now.astimezone(self.cfg.zone)
        slot = self._slot(c, sid, local)
        refusal = service_refusal(self.cfg, sid, local, c.priority is Priority.APPOINTMENT)
        if refusal:
            raise CommandFailed("SERVICE_CLOSED", f"service {sid!r} is closed: {refusal}")
        day = local.date()
        seq = self.state.sequences.get(day, {}).get(sid, 0) + 1
        quota = next(s.daily_quota for s in self.cfg.services if s.id == sid)
        if quota is not None and seq > quota:
            raise CommandFailed("SERVICE_CLOSED", f"service {sid!r} has issued its daily quota of {quota} tickets "
                                "for today; please come back on the next working day or book an appointment")
        if rater is not None and (not rater.startswith("RID1.") or not rater.isascii()):
            raise CommandFailed("BAD_REQUEST", "issue: 'rater' must be a sealed identity (RID1.…), never clear text")
        if holder is not None and not holder.startswith(HELD_PREFIXES):
            holder = self.holder_hash(holder, day)
        if rater is not None:
            rater = wrap(self._day_key(day), day, rater)
        if holder is not None:
            for t in self.state.waiting[sid]:
                if t.holder == holder and t.date == day:
                    raise CommandFailed("ALREADY_WAITING", f"this person already holds ticket {t.number} for "
                                        f"service {sid!r} (one open ticket per person and service)")
        number = number_of(self._prefix[sid], seq)
        ev = self._emit(TicketIssued(at=now, ticket=number, date=day, service=sid, priority=c.priority,
                                     source=c.source, holder=holder, reason=c.reason, rater=rater,
                                     slot_from=slot[0] if slot else None, slot_to=slot[1] if slot else None))
        t = self.state.tickets[(day, number)]
        return {"ticket": self._tj(t), "code": ticket_code(self.secret, day, t.number)}, [ev]

    def _slot(self, c: Issue, sid: str, local: datetime) -> tuple[datetime, datetime] | None:
        """The slot an `issue` gives its ticket: a verified appointment's (it wins over a `slot` argument), else
        the argument's (local times without an offset are the hall's); only for priority appointment."""
        cred = self._sender.credential
        appointment = c.priority is Priority.APPOINTMENT
        if not appointment:
            if c.slot is not None:
                raise CommandFailed("BAD_REQUEST", f"issue: 'slot' is only for priority appointment, not "
                                    f"{c.priority.value}")
            return None
        if cred is not None and cred.ok and cred.appointment:
            if cred.service is not None and cred.service != sid:
                raise CommandFailed("WRONG_SERVICE", f"this appointment is for service {cred.service!r}, not "
                                    f"{sid!r}: take the ticket for {cred.service!r} (or a walk-in ticket for {sid!r})")
            if cred.slot is not None:
                return self._local(cred.slot[0]), self._local(cred.slot[1])
        if c.slot is None:
            return None   # within its slot all day (CONTRACT §3.7)
        start, end = self._local(c.slot.start), self._local(c.slot.end)
        if start.date() != local.date():
            raise CommandFailed("BAD_REQUEST", f"issue: the slot starts on {start.date().isoformat()}, not today "
                                f"({local.date().isoformat()}): an appointment checks in on its day")
        return start, end

    def _local(self, t: datetime) -> datetime:
        """`t` in the hall's local time with a fixed offset (as it reads back from the log); naive: local."""
        local = t.replace(tzinfo=self.cfg.zone) if t.tzinfo is None else t.astimezone(self.cfg.zone)
        offset = local.utcoffset()
        return local.replace(tzinfo=timezone(offset) if offset else UTC)

    def _cmd_login(self, now: datetime, c: Login) -> Done:
        w, staff = self._window(c.window), c.staff
        person = self._staff.get(staff)
        if person is None:
            raise CommandFailed("UNKNOWN_STAFF", f"staff id {staff!r} is not in the hall configuration")
        self._check_device_pin(now, w, staff)
        if w.id not in person.windows:
            raise CommandFailed("NOT_ALLOWED", f"{person.name} ({staff}) may log in only at windows "
                                f"{', '.join(person.windows)}, not at window {w.id}")
        events: list[Event] = []
        other = self.state.staff_at.get(staff)
        if other is not None and other != w.id:
            events += self._leave(now, self.state.windows[other], reason="login elsewhere")
        events.append(self._emit(WindowLogin(at=now, window=w.id, staff=staff, replaced=w.staff)))
        return {"window": self.state.window_json(w.id)}, events

    def _check_device_pin(self, now: datetime, w: ServiceWindow, staff: str) -> None:
        """A device login in a secure hall with `device_login: pin` (CONTRACT §5.4): the PIN must be right;
        five failures at one window within 10 minutes lock logins there for 10 minutes and raise an alert
        (acknowledging it lifts the lock). Failures are kept in memory only: a refusal changes nothing."""
        if not (self.cfg.secure and self._sender.from_window_device and self.cfg.security.device_login == "pin"):
            return
        until = self.login_locked.get(w.id)
        if until is not None and now < until:
            raise CommandFailed("LOCKED_OUT", f"window {w.id}: too many wrong PINs; logins are refused until "
                                f"{until.astimezone(self.cfg.zone):%H:%M} or until a manager acknowledges the alert")
        if self._sender.pin_ok:
            self.login_failures.pop(w.id, None)
            return
        recent = [t for t in self.login_failures.get(w.id, []) if now - t < LOGIN_LOCK] + [now]
        self.login_failures[w.id] = recent
        events: list[Event] = []
        if len(recent) >= LOGIN_FAILURES_MAX:
            self.login_locked[w.id] = now + LOGIN_LOCK
            self.login_failures.pop(w.id, None)
            events.append(self._emit(AlertRaised(
                at=now, kind="login_failures", key=f"login_failures:{w.id}:{now.isoformat()}",
                window=w.id, message=f"window {w.id}: {len(recent)} device logins with a wrong PIN within 10 minutes "
                                     f"(last for staff {staff}); logins there are refused for 10 minutes")))
        what = "no PIN was given" if self._sender.pin_ok is None else "the PIN is wrong"
        raise CommandFailed("BAD_CREDENTIALS", f"login at window {w.id}: {what}", events)

    def clock_alert(self, now: datetime, kind: str, message: str) -> list[Event]:
        """An alert of the time guard (the machine's clock stepped back or jumped ahead)."""
        now = self._at(now)
        return [self._emit(AlertRaised(at=now, kind=kind, key=f"{kind}:{now.isoformat()}", message=message))]

    def recovered_storage(self, now: datetime, since: datetime, reason: str) -> list[Event]:
        """The `storage` alert of a time the log could not be written, logged once it can be again."""
        now = self._at(now)
        return [self._emit(AlertRaised(at=now, kind="storage", key=f"storage:{since.isoformat()}",
                                       message=f"from {since.astimezone(self.cfg.zone):%H:%M:%S} to "
                                               f"{now.astimezone(self.cfg.zone):%H:%M:%S} {reason}; commands were "
                                               "answered UNAVAILABLE and nothing was lost"))]

    def unlock_logins(self, window: str | None) -> None:
        """An acknowledged `login_failures` alert lifts the lock of its window."""
        if window is not None:
            self.login_locked.pop(window, None)

    def _leave(self, now: datetime, w: ServiceWindow, reason: str) -> list[Event]:
        """Log a window out; a ticket still being served is finished first (the service happened)."""
        events: list[Event] = []
        if w.status is WindowStatus.SERVING or (w.status is WindowStatus.PAUSED and w.paused_from is
                                                 WindowStatus.SERVING):
            t = self._current(w)
            events.append(self._emit(TicketFinished(at=now, ticket=t.number, date=t.date, service=t.service,
                                                    window=w.id, priority=t.priority, staff=w.staff, prompt=False)))
        events.append(self._emit(WindowLogout(at=now, window=w.id, staff=w.staff, reason=reason)))
        return events

    def _cmd_logout(self, now: datetime, c: Logout) -> Done:
        w = self._window(c.window)
        events = [] if w.status is WindowStatus.CLOSED else self._leave(now, w, reason="logout")
        return {"window": self.state.window_json(w.id)}, events

    def _cmd_call(self, now: datetime, c: Call) -> Done:
        w = self._window_for("call", c.window)
        events: list[Event] = []
        current = self.state.window_ticket(w) if w.status is WindowStatus.SERVING else None
        nxt = self._next_for(w)
        if current is not None:
            events.append(self._emit(TicketFinished(at=now, ticket=current.number, date=current.date,
                                                    service=current.service, window=w.id, priority=current.priority,
                                                    staff=w.staff, prompt=nxt is None)))
        if nxt is None:
            return {"ticket": None}, events
        events.append(self._emit(TicketCalled(at=now, ticket=nxt.number, date=nxt.date, service=nxt.service,
                                              window=w.id, priority=nxt.priority, staff=w.staff, recall=0)))
        return {"ticket": self._tj(nxt)}, events

    def _next_for(self, w: ServiceWindow) -> Ticket | None:
        """Green first, then the appointments within their slot, then the rest, each by issued_at (§3.7)."""
        heads = [q[0] for q in (self.state.waiting[s] for s in w.services) if q]
        if not heads:
            return None
        first = min(heads, key=Ticket.sort_key)
        if first.priority is Priority.GREEN:
            return first
        return self.state.next_appointment(w.services) or first

    def _cmd_recall(self, now: datetime, c: Recall) -> Done:
        w = self._window_for("recall", c.window)
        t = self._current(w)
        limit = self.cfg.rules.recall_limit
        if t.recalls >= limit:
            raise CommandFailed("RECALL_LIMIT", f"ticket {t.number} was already recalled {t.recalls} times "
                                f"(limit {limit}); skip it (过号) or finish it")
        ev = self._emit(TicketCalled(at=now, ticket=t.number, date=t.date, service=t.service, window=w.id,
                                     priority=t.priority, staff=w.staff, recall=t.recalls + 1))
        return {"ticket": self._tj(t), "recalls": t.recalls}, [ev]

    def _cmd_skip(self, now: datetime, c: Skip) -> Done:
        w = self._window_for("skip", c.window)
        t = self._current(w)
        ev = self._emit(TicketSkipped(at=now, ticket=t.number, date=t.date, service=t.service, window=w.id,
                                      priority=t.priority, staff=w.staff))
        return {"ticket": self._tj(t)}, [ev]

    def _cmd_finish(self, now: datetime, c: Finish) -> Done:
        w = self._window_for("finish", c.window)
        t = self._current(w)
        ev = self._emit(TicketFinished(at=now, ticket=t.number, date=t.date, service=t.service, window=w.id,
                                       priority=t.priority, staff=w.staff))
        return {"ticket": self._tj(t)}, [ev]

    def _cmd_transfer(self, now: datetime, c: Transfer) -> Done:
        self._window(c.window)
        sid = self._service(c.service)
        w = self._window_for("transfer", c.window)
        t = self._current(w)
        ev = self._emit(TicketTransferred(at=now, ticket=t.number, date=t.date, service=sid, window=w.id,
                                          priority=t.priority, from_service=t.service, staff=w.staff))
        return {"ticket": self._tj(t)}, [ev]

    def _cmd_pause(self, now: datetime, c: Pause) -> Done:
        w = self._window_for("pause", c.window)
        events = [] if w.status is WindowStatus.PAUSED else [
            self._emit(WindowPaused(at=now, window=w.id, staff=w.staff, reason=c.reason))]
        return {"window": self.state.window_json(w.id)}, events

    def _cmd_resume(self, now: datetime, c: Resume) -> Done:
        w = self._window_for("resume", c.window)
        events = [] if w.status is not WindowStatus.PAUSED else [
            self._emit(WindowResumed(at=now, window=w.id, staff=w.staff))]
        return {"window": self.state.window_json(w.id)}, events

    def _cmd_ticket(self, now: datetime, c: TicketQuery) -> Done:
        t = self._find(c.number, c.date or self.local_date(now), c.code)
        out = self._tj(t)
        order = self.orders.orders.get(order_id(t.date, t.number))
        answer = next((h.get("note") for h in reversed(order.history) if h.get("action") == "wo_feedback"),
                      None) if order is not None else None
        if answer:
            out["answer"] = answer      # the feedback to the ticket's 差评 (反馈评价人), for the citizen's page
        return {"ticket": out}, []

    def _find(self, number: str, day: date, code: str | None = None) -> Ticket:
        """The ticket `number` of `day`; with `code`, only if it is that ticket's code (else the same
        UNKNOWN_TICKET as for a ticket that does not exist: nothing about the ticket is told)."""
        t = self.state.ticket(day, number)
        if t is None or (code is not None and not hmac.compare_digest(
                code.upper().encode("ascii", "replace"), ticket_code(self.secret, day, number).encode("ascii"))):
            raise CommandFailed("UNKNOWN_TICKET", f"no ticket {number} was issued on {day.isoformat()}")
        return t

    def _cmd_rate(self, now: datetime, c: Rate) -> Done:
        level, window = c.level, c.window
        if not 1 <= level <= 5:
            raise CommandFailed("BAD_REQUEST", f"rate: level must be 1–5 (5 非常满意 … 1 非常不满意), not {level}")
        w = self._window(window) if window is not None else None
        t = self._find(c.ticket, c.date or self.local_date(now), c.code)
        if t.rated:
            raise CommandFailed("ALREADY_RATED", f"ticket {t.number} of {t.date.isoformat()} was already rated; "
                                "each service is rated once (一次一评)")
        served_here = t.status is TicketStatus.SERVING and w is not None and t.window == w.id
        if not (t.status is TicketStatus.FINISHED or served_here):
            raise CommandFailed("NOT_SERVED", f"ticket {t.number} is {t.status.value}: only a served ticket "
                                "can be rated")
        if w is not None and t.window != w.id:
            raise CommandFailed("NOT_SERVED", f"ticket {t.number} was served at window {t.window}, "
                                f"not at window {w.id}")
        on_prompt = w is not None and w.ticket == t.key and w.status in (WindowStatus.RATING, WindowStatus.SERVING)
        if not on_prompt:
            served_on = (t.finished_at or now).astimezone(self.cfg.zone).date()
            last = add_working_days(served_on, self.cfg.evaluation.supplement_working_days)
            if self.local_date(now) > last:
                raise CommandFailed("RATING_CLOSED", f"ticket {t.number} could be rated until {last.isoformat()} "
                                    f"({self.cfg.evaluation.supplement_working_days} working days after service)")
        if self._sender.from_window_device and not on_prompt:
            raise CommandFailed("NOT_PROMPTED", f"ticket {t.number} is not the one window {window} is serving or "
                                "asking to rate; a later rating comes through the ticket's page")
        ch = c.channel or ("evaluator" if on_prompt else "qr")
        # the comment only when not empty; the rater's identity (real-name rating) stays sealed in the log
        events = [self._emit(EvaluationRecorded(
            at=now, ticket=t.number, date=t.date, window=t.window, staff=t.staff, service=t.service, level=level,
            channel=ch, reasons=c.reasons or (), supplementary=not on_prompt,
            flags=tuple(self.watch.flags(t, t.window, on_prompt, now, c.origin)), comment=c.comment or None,
            rater=t.rater or None))]
        if level in BAD_LEVELS:
            wo = self.orders.open_for(now, t.number, t.date, t.window, t.staff, t.service, level)
            events.append(self._emit(wo))
            events.append(self._emit(AlertRaised(
                at=now, kind="bad_review", ticket=t.number, date=t.date, window=t.window, staff=t.staff, level=level,
                order=wo.order,
                message=f"差评 (level {level}) for ticket {t.number} at window {t.window}"
                        f"{' by staff ' + t.staff if t.staff else ''}: work order {wo.order}, feedback to "
                        f"the rater by {wo.deadline.isoformat()} (核实整改)")))
        return {"evaluation": self.state.evaluations[t.key].to_json()}, events

    # -- 差评 work orders (controller/workorders.py) ----------------------------------------------
    def _order_command(self, now: datetime, c: WorkOrderCommand) -> Done:
        ev = self._emit(self.orders.command(c, now))
        return {"order": self.orders.orders[c.order].to_json()}, [ev]

    _cmd_wo_verify = _cmd_wo_feedback = _cmd_wo_revisit = _cmd_wo_appeal = _cmd_wo_decide = _order_command

    def _cmd_wo_forward(self, now: datetime, c: WoForward) -> Done:
        """A 差评 the league forwarded (role region, docs/region.md): a work order marked as from the league."""
        day = c.date or self.local_date(now)
        t = self._find(c.ticket, day) if c.ticket else None
        ev = self._emit(self.orders.forward(c, now, day, t))
        return {"order": self.orders.orders[str(ev["order"])].to_json()}, [ev]

    # -- the monthly 回访 sample (controller/revisit.py) ---------------------------------------------
    def _cmd_revisit_sample(self, now: datetime, c: RevisitSample) -> Done:
        if not MONTH.match(c.month):
            raise CommandFailed("BAD_REQUEST", f"month {c.month!r} must look like 2026-11")
        book = self.state.revisits
        done = book.to_json(c.month)
        if done is not None or c.peek:
            return {"sample": done}, []
        this = month_of(self.local_date(now))
        if c.month >= this:
            raise CommandFailed("MONTH_NOT_OVER", f"{c.month} is not over: its sample is drawn from the 1st of the "
                                "next month")
        if c.month != previous_month(this) and c.month not in book.rated:
            raise CommandFailed("TOO_LATE", f"the rated tickets of {c.month} are no longer kept: a month is "
                                "sampled during the next one")
        share = self.cfg.evaluation.revisit_share
        seed = make_seed(self.cfg.hall.id, c.month, now.isoformat())
        rated = book.rated.get(c.month, [])
        ev = self._emit(RevisitSampled(at=now, month=c.month, seed=seed, share=share, rated=len(set(rated)),
                                       tickets=tuple(pick(rated, share, seed)), by=c.by))
        return {"sample": book.to_json(c.month)}, [ev]

    def _cmd_revisit_record(self, now: datetime, c: RevisitRecord) -> Done:
        month = self.state.revisits.month_of_sample(ticket_key(c.date, c.ticket))
        if month is None:
            raise CommandFailed("NOT_SAMPLED", f"ticket {c.ticket} of {c.date.isoformat()} is not in a 回访 sample")
        ev = self._emit(RevisitRecorded(at=now, ticket=c.ticket, date=c.date, satisfied=c.satisfied, note=c.note,
                                        by=c.by))
        return {"sample": self.state.revisits.to_json(month)}, [ev]

    def _cmd_rater_access(self, now: datetime, c: RaterAccess) -> Done:
        t = self._find(c.ticket, c.date or self.local_date(now))
        purged = self.state.purged.get(t.date)
        if purged is not None:
            raise CommandFailed("PURGED", f"the personal data of {t.date.isoformat()} was purged on "
                                f"{purged.isoformat()} (kept {self.cfg.evaluation.identity_keep_days} days, "
                                "evaluation.identity_keep_days): ticket {t.number}'s rater can no longer be known")
        if not t.rater:
            raise CommandFailed("NO_IDENTITY", f"ticket {t.number} of {t.date.isoformat()} was taken without a "
                                "蒙速办 code: there is no rater identity")
        sealed = t.rater
        if wrapped_day(sealed) is not None:
            key = self.keys.get(t.date)
            if key is None:
                raise CommandFailed("PURGED", f"the key of {t.date.isoformat()} is missing from the data directory: "
                                    f"ticket {t.number}'s rater cannot be opened (restore privacy/"
                                    f"{t.date.isoformat()}.key from a backup)")
            try:
                sealed = unwrap(key, sealed)
            except ValueError as e:
                raise CommandFailed("PURGED", f"ticket {t.number}: {e} (privacy/{t.date.isoformat()}.key was replaced; "
                                    "restore it from a backup)") from None
        ev = self._emit(IdentityAccessed(at=now, ticket=t.number, date=t.date, by=c.by, reason=c.reason))
        return {"ticket": t.number, "date": t.date.isoformat(), "rater": sealed}, [ev]

    # -- personal data kept only as long as needed (controller/retention.py) --------------------------
    def retention(self, now: datetime, key_days: set[date]) -> dict[str, Any]:
        """Days whose personal data is kept, due to go, or held by an open 差评 work order."""
        today = self.local_date(now)
        keep = self.cfg.evaluation.identity_keep_days
        held: dict[date, list[str]] = {}
        for o in self.orders.orders.values():
            if o.state not in CLOSED:
                held.setdefault(o.day, []).append(o.id)
        days = sorted((set(self.state.identities) | key_days) - set(self.state.purged))
        due = [d for d in days if (today - d).days > keep]
        return {"kept_days": keep, "days": days, "due": [d for d in due if d not in held],
                "held": {d: held[d] for d in due if d in held}}

    def _cmd_retention(self, now: datetime, c: Retention) -> Done:
        plan = self.retention(now, self.keys.days())
        days: list[date] = plan["days"]
        purged = sorted(self.state.purged.items())
        return {"kept_days": plan["kept_days"], "days": len(days), "oldest": days[0].isoformat() if days else None,
                "due": [d.isoformat() for d in plan["due"]],
                "held": [{"date": d.isoformat(), "orders": ids} for d, ids in sorted(plan["held"].items())],
                "purged_days": len(purged),
                "purged": [{"date": d.isoformat(), "on": on.isoformat()} for d, on in purged[-10:]]}, []

    def purge_due(self, now: datetime, key_days: set[date], limit: int = 31) -> list[Event]:
        """`identity.purged` for each day (oldest first, at most `limit`) past its keeping time with no open 差评
        work order; the caller destroys the day keys once these events are in the log."""
        now = self._at(now)
        plan = self.retention(now, key_days)
        keep = plan["kept_days"]
        return [self._emit(IdentityPurged(at=now, date=d, identities=self.state.identities.get(d, 0),
                                          unwrapped=self.state.unwrapped.get(d, 0), kept_days=keep))
                for d in plan["due"][:limit]]

    def _cmd_workorders(self, now: datetime, c: WorkOrders) -> Done:
        """Orders in opening order, filtered by state and by the service day they concern (`since`); at most
        `limit` (a year of a league centre has thousands): `more` says a later `since` would show further."""
        state, since = c.state, c.since
        limit = c.limit if c.limit is not None else WORKORDERS_PAGE
        if not 1 <= limit <= WORKORDERS_MAX:
            raise CommandFailed("BAD_REQUEST", f"limit {limit} must be between 1 and {WORKORDERS_MAX}")
        chosen = [o for o in self.orders.orders.values()
                  if (state is None or o.state.value == state) and (since is None or o.day >= since)]
        return {"orders": [o.to_json() for o in chosen[:limit]], "total": len(chosen),
                "more": len(chosen) > limit}, []

    # -- v2: 挂起 / call-back, call by number, cancel (CONTRACT §3.7) ------------------------------
    def _ticket_for(self, command: str, number: str, day: date | None, now: datetime,
                    window: str | None = None) -> tuple[Ticket, ServiceWindow | None]:
        """The ticket a ticket command names, checked in the order of §3.2/§3.7: UNKNOWN_WINDOW and
        UNKNOWN_TICKET, the window's state (NOT_LOGGED_IN, PAUSED), the ticket's status, its service."""
        if window is not None:
            self._window(window)
        t = self._find(number, day or self.local_date(now))
        w = self._window_for(command, window) if window is not None else None
        allowed, code = TICKET_COMMAND_STATUSES[command]
        if t.status not in allowed:
            wanted = " or ".join(s.value for s in sorted(allowed))
            hint = {("callback", TicketStatus.WAITING): " — call a waiting ticket with 'call' or 'call_number'",
                    ("call_number", TicketStatus.HELD): " — call a held ticket back with 'callback'"}.get(
                        (command, t.status), "")
            raise CommandFailed(code, f"ticket {t.number} of {t.date.isoformat()} is {t.status.value}; "
                                f"'{command}' takes only a {wanted} ticket{hint}")
        if w is not None and t.service not in w.services:
            raise CommandFailed("WRONG_SERVICE", f"ticket {t.number} is for service {t.service!r}; window {w.id} "
                                f"serves {', '.join(w.services)} — call it from a window of that service")
        return t, w

    def _call_ticket(self, now: datetime, w: ServiceWindow, t: Ticket, callback: bool | None = None,
                     by_number: bool | None = None) -> list[Event]:
        """Like `call` with a chosen ticket: the window's current ticket is finished first (no prompt)."""
        events: list[Event] = []
        current = self.state.window_ticket(w) if w.status is WindowStatus.SERVING else None
        if current is not None:
            events.append(self._emit(TicketFinished(at=now, ticket=current.number, date=current.date,
                                                    service=current.service, window=w.id, priority=current.priority,
                                                    staff=w.staff, prompt=False)))
        events.append(self._emit(TicketCalled(at=now, ticket=t.number, date=t.date, service=t.service, window=w.id,
                                              priority=t.priority, staff=w.staff, recall=0, callback=callback,
                                              by_number=by_number)))
        return events

    def _cmd_hold(self, now: datetime, c: Hold) -> Done:
        w = self._window_for("hold", c.window)
        t = self._current(w)
        ev = self._emit(TicketHeld(at=now, ticket=t.number, date=t.date, service=t.service, window=w.id,
                                   priority=t.priority, staff=w.staff, note=c.note))
        return {"ticket": self._tj(t)}, [ev]

    def _cmd_callback(self, now: datetime, c: Callback) -> Done:
        t, w = self._ticket_for("callback", c.number, c.date, now, c.window)
        assert w is not None
        events = self._call_ticket(now, w, t, callback=True)
        return {"ticket": self._tj(t)}, events

    def _cmd_call_number(self, now: datetime, c: CallNumber) -> Done:
        t, w = self._ticket_for("call_number", c.number, c.date, now, c.window)
        assert w is not None
        events = self._call_ticket(now, w, t, by_number=True)
        return {"ticket": self._tj(t)}, events

    def _cmd_cancel(self, now: datetime, c: Cancel) -> Done:
        t, _ = self._ticket_for("cancel", c.number, c.date, now)
        ev = self._emit(TicketCancelled(at=now, ticket=t.number, date=t.date, service=t.service, priority=t.priority,
                                        was=t.status, reason=c.reason))
        return {"ticket": self._tj(t)}, [ev]

    # -- v2: alerts (电子监察, CONTRACT §3.7) ------------------------------------------------------
    def _cmd_alerts(self, now: datetime, c: Alerts) -> Done:
        """Alerts in the order they were raised, filtered by state (open by default) and by the day they were
        raised (`since`); at most `limit`: `more` says a later `since` would show further."""
        state, since = c.state or "open", c.since
        limit = c.limit if c.limit is not None else ALERTS_PAGE
        if state not in ALERT_STATES:
            raise CommandFailed("BAD_REQUEST", f"alerts: 'state' must be one of {', '.join(ALERT_STATES)}, "
                                f"not {state!r}")
        if not 1 <= limit <= ALERTS_MAX:
            raise CommandFailed("BAD_REQUEST", f"alerts: limit {limit} must be between 1 and {ALERTS_MAX}")
        page, total = self.state.alerts.page(state, since, limit)
        return {"alerts": [a.to_json() for a in page], "total": total, "more": total > len(page)}, []

    def _cmd_alert_raise(self, now: datetime, c: AlertRaise) -> Done:
        """The console's sign-in lockout (CONTRACT §6): 20 failed sign-ins for one staff id raise `login_failures`
        naming it; acknowledging the alert lifts the console's lock (the console watches alert.acknowledged)."""
        if c.kind != "login_failures":
            raise CommandFailed("BAD_REQUEST", f"alert_raise: only kind 'login_failures' can be raised, not {c.kind!r}")
        ev = self._emit(AlertRaised(at=now, kind=c.kind, key=f"login_failures:staff:{c.staff}:{now.isoformat()}",
                                    staff=c.staff, message=c.message))
        alert = self.state.alerts.get(ev["id"]) if "id" in ev else None
        return {"alert": alert.to_json() if alert else ev}, [ev]

    def _cmd_alert_ack(self, now: datetime, c: AlertAck) -> Done:
        """督查督办: a manager acknowledges an alert with a note. `by` is the acting staff member (the actor a
        console sends for), else the principal, else (open halls) the `by` argument."""
        a = self.state.alerts.get(c.alert)
        if a is None:
            raise CommandFailed("UNKNOWN_ALERT", f"no alert {c.alert!r} was raised in this hall")
        if a.ack is not None:
            raise CommandFailed("ALREADY_ACKNOWLEDGED", f"alert {a.id} was already acknowledged by "
                                f"{a.ack.get('by') or 'someone'} at {a.ack.get('at')}")
        actor = self._sender.actor
        ev = self._emit(AlertAcknowledged(at=now, alert=a.id, kind=a.kind, by=actor or self._sender.name or c.by,
                                          note=c.note, window=a.window, actor=actor))
        if a.kind == "login_failures":
            self.unlock_logins(a.window)
        acked = self.state.alerts.get(a.id)
        assert acked is not None
        return {"alert": acked.to_json()}, [ev]


_STATE_MESSAGES = {
    "NOT_LOGGED_IN": "window {window}: nobody is logged in; log in before '{command}'",
    "PAUSED": "window {window} is paused; resume it before '{command}'",
    "NO_CURRENT_TICKET": "window {window} is serving no ticket; call one before '{command}'",
}
