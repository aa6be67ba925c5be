"""`hallq backup` and `hallq restore`: a data directory copied while the controller runs, checked by its hash chain.

A backup is one gzip'd tar: `hallq-backup.json` (the manifest: hall, the log's schema, last seq and hash,
each file's SHA-256) and the data directory's files. SQLite files (the event log first) are copied with
SQLite's online backup API, a consistent copy taken inside one read transaction while the controller goes on
writing; other small files (staff passwords) are copied as they are. The snapshot cache is left out (the
controller rebuilds it). The copied log must pass `audit verify` before the backup file appears.

A restore goes only into an empty (or new) data directory, refuses a backup whose files do not match the
manifest, whose log is newer than this hallq, or that fails `audit verify`, and begins a new log segment
(CONTRACT §3.4) so that events written after the restore never pass for the ones lost.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import sqlite3
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from controller.audit import hall_of, verify
from controller.store import DB_NAME, LOG_SCHEMA, EventStore, StoreError, check_schema, log_schema
from hallq.keys import fsync_dir

MANIFEST = "hallq-backup.json"
FORMAT = "hallq-backup"
VERSION = 1
SKIP_NAMES = {"snapshot.sqlite3"}                 # a cache beside the log: rebuilt at start
SKIP_SUFFIXES = ("-wal", "-shm", "-journal", ".tmp", ".lock")
SQLITE_MAGIC = b"SQLite format 3\0"
MAX_MEMBER = 64 << 30


class BackupError(Exception):
    """Why a backup or restore cannot be done, in one line."""


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    hall: str | None
    seq: int
    hash: str
    records: int
    files: int
    size: int


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def _wanted(rel: PurePosixPath) -> bool:
    name = rel.name
    return not (name in SKIP_NAMES or name.startswith(".") or name.endswith(SKIP_SUFFIXES)
                or any(p.startswith(".") for p in rel.parts))


def _files(data: Path) -> list[PurePosixPath]:
    out = []
    for root, dirs, names in os.walk(data):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            p = Path(root) / name
            rel = PurePosixPath(p.relative_to(data).as_posix())
            if p.is_file() and not p.is_symlink() and _wanted(rel):
                out.append(rel)
    out.sort(key=lambda r: (str(r) != DB_NAME, str(r)))   # the event log first
    return out


def sqlite_copy(src: Path, dst: Path) -> None:
    """A consistent copy of a live SQLite database (the online backup API, all pages in one step)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")   # one self-contained file, no -wal beside it
        finally:
            target.close()
    finally:
        source.close()


def _head(db_path: Path) -> tuple[int, str, int]:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return (int(row[0]), str(row[1]), log_schema(db)) if row else (0, "0" * 64, log_schema(db))
    finally:
        db.close()


def backup(data: Path, out: Path) -> BackupInfo:
    """Copy `data` (the controller may be running) to the backup file `out`; BackupError when it cannot."""
    log_path = data / DB_NAME
    if not log_path.is_file():
        raise BackupError(f"{log_path}: no event log here — is --data the controller's data directory?")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".hallq-backup-", dir=out.parent))
    partial = out.with_name(f".{out.name}.partial")
    try:
        files: dict[str, dict[str, Any]] = {}
        for rel in _files(data):
            src, dst = data / rel, stage / rel
            try:
                if _is_sqlite(src):
                    sqlite_copy(src, dst)
                else:
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, dst)
            except FileNotFoundError:
                continue          # removed while we walked (a temporary file)
            except (OSError, sqlite3.Error) as e:
                raise BackupError(f"cannot copy {src}: {e}") from None
            files[str(rel)] = {"sha256": _sha256(dst), "size": dst.stat().st_size}
        res = verify(stage)
        if not res.ok:
            raise BackupError(f"the copy of {log_path} fails audit verify: {res.problem} — the data directory's "
                              "log is damaged; run `hallq audit verify` on it")
        seq, hash_, schema = _head(stage / DB_NAME)
        db = sqlite3.connect(f"file:{stage / DB_NAME}?mode=ro", uri=True)
        try:
            hall = hall_of(db) if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'configs'").fetchone() \
                else None
        finally:
            db.close()
        manifest = {"format": FORMAT, "version": VERSION, "hall": hall, "made": datetime.now().astimezone()
                    .isoformat(timespec="seconds"), "source": str(data.resolve()),
                    "log": {"schema": schema, "seq": seq, "hash": hash_, "records": res.records}, "files": files}
        with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
            blob = json.dumps(manifest, indent=1, sort_keys=True).encode()
            ti = tarfile.TarInfo(MANIFEST)
            ti.size, ti.mode, ti.mtime = len(blob), 0o600, int(datetime.now().timestamp())
            tar.addfile(ti, io.BytesIO(blob))
            for name in files:
                tar.add(stage / name, arcname=name, recursive=False)
        with partial.open("rb") as f:
            os.fsync(f.fileno())
        os.chmod(partial, 0o600)
        os.replace(partial, out)
        _fsync_dir(out.parent)
    except OSError as e:
        raise BackupError(f"cannot write the backup {out}: {e}") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        partial.unlink(missing_ok=True)
    return BackupInfo(out, hall, seq, hash_, res.records, len(files), out.stat().st_size)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fsync_dir(path)


