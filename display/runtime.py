"""The call screen without its widgets: MQTT session -> CallBoard -> announcer, and the timing trace.

paho's thread checks every message's shape (hallq.api's guarded decoder and typed parsers; anything else
is counted and dropped), believes events only in seq order (display.sequence: gaps are filled from the
controller's log with `events`), decides at once whether a call is spoken (its own board: seq dedup,
window filter, age) and hands it to the announcer, so the voice never waits for a frame; it then puts
what changed in `inbox` and calls `wake()`. `pump()` runs on the owner's loop (the Kivy clock in the app, a plain loop
when headless) and applies the messages to the screen's board in order. Given a `Trace` (`hallq display
--trace FILE`), it appends one JSON line per handled call, per screen update and per started announcement,
with `time.monotonic()` stamps (the bench and the tests read it).

SIGHUP (`request_reload`: only a flag) makes the timer thread read the config file again (display.follow);
a configuration the screen can take goes through `inbox` like a message, so `pump()` applies it between two
frames; the answer goes to `hallq reload` through hallq/reloading.py's `Follower`, and to the trace (`config`).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from display.follow import Accepted, Refused, read_new
from display.link import SessionLink, display_topics, reply_topic, session_id
from display.presenter import CallBoard
from display.sequence import EventSequence, Step
from hallq.api import (
    BadPayload,
    ControllerWatch,
    DropLog,
    Reply,
    TicketCalled,
    decode_object,
    parse_controller_status,
    parse_event,
    parse_events_page,
    parse_queues,
    parse_reply,
    parse_ticket_called,
)
from hallq.clock import Clock, SystemClock
from hallq.config import DisplayConfig, HallConfig
from hallq.mqtt import Message, new_command_id, topics_for
from hallq.reloading import ConfigFile, Follower
from hallq.voice import DEFAULT_CACHE, Announcer, ClipLibrary, area_clip, hall_areas

log = logging.getLogger("hallq.display")


class Trace:
    """JSON lines with monotonic timestamps, appended from any thread. The file is opened once at
    construction, so a path that cannot be written fails there (OSError), not in paho's thread."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        with self.path.open("a", encoding="utf-8"):
            pass

    def write(self, kind: str, **fields: Any) -> None:
        line = json.dumps({"ev": kind, "t": time.monotonic(), "pid": os.getpid(), **fields}, ensure_ascii=False)
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")


@dataclass(frozen=True)
class Screenshot:
    """The call screen saves one screenshot (PNG, plus its texts as FILE.json) and exits: `after_s` seconds
    after the frame that first shows the text `when`, or after start-up when `when` is None."""

    path: Path
    when: str | None = None
    after_s: float | None = None

    @property
    def delay_s(self) -> float:
        """The given delay, else 0.5 s after the awaited text (it is drawn) or 4 s after start-up (fonts, layout)."""
        if self.after_s is not None:
            return self.after_s
        return 0.5 if self.when else 4.0


@dataclass
class Batch:
    """What one pump changed: seqs of the calls now on the board, and whether anything needs redrawing."""

    changed: bool = False
    seqs: list[int] = field(default_factory=list)
    reconfigured: bool = False      # a new configuration runs from this pump on


FETCH_LIMIT = 1000          # events asked for per `events` command
FETCH_TIMEOUT_S = 5.0      # an unanswered `events` command is sent again after this
FETCH_GAP_S = 0.25         # at most one `events` command per this (held events wait; in-order ones never do)
TICK_S = 0.5               # the runtime's own timer: probes, fetch timeouts, the believed controller state
EVENT_MAX_BYTES = 256 * 1024


