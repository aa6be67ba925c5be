"""好差评 outbox: reports every `evaluation.recorded` of the event log to the region's platform, in order.

At least once, one record at a time, in `seq` order. The outbox (`data_dir/upstream.sqlite3`, WAL +
synchronous=FULL) holds a cursor — the seq of the last evaluation dealt with — and one outcome row per
evaluation (sent, duplicate, rejected, unmappable); both change in one transaction, only after the
platform answered. A crash between the platform's answer and that commit re-sends the record on
restart with the same `Idempotency-Key`, so the platform keeps it once. The event log is read on its
own read-only connection, so the controller's writes are never in the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.store import DB_NAME as EVENT_LOG_NAME
from controller.upstream import (
    EVALUATION,
    Ruling,
    UpstreamRecordError,
    Verdict,
    backoff_s,
    check_field_map,
    idempotency_key,
    record_for,
    verdict,
)
from controller.upstream_http import Answer, Post, check_url, post_json, redact
from hallq.clock import Clock
from hallq.config import HallConfig
from hallq.sqlite import open_durable

log = logging.getLogger("hallq.upstream")

OUTBOX_NAME = "upstream.sqlite3"
SCHEMA = """
CREATE TABLE IF NOT EXISTS cursor (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL);
INSERT OR IGNORE INTO cursor(id, seq) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS outcomes (
  seq       INTEGER PRIMARY KEY,   -- of the evaluation.recorded event
  key       TEXT NOT NULL,         -- Idempotency-Key
  ticket    TEXT NOT NULL,
  date      TEXT NOT NULL,
  outcome   TEXT NOT NULL,         -- sent | duplicate | rejected | unmappable
  status    INTEGER,               -- HTTP status (NULL: unmappable, never sent)
  answer    TEXT NOT NULL,         -- the platform's answer, or why the event could not be mapped
  attempts  INTEGER NOT NULL,
  at        TEXT NOT NULL,         -- when the outcome was recorded (the reporter's clock)
  record    TEXT                   -- the body sent, kept for refused records so they can be fixed and re-sent
);
"""
BATCH = 100
ANSWER_KEEP = 2000
UNMAPPABLE = "unmappable"


@dataclass(frozen=True)
class _Item:
    seq: int
    event: dict[str, Any]


class UpstreamReporter:
    """Constructor only stores settings; `open()` (or `run()`) opens the outbox."""

    def __init__(self, cfg: HallConfig, data_dir: str | Path, clock: Clock, *, rng: random.Random | None = None,
                 poll_s: float = 0.5, post: Post | None = None) -> None:
        up = cfg.upstream
        if up.url is not None:
            check_url(up.url)
        check_field_map(up.field_map)
        if up.backoff_max_s < up.backoff_min_s:
            raise ValueError(f"upstream.backoff_max_s ({up.backoff_max_s}) is below backoff_min_s "
                             f"({up.backoff_min_s}): make it at least as large")
        self.cfg = cfg
        self.data_dir = Path(data_dir)
        self.clock = clock
        self.rng = rng or random.Random()
        self.poll_s = poll_s
        self.post: Post = post or post_json
        self.log_path = self.data_dir / EVENT_LOG_NAME
        self.outbox_path = self.data_dir / OUTBOX_NAME
        self._outbox: sqlite3.Connection | None = None
        self._events: sqlite3.Connection | None = None
        self._cursor = 0
        self._pending = 0
        self._counts: dict[str, int] = {}
        self._last_sent: tuple[int, str] | None = None
        self._last_error: tuple[str, str] | None = None
        self._retrying: dict[str, Any] | None = None
        self._waiting_for_log = False

    # -- life cycle ------------------------------------------------------------------------------
    def open(self) -> None:
        try:
            db = open_durable(self.outbox_path, SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise OSError(f"upstream outbox {self.outbox_path}: cannot open: {e} — check the data directory") from None
        self._outbox = db
        self._cursor = int(db.execute("SELECT seq FROM cursor WHERE id = 1").fetchone()[0])
        self._counts = {str(o): int(n) for o, n in db.execute("SELECT outcome, COUNT(*) FROM outcomes GROUP BY 1")}
        row = db.execute("SELECT seq, at FROM outcomes WHERE outcome IN ('sent', 'duplicate') "
                         "ORDER BY seq DESC LIMIT 1").fetchone()
        self._last_sent = None if row is None else (int(row[0]), str(row[1]))

    def close(self) -> None:
        for db in (self._events, self._outbox):
            if db is not None:
                db.close()
        self._events = self._outbox = None

    async def run(self, stop: asyncio.Event) -> None:
        """Report until `stop` is set; polls the event log every `poll_s`."""
        url = self.cfg.upstream.url
        if url is None:
            log.info("upstream: reporting is off (no upstream.url); evaluations stay in the local log only")
            await stop.wait()
            return
        self.open()
        log.info("upstream: reporting evaluations after seq %d to %s", self._cursor, redact(url))
        failures = 0
        try:
            while not stop.is_set():
                items: list[_Item] = []
                try:
                    items = await asyncio.to_thread(self._next_items)
                    for item in items:
                        if not await self._deliver(url, item, stop):
                            break
                    failures = 0
                except sqlite3.Error as e:
                    # the item in hand (if any) is re-sent later; the platform keeps it once
                    failures += 1
                    delay = backoff_s(failures, self.poll_s, self.cfg.upstream.backoff_max_s, self.rng.random())
                    self._note_error(f"local database trouble ({e}) in {self.log_path.parent} — retrying in "
                                     f"{delay:.1f} s; check the disk", warn=failures == 1)
                    await _wait(stop, delay)
                    continue
                if not items:
                    await _wait(stop, self.poll_s)
        finally:
            self.close()
            log.info("upstream: stopped at seq %d, %d evaluation(s) pending", self._cursor, self._pending)

    # -- status ---------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """For logs and alerts: what is pending, what went last, what is wrong (no I/O)."""
        url = self.cfg.upstream.url
        state = ("off" if url is None else "waiting_for_log" if self._waiting_for_log
                 else "retrying" if self._retrying else "sending" if self._pending else "idle")
        return {
            "state": state,
            "url": None if url is None else redact(url),
            "cursor": self._cursor,
            "pending": self._pending,
            "last_sent_seq": None if self._last_sent is None else self._last_sent[0],
            "last_sent_at": None if self._last_sent is None else self._last_sent[1],
            "sent": self._counts.get("sent", 0) + self._counts.get("duplicate", 0),
            "rejected": self._counts.get("rejected", 0) + self._counts.get(UNMAPPABLE, 0),
            "retrying": self._retrying,
            "last_error": None if self._last_error is None else self._last_error[1],
            "last_error_at": None if self._last_error is None else self._last_error[0],
        }

    def rejected(self) -> list[dict[str, Any]]:
        """Outcome rows of the refused and unmappable evaluations, oldest first."""
        db = self._require_outbox()
        cur = db.execute("SELECT seq, key, ticket, date, outcome, status, answer, attempts, at, record FROM outcomes "
                         "WHERE outcome IN ('rejected', ?) ORDER BY seq", (UNMAPPABLE,))
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur]

    # -- reading the event log (worker thread) --------------------------------------------------
    def _events_db(self) -> sqlite3.Connection | None:
        if self._events is None:
            if not self.log_path.exists():
                if not self._waiting_for_log:
                    log.info("upstream: waiting for the event log %s (is the controller running?)", self.log_path)
                self._waiting_for_log = True
                return None
            self._events = sqlite3.connect(f"{self.log_path.resolve().as_uri()}?mode=ro", uri=True,
                                           isolation_level=None, check_same_thread=False, timeout=5.0)
        self._waiting_for_log = False
        return self._events

    def _next_items(self) -> list[_Item]:
        db = self._events_db()
        if db is None:
            return []
        rows = db.execute("SELECT seq, at, body FROM events WHERE seq > ? AND type = ? ORDER BY seq LIMIT ?",
                          (self._cursor, EVALUATION, BATCH)).fetchall()
        self._pending = int(db.execute("SELECT COUNT(*) FROM events WHERE seq > ? AND type = ?",
                                       (self._cursor, EVALUATION)).fetchone()[0])
        return [_Item(int(seq), {"type": EVALUATION, "seq": int(seq), "at": at, **json.loads(body)})
                for seq, at, body in rows]

    # -- sending one evaluation -----------------------------------------------------------------
    async def _deliver(self, url: str, item: _Item, stop: asyncio.Event) -> bool:
        """Send one evaluation until the platform decides; False if stopped first."""
        ev = item.event
        ticket, day = str(ev.get("ticket", "?")), str(ev.get("date", "?"))
        key = idempotency_key(self.cfg.hall.id, day, ticket)
        try:
            record = record_for(ev, self.cfg)
        except UpstreamRecordError as e:
            log.error("upstream: ticket %s of %s (seq %d) cannot be reported: %s — kept as %s in %s",
                      ticket, day, item.seq, e, UNMAPPABLE, self.outbox_path)
            await asyncio.to_thread(self._settle, item, key, UNMAPPABLE, None, str(e), 0, None)
            return True
        body = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json",
                   "Idempotency-Key": key}
        if self.cfg.upstream.token:
            headers["Authorization"] = f"Bearer {self.cfg.upstream.token}"
        attempt, last_problem = 0, ""
        while not stop.is_set():
            attempt += 1
            try:
                answer = await asyncio.to_thread(self.post, url, body, headers, self.cfg.upstream.timeout_s)
            except (OSError, http.client.HTTPException) as e:
                problem = _describe(e, self.cfg.upstream.timeout_s)
            else:
                ruling = verdict(answer, self.cfg.upstream.answer)
                if ruling.verdict is not Verdict.RETRY:
                    await self._decided(item, key, ticket, day, ruling, answer, attempt, body)
                    return True
                problem = _describe_answer(answer, ruling)
            delay = backoff_s(attempt, self.cfg.upstream.backoff_min_s, self.cfg.upstream.backoff_max_s,
                              self.rng.random())
            self._retrying = {"seq": item.seq, "ticket": ticket, "date": day, "rated_at": ev.get("at"),
                              "attempts": attempt, "next_try_in_s": round(delay, 3)}
            self._note_error(f"ticket {ticket} of {day} (seq {item.seq}), attempt {attempt}: {problem} — "
                             f"retrying in {delay:.1f} s", warn=problem != last_problem or attempt % 20 == 0)
            last_problem = problem
            await _wait(stop, delay)
        return False

    async def _decided(self, item: _Item, key: str, ticket: str, day: str, ruling: Ruling, answer: Answer,
                       attempt: int, body: bytes) -> None:
        v = ruling.verdict
        if v is Verdict.REJECTED:
            said = _said(answer, ruling, 300)
            log.error("upstream: the platform refused ticket %s of %s (seq %d): %s — kept as rejected in %s, not "
                      "re-sent; fix the cause (config? record?) and re-send it by hand%s",
                      ticket, day, item.seq, said, self.outbox_path, _code_hint(ruling))
            self._note_error(f"ticket {ticket} of {day} (seq {item.seq}) refused: {said}", warn=False)
        elif attempt > 1:
            log.info("upstream: ticket %s of %s (seq %d) delivered after %d attempts", ticket, day, item.seq, attempt)
        kept = body.decode("utf-8") if v is Verdict.REJECTED else None
        await asyncio.to_thread(self._settle, item, key, v.value, answer.status, answer.text[:ANSWER_KEEP], attempt,
                                kept)

    def _settle(self, item: _Item, key: str, outcome: str, status: int | None, answer: str, attempts: int,
                record: str | None) -> None:
        """Record the outcome and move the cursor past it, in one durable transaction."""
        db = self._require_outbox()
        at = self.clock.now().astimezone(self.cfg.zone).isoformat()
        ev = item.event
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("INSERT OR REPLACE INTO outcomes(seq, key, ticket, date, outcome, status, answer, attempts, at,"
                       " record) VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (item.seq, key, str(ev.get("ticket", "")), str(ev.get("date", "")), outcome, status, answer,
                        attempts, at, record))
            db.execute("UPDATE cursor SET seq = ? WHERE id = 1", (item.seq,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._cursor = item.seq
        self._pending = max(0, self._pending - 1)
        self._counts[outcome] = self._counts.get(outcome, 0) + 1
        self._retrying = None
        if outcome in (Verdict.SENT.value, Verdict.DUPLICATE.value):
            self._last_sent = (item.seq, at)

    def _require_outbox(self) -> sqlite3.Connection:
        if self._outbox is None:
            raise RuntimeError(f"upstream outbox {self.outbox_path} is not open: call open() or run() first")
        return self._outbox

    def _note_error(self, message: str, warn: bool) -> None:
        """Keep the error for status(); log it as a warning when it is news, else at debug level."""
        self._last_error = (self.clock.now().astimezone(self.cfg.zone).isoformat(), message)
        log.log(logging.WARNING if warn else logging.DEBUG, "upstream: %s", message)


def _describe(e: BaseException, timeout_s: float) -> str:
    if isinstance(e, TimeoutError):
        return f"no answer within {timeout_s:g} s (upstream.timeout_s)"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused — is the platform down?"
    return f"{type(e).__name__}: {e}"


def _said(a: Answer, r: Ruling, limit: int = 200) -> str:
    """The answer in one line: HTTP status, the platform's code and message (else the start of its body)."""
    code = f", code {r.code!r}" if r.code is not None else ""
    if r.message:
        return f"HTTP {a.status}{code}: {r.message}"
    text = " ".join(a.text.split())[:limit]
    return f"HTTP {a.status}{code} {text}".rstrip()


def _code_hint(r: Ruling) -> str:
    if r.code is None:
        return ""
    return (f"; if code {r.code!r} does not mean a refusal, list it in upstream.answer.ok, .duplicate or .retry "
            "and re-send")


def _describe_answer(a: Answer, r: Ruling) -> str:
    """Why an answer is retried, and what to check."""
    if r.problem:
        return r.problem
    if 300 <= a.status < 400:
        return f"HTTP {a.status} redirect to {a.location} — set upstream.url to the final address"
    if a.status in (401, 403):
        return f"{_said(a, r)} — the platform refuses the hall: check upstream.token"
    if a.status == 404:
        return f"{_said(a, r)} — check upstream.url"
    if r.code is not None:
        return f"{_said(a, r)} — the platform asks to try again later (code in upstream.answer.retry)"
    return _said(a, r)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)