def read_manifest(tar: tarfile.TarFile, where: Path) -> dict[str, Any]:
    try:
        member = tar.getmember(MANIFEST)
        f = tar.extractfile(member)
        if f is None or member.size > 1 << 20:
            raise KeyError(MANIFEST)
        manifest = json.loads(f.read())
    except KeyError:
        raise BackupError(f"{where}: not a hallq backup (no {MANIFEST} in it)") from None
    except ValueError as e:
        raise BackupError(f"{where}: its {MANIFEST} is not JSON ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"),
                                                                                             dict):
        raise BackupError(f"{where}: not a hallq backup ({MANIFEST} has no format {FORMAT!r} and files)")
    if not isinstance(manifest.get("version"), int) or manifest["version"] > VERSION:
        raise BackupError(f"{where}: a backup of format version {manifest.get('version')} — made by a newer hallq; "
                          f"this one reads version {VERSION}")
    log = manifest.get("log")
    if not isinstance(log, dict) or not isinstance(log.get("seq"), int) or not isinstance(log.get("schema"), int):
        raise BackupError(f"{where}: {MANIFEST} has no log seq and schema")
    if log["schema"] > LOG_SCHEMA:
        raise BackupError(f"{where}: its event log has schema {log['schema']}, newer than this hallq's "
                          f"({LOG_SCHEMA}) — restore it with the hallq version that made it (or newer)")
    return manifest


def _safe_name(name: str) -> PurePosixPath | None:
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts or not _wanted(rel):
        return None
    return rel


