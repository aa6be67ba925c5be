"""The console's one MQTT client of the controller: commands with the console's error mapping, the retained
state (windows, queues, alerts, controller status) and the events, fanned out to the pages' live streams.

It also keeps today's open tickets (waiting and held, per service) from the ticket events, backfilled at start
with the `events` command (CONTRACT §3.7) when the controller offers it, so the window client can list held
tickets to call back and waiting tickets to call by number.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hallq.api import Topics
from hallq.config import HallConfig
from hallq.mqtt import CommandClient, CommandError, Message, MqttLink, topics_for

log = logging.getLogger("hallq.console")

LINK_WAIT_S = 5.0
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
    at: str = ""


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
                                              str(ev.get("priority") or "normal"), t.at if t else str(ev.get("at")))
            return True
        if typ == "ticket.issued":
            self.tickets[number] = OpenTicket(number, day, str(ev.get("service")), "waiting",
                                              str(ev.get("priority") or "normal"), str(ev.get("at") or ""))
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

    def listing(self, status: str, services: set[str] | None = None) -> list[dict[str, Any]]:
        out = [t for t in self.tickets.values() if t.status == status and (services is None or t.service in services)]
        out.sort(key=lambda t: (t.priority != "green", t.at, t.number))
        return [{"number": t.number, "date": t.date, "service": t.service, "priority": t.priority,
                 "status": t.status, "issued_at": t.at} for t in out]


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
        self._listeners: set[asyncio.Queue[dict[str, Any]]] = set()
        self._pump: asyncio.Task[None] | None = None
        self._backfill: asyncio.Task[None] | None = None

    # -- life ------------------------------------------------------------------------------------
    async def start(self) -> None:
        t = self.topics
        for topic in (self.client.reply_topic, t.state_all(), t.event(), t.controller_status()):
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
                self.handle(msg)
            except Exception:   # a bad message must never stop the pump
                log.exception("console: could not handle a message on %s", msg.topic)

    def handle(self, msg: Message) -> None:
        if self.client.deliver(msg):
            return
        route = self.topics.parse(msg.topic, secure=self.cfg.secure)
        if route.kind not in ("state", "event", "controller"):
            return
        try:
            body = msg.json()
        except ValueError as e:
            log.warning("console: unreadable message on %s: %s", msg.topic, e)
            return
        if not isinstance(body, dict):
            return
        if route.kind == "controller":
            self.controller_state = str(body.get("state", "unknown"))
            self._emit({"kind": "controller", "state": self.controller_state})
        elif route.kind == "state":
            self._state(route.name, body)
        else:
            self._event(body)

    def _state(self, name: str, body: dict[str, Any]) -> None:
        if name.startswith("window/"):
            wid = name.removeprefix("window/")
            if self.cfg.window(wid) is None:
                return
            self.windows[wid] = body
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
        if self.book.apply(ev):
            self._emit({"kind": "tickets"})
        if typ == "ticket.called" and isinstance(ev.get("window"), str):
            self.last_called_at[ev["window"]] = str(ev.get("at"))
            self.last_rating.pop(ev["window"], None)
        if typ == "evaluation.recorded" and isinstance(ev.get("window"), str):
            self.last_rating[ev["window"]] = {k: ev.get(k) for k in ("ticket", "date", "level", "channel", "at")}
        if typ == "alert.raised" and ev.get("kind") == "login_failures" and isinstance(ev.get("staff"), str):
            self.lockout_alerts[str(ev.get("id"))] = ev["staff"]
        if typ == "alert.acknowledged":
            staff = self.lockout_alerts.pop(str(ev.get("alert") or ev.get("id")), None)
            if staff is not None:
                for cb in self.on_alert_ack:
                    cb(staff)
        self._emit({"kind": "event", "event": ev})

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
            since, book = lo, TicketBook(today)
            while True:
                r = await self.command("events", since_seq=since, limit=1000)
                for ev in r.get("events") or []:
                    if isinstance(ev, dict):
                        book.apply(ev)
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
        self._emit({"kind": "tickets"})

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