class DisplayRuntime:
    """Every message is decoded and shape-checked where it arrives (paho's thread): anything else is
    counted and dropped (`drops`), never raised. Events are believed only in seq order (`EventSequence`:
    gaps are filled from the controller's log); the controller counts as online on its status or, when
    the status says otherwise, on its answer to a probe (`ControllerWatch`)."""

    def __init__(self, cfg: HallConfig, display: DisplayConfig, *, clock: Clock | None = None,
                 announcer: Announcer | None = None, trace: Trace | None = None,
                 wake: Callable[[], None] = lambda: None) -> None:
        self.cfg, self.display = cfg, display
        self.board = CallBoard(cfg, display)
        self.board.on_link(False)
        self.heard = CallBoard(cfg, display)     # the voice's view, kept by the receiving thread alone
        self.clock = clock or SystemClock()
        self.announcer, self.trace, self.wake = announcer, trace, wake
        self.inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.topics = topics_for(cfg)
        self.reply_topic = reply_topic(cfg, display)
        self.sequence = EventSequence()
        self.watch = ControllerWatch()
        self.drops = DropLog(f"display {display.id}")
        self.link = SessionLink(cfg, session_id(cfg, display), display_topics(cfg, self.reply_topic),
                                self._put, self._put)
        self._lock = threading.RLock()          # paho's thread and the timer share what follows
        self._fetches: dict[str, tuple[int, int, float]] = {}    # command id -> (since, fetch no, sent at)
        self._told_online: bool | None = None
        self._v1_controller = False
        self._forged = 0
        self._deferred: tuple[int, int] | None = None            # a fetch waiting for FETCH_GAP_S
        self._fetch_sent_at = float("-inf")
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        # a configuration reload (SIGHUP): the file and --board it started with, what it runs, where it answers
        self.config_file: ConfigFile | None = None
        self.board_arg: str | None = None
        self.sha = ""
        self.follower = Follower.of(cfg.data_dir, "display", display.id)
        self._reload_wanted = False

    @classmethod
    def for_hall(cls, cfg: HallConfig, display: DisplayConfig, wake: Callable[[], None] = lambda: None,
                 cache: Path | None = None, trace: Trace | None = None) -> DisplayRuntime:
        """The runtime a hall runs: the voice from the config, clips cached under ~/.cache/hallq/voice;
        `trace` also records when each announcement starts."""
        announcer = None
        if display.voice:
            cache = cache or DEFAULT_CACHE
            recorded = Path(display.voice_dir) if display.voice_dir else None
            on_start = (lambda seq, lang: trace.write("audio", seq=seq, lang=lang)) if trace else None
            announcer = Announcer(ClipLibrary(cache, recorded, hall_areas(cfg)), cache / "announcements",
                                  tuple(display.languages),
                                  on_start=on_start, warm=True)
        return cls(cfg, display, announcer=announcer, trace=trace, wake=wake)

    def open(self) -> None:
        self._stop.clear()
        self.link.open()
        self._timer = threading.Thread(target=self._run_timer, name="display-timer", daemon=True)
        self._timer.start()

    def close(self) -> None:
        self._stop.set()
        self.link.close()
        if self._timer is not None:
            self._timer.join(2)

    # -- the receiving thread ----------------------------------------------------------------------
    def _put(self, item: Message | bool) -> None:
        """On the receiving thread: check and decode once, speak a believed call at once, queue for the screen."""
        with self._lock:
            if isinstance(item, bool):
                self.inbox.put(("link", item))
                if item:
                    self._do(self.sequence.resync())
            else:
                try:
                    self._receive(item)
                except BadPayload as e:
                    self.drops.drop(item.topic, str(e))
            self._tell_online()
        self.wake()

    def _receive(self, m: Message) -> None:
        now = time.monotonic()
        if m.topic == self.reply_topic:
            self._reply(parse_reply(decode_object(m.payload)), now)
            return
        route = self.topics.parse(m.topic)
        if route.kind == "event":
            self._do(self.sequence.offer(parse_event(decode_object(m.payload, max_bytes=EVENT_MAX_BYTES))))
        elif route.kind == "state" and route.name == "queues":
            if not m.payload:
                raise BadPayload("empty retained state (cleared)")
            q = parse_queues(decode_object(m.payload, max_bytes=EVENT_MAX_BYTES))
            problem = self.watch.state_problem(q.log)
            if problem:
                raise BadPayload(problem)
            self.inbox.put(("queues", q))
        elif route.kind == "controller":
            if not m.payload:
                raise BadPayload("empty retained status (cleared)")
            status = parse_controller_status(decode_object(m.payload, max_bytes=EVENT_MAX_BYTES))
            if self.watch.on_status(status, now):        # (back) online: re-read what it publishes
                self.link.resubscribe(self.topics.state_queues())
                self._do(self.sequence.resync())
        else:
            raise BadPayload("not a topic the call screen reads")

    def _reply(self, reply: Reply, now: float) -> None:
        self.watch.on_reply(now)
        fetch = self._fetches.pop(reply.id, None)
        if fetch is None:
            return                                     # a probe's answer (or a stale one): liveness only
        since, no, _sent = fetch
        if reply.ok:
            page = parse_events_page(reply.result)
            if page.bad:
                self.drops.drop(self.reply_topic, f"{page.bad} events of another shape in an events reply")
            self._do(self.sequence.fetched(page, since, no))
        elif reply.code == "BAD_REQUEST" and not self._v1_controller:
            self._v1_controller = True
            log.warning("display %s: the controller does not answer 'events' (%s); believing events in seq "
                        "order as they come, without filling gaps", self.display.id, reply.message)
            self._do(self.sequence.trust_pushed())
        elif self._v1_controller:
            self._do(self.sequence.trust_pushed())
        else:
            log.warning("display %s: events since %d refused: %s %s", self.display.id, since, reply.code,
                        reply.message)
            self._do(self.sequence.failed(no))

    def _do(self, step: Step) -> None:
        if self.sequence.forged > self._forged:
            n, self._forged = self.sequence.forged - self._forged, self.sequence.forged
            self.drops.drop(self.topics.event(), f"{n} event(s) not in the controller's log (seq beyond its head "
                                                 "or content unlike the logged event)")
        for ev in step.events:
            if ev.type != "ticket.called":
                continue
            try:
                call = parse_ticket_called(ev)
            except BadPayload as e:
                self.drops.drop(self.topics.event(ev.type), str(e))
                continue
            if self.announcer is not None:
                self._announce(call)
            self.inbox.put(("call", call))
        if step.fetch is not None:
            if self._v1_controller:
                self._do(self.sequence.trust_pushed())
                return
            self._deferred = (step.fetch, step.fetch_no)
            self._send_fetch(time.monotonic())

    def _send_fetch(self, now: float) -> None:
        """Send the fetch the sequence asked for; at most one per FETCH_GAP_S (a flood of forged events must
        not become a flood of `events` commands: the rest wait for the timer)."""
        if self._deferred is None or now - self._fetch_sent_at < FETCH_GAP_S:
            return
        (since, no), self._deferred = self._deferred, None
        self._fetch_sent_at = now
        cid = new_command_id(f"display-{self.display.id}")
        self._fetches[cid] = (since, no, now)
        self.link.publish(self.topics.cmd("events"), {"id": cid, "reply_to": self.reply_topic,
                                                      "since_seq": since, "limit": FETCH_LIMIT})

    def _announce(self, call: TicketCalled) -> None:
        """On the receiving thread: speak a fresh call this screen shows, once per seq."""
        c = self.heard.on_call(call)
        if c is not None and self.announcer is not None and self.heard.should_announce(c, self.clock.now()):
            area = self.heard.window_area(c.window)
            self.announcer.announce(c.seq, c.number, c.window, c.recall, area.zh if area else None)

    def _tell_online(self) -> None:
        online = self.watch.online(time.monotonic())
        if online != self._told_online:
            self._told_online = online
            self.inbox.put(("online", online))

    # -- the timer ---------------------------------------------------------------------------------
    def _run_timer(self) -> None:
        while not self._stop.wait(TICK_S):
            try:
                self.tick(time.monotonic())
            except Exception:
                log.exception("display %s: the timer failed once; it goes on", self.display.id)

    # -- configuration reload: SIGHUP (display/main.py) or `hallq reload --board ID` ---------------------------
    def request_reload(self) -> None:
        """Ask for the config file to be read again: only a flag, so a signal handler may call it; the timer
        thread (`tick`) reads and judges the file within TICK_S, off the screen's loop."""
        self._reload_wanted = True

    def _reload(self) -> None:
        with self._lock:
            cfg, display = self.cfg, self.display
        try:
            if self.config_file is None:
                raise Refused("the call screen was started without a config file to read again")
            new = read_new(self.config_file, self.board_arg, cfg, display)
        except Refused as e:
            self._refused(str(e))
            return
        except Exception as e:       # a bug here must not leave the reload unanswered: the screen runs on
            self._refused(f"could not read it again ({type(e).__name__}: {e})")
            return
        self.inbox.put(("config", new))
        self.wake()

    def _refused(self, why: str) -> None:
        log.error("display %s: reload refused, still running the previous configuration (sha256 %s): %s",
                  self.display.id, self.sha or "unknown", why)
        self.follower.answer(False, None, why)
        if self.trace:
            self.trace.write("config", ok=False, error=why)

    def _take(self, new: Accepted) -> None:
        """On the screen's loop, between two frames: the board, the voice's view and the runtime run `new`."""
        with self._lock:               # the receiving thread's board and voice take it from their next message
            self.cfg, self.display = new.cfg, new.display
            self.heard.cfg, self.heard.display = new.cfg, new.display
            if self.announcer is not None:      # a renamed area is a new clip to generate
                self.announcer.library.phrases.update({area_clip(a): a for a in hall_areas(new.cfg)})
        b = self.board
        b.cfg, b.display = new.cfg, new.display
        shown = set(b.shown_service_ids())
        b.calls = [c for c in b.calls if b.shows_window(c.window) and c.service in shown][:new.display.history]
        self.sha = new.sha
        log.info("display %s: configuration reloaded from %s: now runs sha256 %s (%s)", new.display.id,
                 self.config_file.path if self.config_file else "?", new.sha, new.changes)
        self.follower.answer(True, new.sha, None, f"applied ({new.changes})")
        if self.trace:
            self.trace.write("config", ok=True, sha=new.sha, changes=new.changes)

    def tick(self, now: float) -> None:
        """Read the config file again when asked (SIGHUP), resend unanswered fetches, probe a controller said to
        be away, note a change of belief."""
        if self._reload_wanted:
            self._reload_wanted = False
            self._reload()
        changed = False
        with self._lock:
            for cid, (_since, no, sent) in list(self._fetches.items()):
                if now - sent >= FETCH_TIMEOUT_S:
                    del self._fetches[cid]
                    self._do(self.sequence.failed(no))
            self._send_fetch(now)
            if self.link.up and self.watch.probe_due(now):
                self.link.publish(self.topics.cmd("events"), {"id": new_command_id(f"display-{self.display.id}"),
                                                              "reply_to": self.reply_topic, "since_seq": 0,
                                                              "limit": 1})
            before = self._told_online
            self._tell_online()
            changed = before != self._told_online
        if changed:
            self.wake()

    # -- the screen's loop -------------------------------------------------------------------------
    def pump(self) -> Batch:
        """Apply everything received so far to the board (on the owner's thread)."""
        batch = Batch()
        while True:
            try:
                kind, value = self.inbox.get_nowait()
            except queue.Empty:
                return batch
            batch.changed = True
            if kind == "link":
                self.board.on_link(value)
                if self.trace:
                    self.trace.write("link", up=value)
            elif kind == "online":
                self.board.on_controller(bool(value))
            elif kind == "queues":
                self.board.on_queues(value)
            elif kind == "config":
                self._take(value)
                batch.reconfigured = True
            elif kind == "call":
                call = self.board.on_call(value)
                if call is not None:
                    batch.seqs.append(call.seq)
                    if self.trace:
                        self.trace.write("handled", seq=call.seq, ticket=call.number, window=call.window,
                                         recall=call.recall)

    def screen_shown(self, seqs: list[int]) -> None:
        """The frame showing these calls was put on screen (trace only)."""
        if self.trace:
            self.trace.write("screen", seqs=seqs, texts=self.board.texts(), mn=self.board.texts_mn())