def restore(backup_file: Path, data: Path) -> BackupInfo:
    """Restore `backup_file` into the empty or new directory `data`; BackupError (nothing written) if refused."""
    if data.exists() and (not data.is_dir() or any(data.iterdir())):
        raise BackupError(f"{data} is not an empty directory — restore only into an empty data directory (stop the "
                          "controller and move the old one aside: it may be evidence)")
    try:
        tar = tarfile.open(backup_file, "r:*")  # noqa: SIM115  (closed by the with below)
    except (OSError, tarfile.TarError) as e:
        raise BackupError(f"{backup_file}: cannot read it as a hallq backup: {e}") from None
    into_existing = data.is_dir()     # an empty folder made for it (by root, owned by hallq): stage inside it
    if not into_existing:
        data.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".hallq-restore-", dir=data if into_existing else data.parent))
    try:
        with tar:
            manifest = read_manifest(tar, backup_file)
            expected: dict[str, Any] = manifest["files"]
            got: set[str] = set()
            for member in tar:
                if member.name == MANIFEST:
                    continue
                rel = _safe_name(member.name)
                if rel is None or not member.isfile() or str(rel) not in expected or member.size > MAX_MEMBER:
                    raise BackupError(f"{backup_file}: unexpected member {member.name!r} — not a backup hallq made")
                src = tar.extractfile(member)
                assert src is not None
                dst = stage / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                with src, dst.open("wb") as f:
                    shutil.copyfileobj(src, f, 1 << 20)
                os.chmod(dst, 0o600)
                want = expected[str(rel)].get("sha256") if isinstance(expected[str(rel)], dict) else None
                if _sha256(dst) != want:
                    raise BackupError(f"{backup_file}: {rel} does not match its SHA-256 in the manifest — the "
                                      "backup was damaged or altered")
                got.add(str(rel))
        missing = sorted(set(expected) - got)
        if missing or DB_NAME not in got:
            raise BackupError(f"{backup_file}: files missing from the backup: {', '.join(missing or [DB_NAME])}")
        try:
            check_schema(stage / DB_NAME)
        except (StoreError, sqlite3.Error) as e:
            raise BackupError(f"{backup_file}: {e}") from None
        res = verify(stage)
        if not res.ok:
            raise BackupError(f"{backup_file}: refused, its event log fails audit verify: {res.problem}")
        seq, hash_, _ = _head(stage / DB_NAME)
        if (seq, hash_) != (manifest["log"]["seq"], manifest["log"].get("hash")):
            raise BackupError(f"{backup_file}: its log ends at seq {seq}, the manifest says "
                              f"{manifest['log']['seq']} — the backup was altered")
        store = EventStore(stage).open()    # migrates an older log forward; a new segment for what comes next
        try:
            store.start_segment(f"restored from the backup {backup_file.name} made {manifest.get('made')} "
                                f"(log up to seq {seq})")
        finally:
            store.close()
        for p in stage.glob(f"{DB_NAME}-*"):
            p.unlink()
        if into_existing:
            for p in sorted(stage.iterdir()):
                os.replace(p, data / p.name)
            stage.rmdir()
            _fsync_dir(data)
        else:
            os.chmod(stage, 0o750)
            os.replace(stage, data)
            _fsync_dir(data.parent)
    except OSError as e:
        raise BackupError(f"cannot restore into {data}: {e}") from None
    except (sqlite3.Error, StoreError) as e:
        raise BackupError(f"{backup_file}: cannot open its event log: {e}") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return BackupInfo(data, manifest.get("hall"), seq, hash_, res.records, len(got), 0)


def prune(out_dir: Path, hall: str | None, keep: int) -> list[Path]:
    """Remove all but the newest `keep` nightly backups of this hall in `out_dir`; returns those removed."""
    mine = sorted(out_dir.glob(f"hallq-{hall or 'hall'}-*.tar.gz"))
    gone = mine[:-keep] if keep > 0 else []
    for p in gone:
        p.unlink(missing_ok=True)
    return gone


def nightly_name(hall: str | None, now: datetime) -> str:
    return f"hallq-{hall or 'hall'}-{now.strftime('%Y%m%dT%H%M%S')}.tar.gz"


# -- the command line --------------------------------------------------------------------------------
def run_backup(args: argparse.Namespace) -> int:
    data = Path(args.data)
    if bool(args.out) == bool(args.out_dir):
        sys.stderr.write("hallq backup: give either --out FILE or --out-dir DIR (with --keep N)\n")
        return 2
    try:
        if args.out:
            out = Path(args.out)
        else:
            out = Path(args.out_dir) / nightly_name(_hall_of_data(data), datetime.now().astimezone())
        info = backup(data, out)
        removed = prune(Path(args.out_dir), info.hall, args.keep) if args.out_dir else []
    except BackupError as e:
        sys.stderr.write(f"hallq backup: {e}\n")
        return 1
    print(f"backup {info.path}: event log up to seq {info.seq} ({info.records} records, hash chain intact), "
          f"{info.files} files, {info.size // 1024} kB")
    print(f"last seq {info.seq}")
    for p in removed:
        print(f"removed the older backup {p}")
    return 0


def _hall_of_data(data: Path) -> str | None:
    try:
        db = sqlite3.connect(f"file:{data / DB_NAME}?mode=ro", uri=True)
        try:
            return hall_of(db)
        finally:
            db.close()
    except sqlite3.Error:
        return None


def run_restore(args: argparse.Namespace) -> int:
    try:
        info = restore(Path(args.backup), Path(args.data))
    except BackupError as e:
        sys.stderr.write(f"hallq restore: {e}\n")
        return 1
    print(f"restored {args.backup} into {info.path}: event log up to seq {info.seq} ({info.records} records, "
          f"audit verify intact), {info.files} files; a new log segment begins — start the controller")
    return 0
