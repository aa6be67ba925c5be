"""The console's one MQTT client of the controller: commands with the console's error mapping, the retained
state (windows, queues, alerts, controller status) and the events, fanned out to the pages' live streams.

It also keeps today's open tickets (waiting and held, per service) from the ticket events, backfilled at start
with the `events` command (CONTRACT §3.7) when the controller offers it, so the window client can list held
tickets to call back and waiting tickets to call by number — in the order `call` takes them (hallq/callorder.py).
After each controller status it runs `on_status` (the console's check for a reloaded configuration).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from hallq.api import Topics
from hallq.callorder import REST, appointment_due, call_key
from hallq.config import HallConfig
from hallq.mqtt import CommandClient, CommandError, Message, MqttLink, topics_for

log = logging.getLogger("hallq.console")

LINK_WAIT_S = 5.0
SPARE_WINDOWS = 64      # retained states kept for windows outside the running configuration
COMMAND_TIMEOUT_S = 5.0


class ConsoleError(Exception):
    """An API error: HTTP status, contract code and the controller's (or our) message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message


def status_of(code: str) -> int:
    """CONTRACT §6: 400 BAD_REQUEST, 403 FORBIDDEN, 404 UNKNOWN_*, 503 UNAVAILABLE, 504 TIMEOUT, 409 the rest."""
    if code == "BAD_REQUEST":
        return 400
    if code == "FORBIDDEN":
        return 403
    if code.startswith("UNKNOWN_"):
        return 404
    if code == "UNAVAILABLE":
        return 503
    if code == "TIMEOUT":
        return 504
    return 409


@dataclass
class OpenTicket:
    number: str
    date: str
    service: str
    status: str            # waiting | held
    priority: str = "normal"
    at: str = ""           # issued_at (transfers keep it)
    seq: int = 0           # of its ticket.issued: the issue order that breaks ties of `at`
    slot_from: str = ""    # an appointment's slot start ("" : none, within its slot all day)


@dataclass
class TicketBook:
    """Today's waiting and held tickets, from the ticket events (pure)."""

    day: str = ""
    tickets: dict[str, OpenTicket] = field(default_factory=dict)

    def apply(self, ev: dict[str, Any]) -> bool:
        """Apply one event; True when the book changed."""
        typ, number, day = ev.get("type"), ev.get("ticket"), ev.get("date")
        if not isinstance(number, str) or not isinstance(day, str) or not isinstance(typ, str):
            return False
        if day != self.day:
            if day < self.day:
                return False
            self.day, self.tickets = day, {}
        t = self.tickets.get(number)
        if typ == "ticket.held":     # a called ticket comes back into the book as held
            self.tickets[number] = OpenTicket(number, day, str(ev.get("service")), "held",
                                              str(ev.get("priority") or "normal"), t.at if t else str(ev.get("at")),
                                              t.seq if t else _seq(ev), t.slot_from if t else "")
            return True
        if typ == "ticket.issued":
            self.tickets[number] = OpenTicket(number, day, str(ev.get("service")), "waiting",
                                              str(ev.get("priority") or "normal"), str(ev.get("at") or ""),
                                              _seq(ev), str(ev.get("slot_from") or ""))
            return True
        if t is None:
            return False
        if typ == "ticket.transferred":
            t.status, t.service = "waiting", str(ev.get("service"))
            return True
        if typ in ("ticket.called", "ticket.cancelled", "ticket.skipped", "ticket.finished", "ticket.no_show"):
            del self.tickets[number]
            return True
        return False

    def listing(self, status: str, services: set[str] | None, cfg: HallConfig,
                now: datetime) -> list[dict[str, Any]]:
        """The tickets in `status` of `services` (None: all): waiting ones in the order `call` takes them at
        `now` (hallq/callorder.py: green, appointments within their slot, the rest), held ones green first, then
        by issue."""
        out = [t for t in self.tickets.values() if t.status == status and (services is None or t.service in services)]
        if status == "waiting":
            keyed = [(_call_key(t, cfg, now), t) for t in out]
            keyed.sort(key=lambda kt: kt[0])
            out = [t for _, t in keyed]
        else:
            out.sort(key=lambda t: (t.priority != "green", t.at, t.seq, t.number))
        return [{"number": t.number, "date": t.date, "service": t.service, "priority": t.priority,
                 "status": t.status, "issued_at": t.at} for t in out]


def _seq(ev: dict[str, Any]) -> int:
    seq = ev.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else 0


