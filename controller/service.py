"""The controller process: MQTT in, the pure engine, the durable event log, MQTT out.

One asyncio task (`_worker`) owns the engine and the store, so commands are executed one at
a time in arrival order; each batch of commands is written in one fsync'd transaction before
any reply, event or state is published. Time-caused events (rating prompt timeouts, the end
of the business day) come from the same task, so they are ordered with commands.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import json
import logging
import signal
import sqlite3
import time
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from paho.mqtt.client import MQTTMessageInfo

from controller.authz import CredentialCheck, Sender, authorize
from controller.checkpoint import Checkpointer
from controller.commands import parse_actor, parse_envelope
from controller.engine import Engine, Outcome, public_event
from controller.model import CommandFailed
from controller.retention import DayKeys, KeyUnavailable
from controller.snapshot import SnapshotStore
from controller.store import COMMAND_MEMORY, EventStore, StoredCommand, StoreError
from controller.timeguard import TimeGuard
from controller.upstream_reporter import UpstreamReporter
from hallq import sdnotify
from hallq.api import COMMAND_MAX_BYTES, BadPayload, DropLog, Topics, decode_object
from hallq.clock import Clock, SystemClock, clock_synchronised
from hallq.config import HallConfig, PrincipalConfig
from hallq.keys import ticket_key_path
from hallq.mqtt import Message, MqttLink
from hallq.msb.credentials import CredentialError, SignedTokenVerifier, green_channel
from hallq.msb.replay import SqliteReplayStore
from hallq.staffauth import StaffSecrets

log = logging.getLogger("hallq.controller")

BATCH_MAX = 256
EVENTS_PAGE = 1000          # `events` without a limit
EVENTS_MAX = 10_000
TICK_S = 1.0
PURGE_CHECK_S = 600.0      # how often days past evaluation.identity_keep_days are looked for (and at start)
# events between snapshots, besides the one after every day change (at midnight when running): a league
# day (~10,700 events) then pauses the worker for a snapshot (~0.6 s) only at the day change, and a restart
# late in the day replays at most this many events (~0.2 s)
SNAPSHOT_EVERY = 20_000


@dataclass
class _Pending:
    cmd_id: str | None
    reply_to: str | None
    reply: dict[str, Any]
    events: list[dict[str, Any]]
    stored: StoredCommand | None


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("upstream reporter stopped: %s — evaluations wait in the log; restart the controller",
                  task.exception())


class ControllerService:
    def __init__(self, cfg: HallConfig, data_dir: Path, clock: Clock, config_text: str = "", *,
                 snapshots: bool = True, compact: bool = True) -> None:
        self.cfg = cfg
        self.clock = clock
        self.store = EventStore(data_dir)
        self.checkpoints = Checkpointer(cfg, self.store, data_dir)
        self.snapshots = SnapshotStore(data_dir) if snapshots else None
        self.compact = compact
        self.engine = Engine(cfg, compact=compact)
        self._snapshot_seq = 0
        self._snapshot_day = self.engine.state.today
        self.upstream = UpstreamReporter(cfg, data_dir, clock)   # ValueError for a bad `upstream` section
        self.config_text = config_text
        self.config_path: Path | None = None      # the file SIGHUP / `hallq reload` reads again
        self.reload_wanted = False
        self.link: MqttLink | None = None
        self._published_state: dict[str, Any] = {}
        self._in_flight: deque[tuple[int, MQTTMessageInfo]] = deque()
        self._published_seq = 0
        self._last_prune: datetime | None = None
        self.topics = Topics(cfg.hall.id)
        self.drops = DropLog(f"controller {cfg.hall.id}")
        self.staff_secrets = StaffSecrets(data_dir)
        self.used_tokens = SqliteReplayStore(data_dir / "used-tokens.sqlite3")
        self.keys = DayKeys(data_dir)            # personal data kept only as long as needed (controller/retention.py)
        self._purge_checked: float | None = None
        self._verifiers: dict[str, SignedTokenVerifier] = {}
        self.degraded: tuple[datetime, str] | None = None    # since when and why the log cannot be written
        self.guard = TimeGuard(cfg.zone)
        self._state_checked = 0.0

    def now(self) -> datetime:
        """The clock's time in the hall's time zone (events carry local offsets), checked by the time guard
        against the clock's monotonic time where it has one (controller/timeguard.py)."""
        wall = self.clock.now().astimezone(self.cfg.zone)
        mono = getattr(self.clock, "monotonic", None)
        if mono is None:
            return wall
        if self.guard.last_used is None and self.store.head_seq:
            self.guard.last_used = datetime.fromisoformat(self.store.head_at) if self.store.head_at else None
        return self.guard.now(wall, mono(), self.engine.state.today).astimezone(self.cfg.zone)

    def topic(self, *parts: str) -> str:
        return self.cfg.topic(*parts)

    # -- life cycle ------------------------------------------------------------------------------
    def open(self) -> None:
        self.store.open()
        if self.config_text:
            self.store.record_config(self.config_text)
        self.engine.secret = self.store.ticket_secret(ticket_key_path(self.cfg, self.store.data_dir))
        if self.snapshots is not None:
            self.snapshots.open()
        self.used_tokens.open()
        try:
            self.keys.open()
        except KeyUnavailable as e:
            raise StoreError(str(e)) from None
        self._rebuild()
        for day in sorted(self.keys.days() & set(self.engine.state.purged)):   # a stop between log and destroy
            self._destroy_key(day, "again: its purge was logged before the last stop")
        self._published_seq = int(self.store.get_meta("published") or 0)
        self.checkpoints.open(self.now())

    def _rebuild(self) -> None:
        """The engine from the newest valid snapshot plus the events after it, or from the whole log."""
        t0 = time.monotonic()
        secret = self.engine.secret
        loaded = self.snapshots.load(self.cfg, secret, self.store.hash_at) if self.snapshots is not None else None
        if loaded is not None:
            self.engine, after = loaded.engine, loaded.seq
        else:
            self.engine, after = Engine(self.cfg, secret, compact=self.compact), 0
        n = 0
        for ev in self.store.events(after=after):
            self.engine.apply(ev)
            n += 1
        self.engine.keys = self.keys
        self._snapshot_seq, self._snapshot_day = after, self.engine.state.today
        log.info("controller %s: rebuilt state from %s and %d events in %s (%.2f s)", self.cfg.hall.id,
                 f"the snapshot after seq {after}" if loaded else "nothing", n, self.store.path,
                 time.monotonic() - t0)
        if n >= SNAPSHOT_EVERY:
            self.write_snapshot()

    def write_snapshot(self) -> None:
        """Write a snapshot of the engine as of the log's head (the engine has applied exactly that)."""
        if self.snapshots is None or self.store.head_seq == 0:
            return
        t0 = time.monotonic()
        try:
            size = self.snapshots.save(self.engine, self.cfg, self.store.head_seq, self.store.head_hash)
        except Exception as e:  # a snapshot is only a cache: the log has everything
            log.warning("controller %s: could not write a snapshot to %s: %s", self.cfg.hall.id,
                        self.snapshots.path, e)
            return
        self._snapshot_seq, self._snapshot_day = self.store.head_seq, self.engine.state.today
        log.info("controller %s: snapshot after seq %d (%d kB) written in %.2f s", self.cfg.hall.id,
                 self.store.head_seq, size // 1024, time.monotonic() - t0)

    def close(self) -> None:
        self.used_tokens.close()
        self.store.close()
        if self.snapshots is not None:
            self.snapshots.close()

    async def run(self, stop: asyncio.Event) -> None:
        self.open()
        self._watch_reload()
        status = self.topic("controller", "status")
        self.link = MqttLink(self.cfg, f"hallq-controller-{self.cfg.hall.id}", clean=False,
                             will=(status, {"state": "lost"}), on_connected=self._on_connected)
        if isinstance(self.clock, SystemClock) and clock_synchronised() is False:
            log.warning("controller %s: the system clock is not synchronised (NTP): opening hours, the business day "
                        "and every time in the log follow it — run `hallq doctor`", self.cfg.hall.id)
        if not self.cfg.secure:
            log.warning("controller %s: the hall is OPEN (no `security: {mode: secure}`): anyone who reaches the "
                        "broker %s:%d can issue, call, rate and read every reply — run `hallq secure init` and "
                        "configure principals for a real hall", self.cfg.hall.id, self.cfg.mqtt.host,
                        self.cfg.mqtt.port)
        self.link.subscribe(self.topics.cmd_filter(self.cfg.secure), 1)
        self.link.subscribe(self.topic("device", "+", "status"), 1)
        await self.link.start()
        worker = asyncio.create_task(self._worker(stop))
        if self.cfg.evaluation.web_port is not None:
            log.warning("controller %s: evaluation.web_port is ignored: the citizen's ticket page (补充评价) is served "
                        "by `hallq console` at /t now; point kiosks' lookup_url there", self.cfg.hall.id)
        upstream = asyncio.create_task(self.upstream.run(stop), name="upstream")
        upstream.add_done_callback(_report_crash)
        await stop.wait()
        await worker
        with contextlib.suppress(Exception):
            await upstream  # an in-flight POST finishes: at most upstream.timeout_s
        self._note_published()
        self._publish_checkpoints(self.checkpoints.stop(self.now()))
        await self.link.stop(final=(status, {"state": "offline", "at": self.now().isoformat()}))
        self.close()
        log.info("controller %s: stopped cleanly", self.cfg.hall.id)

    def _on_connected(self) -> None:
        assert self.link is not None
        self._published_state.clear()
        self._publish_state()
        # events written but maybe never delivered before a crash: consumers dedup by seq
        for ev in self.store.events(after=self._published_seq):
            self._publish_event(ev)
        self._publish_status()
        log.info("controller %s: online", self.cfg.hall.id)
        sdnotify.ready(f"online: hall {self.cfg.hall.id}, log at seq {self.store.head_seq}")

    # -- the one task that owns engine and store -------------------------------------------------
    async def _worker(self, stop: asyncio.Event) -> None:
        assert self.link is not None
        q = self.link.messages
        while not stop.is_set():
            try:
                first = await asyncio.wait_for(q.get(), TICK_S)
            except TimeoutError:
                first = None
            batch = [first] if first is not None else []
            while len(batch) < BATCH_MAX and not q.empty():
                batch.append(q.get_nowait())
            try:
                await self._process(batch)
            except Exception:  # the controller never dies on one batch: rebuild from the log
                log.exception("controller %s: failed to process a batch of %d messages; rebuilding state "
                              "from the event log", self.cfg.hall.id, len(batch))
                self._rebuild()
            try:
                self._housekeeping()
            except (sqlite3.Error, OSError) as e:   # bookkeeping waits for space like the log does
                self.drops.drop("housekeeping", f"cannot write the controller's bookkeeping: {e}")
            if self.reload_wanted:   # SIGHUP: between two batches (controller/reload.py)
                self.reload()

    # -- configuration reload: SIGHUP or `hallq reload` (controller/reload.py) ---------------------
    def _watch_reload(self) -> None:
        """SIGHUP asks for a reload; DATA/controller.pid tells `hallq reload` whom to signal."""
        from controller.reload import remove_pid, write_pid

        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, lambda: setattr(self, "reload_wanted", True))
        except (ValueError, RuntimeError):   # not the main thread (an in-process controller: sim day, tests)
            log.info("controller %s: no SIGHUP reload here (not the process's main thread)", self.cfg.hall.id)
            return
        write_pid(self.store.data_dir)
        atexit.register(remove_pid, self.store.data_dir)

    def reload(self) -> str | None:
        """Read the config file again, validated as at start; run it, or refuse it and keep the running one."""
        from controller.reload import apply_reload

        self.reload_wanted = False
        return apply_reload(self)

    async def _process(self, batch: list[Message]) -> None:
        now = self.now()
        pending: list[_Pending] = []
        tick_events = self.engine.tick(now)
        if tick_events:
            pending.append(_Pending(None, None, {}, tick_events, None))
        if self._purge_checked is None or time.monotonic() - self._purge_checked >= PURGE_CHECK_S:
            self._purge_checked = time.monotonic()
            purged = self.engine.purge_due(now, self.keys.days())
            if purged:
                pending.append(_Pending(None, None, {}, purged, None))
        in_batch: dict[tuple[str, str], _Pending] = {}
        for msg in batch:
            p = self._device(msg, now) if "/device/" in msg.topic else self._execute(msg, now, in_batch)
            if p is not None:
                pending.append(p)
                if p.stored is not None:
                    in_batch[(p.stored.principal, p.stored.id)] = p
        for kind, message in self.guard.take_alerts():
            log.error("controller %s: %s", self.cfg.hall.id, message)
            pending.insert(0, _Pending(None, None, {}, self.engine.clock_alert(now, kind, message), None))
        if self.degraded is not None and pending:
            pending.insert(0, _Pending(None, None, {}, self.engine.recovered_storage(now, *self.degraded), None))
        to_write = [(p.events, p.stored) for p in pending if p.events or p.stored]
        if to_write:
            try:
                written = await asyncio.to_thread(self.store.append, to_write, now)
            except (sqlite3.Error, OSError) as e:
                self._storage_failed(pending, e, now)
                return
            it = iter(written)
            for p in pending:
                if p.events or p.stored:
                    p.events = next(it)
            if self.degraded is not None:
                self.degraded = None
                log.warning("controller %s: the event log can be written again; back online", self.cfg.hall.id)
                self._publish_status()
        for p in pending:
            for ev in p.events:
                if ev["type"] == "identity.purged":
                    self._destroy_key(date.fromisoformat(ev["date"]), f"after {ev['kept_days']} days "
                                      f"({ev['identities']} tickets with a citizen's data)")
                self._publish_event(ev)
        if any(p.events for p in pending) or time.monotonic() - self._state_checked >= TICK_S:
            self._state_checked = time.monotonic()   # waits drift with time: looked at once a tick at least
            self._publish_state()
        assert self.link is not None
        for p in pending:
            if p.reply_to:
                self.link.publish(p.reply_to, {"id": p.cmd_id, **p.reply})

    def _destroy_key(self, day: date, why: str) -> None:
        """The day's key is logged as purged: destroy it (a failure is retried at the next start)."""
        try:
            gone = self.keys.destroy(day)
        except OSError as e:
            log.error("controller %s: cannot destroy the day key of %s (%s): %s — it is retried at the next start",
                      self.cfg.hall.id, day.isoformat(), why, e)
            return
        if gone:
            log.info("controller %s: purged the personal data of %s %s", self.cfg.hall.id, day.isoformat(), why)

    def _execute(self, msg: Message, now: datetime, in_batch: dict[tuple[str, str], _Pending]) -> _Pending | None:
        route = self.topics.parse(msg.topic, secure=self.cfg.secure)
        if route.kind != "cmd":
            self.drops.drop(msg.topic, "not a command topic")
            return None
        name = route.name
        principal: PrincipalConfig | None = None
        if self.cfg.secure:
            principal = self.cfg.security.principal(route.principal or "")
            if principal is None:
                self.drops.drop(msg.topic, f"command from {route.principal!r}, which is not a principal of this hall")
                return None
        sender_id = principal.id if principal else None
        try:
            body = decode_object(msg.payload, max_bytes=COMMAND_MAX_BYTES)
        except BadPayload as e:
            readable = self._readable_envelope(msg.payload, sender_id)
            if readable is None:
                self.drops.drop(msg.topic, f"{e} (and no usable reply_to)")
                return None
            return _Pending(readable[0], readable[1], _error("BAD_REQUEST", str(e)), [], None)
        raw_to = body.get("reply_to")
        problem = self.topics.reply_to_problem(raw_to, sender_id) if isinstance(raw_to, str) else "no reply_to"
        if problem is not None:
            self.drops.drop(msg.topic, f"command dropped unexecuted: reply_to refused: {problem}")
            return None
        try:
            cmd_id, reply_to = parse_envelope(body)
            actor = parse_actor(body)
        except CommandFailed as e:
            cid = body.get("id")
            return _Pending(cid if isinstance(cid, str) else None, str(raw_to), _error(e.code, e.message), [], None)
        key = (sender_id or "", cmd_id)
        earlier = in_batch.get(key)
        stored = earlier.stored if earlier else self.store.command(cmd_id, sender_id or "")
        if stored is not None:
            if stored.name != name:
                return _Pending(cmd_id, reply_to, _error(
                    "BAD_REQUEST", f"command id {cmd_id!r} was already used for '{stored.name}'; a new command "
                    "needs a new id"), [], None)
            log.info("repeat of %s %s: sending the original reply again", name, cmd_id)
            return _Pending(cmd_id, reply_to, stored.reply, [], None)
        if name == "events":
            return _Pending(cmd_id, reply_to, self._events(body, Sender(principal, actor)), [], None)
        sender = Sender(principal, actor, self._check_credential(name, body, principal, now),
                        self._check_pin(name, body, principal))
        args = {k: v for k, v in body.items() if k not in ("pin", "credential")}   # never stored nor logged
        try:
            out = self.engine.handle(name, args, now, sender)
        except Exception:  # one command's bug must not cost the others their answer
            log.exception("controller %s: %s %s failed inside the engine; answered INTERNAL", self.cfg.hall.id,
                          name, cmd_id)
            out = Outcome(_error("INTERNAL", f"the controller failed on this '{name}' command; it was not "
                                             "executed — the error is in the controller's log"))
        if not out.ok:
            log.info("%s %s refused: %s", name, cmd_id, out.reply["error"]["code"])
        return _Pending(cmd_id, reply_to, out.reply, out.events,
                        StoredCommand(cmd_id, name, out.reply, sender_id or ""))

    def _storage_failed(self, pending: list[_Pending], err: Exception, now: datetime) -> None:
        """The batch could not be made durable (disk full, I/O error, CONTRACT §3.1): nothing of it happened.
        Commands answer UNAVAILABLE (not remembered: the same id is executed once the log can be written),
        except refusals that need no log (BAD_REQUEST, FORBIDDEN, repeats); the engine goes back to the log."""
        assert self.link is not None
        reason = f"the event log {self.store.path} cannot be written: {err}"
        if self.degraded is None:
            self.degraded = (now, reason)
            log.error("controller %s: %s — commands answer UNAVAILABLE until it can; nothing is lost",
                      self.cfg.hall.id, reason)
            self._publish_status()
        for p in pending:
            if not p.reply_to:
                continue
            code = p.reply.get("error", {}).get("code") if not p.reply.get("ok") else None
            reply = p.reply if p.stored is None or code in ("BAD_REQUEST", "FORBIDDEN") else _error(
                "UNAVAILABLE", f"not executed: {reason}; send it again with the same id")
            self.link.publish(p.reply_to, {"id": p.cmd_id, **reply})
        self._rebuild()
        self._publish_state()

    def _publish_status(self) -> None:
        assert self.link is not None
        body: dict[str, Any] = {"state": "online", "at": self.now().isoformat()}
        if self.degraded is not None:
            body.update(state="degraded", reason=self.degraded[1])
        body["log"] = self.store.log
        self.link.publish(self.topics.controller_status(), body, retain=True)

    def _readable_envelope(self, payload: bytes, sender: str | None) -> tuple[str | None, str] | None:
        """The id and reply_to of a payload the guarded decoder refused, when they can be read safely and the
        reply_to is valid (the BAD_REQUEST then reaches the sender, CONTRACT §3.7)."""
        if len(payload) > 4 * COMMAND_MAX_BYTES:
            return None
        try:
            body = json.loads(payload.decode("utf-8", "replace"))
        except (ValueError, RecursionError):
            return None
        to = body.get("reply_to") if isinstance(body, dict) else None
        if not isinstance(to, str) or self.topics.reply_to_problem(to, sender) is not None:
            return None
        cid = body.get("id")
        ok_id = isinstance(cid, str) and 0 < len(cid) <= 64 and "\ufffd" not in cid and cid.isprintable()
        return (cid if ok_id else None), to

    def _events(self, body: dict[str, Any], sender: Sender) -> dict[str, Any]:
        """`events` (CONTRACT §3.7): the log's events after `since_seq`, exactly as they were published."""
        since, limit = body.get("since_seq"), body.get("limit", EVENTS_PAGE)
        if not isinstance(since, int) or isinstance(since, bool) or since < 0:
            return _error("BAD_REQUEST", "events: 'since_seq' must be an integer ≥ 0")
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= EVENTS_MAX:
            return _error("BAD_REQUEST", f"events: 'limit' must be an integer from 1 to {EVENTS_MAX}")
        try:
            authorize(self.cfg, sender, "events", body)
        except CommandFailed as e:
            return _error(e.code, e.message)
        events = [public_event(ev) for ev in itertools.islice(self.store.events(after=since), limit)]
        head = self.store.head_seq
        return {"ok": True, "result": {"events": events, "next_seq": events[-1]["seq"] if events else since,
                                       "head_seq": head, "first_seq": 1 if head else 0}}

    def _check_credential(self, name: str, body: dict[str, Any], principal: PrincipalConfig | None,
                          now: datetime) -> CredentialCheck | None:
        """The controller's own check of the 蒙速办 code an `issue` carries (each token once, across restarts)."""
        token = body.get("credential")
        if name != "issue" or token is None:
            return None
        if not isinstance(token, str) or not token.isascii() or len(token) > 4096 or not token.strip():
            return CredentialCheck(False, "'credential' must be the scanned code (ASCII text)")
        verifier = self._verifier(principal)
        if verifier is None:
            return CredentialCheck(False, "no kiosk of this hall has credential issuer keys configured")
        try:
            if token.startswith("APT1."):
                apt = verifier.verify_appointment(token, now, self.cfg.hall.id)
                return CredentialCheck(True, "appointment", appointment=True, holder=apt.holder.holder_key,
                                       rater=apt.holder.sealed, slot=(apt.slot_start, apt.slot_end),
                                       service=apt.service)
            holder = verifier.verify_credential(token, now)
        except CredentialError as e:
            return CredentialCheck(False, e.code.lower())
        except ValueError as e:
            return CredentialCheck(False, str(e))
        why = green_channel(holder, verifier.cfg, now.astimezone(self.cfg.zone).date())
        return CredentialCheck(True, why or "", green=why is not None, holder=holder.holder_key, rater=holder.sealed)

    def _verifier(self, principal: PrincipalConfig | None) -> SignedTokenVerifier | None:
        """The kiosk's credential settings: the kiosk whose id is the principal's, else the first with keys."""
        kiosks = [k for k in self.cfg.kiosks if k.credentials.issuer_public_keys]
        kiosk = next((k for k in kiosks if principal is not None and k.id == principal.id), None) or \
            (kiosks[0] if kiosks else None)
        if kiosk is None:
            return None
        if kiosk.id not in self._verifiers:
            self._verifiers[kiosk.id] = SignedTokenVerifier(kiosk.credentials, self.used_tokens,
                                                            self.cfg.evaluation.rater_public_key)
        return self._verifiers[kiosk.id]

    def _check_pin(self, name: str, body: dict[str, Any], principal: PrincipalConfig | None) -> bool | None:
        """A device login's PIN against the staff store (CONTRACT §5.4); None when no PIN was sent."""
        pin, staff = body.get("pin"), body.get("staff")
        if name != "login" or pin is None:
            return None
        if not isinstance(pin, str) or not isinstance(staff, str) or not pin.isdigit() or not 4 <= len(pin) <= 8:
            return False
        return self.staff_secrets.check_pin(staff, pin)

    def _device(self, msg: Message, now: datetime) -> _Pending | None:
        """A device status (CONTRACT §3.5) may raise an alert: offline devices, printer paper."""
        device = msg.topic.split("/")[-2]
        try:
            body = msg.json()
            state = str(body["state"])
        except (ValueError, KeyError, TypeError):
            log.warning("device %s: unreadable status on %s — expected {\"state\": ...}", device, msg.topic)
            return None
        paper = body.get("paper") if isinstance(body, dict) else None
        status = {"out": "paper_out", "near_end": "paper_near_end"}.get(str(paper), state)
        events = self.engine.device_status(device, status, now)
        return _Pending(None, None, {}, events, None) if events else None

    # -- publishing ---------------------------------------------------------------------------
    def _publish_event(self, ev: dict[str, Any]) -> None:
        assert self.link is not None
        info = self.link.publish(self.topics.event(ev["type"]), public_event(ev))
        if info is not None:
            self._in_flight.append((ev["seq"], info))

    def _publish_state(self) -> None:
        """Retained state (CONTRACT §3.3), republished on change; each payload carries the controller's
        `at` and `log`, so a consumer can tell the controller's facts from a stale or forged retained copy."""
        assert self.link is not None
        st = self.engine.state
        stamp = {"at": self.now().isoformat(), "log": self.store.log}
        for wid in st.windows:
            body = st.window_json(wid)
            topic = self.topics.state_window(wid)
            if self._published_state.get(topic) != body:
                self._published_state[topic] = body
                self.link.publish(topic, {**body, **stamp}, retain=True)
        queues = st.queues_json(self.now())
        key = self.topics.state_queues()
        if self._published_state.get(key) != queues["services"]:
            self._published_state[key] = queues["services"]
            self.link.publish(key, {**queues, "log": self.store.log}, retain=True)
        open_alerts = st.open_alerts + (1 if self.degraded is not None else 0)   # `storage` counts at once
        key = self.topics.state_alerts()    # CONTRACT §3.3 (v2): the open alerts
        if self._published_state.get(key) != open_alerts:
            self._published_state[key] = open_alerts
            self.link.publish(key, {**stamp, "open": open_alerts}, retain=True)

    def _note_published(self) -> None:
        seq = self._published_seq
        while self._in_flight and self._in_flight[0][1].is_published():
            seq = self._in_flight.popleft()[0]
        if seq != self._published_seq:
            self._published_seq = seq
            self.store.set_meta("published", str(seq))

    def _publish_checkpoints(self, cps: list[dict[str, Any]]) -> None:
        if self.link is not None:
            for cp in cps:
                self.link.publish(self.topics.checkpoint(), cp, retain=True)

    def _housekeeping(self) -> None:
        self._note_published()
        self._publish_checkpoints(self.checkpoints.due(self.now(), self.engine.state.today))
        if self.engine.state.today != self._snapshot_day \
                or self.store.head_seq - self._snapshot_seq >= SNAPSHOT_EVERY:
            self.write_snapshot()
        now = self.now()
        if self._last_prune is None or now - self._last_prune > timedelta(hours=1):
            self._last_prune = now
            self.store.forget_commands_before(now - COMMAND_MEMORY)


def _error(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}
