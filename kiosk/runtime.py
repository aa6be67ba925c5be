"""The kiosk's adapters around the pure presenter: MQTT to the controller, the printer, the scanner, time.

One asyncio loop owns everything (under Kivy it is Kivy's own asyncio loop). Blocking device work runs
in one worker thread per device, so printing and status polling never talk over each other on the wire.
Every intent goes through `post()`; every effect the presenter returns is carried out here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from hallq.clock import Clock, SystemClock
from hallq.config import HallConfig, KioskConfig
from hallq.mqtt import CommandClient, CommandError, MqttLink, new_command_id
from kiosk.intents import (
    ControllerChanged,
    Effect,
    Intent,
    IssueDone,
    IssueFailed,
    IssueTicket,
    LookupDone,
    LookupFailed,
    LookupTicket,
    PrintTicket,
    QueuesChanged,
    Tick,
)
from kiosk.peripherals import KioskPrinter, KioskScanner
from kiosk.presenter import KioskPresenter, View

log = logging.getLogger("hallq.kiosk")

ISSUE_PATIENCE_S = 90.0     # how long one tap keeps trying to reach the controller (same command id)
COMMAND_TIMEOUT_S = 4.0


class KioskRuntime:
    def __init__(self, cfg: HallConfig, kiosk: KioskConfig, *, clock: Clock | None = None,
                 data_dir: Path | None = None, on_view: Callable[[View], None] | None = None) -> None:
        self.cfg, self.kiosk = cfg, kiosk
        self.clock = clock or SystemClock()
        self.data_dir = data_dir or Path(cfg.data_dir) / f"kiosk-{kiosk.id}"
        self.presenter = KioskPresenter(cfg, kiosk, self.clock.now())
        self.on_view = on_view
        self.link = MqttLink(cfg, f"hallq-kiosk-{cfg.hall.id}-{kiosk.id}")
        self.client = CommandClient(self.link, f"kiosk-{kiosk.id}")
        self.printer = KioskPrinter(cfg, kiosk, self.data_dir, self.post, self.link)
        self.scanner = KioskScanner(cfg, kiosk, self.data_dir, self.post, self.clock)
        self._queue: asyncio.Queue[Intent] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.last_view: View = self.presenter.view()

    # -- feeding the presenter -----------------------------------------------------------------
    def post(self, intent: Intent) -> None:
        """Hand an intent to the presenter; safe from any thread."""
        loop = self._loop
        if loop is None:
            self._queue.put_nowait(intent)
        elif loop.is_running() and not loop.is_closed():
            loop.call_soon_threadsafe(self._queue.put_nowait, intent)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        t = self.cfg.topic
        self.link.subscribe(t("state", "queues"))
        self.link.subscribe(t("controller", "status"))
        self.link.subscribe(self.client.reply_topic)
        self.link.on_disconnected = lambda: self.post(ControllerChanged(False))
        await self.link.start()
        self.printer.start()
        self.scanner.start()
        self._spawn(self._messages())
        self._spawn(self._ticker(stop))
        self._emit()
        stopper = asyncio.ensure_future(stop.wait())
        try:
            while True:
                getter = asyncio.ensure_future(self._queue.get())
                done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                self._step(getter.result())
        finally:
            stopper.cancel()
            for task in list(self._tasks):
                task.cancel()
            self.scanner.stop()
            self.printer.stop()
            await self.link.stop()

    def _step(self, intent: Intent) -> None:
        try:
            effects = self.presenter.handle(intent, self.clock.now())
        except Exception:  # a presenter bug must not freeze the kiosk: log it, go home
            log.exception("kiosk %s: could not handle %r; going back to the home screen", self.kiosk.id, intent)
            self.presenter.go_home(self.clock.now())
            effects = []
        for effect in effects:
            self._spawn(self._carry_out(effect))
        self._emit()

    def _emit(self) -> None:
        view = self.presenter.view()
        if view != self.last_view and self.on_view is not None:
            self.on_view(view)
        self.last_view = view

    async def _ticker(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(1.0)
            self.post(Tick())

    # -- the controller --------------------------------------------------------------------------
    async def _messages(self) -> None:
        while True:
            m = await self.link.messages.get()
            if self.client.deliver(m):
                continue
            try:
                body = m.json()
            except ValueError as e:
                log.warning("kiosk %s: unreadable message on %s: %s", self.kiosk.id, m.topic, e)
                continue
            if not isinstance(body, dict):
                continue
            if m.topic.endswith("/controller/status"):
                self.post(ControllerChanged(body.get("state") == "online"))
            elif m.topic.endswith("/state/queues") and isinstance(body.get("services"), list):
                self.post(QueuesChanged(body["services"]))

    async def _carry_out(self, effect: Effect) -> None:
        if isinstance(effect, IssueTicket):
            await self._issue(effect)
        elif isinstance(effect, PrintTicket):
            await self.printer.print_ticket(effect.ticket)
        elif isinstance(effect, LookupTicket):
            await self._lookup(effect.number, effect.day)

    async def _issue(self, e: IssueTicket) -> None:
        """Issue with one command id, retried until the controller answers: one tap, at most one ticket."""
        cid = new_command_id(f"kiosk-{self.kiosk.id}")
        args: dict[str, Any] = {"service": e.service, "priority": e.priority, "source": e.source}
        if e.holder:
            args["holder"] = e.holder
        if e.rater:
            args["rater"] = e.rater
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ISSUE_PATIENCE_S
        while True:
            try:
                result = await self.client.call("issue", cmd_id=cid, timeout_s=COMMAND_TIMEOUT_S, **args)
            except CommandError as err:
                if err.code == "TIMEOUT" and loop.time() < deadline:
                    log.warning("kiosk %s: controller did not answer issue %s yet; retrying with the same id",
                                self.kiosk.id, cid)
                    continue
                log.info("kiosk %s: issue %s refused: %s", self.kiosk.id, e.service, err)
                self.post(IssueFailed(err.code, err.message))
                return
            ticket = result.get("ticket")
            if isinstance(ticket, dict) and "number" in ticket:
                log.info("kiosk %s: issued %s (%s, %s)", self.kiosk.id, ticket["number"], e.service, e.priority)
                self.post(IssueDone(ticket, str(result.get("code") or "")))
            else:
                self.post(IssueFailed("BAD_REPLY", f"controller replied without a ticket: {result!r}"))
            return

    async def _lookup(self, number: str, day: date) -> None:
        try:
            result = await self.client.call("ticket", number=number, date=day.isoformat(),
                                            timeout_s=COMMAND_TIMEOUT_S)
        except CommandError as err:
            self.post(LookupFailed(err.code))
            return
        self.post(LookupDone(result.get("ticket") or {}))