def _when(text: str) -> datetime | None:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def _call_key(t: OpenTicket, cfg: HallConfig, now: datetime) -> tuple[int, datetime, int]:
    """The ticket's place in the call order; a ticket whose issue time cannot be read goes last."""
    issued = _when(t.at)
    if issued is None:
        return (REST + 1, now, t.seq)
    due = appointment_due(t.priority, issued, _when(t.slot_from), cfg)
    return call_key(t.priority, issued, t.seq, due, now)


@dataclass
class DayFigures:
    """Today's figures so far for the live hall page, from the ticket and evaluation events (pure). `seq` is the
    last event counted, so an event seen both in the backfill and live is counted once."""

    day: str = ""
    seq: int = 0
    issued: int = 0
    served: int = 0
    no_show: int = 0
    cancelled: int = 0
    rated: int = 0
    good: int = 0
    bad: int = 0

    def apply(self, ev: dict[str, Any]) -> bool:
        seq, day, typ = ev.get("seq"), ev.get("date"), ev.get("type")
        if isinstance(seq, int):
            if seq <= self.seq:
                return False
            self.seq = seq
        if not isinstance(day, str) or not isinstance(typ, str):
            return False
        if day != self.day:
            if day < self.day:
                return False
            self.day = day
            self.issued = self.served = self.no_show = self.cancelled = self.rated = self.good = self.bad = 0
        if typ == "ticket.issued":
            self.issued += 1
        elif typ == "ticket.finished":
            self.served += 1
        elif typ == "ticket.skipped":
            self.no_show += 1
        elif typ == "day.closed" and isinstance(ev.get("no_show"), list):
            self.no_show += len(ev["no_show"])
        elif typ == "ticket.cancelled":
            self.cancelled += 1
        elif typ == "evaluation.recorded" and isinstance(ev.get("level"), int):
            self.rated += 1
            self.good += ev["level"] >= 3
            self.bad += ev["level"] <= 2
        else:
            return False
        return True

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        del out["seq"]
        out["good_rate"] = round(self.good / self.rated, 4) if self.rated else None
        return out


WINDOW_MOVES = ("ticket.called", "ticket.finished", "ticket.skipped", "ticket.held", "ticket.transferred",
                "window.login", "window.logout", "window.paused", "window.resumed")


