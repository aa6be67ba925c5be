"""Writing the secure hall's files: atomically, with their mode (and owner) set before any byte is in them."""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path


class SecureError(Exception):
    """A problem `hallq secure init` reports as one line and exit code 2."""


@dataclass(frozen=True)
class Account:
    """A system account: the broker's `user`, or the one running hallq secure init."""

    name: str
    uid: int
    gid: int

    @classmethod
    def current(cls) -> Account:
        uid = os.geteuid()
        try:
            return cls(pwd.getpwuid(uid).pw_name, uid, os.getegid())
        except KeyError:
            raise SecureError(f"the account running this (uid {uid}) has no name in /etc/passwd, "
                              "and mosquitto's `user` needs one") from None

    @classmethod
    def named(cls, name: str) -> Account:
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            raise SecureError(f"--broker-user {name}: no such account on this machine") from None
        return cls(pw.pw_name, pw.pw_uid, pw.pw_gid)

    def can_enter(self, path: Path) -> bool:
        """Whether this account may search (traverse) the directory `path`, by its mode bits."""
        st = path.stat()
        if self.uid == 0:
            return True
        if st.st_uid == self.uid:
            return bool(st.st_mode & stat.S_IXUSR)
        groups = {self.gid} | {g.gr_gid for g in grp.getgrall() if self.name in g.gr_mem}
        if st.st_gid in groups:
            return bool(st.st_mode & stat.S_IXGRP)
        return bool(st.st_mode & stat.S_IXOTH)


def ensure_dir(path: Path, mode: int, owner: Account | None = None, group: int | None = None) -> None:
    """Create `path` if missing; set its mode (and owner or group) either way."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.is_symlink() or not path.is_dir():
            raise SecureError(f"{path}: not a directory")
        if owner is not None:
            os.chown(path, owner.uid, owner.gid)
        elif group is not None:
            os.chown(path, -1, group)
        os.chmod(path, mode)
    except OSError as e:
        raise SecureError(f"{path}: cannot create or use this folder ({e.strerror or e})") from None


def write_file(path: Path, data: bytes, mode: int, owner: Account | None = None) -> None:
    """Replace `path` atomically by `data` with `mode` (and `owner`), never readable by others meanwhile."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode), "wb") as f:
            os.fchmod(f.fileno(), mode)          # the umask may have taken bits away
            if owner is not None:
                os.fchown(f.fileno(), owner.uid, owner.gid)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise SecureError(f"{path}: cannot write it ({e.strerror or e})") from None


def read_text(path: Path) -> str | None:
    """The file's text, or None when it does not exist."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise SecureError(f"{path}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
