"""Signed checkpoints of the event log (CONTRACT §3.8): made by the controller, kept in the log database,
handed to the service to publish retained on `audit/checkpoint`; and how a data directory restored from a
backup is recognised (a new log segment begins)."""

from __future__ import annotations

import base64
import json
import logging
import os
import sqlite3
from datetime import date, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from controller.store import EventStore, StoreError
from hallq.config import HallConfig
from hallq.keys import KeyFileError, key_id, load_signing_key, public_b64, signing_key_path, verify_signature

log = logging.getLogger("hallq.controller")

FIELDS = ("hall", "log", "seq", "hash", "at", "key", "sig")


def message(hall: str, log_id: str, seq: int, hash_: str, at: str) -> bytes:
    """The signed bytes: `{hall}\\n{log}\\n{seq}\\n{hash}\\n{at}` in UTF-8."""
    return f"{hall}\n{log_id}\n{seq}\n{hash_}\n{at}".encode()


def sign(key: Ed25519PrivateKey, hall: str, log_id: str, seq: int, hash_: str, at: str) -> dict[str, Any]:
    sig = base64.b64encode(key.sign(message(hall, log_id, seq, hash_, at))).decode("ascii")
    return {"hall": hall, "log": log_id, "seq": seq, "hash": hash_, "at": at,
            "key": key_id(key.public_key().public_bytes_raw()), "sig": sig}


def shape_problem(cp: Any) -> str | None:
    """Why `cp` is not a checkpoint as published, or None."""
    if not isinstance(cp, dict):
        return "not a JSON object"
    missing = [f for f in FIELDS if f not in cp]
    if missing:
        return f"missing {', '.join(missing)}"
    if not isinstance(cp["seq"], int) or isinstance(cp["seq"], bool) or cp["seq"] < 0:
        return "'seq' is not a whole number"
    bad = [f for f in FIELDS if f != "seq" and not isinstance(cp[f], str)]
    if bad:
        return f"{', '.join(bad)} not text"
    return None


def signature_ok(cp: dict[str, Any], public: Ed25519PublicKey) -> bool:
    return verify_signature(public, message(cp["hall"], cp["log"], cp["seq"], cp["hash"], cp["at"]), cp["sig"])


