"""The event log: an append-only, hash-chained SQLite (WAL) file, the controller's source of truth.

Each command is one transaction holding its events and its reply (for idempotent repeats);
with `synchronous=FULL` the commit is fsync'd before anyone is told. Every event row carries
the hash of the previous row, and `meta.head` the last seq and hash, so that an edited,
removed, reordered or truncated row is detected by `verify()`.

Every event written carries `log`, the id of the log segment it was written in (CONTRACT §3.4;
`segments` lists them with the seq they began after). A stored reply is bound to the chain: its
salted hash (`reply_digest`) is in the command's first event as `reply_hash`, or, for a command
that produced no event, in a `replies.bound` record the same transaction writes. The salt stays in
the `commands` row and is never published (a reply holds the ticket's code). Signed checkpoints
(`controller/checkpoint.py`) are kept in `checkpoints`, the public keys that signed them in
`audit_keys`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hallq.config import config_sha
from hallq.keys import KeyFileError, load_ticket_key
from hallq.sqlite import open_durable

log = logging.getLogger("hallq.controller")

GENESIS = "0" * 64
REPLIES_RECORD = "replies.bound"
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
  seq   INTEGER PRIMARY KEY,
  at    TEXT NOT NULL,
  type  TEXT NOT NULL,
  body  TEXT NOT NULL,
  prev  TEXT NOT NULL,
  hash  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
  id    TEXT PRIMARY KEY,
  name  TEXT NOT NULL,
  reply TEXT NOT NULL,
  at    TEXT NOT NULL,
  salt  TEXT,
  seq   INTEGER,
  slot  INTEGER
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS configs (n INTEGER PRIMARY KEY, at TEXT NOT NULL, sha TEXT NOT NULL, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments (
  n INTEGER PRIMARY KEY, log TEXT NOT NULL UNIQUE, after INTEGER NOT NULL, at TEXT NOT NULL, reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
  n INTEGER PRIMARY KEY, hall TEXT NOT NULL, log TEXT NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL,
  at TEXT NOT NULL, key TEXT NOT NULL, sig TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_keys (key TEXT PRIMARY KEY, public TEXT NOT NULL, at TEXT NOT NULL);
"""
# columns a log written before reply binding lacks (added in place: old rows keep NULL = not bound)
COMMAND_COLUMNS = (("salt", "TEXT"), ("seq", "INTEGER"), ("slot", "INTEGER"))
DB_NAME = "hallq.sqlite3"
LEGACY_TICKET_SECRET = "ticket_secret"  # meta of logs written before the key moved beside the config
FORGOTTEN = "replies_forgotten_through"   # meta: the highest seq whose bound replies were forgotten (48 h)
# meta `schema`: the layout of this log. 1 = before the key existed (v1 logs, e.g. commit f17c2c1); 2 = reply
# binding columns, segments, checkpoints; 3 = day keys (holder hashes `hk2:`, identities wrapped `RIDD1.`,
# `identity.purged`: controller/retention.py — an older hallq could neither open nor purge them). A newer
# hallq migrates an older log forward at open (`_upgrade`); an older hallq refuses a newer log (`check_schema`)
# instead of writing rows it does not understand.
LOG_SCHEMA = 3
SCHEMA_KEY = "schema"


def log_schema(db: sqlite3.Connection) -> int:
    """The schema version a log records (1 for a log written before versions were recorded)."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is None:
        return 1
    row = db.execute("SELECT value FROM meta WHERE key = ?", (SCHEMA_KEY,)).fetchone()
    try:
        return int(row[0]) if row else 1
    except ValueError:
        return 10**9     # unreadable: treat as newer than anything this code knows


def check_schema(path: Path) -> int:
    """The schema of the log at `path` (0 when there is none yet); StoreError when it is newer than this hallq's."""
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found = log_schema(db)
    finally:
        db.close()
    if found > LOG_SCHEMA:
        raise StoreError(f"the event log {path} was written by a newer hallq (log schema {found}; this hallq "
                         f"reads schema {LOG_SCHEMA} and older) — install that hallq version again (or newer); "
                         "an older hallq never writes to a newer log")
    return found


