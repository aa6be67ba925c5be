"""The kiosk's adapters around the pure presenter: MQTT to the controller, the printer, the scanner, time.

One asyncio loop owns everything (under Kivy it is Kivy's own asyncio loop). Blocking device work runs
in one worker thread per device, so printing and status polling never talk over each other on the wire.
Every intent goes through `post()`; every effect the presenter returns is carried out here.

Every message is decoded with hallq.api's guarded decoder and checked against the shape the kiosk
expects (controller status, queues, replies); anything else is counted and dropped (`drops`), never raised
in the message task. The controller counts as online on its retained status or, when that says
otherwise, on its reply to a probe (`ControllerWatch`): a status "offline" left retained by a stranger
does not stop the kiosk. Queue figures are shown, not obeyed: the controller's reply to `issue` decides.

SIGHUP (`request_reload`, `hallq reload --kiosk`) reads the config file again off the loop, validated as at
start; hallq/config/live.py decides whether the kiosk can take it, and the presenter takes it on its home screen
(`Reconfigure`). The answer goes to `hallq reload` through hallq/reloading.py's `Follower`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from hallq.api import (
    BadPayload,
    ControllerWatch,
    DropLog,
    decode_object,
    parse_controller_status,
    parse_queues,
    parse_reply,
    parse_ticket,
)
from hallq.clock import Clock, SystemClock
from hallq.config import ConfigError, HallConfig, KioskConfig
from hallq.config.live import for_kiosk
from hallq.mqtt import CommandClient, CommandError, Message, MqttLink, new_command_id, principal_of, topics_for
from hallq.reloading import ConfigFile, Follower
from hallq.voice import area_clip, hall_areas
from kiosk.idcard import KioskCardReader
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
    Reconfigure,
    Reconfigured,
    ReprintOpen,
    SayAgain,
    Tick,
)
from kiosk.peripherals import KioskPrinter, KioskScanner
from kiosk.presenter import KioskPresenter, Prompt, View
from kiosk.voice import KioskVoice

log = logging.getLogger("hallq.kiosk")

ISSUE_PATIENCE_S = 90.0     # how long one tap keeps trying to reach the controller (same command id)
COMMAND_TIMEOUT_S = 4.0
STATE_MAX_BYTES = 256 * 1024
_HELD = re.compile(r"holds ticket ([A-Z]{1,2}[0-9]{3,})")   # the controller's ALREADY_WAITING names the ticket


class KioskRuntime:
    def __init__(self, cfg: HallConfig, kiosk: KioskConfig, *, clock: Clock | None = None,
                 data_dir: Path | None = None, on_view: Callable[[View], None] | None = None,
                 voice: KioskVoice | None = None) -> None:
        self.cfg, self.kiosk = cfg, kiosk
        self.clock = clock or SystemClock()
        self.data_dir = data_dir or Path(cfg.data_dir) / f"kiosk-{kiosk.id}"
        self.presenter = KioskPresenter(cfg, kiosk, self.clock.now())
        self.on_view = on_view
        self.topics = topics_for(cfg)
        self.principal = principal_of(cfg)
        self.link = MqttLink(cfg, f"hallq-kiosk-{cfg.hall.id}-{kiosk.id}")
        self.client = CommandClient(self.link, f"kiosk-{kiosk.id}")
        self.watch = ControllerWatch()
        self.drops = DropLog(f"kiosk {kiosk.id}")
        self._believed: bool | None = None
        self._probe_unanswered = False
        # the printer's status: device/{P}/status in a secure hall (CONTRACT §5.2), device/{kiosk}-printer open
        self.printer = KioskPrinter(cfg, kiosk, self.data_dir, self.post, self.link, self.principal)
        self.scanner = KioskScanner(cfg, kiosk, self.data_dir, self.post, self.clock)
        self.cards = KioskCardReader(cfg, kiosk, self.post, self.clock)
        self.voice = voice if voice is not None or kiosk.voice.mode == "off" else \
            KioskVoice.for_kiosk(cfg, kiosk, self.data_dir)
        self._spoken: tuple[str, Prompt | None] | None = None
        # tickets printed here for an ID card: (holder key, service, day) -> (ticket, code), for a reprint
        self._printed: dict[tuple[str, str, str], tuple[dict[str, Any], str]] = {}
        self._queue: asyncio.Queue[Intent] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.last_view: View = self.presenter.view()
        # a configuration reload (SIGHUP): the file it started with, what it runs, where it answers
        self.config_file: ConfigFile | None = None
        self.sha = ""
        self.follower = Follower(self.data_dir, "kiosk", kiosk.id)
        self._reloading = asyncio.Lock()

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
        self.link.subscribe(self.topics.controller_status())   # first: its log vouches for the state after it
        self.link.subscribe(self.topics.state_queues())
        self.link.subscribe(self.client.reply_topic)
        self.link.on_disconnected = self._believe
        self.link.on_connected = self._believe
        await self.link.start()
        self.printer.start()
        self.scanner.start()
        self.cards.start()
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
            self.cards.stop()
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
            if isinstance(effect, Reconfigured):      # before the view is drawn: it is drawn from the new one
                self._reconfigured(effect)
            else:
                self._spawn(self._carry_out(effect))
        if isinstance(intent, Reconfigure):
            self._answer(intent)
        self._emit()

    def _emit(self) -> None:
        view = self.presenter.view()
        if view != self.last_view and self.on_view is not None:
            self.on_view(view)
        self.last_view = view
        said = (view.screen.value, view.voice)
        if said != self._spoken:
            self._spoken = said
            if view.speak and view.voice is not None and not self._quiet():
                self._say(view)

    def _quiet(self) -> bool:
        return self.kiosk.voice.quiet_at(self.clock.now().astimezone(self.cfg.zone).time())

    def _say(self, view: View) -> None:
        if self.voice is not None and view.voice is not None:
            self.voice.say(view.voice, view.lang)

    async def _ticker(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(1.0)
            self.post(Tick())
            now = time.monotonic()
            if self.link.connected.is_set() and self.watch.probe_due(now):
                self._spawn(self._probe())
            self._believe()

    # -- configuration reload: SIGHUP (kiosk/main.py) or `hallq reload --kiosk ID` ----------------------------
    def request_reload(self) -> None:
        """Read the config file again (off the loop) and hand it to the presenter if the kiosk can take it."""
        self._spawn(self._reload())

    async def _reload(self) -> None:
        async with self._reloading:        # SIGHUPs in a row: one after the other, the last file wins
            if self.config_file is None:
                self._refused("the kiosk was started without a config file to read again")
                return
            try:
                new = await asyncio.to_thread(self.config_file.load)
                p = self.presenter             # compared with what runs, not with a file still waiting
                decision, mine = for_kiosk(p.cfg, p.kiosk, new.cfg)
            except ConfigError as e:
                self._refused(f"config error: {e}")
                return
            except Exception as e:     # a bug here must not leave the reload unanswered: the kiosk runs on
                self._refused(f"could not read it again ({type(e).__name__}: {e})")
                return
            if not decision.ok or mine is None:
                self._refused(decision.refusal())
                return
            self.post(Reconfigure(new.cfg, mine, new.sha, decision.changes()))

    def _refused(self, why: str) -> None:
        log.error("kiosk %s: reload refused, still running the previous configuration (sha256 %s): %s",
                  self.kiosk.id, self.sha or "unknown", why)
        self.follower.answer(False, None, why)

    def _reconfigured(self, done: Reconfigured) -> None:
        """The presenter took a new configuration: the runtime's copy, the voice's areas and the log follow."""
        self.cfg, self.kiosk, self.sha = self.presenter.cfg, self.presenter.kiosk, done.sha
        if self.voice is not None:         # "请到 二楼B区 办理": a renamed area is a new clip to generate
            self.voice.library.phrases.update({area_clip(a): a for a in hall_areas(self.cfg)})
        log.info("kiosk %s: configuration reloaded from %s: now runs sha256 %s (%s)", self.kiosk.id,
                 self.config_file.path if self.config_file else "?", done.sha, done.changes)

    def _answer(self, asked: Reconfigure) -> None:
        if self.presenter.pending is asked:
            note = "it applies once the visitor now at the kiosk has finished (the kiosk is back home)"
            log.info("kiosk %s: configuration sha256 %s accepted; %s", self.kiosk.id, asked.sha, note)
        else:
            note = f"applied ({asked.changes})"
        self.follower.answer(True, asked.sha, None, note)

    # -- the controller --------------------------------------------------------------------------
    def _believe(self) -> None:
        """Tell the presenter when the kiosk's belief about the controller changes."""
        online = self.link.connected.is_set() and self.watch.online(time.monotonic())
        if online != self._believed:
            self._believed = online
            self.post(ControllerChanged(online))

    async def _probe(self) -> None:
        """Ask the controller something harmless: any answer shows it is there (see ControllerWatch)."""
        try:
            await self.client.call("events", since_seq=0, limit=1, timeout_s=COMMAND_TIMEOUT_S)
        except CommandError as err:
            if err.code == "TIMEOUT" and not self._probe_unanswered:
                self._probe_unanswered = True           # said once until the controller answers again
                log.warning("kiosk %s: the controller does not answer (status %s); asking every %g s",
                            self.kiosk.id, self.watch.status.state if self.watch.status else "unknown",
                            self.watch.probe_every_s)
                self._believe()
                return
        self._probe_unanswered = False
        self._believe()

    async def _messages(self) -> None:
        while True:
            m = await self.link.messages.get()
            try:
                self._message(m)
            except BadPayload as e:
                self.drops.drop(m.topic, str(e))
            except Exception:   # a bug here must not end the task that hears the controller
                log.exception("kiosk %s: could not handle a message on %s; going on", self.kiosk.id, m.topic)

    def _message(self, m: Message) -> None:
        now = time.monotonic()
        if m.topic == self.client.reply_topic:
            parse_reply(decode_object(m.payload))     # the shape first: CommandClient reads it as checked
            self.watch.on_reply(now)
            self.client.deliver(m)
            self._believe()
            return
        route = self.topics.parse(m.topic)
        if not m.payload:
            raise BadPayload("empty retained message (cleared)")
        body = decode_object(m.payload, max_bytes=STATE_MAX_BYTES)
        if route.kind == "controller":
            if self.watch.on_status(parse_controller_status(body), now):
                self.link.resubscribe(self.topics.state_queues())   # (back) online: re-read its state
            self._believe()
        elif route.kind == "state" and route.name == "queues":
            q = parse_queues(body)
            problem = self.watch.state_problem(q.log)
            if problem:
                raise BadPayload(problem)
            self.post(QueuesChanged([{"id": s.id, "waiting": s.waiting, "est_wait_s": s.est_wait_s,
                                      "issuing": s.issuing} for s in q.services]))
        else:
            raise BadPayload("not a topic the kiosk reads")

    async def _carry_out(self, effect: Effect) -> None:
        if isinstance(effect, IssueTicket):
            await self._issue(effect)
        elif isinstance(effect, PrintTicket):
            await self.printer.print_ticket(effect.ticket)
        elif isinstance(effect, LookupTicket):
            await self._lookup(effect.number, effect.day)
        elif isinstance(effect, ReprintOpen):
            await self._reprint(effect)
        elif isinstance(effect, SayAgain):
            self._say(self.presenter.view())       # asked for: said even in quiet hours

    async def _reprint(self, e: ReprintOpen) -> None:
        """The holder's open ticket of the service (printed here, or named by the controller) as an IssueDone."""
        day = self.clock.now().astimezone(self.cfg.zone).date().isoformat()
        kept = self._printed.get((e.holder_key, e.service, day))
        held = _HELD.search(e.message)
        number = kept[0]["number"] if kept else held.group(1) if held else None
        if number is None:
            self.post(IssueFailed("ALREADY_WAITING", e.message))
            return
        try:
            result = await self.client.call("ticket", number=number, date=day, timeout_s=COMMAND_TIMEOUT_S)
            ticket = parse_ticket(result.get("ticket"))
        except (CommandError, BadPayload) as err:
            log.warning("kiosk %s: could not look up the open ticket %s to print it again: %s", self.kiosk.id,
                        number, err)
            self.post(IssueFailed("ALREADY_WAITING", e.message))
            return
        log.info("kiosk %s: %s already waits as %s; printed again", self.kiosk.id, e.holder_key, number)
        self.post(IssueDone(ticket, kept[1] if kept else "", reprint=True))

    async def _issue(self, e: IssueTicket) -> None:
        """Issue with one command id, retried until the controller answers: one tap, at most one ticket."""
        cid = new_command_id(f"kiosk-{self.kiosk.id}")
        args: dict[str, Any] = {"service": e.service, "priority": e.priority, "source": e.source}
        if e.credential:
            args["credential"] = e.credential      # the controller verifies the scanned code itself
        if e.rater:
            args["rater"] = e.rater
        if e.card is not None:
            if self.cards.tokens is None:
                self.post(IssueFailed("NO_READER", "the kiosk has no ID card issuer key"))
                return
            try:          # a new token per command: the controller accepts each once (CONTRACT §5.3)
                args["credential"] = self.cards.tokens.mint(e.card, self.clock.now())
            except ValueError as bad:
                log.warning("kiosk %s: cannot make the token of an ID card: %s", self.kiosk.id, bad)
                self.post(IssueFailed("BAD_CARD", str(bad)))
                return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ISSUE_PATIENCE_S
        while True:
            try:
                result = await self.client.call("issue", cmd_id=cid, timeout_s=COMMAND_TIMEOUT_S, **args)
            except CommandError as err:
                if err.code in ("TIMEOUT", "UNAVAILABLE") and loop.time() < deadline:
                    # not executed (UNAVAILABLE: the controller cannot write its log now): the same id again
                    log.warning("kiosk %s: controller did not answer issue %s yet (%s); retrying with the same id",
                                self.kiosk.id, cid, err.code)
                    if err.code == "UNAVAILABLE":
                        await asyncio.sleep(1.0)
                    continue
                log.info("kiosk %s: issue %s refused: %s", self.kiosk.id, e.service, err)
                self.post(IssueFailed(err.code, err.message))
                return
            try:
                ticket = parse_ticket(result.get("ticket"))
                code = result.get("code")
                if code is not None and (not isinstance(code, str) or len(code) > 64):
                    raise BadPayload("'code' must be a short string")
            except BadPayload as bad:
                log.warning("kiosk %s: the reply to issue %s is not of the controller's shape: %s", self.kiosk.id,
                            cid, bad)
                self.post(IssueFailed("BAD_REPLY", str(bad)))
                return
            log.info("kiosk %s: issued %s (%s, %s)", self.kiosk.id, ticket["number"], e.service, e.priority)
            if e.card is not None:
                day = str(ticket.get("date") or self.clock.now().astimezone(self.cfg.zone).date().isoformat())
                self._printed[(e.card.holder_key, e.service, day)] = (ticket, code or "")
            self.post(IssueDone(ticket, code or ""))
            return

    async def _lookup(self, number: str, day: date) -> None:
        try:
            result = await self.client.call("ticket", number=number, date=day.isoformat(),
                                            timeout_s=COMMAND_TIMEOUT_S)
        except CommandError as err:
            self.post(LookupFailed(err.code))
            return
        try:
            self.post(LookupDone(parse_ticket(result.get("ticket"))))
        except BadPayload as bad:
            log.warning("kiosk %s: the reply to a ticket lookup is not of the controller's shape: %s",
                        self.kiosk.id, bad)
            self.post(LookupFailed("BAD_REPLY"))

