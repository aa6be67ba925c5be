"""`hallq audit verify`: walk the hash chain of the event log, check its stored replies against the hashes
the chain holds, and check every signed checkpoint (the log's own and those held elsewhere, CONTRACT §3.8);
name the first bad record or divergence."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from controller.checkpoint import shape_problem, signature_ok
from controller.store import DB_NAME, FORGOTTEN, GENESIS, REPLIES_RECORD, chain_hash, reply_digest
from hallq.config import HallConfig
from hallq.keys import KeyFileError, key_id, parse_public_key, public_raw, signing_key_path


@dataclass(frozen=True)
class AuditResult:
    ok: bool
    records: int
    problem: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Held:
    """A checkpoint to check and where it came from (the log's own table, or a line of --against)."""

    cp: dict[str, Any]
    where: str


class AuditUsageError(Exception):
    """Bad --config / --against input: exit 2 with one line."""


def verify(data_dir: str | Path, *, public: Ed25519PublicKey | None = None, key_source: str = "",
           against: list[Held] | None = None) -> AuditResult:
    path = Path(data_dir) / DB_NAME
    against = against or []
    if not path.exists():
        known = max(against, key=lambda h: h.cp["seq"], default=None)
        more = (f"; checkpoints held elsewhere say log {known.cp['log']} reached seq {known.cp['seq']} "
                f"({known.where}) — the log was removed or replaced") if known else ""
        return AuditResult(False, 0, f"{path}: no event log here — is --data the controller's data directory?{more}")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return _audit(db, public, key_source, against)
        finally:
            db.close()
    except sqlite3.Error as e:
        return AuditResult(False, 0, f"{path}: cannot read the event log: {e}")


def _audit(db: sqlite3.Connection, public: Ed25519PublicKey | None, key_source: str,
           against: list[Held]) -> AuditResult:
    tables = {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    chain = _walk(db, db.execute("SELECT value FROM meta WHERE key = 'head'").fetchone())
    if not chain.ok:
        return chain
    last = chain.records
    held = [Held(dict(zip(("hall", "log", "seq", "hash", "at", "key", "sig"), row, strict=True)),
                 f"checkpoint #{n} of the log")
            for n, *row in db.execute("SELECT n, hall, log, seq, hash, at, key, sig FROM checkpoints ORDER BY n")] \
        if "checkpoints" in tables else []
    keys, notes = _keys(db, tables, public, key_source)
    if (held or against) and not keys:
        return AuditResult(False, last, "there are checkpoints to check but no public key: this data directory "
                                        "recorded none — give --config with the hall's pinned key", notes)
    problem = _checkpoints(db, tables, held + against, keys, last, hall_of(db) if "configs" in tables else None)
    if problem:
        return AuditResult(False, last, problem, notes)
    bound = 0
    if {"salt", "seq", "slot"} <= {str(r[1]) for r in db.execute("PRAGMA table_info(commands)")}:
        problem, bound = _replies(db)
        if problem:
            return AuditResult(False, last, problem, notes)
    newest = max((h.cp["seq"] for h in held), default=0)
    notes.append(f"{len(held)} checkpoints in the log and {len(against)} held elsewhere verified"
                 + (f", the newest at seq {newest}" + (f" ({last - newest} records after it)" if last > newest
                                                        else "") if held else "")
                 + f"; {bound} stored replies match their hashes in the chain")
    return AuditResult(True, last, "", notes)


def _keys(db: sqlite3.Connection, tables: set[str], public: Ed25519PublicKey | None,
          key_source: str) -> tuple[dict[str, Ed25519PublicKey], list[str]]:
    if public is not None:
        kid = key_id(public_raw(public))
        return {kid: public}, [f"public key {kid}: {key_source}"]
    keys: dict[str, Ed25519PublicKey] = {}
    if "audit_keys" in tables:
        for kid, text in db.execute("SELECT key, public FROM audit_keys ORDER BY at"):
            try:
                pub = parse_public_key(str(text), "the data directory's copy")
            except KeyFileError:
                continue
            if key_id(public_raw(pub)) == kid:
                keys[str(kid)] = pub
    if not keys:
        return keys, []
    return keys, [f"public key {', '.join(keys)}: the copy this data directory recorded at start (whoever can "
                  "rewrite the log can replace it too; give --config to check against the hall's own key)"]


def _checkpoints(db: sqlite3.Connection, tables: set[str], held: list[Held], keys: dict[str, Ed25519PublicKey],
                 last: int, hall: str | None) -> str | None:
    """The first divergence by seq: a checkpoint whose signature fails, or that the log does not hold."""
    segments = {str(log): int(after) for log, after in db.execute("SELECT log, after FROM segments")} \
        if "segments" in tables else {}
    problems: list[tuple[int, str]] = []
    for h in held:
        cp = h.cp
        what = f"checkpoint log {cp['log']} seq {cp['seq']} ({h.where})"
        pub = keys.get(cp["key"])
        if hall is not None and cp["hall"] != hall:
            problems.append((cp["seq"], f"{what}: a checkpoint of hall {cp['hall']!r}, not of {hall!r}"))
            continue
        if pub is None:
            problems.append((cp["seq"], f"{what}: signed by key {cp['key']}, not by {' or '.join(keys)} — "
                                        "a forged checkpoint, or another key"))
            continue
        if not signature_ok(cp, pub):
            problems.append((cp["seq"], f"{what}: its signature does not verify — the checkpoint was altered"))
            continue
        seq = cp["seq"]
        if seq > last:
            problems.append((seq, f"{what}: the log ends at seq {last} — records were removed (the log was "
                                  "emptied, truncated, or restored from an older backup)"))
            continue
        row = db.execute("SELECT hash, body FROM events WHERE seq = ?", (seq,)).fetchone() if seq else None
        hash_ = GENESIS if seq == 0 else str(row[0]) if row else ""
        if hash_ != cp["hash"]:
            problems.append((seq, f"{what}: the log holds another record at seq {seq} — it was rewritten (and "
                                  "re-chained) or replaced"))
            continue
        logged = _body_log(row[1]) if row else None
        if logged != cp["log"] and segments.get(cp["log"]) != seq:
            problems.append((seq, f"{what}: seq {seq} of this log belongs to segment {logged or '(none)'} — "
                                  "not the log that was signed"))
    return min(problems, key=lambda p: p[0])[1] if problems else None


def _body_log(body: str) -> str | None:
    try:
        value = json.loads(body).get("log")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _replies(db: sqlite3.Connection) -> tuple[str | None, int]:
    """Every stored reply against the salted hash its command's record holds; and every binding newer than
    what the 48-hour memory forgot must still have its reply."""
    n = 0
    for key, name, reply, salt, seq, slot in db.execute(
            "SELECT id, name, reply, salt, seq, slot FROM commands WHERE salt IS NOT NULL ORDER BY seq"):
        what = f"stored reply of command {_cmd_name(str(key))} ({name})"
        row = db.execute("SELECT type, body FROM events WHERE seq = ?", (seq,)).fetchone() if seq else None
        if row is None:
            return f"{what}: bound to record seq {seq}, which the log does not hold", n
        bound = _bound_hashes(str(row[0]), str(row[1]))
        want = bound[0] if slot is None and len(bound) == 1 and row[0] != REPLIES_RECORD else \
            bound[slot] if isinstance(slot, int) and 0 <= slot < len(bound) and row[0] == REPLIES_RECORD else None
        try:
            digest = reply_digest(str(salt), str(key), str(name), str(reply))
        except ValueError:
            digest = ""
        if want is None or digest != want:
            return f"{what}: does not match the hash in record seq {seq} — the stored reply was edited", n
        n += 1
    forgot = db.execute("SELECT value FROM meta WHERE key = ?", (FORGOTTEN,)).fetchone()
    since = int(forgot[0]) if forgot and str(forgot[0]).isdigit() else 0
    for seq, type_, body in _bindings(db, since):
        have = db.execute("SELECT count(*) FROM commands WHERE seq = ? AND salt IS NOT NULL", (seq,)).fetchone()[0]
        need = len(_bound_hashes(type_, body))
        if have < need:
            return (f"record seq {seq} ({type_}): binds {need} stored repl{'y' if need == 1 else 'ies'} but the "
                    f"command memory holds {have} — a stored reply was removed"), n
    return None, n


def _bindings(db: sqlite3.Connection, since: int) -> Iterator[tuple[int, str, str]]:
    yield from db.execute("SELECT seq, type, body FROM events WHERE seq > ? AND (type = ? OR instr(body, ?) > 0) "
                          "ORDER BY seq", (since, REPLIES_RECORD, '"reply_hash":'))


def _bound_hashes(type_: str, body: str) -> list[str]:
    try:
        value = json.loads(body)
    except ValueError:
        return []
    got = value.get("replies") if type_ == REPLIES_RECORD else [value.get("reply_hash")]
    return [h for h in got if isinstance(h, str)] if isinstance(got, list) else []


def _cmd_name(key: str) -> str:
    principal, sep, cid = key.partition("\x1f")
    return f"{cid!r} of {principal}" if sep else repr(key)


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


def _stored_in_order(db: sqlite3.Connection) -> bool:
    """Rows in their physical order carry rising seqs (a rewritten table need not)."""
    last = 0
    for (seq,) in db.execute("SELECT seq FROM events"):
        if seq < last:
            return False
        last = seq
    return True


# -- the command line --------------------------------------------------------------------------------
def configured_key(cfg: HallConfig, config_path: str, data: Path) -> tuple[Ed25519PublicKey, str]:
    """The public key a config names: `audit.public_key` pinned, else `FILE.pub` beside the signing key."""
    if cfg.audit.public_key:
        return parse_public_key(cfg.audit.public_key, f"{config_path}: audit.public_key"), \
            f"pinned in {config_path} (audit.public_key)"
    pub = Path(f"{signing_key_path(cfg, data)}.pub")
    try:
        text = pub.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as e:
        raise AuditUsageError(f"{config_path} pins no audit.public_key and {pub} cannot be read ({e}) — pin the "
                              "hall's public key in the config") from None
    return parse_public_key(text, str(pub)), f"{pub} (beside the signing key of {config_path})"


def read_against(path: str) -> list[Held]:
    """Checkpoints kept elsewhere: one JSON object per line, as published; a file, or an http(s) URL (e.g. the
    region's or the 好差评 platform's copy)."""
    try:
        if path.startswith(("http://", "https://")):
            import urllib.request
            with urllib.request.urlopen(path, timeout=30) as r:   # noqa: S310 (an http(s) URL the user gave)
                lines = r.read(64 * 1024 * 1024).decode("utf-8").splitlines()
        else:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise AuditUsageError(f"--against {path}: cannot read it: {e}") from None
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            cp = json.loads(line)
        except (ValueError, RecursionError) as e:
            raise AuditUsageError(f"--against {path} line {i}: not JSON ({e})") from None
        problem = shape_problem(cp)
        if problem:
            raise AuditUsageError(f"--against {path} line {i}: not a checkpoint as published: {problem}")
        out.append(Held(cp, f"{path} line {i}"))
    return out


def run(args: argparse.Namespace) -> int:
    data = Path(args.data)
    db = data / DB_NAME
    try:
        public, source = configured_key(args.cfg, args.config, data) if getattr(args, "cfg", None) else (None, "")
        against = read_against(args.against) if getattr(args, "against", None) else []
    except (AuditUsageError, KeyFileError) as e:
        sys.stderr.write(f"hallq audit verify: {e}\n")
        return 2
    res = verify(data, public=public, key_source=source, against=against)
    for note in res.notes:
        print(f"event log {db}: {note}")
    if res.ok:
        print(f"event log {db}: intact, {res.records} records")
        return 0
    sys.stderr.write(f"event log {db}: NOT intact: {res.problem}\n")
    return 1


def hall_of(db: sqlite3.Connection) -> str | None:
    """The hall id of the configuration the data directory recorded (None when unknown)."""
    row = db.execute("SELECT text FROM configs ORDER BY n DESC LIMIT 1").fetchone()
    try:
        hall = yaml.safe_load(str(row[0]))["hall"]["id"] if row else None
    except (yaml.YAMLError, KeyError, TypeError):
        return None
    return hall if isinstance(hall, str) else None
