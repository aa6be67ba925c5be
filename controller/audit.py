"""`hallq audit verify`: walk the hash chain of the event log and name the first bad record."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.store import DB_NAME, GENESIS, chain_hash


@dataclass(frozen=True)
class AuditResult:
    ok: bool
    records: int
    problem: str = ""


def verify(data_dir: str | Path) -> AuditResult:
    path = Path(data_dir) / DB_NAME
    if not path.exists():
        return AuditResult(False, 0, f"{path}: no event log here — is --data the controller's data directory?")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return _walk(db, db.execute("SELECT value FROM meta WHERE key = 'head'").fetchone())
        finally:
            db.close()
    except sqlite3.Error as e:
        return AuditResult(False, 0, f"{path}: cannot read the event log: {e}")


def _walk(db: sqlite3.Connection, head_row: tuple[Any, ...] | None) -> AuditResult:
    """Follow the chain row by row (a year of a league centre is millions of rows: never all in memory)."""
    prev, expected = GENESIS, 1
    for seq, at, type_, body, stored_prev, stored_hash in db.execute(
            "SELECT seq, at, type, body, prev, hash FROM events ORDER BY seq"):
        what = f"record seq {seq} ({type_} at {at})"
        if seq != expected:
            gone = f"seq {expected}" if seq == expected + 1 else f"seq {expected}–{seq - 1}"
            return AuditResult(False, expected - 1, f"{what}: {gone} missing before it — a record was removed")
        if stored_prev != prev:
            return AuditResult(False, seq - 1, f"{what}: its link to the previous record is wrong — records "
                               "were removed, inserted or reordered")
        if chain_hash(prev, seq, at, type_, body) != stored_hash:
            return AuditResult(False, seq - 1, f"{what}: its content does not match its hash — the record "
                               "was edited")
        prev, expected = stored_hash, seq + 1
    last = expected - 1
    if not _stored_in_order(db):
        return AuditResult(False, last, "the records are stored out of order — the table was rewritten")
    if head_row is None:
        if last:
            return AuditResult(False, last, "the head marker is missing — the log was tampered with")
    else:
        head_seq, _, head_hash = str(head_row[0]).partition(":")
        if int(head_seq) != last:
            return AuditResult(False, last, f"the log ends at seq {last} but was last written at seq {head_seq} — "
                               "records at the end were removed or added outside the controller")
        if last and head_hash != prev:
            return AuditResult(False, last, f"record seq {last}: its hash is not the one the controller wrote last "
                               "— the chain was rewritten")
    return AuditResult(True, last)


def run(args: argparse.Namespace) -> int:
    res = verify(args.data)
    if res.ok:
        print(f"event log {Path(args.data) / DB_NAME}: intact, {res.records} records")
        return 0
    sys.stderr.write(f"event log {Path(args.data) / DB_NAME}: NOT intact: {res.problem}\n")
    return 1


def _stored_in_order(db: sqlite3.Connection) -> bool:
    """Rows in their physical order carry rising seqs (a rewritten table need not)."""
    last = 0
    for (seq,) in db.execute("SELECT seq FROM events"):
        if seq < last:
            return False
        last = seq
    return True
