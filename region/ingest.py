"""`hallq region ingest`: every hall's events from the regional broker into PostgreSQL exactly once (CONTRACT §7).

At least once in, idempotent on the way down:
- a persistent MQTT session (fixed client id, clean session off) with manual acknowledgement: a message is
  acknowledged only after the transaction holding it has committed, so a kill -9 or a PostgreSQL outage makes the
  broker deliver it again; `INSERT … ON CONFLICT DO NOTHING` on (hall, log, seq, at) takes it once;
- per hall, `hallq_ingest_state` holds the contiguous position (last seq without a gap before it). Rows after a
  gap wait in `hallq_events`; a gap older than `ingest.gap_wait_s` is filled with the hall's `events` command
  (CONTRACT §3.7) sent through its bridge, answered to `hallq/{hall}/reply/region/{client}/…`;
- the projection (tickets, alerts, work orders) and the day rollups advance with the position, in the same
  transaction, so each event is projected exactly once in seq order whatever order it arrived in.

Several ingest processes share the load through one MQTT shared subscription (`$share/hallq-ingest/…`): each
gets a part of every hall's events; the per-hall position row is locked (`FOR UPDATE`) while it advances, so the
projection stays single-file per hall.

A batch costs the same few statements whatever the number of halls in it (region/store.py); the per-message work
in Python is one guarded `json.loads` (region/payload.py), the projection of the new events and the acknowledgement.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import logging
import queue
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date
from operator import itemgetter
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import paho.mqtt.client as paho
import psycopg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from paho.mqtt.enums import CallbackAPIVersion

from hallq.api import BadPayload, DropLog, dumps
from hallq.config.region import RegionConfig
from hallq.errors import UsageError
from hallq.mqtt import Credentials
from region import project, schema, store
from region.payload import decode_text, event_month, has_nul
from region.store import Event

log = logging.getLogger("hallq.region.ingest")
SHARE_GROUP = "hallq-ingest"
BACKFILL_LIMIT = 5000
BACKFILL_TIMEOUT_S = 15.0


class Incoming(NamedTuple):
    mid: int
    qos: int
    topic: str
    payload: bytes


@dataclass
class _Gap:
    since: int                       # the position when the gap was seen
    seen: float                      # monotonic time
    asked: float | None = None       # when the `events` command went out
    cmd: str | None = None


@dataclass
class Stats:
    events: int = 0                  # rows offered to PostgreSQL (duplicates included)
    inserted: int = 0
    batches: int = 0
    backfills: int = 0
    projected: int = 0


def mqtt_client(cfg: RegionConfig, cred: Credentials | None, client_id: str, clean: bool) -> paho.Client:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean, protocol=paho.MQTTv311)
    if cred is not None:
        c.username_pw_set(cred.username, cred.password)
    if cfg.mqtt.tls:
        c.tls_set(ca_certs=cred.ca if cred is not None and cred.ca else None)
    c.reconnect_delay_set(min_delay=1, max_delay=5)
    c.max_queued_messages_set(0)
    c.max_inflight_messages_set(1000)   # (what this client sends: commands)
    return c


def verify_checkpoint(public_key_b64: str | None, cp: dict[str, Any]) -> bool | None:
    """CONTRACT §3.8: the Ed25519 signature of `{hall}\\n{log}\\n{seq}\\n{hash}\\n{at}`; None when no key is pinned."""
    if not public_key_b64:
        return None
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
        msg = f"{cp['hall']}\n{cp['log']}\n{cp['seq']}\n{cp['hash']}\n{cp['at']}".encode()
        key.verify(base64.b64decode(cp["sig"]), msg)
        return True
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False


class Ingest:
    def __init__(self, cfg: RegionConfig, cred: Credentials | None, name: str = "1", *,
                 shared: bool | None = None, part: tuple[int, int] | None = None) -> None:
        self.cfg = cfg
        self.cred = cred
        self.name = name
        self.shared = cfg.ingest.shared if shared is None else shared
        self.part = part
        if part is not None and self.shared:
            raise ValueError("--part and a shared subscription exclude each other")
        self.client_id = f"hallq-ingest-{cfg.region.id}-{name}"[:64]
        self.zone = ZoneInfo(cfg.region.timezone)
        self.halls = {h.id: h for i, h in enumerate(cfg.halls) if part is None or i % part[1] == part[0]}
        self.inbox: queue.SimpleQueue[Incoming] = queue.SimpleQueue()
        self.drops = DropLog("region ingest")
        self.gaps: dict[str, _Gap] = {}
        self.months: set[date] = set()
        self.stats = Stats()
        self.connected = threading.Event()
        self.conn: psycopg.Connection[Any] | None = None
        self.client: paho.Client | None = None
        self.reply_prefix = f"reply/region/{self.client_id}"
        self._unfillable: dict[str, int] = {}     # hall -> first_seq its log still holds (from an `events` reply)
        self._checked: set[str] = set()           # halls whose held rows were read back since this process began
        self._urgent: set[str] = set()            # halls whose `events` reply said there is more

    # -- MQTT (paho's thread) --------------------------------------------------------------------------------------
    def _subscriptions(self) -> list[tuple[str, int]]:
        """Own (one ingest), per hall (`part`), or shared. Checkpoints are never shared: each process sees every
        hall's retained checkpoint when it (re)subscribes, which reveals a tail it missed."""
        replies = [(f"hallq/+/{self.reply_prefix}/#", 1)]
        if self.part is not None:
            return [(f"hallq/{h}/{t}", 1) for h in self.halls for t in ("event/#", "audit/checkpoint")] + replies
        share = f"$share/{SHARE_GROUP}/" if self.shared else ""
        return [(share + "hallq/+/event/#", 1), ("hallq/+/audit/checkpoint", 1)] + replies

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        if rc != 0 and getattr(rc, "is_failure", True):
            log.warning("region ingest: the regional broker refused the connection: %s", rc)
            return
        client.subscribe(self._subscriptions())

    def _on_subscribe(self, *_a: Any) -> None:
        self.connected.set()
        log.info("region ingest %s: subscribed on %s:%s", self.name, self.cfg.mqtt.host, self.cfg.mqtt.port)

    def _on_disconnect(self, *_a: Any) -> None:
        self.connected.clear()

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        self.inbox.put(Incoming(msg.mid, msg.qos, msg.topic, bytes(msg.payload)))

    def start_mqtt(self) -> None:
        c = mqtt_client(self.cfg, self.cred, self.client_id, clean=False)
        c.manual_ack_set(True)
        c.on_connect, c.on_subscribe, c.on_message = self._on_connect, self._on_subscribe, self._on_message
        c.on_disconnect = self._on_disconnect
        c.connect_async(self.cfg.mqtt.host, self.cfg.mqtt.port, keepalive=self.cfg.mqtt.keepalive_s)
        c.loop_start()
        self.client = c

    # -- PostgreSQL ------------------------------------------------------------------------------------------------
    def _db(self) -> psycopg.Connection[Any]:
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.conn = psycopg.connect(self.cfg.postgres, autocommit=True, connect_timeout=5)
            schema.create(self.conn, self.cfg.ingest.months_ahead)
            store.create_staging(self.conn)
            self.months = set()
        return self.conn

    # -- the loop --------------------------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        delay = 0.5
        while not stop.is_set():            # the schema first: no message is taken before it can be written
            try:
                self._db()
                break
            except psycopg.Error as e:
                log.warning("region ingest: PostgreSQL not reachable yet (%s); retrying in %.1f s",
                            str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__, delay)
                self.conn = None
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
        self.start_mqtt()
        done = threading.Event()
        roll = threading.Thread(target=self._rollup_loop, args=(stop, done), name="hallq-ingest-rollups", daemon=True)
        roll.start()
        last_check = 0.0
        try:
            while not stop.is_set():
                batch = self._take(self.cfg.ingest.batch, self.cfg.ingest.flush_ms / 1000)
                if batch:
                    self._commit_with_retry(batch, stop)
                if time.monotonic() - last_check >= 0.5:
                    last_check = time.monotonic()
                    self._fill_gaps(stop)
        finally:
            done.set()
            if self.client is not None:
                self.client.disconnect()
                self.client.loop_stop()
            roll.join(30)
            if self.conn is not None:
                self.conn.close()

    def _take(self, most: int, wait_s: float) -> list[Incoming]:
        try:
            first = self.inbox.get(timeout=wait_s)
        except queue.Empty:
            return []
        out = [first]
        deadline = time.monotonic() + wait_s
        while len(out) < most:
            try:
                out.append(self.inbox.get(timeout=max(0.0, deadline - time.monotonic())) if len(out) < 2
                           else self.inbox.get_nowait())
            except queue.Empty:
                break
        return out

    def _commit_with_retry(self, batch: list[Incoming], stop: threading.Event) -> None:
        """Commit, then acknowledge. A lost connection (PostgreSQL restarting) is retried with back-off while the
        batch stays unacknowledged; a batch PostgreSQL refuses for its content is split until the one message it
        refuses is found, which is logged and dropped (never a stall on one poisoned message)."""
        delay = 0.2
        while not stop.is_set():
            try:
                self.commit(batch)
                break
            except (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError) as e:
                self._reset()
                if len(batch) == 1:
                    self.drops.drop(batch[0].topic, f"PostgreSQL refused it ({_first_line(e)})")
                    break
                half = len(batch) // 2
                self._commit_with_retry(batch[:half], stop)
                self._commit_with_retry(batch[half:], stop)
                return
            except psycopg.Error as e:
                log.warning("region ingest: PostgreSQL: %s; the batch of %d messages is kept unacknowledged and "
                            "retried in %.1f s", _first_line(e), len(batch), delay)
                self._reset()
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
        else:
            return
        assert self.client is not None
        for m in batch:
            if m.qos > 0:
                self.client.ack(m.mid, m.qos)

    def _reset(self) -> None:
        with contextlib.suppress(psycopg.Error):
            if self.conn is not None:
                self.conn.close()
        self.conn = None

    # -- one batch -------------------------------------------------------------------------------------------------
    def _parse(self, batch: list[Incoming]) -> tuple[list[Event], list[dict[str, Any]], set[date]]:
        """The batch's events (hall, event, its JSON text), its checkpoints, and the months its events fall in."""
        events: list[Event] = []
        cps: list[dict[str, Any]] = []
        months: set[date] = set()
        for m in batch:
            parts = m.topic.split("/")
            if len(parts) < 4 or parts[0] != "hallq" or parts[1] not in self.halls:
                self.drops.drop(m.topic, "not a hall of this region")
                continue
            hall = parts[1]
            try:
                body, text = decode_text(m.payload)
            except BadPayload as e:
                self.drops.drop(m.topic, f"unreadable payload ({e})")
                continue
            if not isinstance(body, dict):
                self.drops.drop(m.topic, "not a JSON object")
                continue
            if parts[2] != "reply" and "\\u0000" in text and has_nul(body):
                self.drops.drop(m.topic, "a string holds U+0000, which PostgreSQL's jsonb cannot store")
                continue
            if parts[2] == "event":
                month = event_month(body)
                if month is not None:
                    events.append((hall, body, text))
                    months.add(month)
                else:
                    self.drops.drop(m.topic, "an event needs type, seq, log and at")
            elif parts[2:4] == ["audit", "checkpoint"]:
                cps.append({**body, "hall": hall})
            elif parts[2:4] == ["reply", "region"]:
                for ev in self._reply(hall, body):
                    month = event_month(ev)
                    if month is not None and not has_nul(ev):
                        events.append((hall, ev, json.dumps(ev, ensure_ascii=False)))
                        months.add(month)
        return events, cps, months

    def _reply(self, hall: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        gap = self.gaps.get(hall)
        if gap is not None and gap.cmd == body.get("id"):
            gap.asked = None
            gap.cmd = None
            gap.seen = 0.0                 # look again at once: more pages, or done
        if not body.get("ok"):
            err = body.get("error") or {}
            log.warning("region ingest: hall %s refused `events`: %s %s", hall, err.get("code"), err.get("message"))
            return []
        result = body.get("result") or {}
        evs = result.get("events") if isinstance(result, dict) else None
        if not isinstance(evs, list):
            return []
        self.stats.backfills += 1
        nxt, head = result.get("next_seq"), result.get("head_seq")
        if isinstance(nxt, int) and isinstance(head, int) and nxt < head:
            self._urgent.add(hall)          # more pages: ask again at once, not after gap_wait_s
        first = result.get("first_seq")
        if isinstance(first, int) and first > 1:
            self._unfillable[hall] = first
        return [ev for ev in evs if isinstance(ev, dict)]

    def commit(self, batch: list[Incoming]) -> None:
        """One transaction: the batch's rows, checkpoints, positions and projection (the caller acknowledges)."""
        events, cps, months = self._parse(batch)
        conn = self._db()
        for m in sorted(months - self.months):
            schema.ensure_partition(conn, m)
            self.months.add(m)
        with conn.transaction(), conn.cursor() as cur:
            if events:
                self.stats.inserted += store.insert_events(cur, events)
            for cp_ in cps:
                h = self.halls[cp_["hall"]]
                with contextlib.suppress(KeyError, TypeError):
                    cur.execute("INSERT INTO hallq_checkpoints (hall, log, seq, hash, at, key, sig, verified) "
                                "VALUES (%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                                (h.id, str(cp_["log"]), int(cp_["seq"]), str(cp_["hash"]), str(cp_["at"]),
                                 str(cp_["key"]), str(cp_["sig"]), verify_checkpoint(h.public_key, cp_)))
            unfillable, self._unfillable = self._unfillable, {}
            by_hall: dict[str, list[dict[str, Any]]] = {}
            for hid, ev, _t in events:
                by_hall.setdefault(hid, []).append(ev)
            cp_seq: dict[str, int] = {}
            for c in cps:
                if isinstance(c.get("seq"), int):
                    cp_seq[c["hall"]] = max(cp_seq.get(c["hall"], 0), c["seq"])
            touched = sorted(set(by_hall) | {c["hall"] for c in cps} | set(unfillable))
            runs: dict[str, list[dict[str, Any]]] = {}
            moved: dict[str, tuple[str | None, int]] = {}
            for hall, position in store.lock_positions(cur, touched).items():
                self._advance(cur, hall, position, unfillable.get(hall), cp_seq.get(hall, 0), by_hall.get(hall, []),
                              runs, moved)
            if runs:
                ch = store.load(cur, runs)
                for hall, run in runs.items():
                    project.apply(hall, self.zone, run, ch)
                    self.stats.projected += len(run)
                store.save(cur, ch)
            store.move_positions(cur, moved)
        self.stats.events += len(events)
        self.stats.batches += 1

    def _advance(self, cur: psycopg.Cursor[Any], hall: str, position: tuple[str | None, int],
                 first_held: int | None, checkpoint_seq: int, mine: list[dict[str, Any]],
                 runs: dict[str, list[dict[str, Any]]], moved: dict[str, tuple[str | None, int]]) -> None:
        """Move the hall's position ((log, seq), its row locked) over every contiguous event now in the table: the
        events to project go to `runs`, the new position to `moved`; note a gap. `mine`: this batch's events of the
        hall — when they continue the position without a hole and nothing else can be waiting (one ingest, no gap
        known), they are the run and the table is not read back."""
        pos_log, pos = position
        fast = self._fast_run(hall, pos, first_held, mine)
        if fast is not None:
            if fast:
                runs[hall] = fast
                moved[hall] = (fast[-1]["log"], fast[-1]["seq"])
            new_pos = fast[-1]["seq"] if fast else pos
            if checkpoint_seq > new_pos:
                self.gaps[hall] = _Gap(new_pos, time.monotonic())
            return
        if first_held is not None and first_held > pos + 1:
            # the hall's log no longer holds pos+1 …: the gap cannot be filled; note it and move past it
            cur.execute("INSERT INTO hallq_gaps (hall, log, from_seq, to_seq, reason) VALUES (%s,%s,%s,%s,%s) "
                        "ON CONFLICT DO NOTHING", (hall, pos_log, pos + 1, first_held - 1,
                                                   "no longer in the hall's log (first_seq)"))
            log.warning("region ingest: hall %s: events %d..%d are no longer in its log; noted in hallq_gaps",
                        hall, pos + 1, first_held - 1)
            pos = first_held - 1
        self._checked.add(hall)
        cur.execute("SELECT seq, log, body FROM hallq_events WHERE hall = %s AND seq > %s "
                    "ORDER BY seq, ingested_at LIMIT 50000", (hall, pos))
        run = []
        expect = pos + 1
        more = False
        for seq, lg, body in cur.fetchall():
            if seq == expect:
                run.append(body)
                pos_log = lg
                expect += 1
            elif seq > expect:
                more = True
                break
        new_pos = expect - 1
        if run:
            runs[hall] = run
        if (pos_log, new_pos) != position:
            moved[hall] = (pos_log, new_pos)
        if more or checkpoint_seq > new_pos:
            g = self.gaps.get(hall)
            if g is None or g.since != new_pos:
                log.info("region ingest: hall %s: a gap after seq %d (%s)", hall, new_pos,
                         "a later event is held" if more else f"its checkpoint is at seq {checkpoint_seq}")
                urgent = hall in self._urgent
                self._urgent.discard(hall)
                self.gaps[hall] = _Gap(new_pos, 0.0 if urgent else time.monotonic())
        else:
            self.gaps.pop(hall, None)
            self._urgent.discard(hall)

    def _fast_run(self, hall: str, pos: int, first_held: int | None,
                  mine: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        if self.shared or hall in self.gaps or first_held is not None or hall not in self._checked:
            return None
        run: list[dict[str, Any]] = []
        expect = pos + 1
        for ev in sorted(mine, key=itemgetter("seq")):
            if ev["seq"] < expect:
                continue
            if ev["seq"] != expect:
                return None
            run.append(ev)
            expect += 1
        return run

    def _rollup_loop(self, stop: threading.Event, done: threading.Event) -> None:
        """The rollups every half second on their own connection: the work is PostgreSQL's, and the batches do not
        wait for it. Its commits need not wait for the disk: a rollup lost in a crash is lost with the removal of
        its marks, so it is recomputed (and the next batch's commit flushes it anyway)."""
        conn: psycopg.Connection[Any] | None = None
        delay = 0.5
        while not stop.wait(delay) and not done.is_set():
            try:
                if conn is None or conn.closed or conn.broken:
                    conn = psycopg.connect(self.cfg.postgres, autocommit=True, connect_timeout=5)
                    conn.execute("SET synchronous_commit = off")
                store.rollups(conn)
                delay = 0.5
            except psycopg.Error as e:
                log.warning("region ingest: rollups: %s (retried in %.0f s)", _first_line(e)[:200], delay * 2)
                with contextlib.suppress(psycopg.Error):
                    if conn is not None:
                        conn.close()
                conn = None
                delay = min(delay * 2, 8.0)
        if conn is not None:
            conn.close()

    # -- gaps ------------------------------------------------------------------------------------------------------
    def _fill_gaps(self, stop: threading.Event) -> None:
        if self.client is None or not self.connected.is_set():
            return
        now = time.monotonic()
        for hall, g in list(self.gaps.items()):
            if g.asked is not None and now - g.asked < BACKFILL_TIMEOUT_S:
                continue
            if g.asked is None and now - g.seen < self.cfg.ingest.gap_wait_s:
                continue
            pos = self._position(hall)
            if pos is None:
                return
            cid = f"bf-{uuid.uuid4().hex[:16]}"
            g.asked, g.cmd, g.since = now, cid, pos
            topic = f"hallq/{hall}/cmd/region/events"
            reply_to = f"hallq/{hall}/{self.reply_prefix}/{cid}"
            self.client.publish(topic, dumps({"id": cid, "reply_to": reply_to, "since_seq": pos,
                                              "limit": BACKFILL_LIMIT}), qos=1)
            log.info("region ingest: hall %s: asking for the events after seq %d (a gap)", hall, pos)

    def _position(self, hall: str) -> int | None:
        try:
            row = self._db().execute("SELECT seq FROM hallq_ingest_state WHERE hall = %s", (hall,)).fetchone()
        except psycopg.Error:
            self.conn = None
            return None
        return int(row[0]) if row else 0


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def run(args: argparse.Namespace, cfg: RegionConfig, cred: Credentials | None) -> int:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_a: stop.set())
    part = None
    if args.part:
        k, _, n = args.part.partition("/")
        if not (k.isdigit() and n.isdigit() and 0 <= int(k) < int(n)):
            raise UsageError(f"--part {args.part!r}: give K/N with 0 <= K < N (this process takes every N-th hall)")
        part = (int(k), int(n))
    shared = True if args.shared else (False if part else None)
    ing = Ingest(cfg, cred, args.name or (f"part{part[0]}of{part[1]}" if part else "1"), shared=shared, part=part)
    log.info("region ingest %s: %d halls into PostgreSQL (%s)", ing.name, len(ing.halls),
             "shared subscription" if ing.shared else f"part {args.part}" if part else "one ingest")
    ing.run(stop)
    log.info("region ingest %s: stopped (%d events, %d new rows)", ing.name, ing.stats.events, ing.stats.inserted)
    return 0

