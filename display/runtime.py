"""The call screen without its widgets: MQTT session -> CallBoard -> announcer, and the timing trace.

paho's thread decides at once whether a call is spoken (its own board: seq dedup, window filter, age)
and hands it to the announcer, so the voice never waits for a frame; it then puts the message in
`inbox` and calls `wake()`. `pump()` runs on the owner's loop (the Kivy clock in the app, a plain loop
when headless) and applies the messages to the screen's board in order. Setting
HALLQ_DISPLAY_TRACE=FILE appends one JSON line per handled call, per screen update and per started
announcement, with `time.monotonic()` stamps (the bench and the tests read it).
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

from display.link import SessionLink, display_topics, session_id
from display.presenter import CallBoard
from display.voice import DEFAULT_CACHE, Announcer, ClipLibrary
from hallq.clock import Clock, SystemClock
from hallq.config import DisplayConfig, HallConfig
from hallq.mqtt import Message

log = logging.getLogger("hallq.display")


class Trace:
    """JSON lines with monotonic timestamps, appended from any thread."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def write(self, kind: str, **fields: Any) -> None:
        line = json.dumps({"ev": kind, "t": time.monotonic(), "pid": os.getpid(), **fields}, ensure_ascii=False)
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")


def trace_from_env() -> Trace | None:
    path = os.environ.get("HALLQ_DISPLAY_TRACE")
    return Trace(path) if path else None


@dataclass
class Batch:
    """What one pump changed: seqs of the calls now on the board, and whether anything needs redrawing."""

    changed: bool = False
    seqs: list[int] = field(default_factory=list)


class DisplayRuntime:
    def __init__(self, cfg: HallConfig, display: DisplayConfig, *, clock: Clock | None = None,
                 announcer: Announcer | None = None, trace: Trace | None = None,
                 wake: Callable[[], None] = lambda: None) -> None:
        self.board = CallBoard(cfg, display)
        self.board.on_link(False)
        self.heard = CallBoard(cfg, display)     # the voice's view, kept by the receiving thread alone
        self.clock = clock or SystemClock()
        self.announcer, self.trace, self.wake = announcer, trace, wake
        self.inbox: queue.SimpleQueue[tuple[str, dict[str, Any]] | bool] = queue.SimpleQueue()   # (topic, body)
        self.link = SessionLink(cfg, session_id(cfg, display), display_topics(cfg), self._put, self._put)

    @classmethod
    def for_hall(cls, cfg: HallConfig, display: DisplayConfig, wake: Callable[[], None] = lambda: None,
                 cache: Path | None = None) -> DisplayRuntime:
        """The runtime a hall runs: the voice from the config, clips cached under ~/.cache/hallq/voice."""
        trace = trace_from_env()
        announcer = None
        if display.voice:
            cache = cache or DEFAULT_CACHE
            recorded = Path(display.voice_dir) if display.voice_dir else None
            on_start = (lambda seq, lang: trace.write("audio", seq=seq, lang=lang)) if trace else None
            announcer = Announcer(ClipLibrary(cache, recorded), cache / "announcements", tuple(display.languages),
                                  on_start=on_start, warm=True)
        return cls(cfg, display, announcer=announcer, trace=trace, wake=wake)

    def _put(self, item: Message | bool) -> None:
        """On the receiving thread: decode once, speak a call at once, queue the rest for the screen."""
        if isinstance(item, bool):
            self.inbox.put(item)
        else:
            body = _body(item)
            if body is None:
                return
            if self.announcer is not None and item.topic.endswith("/ticket.called"):
                self._announce(body)
            self.inbox.put((item.topic, body))
        self.wake()

    def open(self) -> None:
        self.link.open()

    def close(self) -> None:
        self.link.close()

    def pump(self) -> Batch:
        """Apply everything received so far to the board (on the owner's thread)."""
        batch = Batch()
        while True:
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                return batch
            batch.changed = True
            if isinstance(item, bool):
                self.board.on_link(item)
                if self.trace:
                    self.trace.write("link", up=item)
                continue
            self._message(*item, batch)

    def _announce(self, body: dict[str, Any]) -> None:
        """On the receiving thread: speak a fresh call this screen shows, once per seq."""
        try:
            call = self.heard.on_called(body)
        except (KeyError, TypeError, ValueError):
            return                                   # _message logs it when the screen's board sees it
        if call is not None and self.announcer is not None and self.heard.should_announce(call, self.clock.now()):
            self.announcer.announce(call.seq, call.number, call.window, call.recall)

    def _message(self, topic: str, body: dict[str, Any], batch: Batch) -> None:
        try:
            if topic.endswith("/ticket.called"):
                call = self.board.on_called(body)
                if call is None:
                    return
                batch.seqs.append(call.seq)
                if self.trace:
                    self.trace.write("handled", seq=call.seq, ticket=call.number, window=call.window,
                                     recall=call.recall)
            elif topic.endswith("/state/queues"):
                self.board.on_queues(body)
            elif topic.endswith("/controller/status"):
                self.board.on_controller(body)
        except (KeyError, TypeError, ValueError) as e:
            log.warning("display: ignored a malformed message on %s: %s", topic, e)

    def screen_shown(self, seqs: list[int]) -> None:
        """The frame showing these calls was put on screen (trace only)."""
        if self.trace:
            self.trace.write("screen", seqs=seqs, texts=self.board.texts(), mn=self.board.texts_mn())


def _body(m: Message) -> dict[str, Any] | None:
    """The JSON object of a message; None (logged) for anything else."""
    try:
        body = m.json()
    except ValueError as e:
        log.warning("display: ignored a message on %s: %s", m.topic, e)
        return None
    return body if isinstance(body, dict) else None