def canonical(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def chain_hash(prev: str, seq: int, at: str, type_: str, body: str) -> str:
    return hashlib.sha256(f"{prev}\n{seq}\n{at}\n{type_}\n{body}".encode()).hexdigest()


def reply_digest(salt: str, key: str, name: str, reply: str) -> str:
    """The salted hash of a stored reply (`reply` as stored: canonical JSON) that the chain holds."""
    return hashlib.sha256(bytes.fromhex(salt) + f"{key}\n{name}\n{reply}".encode()).hexdigest()


def new_log_id() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True)
class StoredCommand:
    id: str
    name: str
    reply: dict[str, Any]
    principal: str = ""      # the sender in a secure hall (CONTRACT §5.2: the key is (principal, id)); "" open

    @property
    def key(self) -> str:
        """The command memory's key: the id alone in an open hall (as v1 logs hold it), else principal + id."""
        return command_key(self.id, self.principal)


def command_key(cid: str, principal: str = "") -> str:
    return f"{principal}\x1f{cid}" if principal else cid


class StoreError(Exception):
    pass


class EventStore:
    """Constructor stores the path; `open()` creates or opens the database."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        self._db: sqlite3.Connection | None = None
        self.head_seq = 0
        self.head_hash = GENESIS
        self.head_at = ""
        self._log = ""

    def open(self) -> EventStore:
        try:
            check_schema(self.path)
            db = open_durable(self.path, SCHEMA)
            self._db = db
            self._upgrade(db)
        except (OSError, sqlite3.Error) as e:
            self.close()
            raise StoreError(f"cannot open the event log {self.path}: {e} — check the --data directory") from None
        row = db.execute("SELECT seq, hash, at FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        if row:
            self.head_seq, self.head_hash, self.head_at = int(row[0]), str(row[1]), str(row[2])
        seg = db.execute("SELECT log FROM segments ORDER BY n DESC LIMIT 1").fetchone()
        if seg is None:
            self.start_segment("a new log" if self.head_seq == 0 else "a log written before segments")
        else:
            self._log = str(seg[0])
        return self

    @staticmethod
    def _upgrade(db: sqlite3.Connection) -> None:
        """Give a log of an earlier version the columns reply binding needs (its rows stay as they were)."""
        have = {str(r[1]) for r in db.execute("PRAGMA table_info(commands)")}
        for col, kind in COMMAND_COLUMNS:
            if col not in have:
                db.execute(f"ALTER TABLE commands ADD COLUMN {col} {kind}")
        db.execute("CREATE INDEX IF NOT EXISTS commands_seq ON commands(seq)")
        db.execute("CREATE INDEX IF NOT EXISTS checkpoints_seq ON checkpoints(log, seq)")
        if log_schema(db) < LOG_SCHEMA:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (SCHEMA_KEY, str(LOG_SCHEMA)))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(f"event log {self.path} is not open")
        return self._db

    @property
    def log(self) -> str:
        """The id of the log segment new events are written in (CONTRACT §3.4 `log`)."""
        return self._log

    def start_segment(self, reason: str) -> str:
        """Begin a new log segment after the current head (a fresh log, or a data directory restored from a
        backup): events written from now on carry its id, so they never pass for ones written before."""
        log_id = new_log_id()
        self.db.execute("INSERT INTO segments(log, after, at, reason) VALUES (?,?,?,?)",
                        (log_id, self.head_seq, datetime.now().astimezone().isoformat(), reason))
        self._log = log_id
        return log_id

    def segment_after(self, log_id: str) -> int | None:
        """The seq segment `log_id` began after, or None when this log never had that segment."""
        row = self.db.execute("SELECT after FROM segments WHERE log = ?", (log_id,)).fetchone()
        return None if row is None else int(row[0])

    # -- writing -------------------------------------------------------------------------------
    def append(self, batch: list[tuple[list[dict[str, Any]], StoredCommand | None]],
               now: datetime | None = None) -> list[list[dict[str, Any]]]:
        """Write several commands' events and replies in one durable transaction.

        Returns each command's events with their `seq` assigned (the published form). Replies of commands
        without events are bound by one `replies.bound` record, returned with the first such command
        (`now`, default the wall clock, is its time; never before the newest event's).
        """
        db = self.db
        seq, prev, head_at = self.head_seq, self.head_hash, self.head_at
        out: list[list[dict[str, Any]]] = []
        rows: list[tuple[int, str, str, str, str, str]] = []
        cmds: list[list[Any]] = []
        loose: list[tuple[list[Any], str]] = []   # (commands row, digest) of commands without events
        loose_at: int | None = None               # index in `out` where the record goes

        def write(at: str, type_: str, fields: dict[str, Any]) -> dict[str, Any]:
            nonlocal seq, prev, head_at
            seq += 1
            fields["log"] = self._log
            body = canonical(fields)
            h = chain_hash(prev, seq, at, type_, body)
            rows.append((seq, at, type_, body, prev, h))
            prev, head_at = h, at
            return {"type": type_, "seq": seq, "at": at, **fields}

        # the command memory's time: the service's clock (not the machine's), as a UTC instant, so pruning by
        # the same clock compares instants whatever the machine's or the hall's zone
        stamp = (now or datetime.now(UTC)).astimezone(UTC).isoformat()
        for events, cmd in batch:
            row: list[Any] | None = None
            digest = ""
            if cmd is not None:
                salt, reply = os.urandom(16).hex(), canonical(cmd.reply)
                digest = reply_digest(salt, cmd.key, cmd.name, reply)
                row = [cmd.key, cmd.name, reply, stamp, salt, None, None]
                cmds.append(row)
            done = []
            for i, ev in enumerate(events):
                fields = {k: v for k, v in ev.items() if k not in ("at", "type", "seq", "log")}
                if i == 0 and row is not None:
                    fields["reply_hash"] = digest
                    row[5] = seq + 1
                done.append(write(ev["at"], ev["type"], fields))
            if row is not None and not events:
                loose.append((row, digest))
                if loose_at is None:
                    loose_at = len(out)
            out.append(done)
        if loose and loose_at is not None:
            at = (now or datetime.now()).astimezone()
            if head_at and datetime.fromisoformat(head_at) > at:
                at = datetime.fromisoformat(head_at)
            for slot, (row, _) in enumerate(loose):
                row[5], row[6] = seq + 1, slot
            out[loose_at].append(write(at.isoformat(), REPLIES_RECORD, {"replies": [d for _, d in loose]}))
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT INTO events(seq, at, type, body, prev, hash) VALUES (?,?,?,?,?,?)", rows)
            db.executemany("INSERT OR IGNORE INTO commands(id, name, reply, at, salt, seq, slot) "
                           "VALUES (?,?,?,?,?,?,?)", cmds)
            if rows:
                db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('head', ?)", (f"{seq}:{prev}",))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:   # SQLite may already have rolled back (disk full during COMMIT)
                db.execute("ROLLBACK")
            raise
        self.head_seq, self.head_hash, self.head_at = seq, prev, head_at
        return out

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def drop_meta_securely(self, key: str) -> None:
        """Remove a meta value so that no copy stays in the file: overwritten in place, WAL emptied."""
        self.db.execute("PRAGMA secure_delete=ON")
        self.db.execute("DELETE FROM meta WHERE key = ?", (key,))
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.execute("PRAGMA secure_delete=OFF")

    def ticket_secret(self, key_file: Path) -> bytes:
        """The ticket-code key from its key file beside the config; a secret an earlier version kept in this
        database is moved there once (printed tickets stay valid) and removed from the database."""
        legacy = self.get_meta(LEGACY_TICKET_SECRET)
        try:
            secret = load_ticket_key(key_file, legacy)
        except KeyFileError as e:
            raise StoreError(str(e)) from None
        if legacy is not None:
            self.drop_meta_securely(LEGACY_TICKET_SECRET)
            log.info("event log %s: the ticket-code key moved out of the database into %s", self.path, key_file)
        return secret

    def record_config(self, text: str) -> None:
        """Keep the configuration this data directory ran with (reports need no --config)."""
        sha = config_sha(text)
        row = self.db.execute("SELECT sha FROM configs ORDER BY n DESC LIMIT 1").fetchone()
        if row is None or row[0] != sha:
            self.db.execute("INSERT INTO configs(at, sha, text) VALUES (?, ?, ?)",
                            (datetime.now().astimezone().isoformat(), sha, text))

    def latest_config(self) -> str | None:
        row = self.db.execute("SELECT text FROM configs ORDER BY n DESC LIMIT 1").fetchone()
        return None if row is None else str(row[0])

    def forget_commands_before(self, cutoff: datetime) -> None:
        """Forget replies older than `cutoff`; the highest seq they were bound at is kept, so `audit verify`
        knows which bindings may have lost their reply."""
        db = self.db
        cut = cutoff.astimezone(UTC).isoformat()
        row = db.execute("SELECT max(seq) FROM commands WHERE at < ?", (cut,)).fetchone()
        gone = int(row[0]) if row and row[0] is not None else 0
        db.execute("BEGIN IMMEDIATE")
        try:
            if gone > int(self.get_meta(FORGOTTEN) or 0):
                self.set_meta(FORGOTTEN, str(gone))
            db.execute("DELETE FROM commands WHERE at < ?", (cut,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # -- checkpoints ---------------------------------------------------------------------------
    def add_checkpoint(self, cp: dict[str, Any]) -> None:
        self.db.execute("INSERT INTO checkpoints(hall, log, seq, hash, at, key, sig) VALUES (?,?,?,?,?,?,?)",
                        (cp["hall"], cp["log"], cp["seq"], cp["hash"], cp["at"], cp["key"], cp["sig"]))

    def last_checkpoint(self) -> dict[str, Any] | None:
        row = self.db.execute("SELECT hall, log, seq, hash, at, key, sig FROM checkpoints "
                              "ORDER BY n DESC LIMIT 1").fetchone()
        return None if row is None else dict(zip(("hall", "log", "seq", "hash", "at", "key", "sig"), row,
                                                 strict=True))

    def record_public_key(self, key_id: str, public_b64: str) -> None:
        """The data directory's copy of the public key that signs its checkpoints (`audit verify` without
        --config uses it, saying so)."""
        self.db.execute("INSERT OR IGNORE INTO audit_keys(key, public, at) VALUES (?,?,?)",
                        (key_id, public_b64, datetime.now().astimezone().isoformat()))

    # -- reading -------------------------------------------------------------------------------
    def command(self, cid: str, principal: str = "") -> StoredCommand | None:
        row = self.db.execute("SELECT name, reply FROM commands WHERE id = ?",
                              (command_key(cid, principal),)).fetchone()
        return None if row is None else StoredCommand(cid, row[0], json.loads(row[1]), principal)

    def hash_at(self, seq: int) -> str | None:
        """The chain hash of record `seq`, or None when the log has no such record."""
        row = self.db.execute("SELECT hash FROM events WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else str(row[0])

    def time_at(self, seq: int) -> datetime | None:
        """When record `seq` was written, or None when the log has no such record."""
        row = self.db.execute("SELECT at FROM events WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else datetime.fromisoformat(str(row[0]))

    def events(self, after: int = 0) -> Iterator[dict[str, Any]]:
        cur = self.db.execute("SELECT seq, at, type, body FROM events WHERE seq > ? ORDER BY seq", (after,))
        for seq, at, type_, body in cur:
            yield {"type": type_, "seq": seq, "at": at, **json.loads(body)}


COMMAND_MEMORY = timedelta(hours=48)
