"""The queue engine: a pure, synchronous core (CONTRACT §3.2).

`Engine.handle(name, args, now)` validates a command against the current state and returns
its reply and the events it produced; `Engine.tick(now)` returns the events that time alone
causes (rating prompts timing out, the business day ending). No I/O, no threads, no clock:
time is always passed in. Every event is applied to the state as it is produced, and the
same `apply` rebuilds the state from the log at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from controller.calendar import add_working_days, issue_refusal
from controller.commands import parse_args
from controller.model import (
    WINDOW_COMMAND_STATES,
    WINDOW_STATE_ERRORS,
    CommandFailed,
    ServiceWindow,
    Ticket,
    TicketStatus,
    WindowStatus,
)
from controller.state import Event, HallState, event
from controller.supervision import device_alert, supervise
from hallq.config import HallConfig

BAD_LEVELS = (1, 2)


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


class Engine:
    def __init__(self, cfg: HallConfig) -> None:
        self.cfg = cfg
        self.state = HallState(cfg)
        self._prefix = {s.id: s.prefix for s in cfg.services}
        self._staff = {s.id: s for s in cfg.staff}

    # -- entry points ---------------------------------------------------------------------------
    def apply(self, ev: Event) -> None:
        self.state.apply(ev)

    def local_date(self, now: datetime) -> date:
        return now.astimezone(self.cfg.zone).date()

    def tick(self, now: datetime) -> list[Event]:
        """Events caused by time alone, already applied."""
        out: list[Event] = []
        today = self.local_date(now)
        if self.state.today is not None and today > self.state.today:
            for day in sorted({t.date for q in self.state.waiting.values() for t in q if t.date < today}):
                left = sorted((t for q in self.state.waiting.values() for t in q if t.date == day),
                              key=lambda t: t.order)
                out.append(self._emit(event("day.closed", now, date=day.isoformat(), next=today.isoformat(),
                                            no_show=[t.number for t in left])))
            if not out:
                out.append(self._emit(event("day.closed", now, date=self.state.today.isoformat(),
                                            next=today.isoformat(), no_show=[])))
        for w in self.state.windows.values():
            if w.status is WindowStatus.RATING and w.prompt_deadline is not None and now >= w.prompt_deadline:
                t = self.state.window_ticket(w)
                out.append(self._emit(event("window.prompt_closed", now, window=w.id, reason="timeout",
                                            ticket=t.number if t else None,
                                            date=t.date.isoformat() if t else None)))
        out += [self._emit(ev) for ev in supervise(self.state, now)]
        return out

    def device_status(self, device: str, status: str, now: datetime) -> list[Event]:
        """A device reported its status (CONTRACT §3.5): alerts for offline devices and paper."""
        return [self._emit(ev) for ev in device_alert(self.state, device, status, now)]

    def handle(self, name: str, body: dict[str, Any], now: datetime) -> Outcome:
        """Run one command. Time-caused events come first, so the outcome reflects `now`."""
        events = self.tick(now)
        try:
            args = parse_args(name, body)
            result, produced = getattr(self, "_cmd_" + name)(now, **args)
        except CommandFailed as e:
            return Outcome({"ok": False, "error": {"code": e.code, "message": e.message}}, events)
        return Outcome({"ok": True, "result": result}, events + produced)

    def _emit(self, ev: Event) -> Event:
        self.state.apply(ev)
        return ev

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
        if w.status not in WINDOW_COMMAND_STATES[command]:
            code = WINDOW_STATE_ERRORS[w.status]
            raise CommandFailed(code, _STATE_MESSAGES[code].format(window=w.id, command=command))
        return w

    def _current(self, w: ServiceWindow) -> Ticket:
        t = self.state.window_ticket(w)
        assert t is not None, f"window {w.id} is serving without a ticket"
        return t

    def _tj(self, t: Ticket) -> dict[str, Any]:
        return self.state.ticket_json(t)

    def _ticket_fields(self, t: Ticket, w: ServiceWindow | None) -> dict[str, Any]:
        return {"ticket": t.number, "date": t.date.isoformat(), "service": t.service,
                "window": w.id if w else None, "priority": t.priority.value}

    # -- commands ------------------------------------------------------------------------------
    def _cmd_issue(self, now: datetime, service: str, priority: str = "normal", source: str | None = None,
                   holder: str | None = None) -> tuple[dict[str, Any], list[Event]]:
        sid = self._service(service)
        local = now.astimezone(self.cfg.zone)
        refusal = issue_refusal(self.cfg.hours, local)
        if refusal:
            raise CommandFailed("SERVICE_CLOSED", f"service {sid!r} is closed: {refusal}")
        day = local.date()
        seq = self.state.sequences.get(day, {}).get(sid, 0) + 1
        quota = next(s.daily_quota for s in self.cfg.services if s.id == sid)
        if quota is not None and seq > quota:
            raise CommandFailed("SERVICE_CLOSED", f"service {sid!r} has issued its daily quota of {quota} tickets "
                                "for today; please come back on the next working day or book an appointment")
        if holder is not None:
            for t in self.state.waiting[sid]:
                if t.holder == holder and t.date == day:
                    raise CommandFailed("ALREADY_WAITING", f"this person already holds ticket {t.number} for "
                                        f"service {sid!r} (one open ticket per person and service)")
        fields: dict[str, Any] = {"ticket": number_of(self._prefix[sid], seq), "date": day.isoformat(),
                                  "service": sid, "window": None, "priority": priority, "source": source}
        if holder is not None:
            fields["holder"] = holder
        ev = self._emit(event("ticket.issued", now, **fields))
        t = self.state.tickets[(day, ev["ticket"])]
        return {"ticket": self._tj(t)}, [ev]

    def _cmd_login(self, now: datetime, window: str, staff: str) -> tuple[dict[str, Any], list[Event]]:
        w = self._window(window)
        person = self._staff.get(staff)
        if person is None:
            raise CommandFailed("UNKNOWN_STAFF", f"staff id {staff!r} is not in the hall configuration")
        if w.id not in person.windows:
            raise CommandFailed("NOT_ALLOWED", f"{person.name} ({staff}) may log in only at windows "
                                f"{', '.join(person.windows)}, not at window {w.id}")
        events: list[Event] = []
        other = self.state.staff_at.get(staff)
        if other is not None and other != w.id:
            events += self._leave(now, self.state.windows[other], reason="login elsewhere")
        events.append(self._emit(event("window.login", now, window=w.id, staff=staff, replaced=w.staff)))
        return {"window": self.state.window_json(w.id)}, events

    def _leave(self, now: datetime, w: ServiceWindow, reason: str) -> list[Event]:
        """Log a window out; a ticket still being served is finished first (the service happened)."""
        events: list[Event] = []
        if w.status is WindowStatus.SERVING or (w.status is WindowStatus.PAUSED and w.paused_from is
                                                 WindowStatus.SERVING):
            t = self._current(w)
            events.append(self._emit(event("ticket.finished", now, **self._ticket_fields(t, w), staff=w.staff,
                                           prompt=False)))
        events.append(self._emit(event("window.logout", now, window=w.id, staff=w.staff, reason=reason)))
        return events

    def _cmd_logout(self, now: datetime, window: str) -> tuple[dict[str, Any], list[Event]]:
        w = self._window(window)
        events = [] if w.status is WindowStatus.CLOSED else self._leave(now, w, reason="logout")
        return {"window": self.state.window_json(w.id)}, events

    def _cmd_call(self, now: datetime, window: str) -> tuple[dict[str, Any], list[Event]]:
        w = self._window_for("call", window)
        events: list[Event] = []
        current = self.state.window_ticket(w) if w.status is WindowStatus.SERVING else None
        nxt = self._next_for(w)
        if current is not None:
            events.append(self._emit(event("ticket.finished", now, **self._ticket_fields(current, w),
                                           staff=w.staff, prompt=nxt is None)))
        if nxt is None:
            return {"ticket": None}, events
        events.append(self._emit(event("ticket.called", now, **self._ticket_fields(nxt, w), staff=w.staff,
                                       recall=0)))
        return {"ticket": self._tj(nxt)}, events

    def _next_for(self, w: ServiceWindow) -> Ticket | None:
        heads = [q[0] for q in (self.state.waiting[s] for s in w.services) if q]
        return min(heads, key=Ticket.sort_key) if heads else None

    def _cmd_recall(self, now: datetime, window: str) -> tuple[dict[str, Any], list[Event]]:
        w = self._window_for("recall", window)
        t = self._current(w)
        limit = self.cfg.rules.recall_limit
        if t.recalls >= limit:
            raise CommandFailed("RECALL_LIMIT", f"ticket {t.number} was already recalled {t.recalls} times "
                                f"(limit {limit}); skip it (过号) or finish it")
        ev = self._emit(event("ticket.called", now, **self._ticket_fields(t, w), staff=w.staff,
                              recall=t.recalls + 1))
        return {"ticket": self._tj(t), "recalls": t.recalls}, [ev]

    def _cmd_skip(self, now: datetime, window: str) -> tuple[dict[str, Any], list[Event]]:
        w = self._window_for("skip", window)
        t = self._current(w)
        ev = self._emit(event("ticket.skipped", now, **self._ticket_fields(t, w), staff=w.staff))
        return {"ticket": self._tj(t)}, [ev]

    def _cmd_finish(self, now: datetime, window: str) -> tuple[dict[str, Any], list[Event]]:
        w = self._window_for("finish", window)
        t = self._current(w)
        ev = self._emit(event("ticket.finished", now, **self._ticket_fields(t, w), staff=w.staff))
        return {"ticket": self._tj(t)}, [ev]

    def _cmd_transfer(self, now: datetime, window: str, service: str) -> tuple[dict[str, Any], list[Event]]:
        self._window(window)
        sid = self._service(service)
        w = self._window_for("transfer", window)
        t = self._current(w)
        fields = {**self._ticket_fields(t, w), "service": sid, "from_service": t.service}
        ev = self._emit(event("ticket.transferred", now, **fields, staff=w.staff))
        return {"ticket": self._tj(t)}, [ev]

    def _cmd_pause(self, now: datetime, window: str, reason: str | None = None) -> tuple[dict[str, Any], list[Event]]:
        w = self._window_for("pause", window)
        events = [] if w.status is WindowStatus.PAUSED else [
            self._emit(event("window.paused", now, window=w.id, staff=w.staff, reason=reason))]
        return {"window": self.state.window_json(w.id)}, events

    def _cmd_resume(self, now: datetime, window: str, reason: str | None = None) -> tuple[dict[str, Any], list[Event]]:
        w = self._window_for("resume", window)
        events = [] if w.status is not WindowStatus.PAUSED else [
            self._emit(event("window.resumed", now, window=w.id, staff=w.staff))]
        return {"window": self.state.window_json(w.id)}, events

    def _cmd_ticket(self, now: datetime, number: str, date: date | None = None) -> tuple[dict[str, Any], list[Event]]:
        t = self._find(number, date or self.local_date(now))
        return {"ticket": self._tj(t)}, []

    def _find(self, number: str, day: date) -> Ticket:
        t = self.state.ticket(day, number)
        if t is None:
            raise CommandFailed("UNKNOWN_TICKET", f"no ticket {number} was issued on {day.isoformat()}")
        return t

    def _cmd_rate(self, now: datetime, ticket: str, level: int, date: date | None = None, window: str | None = None,
                  reasons: list[str] | None = None, channel: str | None = None,
                  comment: str | None = None) -> tuple[dict[str, Any], list[Event]]:
        if not 1 <= level <= 5:
            raise CommandFailed("BAD_REQUEST", f"rate: level must be 1–5 (5 非常满意 … 1 非常不满意), not {level}")
        w = self._window(window) if window is not None else None
        t = self._find(ticket, date or self.local_date(now))
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
        ch = channel or ("evaluator" if on_prompt else "qr")
        fields = {"ticket": t.number, "date": t.date.isoformat(), "window": t.window, "staff": t.staff,
                  "service": t.service, "level": level, "channel": ch, "reasons": reasons or [],
                  "supplementary": not on_prompt}
        if comment:
            fields["comment"] = comment
        events = [self._emit(event("evaluation.recorded", now, **fields))]
        if level in BAD_LEVELS:
            events.append(self._emit(event(
                "alert.raised", now, kind="bad_review", ticket=t.number, date=t.date.isoformat(), window=t.window,
                staff=t.staff, level=level,
                message=f"差评 (level {level}) for ticket {t.number} at window {t.window}"
                        f"{' by staff ' + t.staff if t.staff else ''}: verify within the deadline (核实整改)")))
        return {"evaluation": self.state.evaluations[t.key].to_json()}, events


_STATE_MESSAGES = {
    "NOT_LOGGED_IN": "window {window}: nobody is logged in; log in before '{command}'",
    "PAUSED": "window {window} is paused; resume it before '{command}'",
    "NO_CURRENT_TICKET": "window {window} is serving no ticket; call one before '{command}'",
}