class Hub:
    """MQTT link, retained state and live fan-out."""

    def __init__(self, cfg: HallConfig) -> None:
        self.cfg = cfg
        self.topics: Topics = topics_for(cfg)
        self.link = MqttLink(cfg, f"hallq-console-{cfg.hall.id}-{uuid.uuid4().hex[:6]}")
        self.client = CommandClient(self.link, "console")
        self.windows: dict[str, dict[str, Any]] = {}
        self.queues: list[dict[str, Any]] = []
        self.alerts_open = 0
        self.controller_state = "unknown"
        self.book = TicketBook()
        self.last_rating: dict[str, dict[str, Any]] = {}    # window -> its latest evaluation.recorded
        self.last_called_at: dict[str, str] = {}            # window -> `at` of its latest ticket.called
        self.lockout_alerts: dict[str, str] = {}            # alert id -> staff id (login_failures)
        self.on_alert_ack: list[Any] = []                   # callbacks(staff id) when such an alert is acked
        # awaited by the pump after each controller status, before the next message (so state that follows a
        # reload is read under the configuration it announced); they must not wait for a command's reply
        self.on_status: list[Callable[[], Awaitable[None]]] = []
        self.today = DayFigures()
        self.ratings: dict[tuple[str, str], dict[str, Any]] = {}   # (date, ticket) -> its evaluation.recorded
        self.answers: dict[tuple[str, str], str] = {}               # (date, ticket) -> the 差评's feedback text
        self.window_since: dict[str, str] = {}              # window -> `at` of the last event that moved it
        self.devices: dict[str, dict[str, Any]] = {}        # device id -> its retained status (open halls)
        self.recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=5000)
        self._listeners: set[asyncio.Queue[dict[str, Any]]] = set()
        self._pump: asyncio.Task[None] | None = None
        self._backfill: asyncio.Task[None] | None = None

    # -- life ------------------------------------------------------------------------------------
    async def start(self) -> None:
        t = self.topics
        for topic in (self.client.reply_topic, t.state_all(), t.event(), t.controller_status(),
                      t.device("+", "status")):
            self.link.subscribe(topic)
        self.link.on_connected = self._connected
        self.link.on_disconnected = lambda: self._emit({"kind": "link", "up": False})
        await self.link.start()
        self._pump = asyncio.create_task(self._run_pump())

    async def wait_up(self, timeout_s: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self.link.connected.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        for task in (self._pump, self._backfill):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.link.stop()

    def _connected(self) -> None:
        self._emit({"kind": "link", "up": True})
        if self._backfill is None or self._backfill.done():
            self._backfill = asyncio.create_task(self._fill_book())

    # -- commands --------------------------------------------------------------------------------
    async def command(self, name: str, *, timeout_s: float = COMMAND_TIMEOUT_S, **args: Any) -> dict[str, Any]:
        """Send a command; its result, or ConsoleError with the HTTP status of CONTRACT §6."""
        if not self.link.connected.is_set() and not await self.wait_up(LINK_WAIT_S):
            raise ConsoleError(503, "UNAVAILABLE", "the console has no connection to the hall's broker")
        try:
            return await self.client.call(name, timeout_s=timeout_s, **args)
        except CommandError as e:
            raise ConsoleError(status_of(e.code), e.code, e.message) from None

    # -- messages --------------------------------------------------------------------------------
    async def _run_pump(self) -> None:
        while True:
            msg = await self.link.messages.get()
            try:
                status = self.handle(msg)
            except Exception:   # a bad message must never stop the pump
                log.exception("console: could not handle a message on %s", msg.topic)
                continue
            for cb in self.on_status if status else ():
                try:
                    await cb()
                except Exception:
                    log.exception("console: after the controller's status")

    def set_config(self, cfg: HallConfig) -> None:
        """Run on the configuration the controller reloaded (same hall id, zone and security mode): windows and
        services as it now has them; open pages hear `config` and load again."""
        self.cfg = cfg
        self._emit({"kind": "config"})

    def handle(self, msg: Message) -> bool:
        """Take one message; True when it was the controller's status (the pump then runs `on_status`)."""
        if self.client.deliver(msg):
            return False
        route = self.topics.parse(msg.topic, secure=self.cfg.secure)
        if route.kind not in ("state", "event", "controller", "device"):
            return False
        try:
            body = msg.json()
        except ValueError as e:
            log.warning("console: unreadable message on %s: %s", msg.topic, e)
            return False
        if not isinstance(body, dict):
            return False
        if route.kind == "device":
            self.devices[route.name] = {k: body.get(k) for k in ("state", "status", "paper", "kind", "at")
                                        if k in body}
            self._emit({"kind": "device", "device": route.name, "status": self.devices[route.name]})
        elif route.kind == "controller":
            self.controller_state = str(body.get("state", "unknown"))
            self._emit({"kind": "controller", "state": self.controller_state})
            return True
        elif route.kind == "state":
            self._state(route.name, body)
        else:
            self._event(body)
        return False

    def _state(self, name: str, body: dict[str, Any]) -> None:
        if name.startswith("window/"):
            wid = name.removeprefix("window/")
            known = self.cfg.window(wid) is not None
            # a window of no configuration this console ran is kept too (a few): a reload may add it
            if not known and wid not in self.windows and len(self.windows) >= len(self.cfg.windows) + SPARE_WINDOWS:
                return
            self.windows[wid] = body
            if known:
                self._emit({"kind": "window", "window": body})
        elif name == "queues":
            services = body.get("services")
            if isinstance(services, list):
                self.queues = services
                self._emit({"kind": "queues", "queues": services})
        elif name == "alerts":
            n = body.get("open")
            if isinstance(n, int):
                self.alerts_open = n
                self._emit({"kind": "alerts", "open": n})

    def _event(self, ev: dict[str, Any]) -> None:
        typ = ev.get("type")
        self.recent.append(ev)
        if self.book.apply(ev):
            self._emit({"kind": "tickets"})
        if self.today.apply(ev):
            self._emit({"kind": "today", "today": self.today.to_json()})
        if typ in WINDOW_MOVES and isinstance(ev.get("window"), str):
            self.window_since[ev["window"]] = str(ev.get("at"))
        if typ == "ticket.called" and isinstance(ev.get("window"), str):
            self.last_called_at[ev["window"]] = str(ev.get("at"))
            self.last_rating.pop(ev["window"], None)
        if typ == "evaluation.recorded" and isinstance(ev.get("window"), str):
            self.last_rating[ev["window"]] = {k: ev.get(k) for k in ("ticket", "date", "level", "channel", "at")}
        self._remember(ev)
        if typ == "alert.raised" and ev.get("kind") == "login_failures" and isinstance(ev.get("staff"), str):
            self.lockout_alerts[str(ev.get("id"))] = ev["staff"]
        if typ == "alert.acknowledged":
            staff = self.lockout_alerts.pop(str(ev.get("alert") or ev.get("id")), None)
            if staff is not None:
                for cb in self.on_alert_ack:
                    cb(staff)
        self._emit({"kind": "event", "event": ev})

    def _remember(self, ev: dict[str, Any]) -> None:
        """Ratings with their reasons (for a work order's page) and the feedback to a 差评 (for the citizen's
        page), bounded: the oldest go first."""
        typ = ev.get("type")
        if typ == "evaluation.recorded" and isinstance(ev.get("level"), int):
            self.ratings[(str(ev.get("date")), str(ev.get("ticket")))] = {
                k: ev.get(k) for k in ("level", "reasons", "channel", "at", "window", "staff") if k in ev}
            while len(self.ratings) > 20000:
                del self.ratings[next(iter(self.ratings))]
        elif typ == "workorder.changed" and ev.get("action") == "wo_feedback" and isinstance(ev.get("note"), str):
            m = re.match(r"^WO-(\d{4}-\d{2}-\d{2})-(.+)$", str(ev.get("order")))
            if m:
                self.answers[(m.group(1), m.group(2))] = ev["note"]
                while len(self.answers) > 20000:
                    del self.answers[next(iter(self.answers))]

    # -- the open-ticket book at start -------------------------------------------------------------
    async def _fill_book(self) -> None:
        """Today's events from the log (`events`, §3.7); without that command the book starts empty."""
        today = datetime.now(self.cfg.zone).date().isoformat()
        try:
            head = await self.command("events", since_seq=0, limit=1)
            lo, hi = max(int(head.get("first_seq", 1)) - 1, 0), int(head.get("head_seq", 0))
            # bisection: the last seq before today's first event
            while lo < hi:
                mid = (lo + hi + 1) // 2
                evs = (await self.command("events", since_seq=mid - 1, limit=1)).get("events") or []
                at = str(evs[0].get("at", "")) if evs else ""
                day = datetime.fromisoformat(at).astimezone(self.cfg.zone).date().isoformat() if at else today
                if day < today:
                    lo = mid
                else:
                    hi = mid - 1
            since, book, figures, moved = lo, TicketBook(today), DayFigures(today), dict[str, str]()
            while True:
                r = await self.command("events", since_seq=since, limit=1000)
                for ev in r.get("events") or []:
                    if isinstance(ev, dict):
                        book.apply(ev)
                        figures.apply(ev)
                        self._remember(ev)
                        if ev.get("type") in WINDOW_MOVES and isinstance(ev.get("window"), str):
                            moved[ev["window"]] = str(ev.get("at"))
                nxt = int(r.get("next_seq", since))
                if nxt <= since or nxt >= int(r.get("head_seq", nxt)):
                    break
                since = nxt
        except (ConsoleError, ValueError, TypeError) as e:
            log.info("console: no backfill of today's tickets (%s); the lists fill from live events",
                     getattr(e, "code", e))
            return
        for number, t in self.book.tickets.items():   # what arrived live while we read wins
            book.tickets[number] = t
        self.book = book
        for ev in list(self.recent):                  # live events after the last one read are counted once
            figures.apply(ev)
        self.today = figures
        self.window_since = {**moved, **self.window_since}
        self._emit({"kind": "tickets"})
        self._emit({"kind": "today", "today": self.today.to_json()})

    # -- live fan-out ----------------------------------------------------------------------------
    def listen(self) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=256)
        self._listeners.add(q)
        return q

    def unlisten(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        self._listeners.discard(q)

    def _emit(self, item: dict[str, Any]) -> None:
        for q in list(self._listeners):
            if q.full():     # a stalled page: drop its oldest, it gets a full refresh on reconnect
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait(item)

    def hall(self) -> dict[str, Any]:
        """GET /api/hall: windows in config order (closed until the controller said otherwise)."""
        windows = [self.windows.get(w.id) or {"id": w.id, "status": "closed", "staff": None, "ticket": None}
                   for w in self.cfg.windows]
        return {"windows": windows, "queues": self.queues, "alerts": {"open": self.alerts_open}}

    def board(self) -> dict[str, Any]:
        """The live hall page's picture: GET /api/hall plus since when each window is in its state, the longest
        wait of each queue (issue time of its oldest waiting ticket), today's figures and device statuses."""
        out = self.hall()
        for w in out["windows"]:
            wid = w.get("id")
            w["since"] = self.last_called_at.get(wid) if w.get("status") == "serving" else self.window_since.get(wid)
        oldest: dict[str, str] = {}
        for t in self.book.tickets.values():
            if t.status == "waiting" and t.at and (t.service not in oldest or t.at < oldest[t.service]):
                oldest[t.service] = t.at
        out["queues"] = [{**q, "oldest_at": oldest.get(str(q.get("id")))} for q in self.queues]
        out["today"] = self.today.to_json()
        out["devices"] = self.devices
        out["controller"] = self.controller_state
        return out
