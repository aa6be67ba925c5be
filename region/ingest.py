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
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as paho
import psycopg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from paho.mqtt.enums import CallbackAPIVersion
from psycopg.types.json import Jsonb

from hallq.api import BadPayload, DropLog, decode, dumps
from hallq.config.region import RegionConfig
from hallq.errors import UsageError
from hallq.mqtt import Credentials
from region import project, schema

log = logging.getLogger("hallq.region.ingest")
SHARE_GROUP = "hallq-ingest"
BACKFILL_LIMIT = 5000
BACKFILL_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Incoming:
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
    lag: list[float] = field(default_factory=list)


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
        self.inbox: queue.Queue[Incoming] = queue.Queue()
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
            self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS hallq_stage (hall text, log text, seq bigint, "
                              "type text, at timestamptz, body jsonb)")
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
        last_check = 0.0
        try:
            while not stop.is_set():
                batch = self._take(self.cfg.ingest.batch, self.cfg.ingest.flush_ms / 1000)
                if batch:
                    self._commit_with_retry(batch, stop)
                if time.monotonic() - last_check >= 0.5:
                    last_check = time.monotonic()
                    self._fill_gaps(stop)
                    try:
                        self.rollups()
                    except psycopg.Error as e:
                        log.warning("region ingest: rollups: %s (retried)", str(e).strip()[:200])
                        self.conn = None
        finally:
            if self.client is not None:
                self.client.disconnect()
                self.client.loop_stop()
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
    def _parse(self, batch: list[Incoming]) -> tuple[list[tuple[str, dict[str, Any], str]], list[dict[str, Any]]]:
        events: list[tuple[str, dict[str, Any], str]] = []      # (hall, event, its JSON text)
        cps: list[dict[str, Any]] = []
        for m in batch:
            parts = m.topic.split("/")
            if len(parts) < 4 or parts[0] != "hallq" or parts[1] not in self.halls:
                self.drops.drop(m.topic, "not a hall of this region")
                continue
            hall = parts[1]
            try:
                body = decode(m.payload)
            except BadPayload as e:
                self.drops.drop(m.topic, f"unreadable payload ({e})")
                continue
            if not isinstance(body, dict):
                self.drops.drop(m.topic, "not a JSON object")
                continue
            if parts[2] != "reply" and b"\\u0000" in m.payload and _has_nul(body):
                self.drops.drop(m.topic, "a string holds U+0000, which PostgreSQL's jsonb cannot store")
                continue
            if parts[2] == "event":
                if _event_ok(body):
                    events.append((hall, body, m.payload.decode("utf-8")))
                else:
                    self.drops.drop(m.topic, "an event needs type, seq, log and at")
            elif parts[2:4] == ["audit", "checkpoint"]:
                cps.append({**body, "hall": hall})
            elif parts[2:4] == ["reply", "region"]:
                events += self._reply(hall, body)
        return events, cps

    def _reply(self, hall: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
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
        out = [(hall, ev, json.dumps(ev, ensure_ascii=False)) for ev in evs
               if isinstance(ev, dict) and _event_ok(ev) and not _has_nul(ev)]
        self.stats.backfills += 1
        nxt, head = result.get("next_seq"), result.get("head_seq")
        if isinstance(nxt, int) and isinstance(head, int) and nxt < head:
            self._urgent.add(hall)          # more pages: ask again at once, not after gap_wait_s
        first = result.get("first_seq")
        if isinstance(first, int) and first > 1:
            self._unfillable[hall] = first
        return out

    def commit(self, batch: list[Incoming]) -> None:
        events, cps = self._parse(batch)
        conn = self._db()
        for _h, ev, _t in events:
            m = schema.month_start(datetime.fromisoformat(ev["at"]).date())
            if m not in self.months:
                schema.ensure_partition(conn, m)
                self.months.add(m)
        now = time.time()
        with conn.transaction():
            if events:
                with conn.cursor() as cur:
                    with cur.copy("COPY hallq_stage (hall, log, seq, type, at, body) FROM STDIN") as cp:
                        for hall, ev, text in events:
                            cp.write_row((hall, ev["log"], ev["seq"], ev["type"], ev["at"], text))
                    cur.execute("INSERT INTO hallq_events (hall, log, seq, type, at, body) SELECT hall, log, seq, "
                                "type, at, body FROM hallq_stage ON CONFLICT DO NOTHING")
                    self.stats.inserted += max(cur.rowcount, 0)
                    cur.execute("TRUNCATE hallq_stage")
            for cp_ in cps:
                h = self.halls[cp_["hall"]]
                with contextlib.suppress(KeyError, TypeError):
                    conn.execute("INSERT INTO hallq_checkpoints (hall, log, seq, hash, at, key, sig, verified) "
                                 "VALUES (%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                                 (h.id, str(cp_["log"]), int(cp_["seq"]), str(cp_["hash"]), str(cp_["at"]),
                                  str(cp_["key"]), str(cp_["sig"]), verify_checkpoint(h.public_key, cp_)))
            unfillable, self._unfillable = self._unfillable, {}
            touched = sorted({h for h, _e, _t in events} | {c["hall"] for c in cps} | set(unfillable))
            by_hall: dict[str, list[dict[str, Any]]] = {}
            for hid, ev, _t in events:
                by_hall.setdefault(hid, []).append(ev)
            for hall in touched:
                self._advance(conn, hall, unfillable.get(hall),
                              max((int(c["seq"]) for c in cps if c["hall"] == hall and isinstance(c.get("seq"), int)),
                                  default=0), by_hall.get(hall, []))
        self.stats.events += len(events)
        self.stats.batches += 1
        for _h, ev, _t in events:
            with contextlib.suppress(ValueError, TypeError):
                self.stats.lag.append(now - datetime.fromisoformat(ev["at"]).timestamp())
        if len(self.stats.lag) > 200_000:
            del self.stats.lag[:100_000]

    def _advance(self, conn: psycopg.Connection[Any], hall: str, first_held: int | None, checkpoint_seq: int,
                 mine: list[dict[str, Any]]) -> None:
        """Move the hall's position over every contiguous event now in the table; project them; note a gap.
        `mine`: this batch's events of the hall — when they continue the position without a hole and nothing else
        can be waiting (one ingest, no gap known), they are the run and the table is not read back."""
        row = conn.execute("INSERT INTO hallq_ingest_state (hall) VALUES (%s) ON CONFLICT (hall) DO UPDATE SET "
                           "hall = excluded.hall RETURNING log, seq", (hall,)).fetchone()   # and locks the row
        assert row is not None
        pos_log, pos = row[0], int(row[1])
        fast = self._fast_run(hall, pos, first_held, mine)
        if fast is not None:
            run = fast
            if run:
                self._project(conn, hall, run)
                self.stats.projected += len(run)
                conn.execute("UPDATE hallq_ingest_state SET log = %s, seq = %s, updated_at = now() WHERE hall = %s",
                             (run[-1]["log"], run[-1]["seq"], hall))
            new_pos = run[-1]["seq"] if run else pos
            if checkpoint_seq > new_pos:
                self.gaps[hall] = _Gap(new_pos, time.monotonic())
            return
        if first_held is not None and first_held > pos + 1:
            # the hall's log no longer holds pos+1 …: the gap cannot be filled; note it and move past it
            conn.execute("INSERT INTO hallq_gaps (hall, log, from_seq, to_seq, reason) VALUES (%s,%s,%s,%s,%s) "
                         "ON CONFLICT DO NOTHING", (hall, pos_log, pos + 1, first_held - 1,
                                                    "no longer in the hall's log (first_seq)"))
            log.warning("region ingest: hall %s: events %d..%d are no longer in its log; noted in hallq_gaps",
                        hall, pos + 1, first_held - 1)
            pos = first_held - 1
        self._checked.add(hall)
        rows = conn.execute("SELECT seq, log, body FROM hallq_events WHERE hall = %s AND seq > %s "
                            "ORDER BY seq, ingested_at LIMIT 50000", (hall, pos)).fetchall()
        run = []
        expect = pos + 1
        more = False
        for seq, lg, body in rows:
            if seq == expect:
                run.append(body)
                pos_log = lg
                expect += 1
            elif seq > expect:
                more = True
                break
        new_pos = expect - 1
        if run:
            self._project(conn, hall, run)
            self.stats.projected += len(run)
        if new_pos != int(row[1]) or pos_log != row[0]:
            conn.execute("UPDATE hallq_ingest_state SET log = %s, seq = %s, updated_at = now() WHERE hall = %s",
                         (pos_log, new_pos, hall))
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
        for ev in sorted(mine, key=lambda e: int(e["seq"])):
            if ev["seq"] < expect:
                continue
            if ev["seq"] != expect:
                return None
            run.append(ev)
            expect += 1
        return run

    def _project(self, conn: psycopg.Connection[Any], hall: str, events: list[dict[str, Any]]) -> None:
        ch = project.Changes()
        keys = project.ticket_keys(events)
        if keys:
            days = sorted({d for d, _n in keys})
            for r in conn.execute(f"SELECT {_cols(project.TICKET_COLS)} FROM hallq_tickets "  # noqa: S608
                                  "WHERE hall = %s AND day = ANY(%s)", (hall, days)).fetchall():
                t = dict(zip(project.TICKET_COLS, r, strict=True))
                if (t["day"], t["number"]) in keys:
                    ch.tickets[(hall, t["day"], t["number"])] = t
        aids = project.alert_ids(events)
        if aids:
            for r in conn.execute(f"SELECT {_cols(project.ALERT_COLS)} FROM hallq_alerts "  # noqa: S608
                                  "WHERE hall = %s AND id = ANY(%s)", (hall, sorted(aids))).fetchall():
                ch.alerts[(hall, r[1])] = dict(zip(project.ALERT_COLS, r, strict=True))
        oids = project.order_ids(events)
        if oids:
            for r in conn.execute(f"SELECT {_cols(project.ORDER_COLS)} FROM hallq_workorders "  # noqa: S608
                                  "WHERE hall = %s AND id = ANY(%s)", (hall, sorted(oids))).fetchall():
                ch.orders[(hall, r[1])] = dict(zip(project.ORDER_COLS, r, strict=True))
        project.apply(hall, self.zone, events, ch)
        with conn.cursor() as cur:
            _upsert(cur, "hallq_tickets", project.TICKET_COLS, 3, list(ch.tickets.values()))
            _upsert(cur, "hallq_alerts", project.ALERT_COLS, 2, list(ch.alerts.values()))
            _upsert(cur, "hallq_workorders", project.ORDER_COLS, 2,
                    [{**o, "history": Jsonb(o["history"]), "forwarded": Jsonb(o["forwarded"]) if o["forwarded"]
                      else None} for o in ch.orders.values()])
            days = sorted({d for h, d in ch.days if h == hall})
            if days:        # the day rollups are recomputed from the rows soon after (`rollups`), at most 2× a second
                cur.executemany("INSERT INTO hallq_rollup_dirty (hall, day) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                                [(hall, d) for d in days])

    def rollups(self) -> int:
        """Recompute the day rollups marked dirty (one transaction: a crash leaves the marks for the next run)."""
        conn = self._db()
        with conn.transaction():
            dirty = conn.execute("DELETE FROM hallq_rollup_dirty RETURNING hall, day").fetchall()
            by_hall: dict[str, list[date]] = {}
            for hall, day in dirty:
                by_hall.setdefault(hall, []).append(day)
            with conn.cursor() as cur:
                for hall, days in sorted(by_hall.items()):
                    cur.execute("DELETE FROM hallq_rollup_day WHERE hall = %s AND day = ANY(%s)", (hall, days))
                    cur.execute(schema.ROLLUP, {"hall": hall, "days": days})
                    cur.execute(schema.ROLLUP_ALERTS, {"hall": hall, "days": days})
        return len(dirty)

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


def _cols(cols: tuple[str, ...]) -> str:
    return ", ".join(f'"{c}"' for c in cols)


def _upsert(cur: psycopg.Cursor[Any], table: str, cols: tuple[str, ...], nkey: int, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    sets = ", ".join(f'"{c}" = excluded."{c}"' for c in cols[nkey:])
    sql = (f"INSERT INTO {table} ({_cols(cols)}) VALUES ({', '.join(['%s'] * len(cols))}) "  # noqa: S608
           f"ON CONFLICT ({_cols(cols[:nkey])}) DO UPDATE SET {sets}")
    cur.executemany(sql, [tuple(r[c] for c in cols) for r in rows])


def _has_nul(v: Any) -> bool:
    if isinstance(v, str):
        return "\x00" in v
    if isinstance(v, dict):
        return any(_has_nul(k) or _has_nul(x) for k, x in v.items())
    if isinstance(v, list):
        return any(_has_nul(x) for x in v)
    return False


def _event_ok(ev: dict[str, Any]) -> bool:
    if not (isinstance(ev.get("type"), str) and isinstance(ev.get("seq"), int) and ev["seq"] >= 1
            and isinstance(ev.get("log"), str) and isinstance(ev.get("at"), str)):
        return False
    try:
        return datetime.fromisoformat(ev["at"]).tzinfo is not None
    except ValueError:
        return False


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