class Checkpointer:
    """Signs the log's head: at open when events are not yet covered, every `audit.checkpoint_every` events,
    at a day change and on demand (a clean stop). Constructor stores settings; `open()` loads the key."""

    def __init__(self, cfg: HallConfig, store: EventStore, data_dir: Path) -> None:
        self.cfg = cfg
        self.store = store
        self.data_dir = Path(data_dir)
        self.every = cfg.audit.checkpoint_every
        self.key_path = signing_key_path(cfg, self.data_dir)
        self.heads_path = Path(f"{self.key_path}.heads")
        self._key: Ed25519PrivateKey | None = None
        self._last_seq = -1
        self._last_log = ""
        self._day: date | None = None
        self._noted = (-1, "")
        self._unpublished: list[dict[str, Any]] = []
        self._failing = False

    def open(self, now: datetime) -> None:
        try:
            key = load_signing_key(self.key_path)
        except KeyFileError as e:
            raise StoreError(str(e)) from None
        pub = public_b64(key)
        pinned = self.cfg.audit.public_key
        if pinned is not None and pinned != pub:
            raise StoreError(f"audit.public_key in the config ({pinned}) is not the public key of the signing key "
                             f"{self.key_path} ({pub}) — put back the pinned key, or pin the new one")
        self._key = key
        self.store.record_public_key(key_id(key.public_key().public_bytes_raw()), pub)
        self._check_restore()
        last = self.store.last_checkpoint()
        if last is not None:
            self._last_seq, self._last_log = int(last["seq"]), str(last["log"])
        if self.store.head_seq > 0 and (self._last_seq, self._last_log) != (self.store.head_seq, self.store.log):
            self.make(now)           # the tail a crash left unsigned, or a new segment's start

    def _read_heads(self) -> dict[str, Any]:
        try:
            heads = json.loads(self.heads_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            log.warning("controller: %s is unreadable (%s); a restore from a backup before now goes unnoticed",
                        self.heads_path, e)
            return {}
        return heads if isinstance(heads, dict) else {}

    def _check_restore(self) -> None:
        """A data directory whose log no longer holds the head this controller last wrote to it was restored
        from a backup (or replaced): a new segment begins, so its new events never pass for the lost ones."""
        mine = self._read_heads().get(str(self.data_dir.resolve()))
        if not isinstance(mine, dict):
            return
        seq, hash_, log_id = mine.get("seq"), mine.get("hash"), mine.get("log")
        if not isinstance(seq, int) or not isinstance(hash_, str) or not isinstance(log_id, str):
            return
        held = self.store.hash_at(seq) if seq > 0 else None
        if (seq > 0 and held != hash_) or log_id != self.store.log:
            if self._fresh_segment_since_noted():
                log.warning("controller %s: %s does not hold seq %d of segment %s, the last this controller wrote "
                            "here — restored or replaced; it began segment %s since, events from now on carry it",
                            self.cfg.hall.id, self.store.path, seq, log_id, self.store.log)
                return
            reason = (f"restored or replaced: the log no longer holds seq {seq} of segment {log_id}, the last this "
                      f"controller wrote here (the log ends at seq {self.store.head_seq})")
            new = self.store.start_segment(reason)
            log.warning("controller %s: %s %s — events from now on are log segment %s", self.cfg.hall.id,
                        self.store.path, reason, new)

    def _fresh_segment_since_noted(self) -> bool:
        """The current segment was begun after the head was last noted and holds no event yet (a restore tool
        began it): a second new segment would add nothing."""
        row = self.store.db.execute("SELECT after, at FROM segments WHERE log = ?", (self.store.log,)).fetchone()
        try:
            begun = datetime.fromisoformat(str(row[1])).timestamp() if row else 0.0
            return row is not None and int(row[0]) == self.store.head_seq and \
                begun > self.heads_path.stat().st_mtime
        except (OSError, ValueError):
            return False

    def _note_head(self) -> None:
        """Remember (beside the key, outside the data directory) the head written to this data directory."""
        head = (self.store.head_seq, self.store.log)
        if head == self._noted:
            return
        heads = self._read_heads()
        heads[str(self.data_dir.resolve())] = {"log": self.store.log, "seq": self.store.head_seq,
                                               "hash": self.store.head_hash}
        tmp = self.heads_path.with_name(f".{self.heads_path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(heads, indent=0, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.heads_path)
        except OSError as e:
            if self._noted[0] < 0:
                log.warning("controller: cannot write %s (%s); a later restore from a backup goes unnoticed",
                            self.heads_path, e)
            self._noted = (0, "")
            return
        self._noted = head

    def make(self, now: datetime, seq: int | None = None) -> dict[str, Any] | None:
        """Sign record `seq` (default: the newest) now — None for an empty log or when the log cannot store
        it; stored in the log and queued for publishing."""
        if self._key is None or self.store.head_seq == 0:
            return None
        if seq is None or seq == self.store.head_seq:
            seq, hash_ = self.store.head_seq, self.store.head_hash
        else:
            held = self.store.hash_at(seq)
            if held is None:
                return None
            hash_ = held
        cp = sign(self._key, self.cfg.hall.id, self.store.log, seq, hash_, now.isoformat())
        try:
            self.store.add_checkpoint(cp)
        except sqlite3.Error as e:   # the disk is full or failing: the next batch tries again
            if not self._failing:
                log.error("controller %s: cannot store the checkpoint of seq %d in %s: %s — not published; "
                          "retried after the next batch", self.cfg.hall.id, cp["seq"], self.store.path, e)
            self._failing = True
            return None
        if self._failing:
            log.info("controller %s: checkpoints are stored again", self.cfg.hall.id)
        self._failing = False
        self._last_seq, self._last_log = cp["seq"], cp["log"]
        self._unpublished.append(cp)
        self._note_head()
        return cp

    def due(self, now: datetime, today: date | None) -> list[dict[str, Any]]:
        """After a batch: one checkpoint every `checkpoint_every` records (at exactly that spacing, also
        inside a large batch), and one covering the newest record when the business day changed; returns
        every checkpoint not yet handed out for publishing (oldest first)."""
        day_changed = self._day is not None and today is not None and today != self._day
        self._day = today
        # never sign a record of an earlier segment under this segment's id
        base = max(self._last_seq, self.store.segment_after(self.store.log) or 0)
        made = None
        while self.store.head_seq - base >= self.every:
            made = self.make(now, base + self.every)
            if made is None:
                break
            base = made["seq"]
        if day_changed and (made is None or made["seq"] != self.store.head_seq):
            self.make(now)
        self._note_head()
        out, self._unpublished = self._unpublished, []
        return out

    def stop(self, now: datetime) -> list[dict[str, Any]]:
        """A clean stop: one covering the newest event."""
        self.make(now)
        out, self._unpublished = self._unpublished, []
        return out
