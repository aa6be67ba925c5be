"""What the web consoles (the hall's `console/`, the league's `region/console/`) share: sessions, CSRF tokens
and the sign-in lockouts of CONTRACT §6, pure (the clock is passed in), and the rules for where one listens.

Failures are counted per (submitted staff id, address) — 5 in 10 minutes lock that id for that address —
per staff id across addresses — 20 lock it for everyone for 10 minutes or until the alert is acknowledged —
and per address across ids (a sprayer of staff ids; at least 20 are allowed). A refused (429) attempt
checks no password and counts as no failure. Memory is bounded: old entries are dropped on use and the
tables are capped.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import secrets
from collections import OrderedDict, deque
from collections.abc import Callable, Container
from dataclasses import dataclass, field

WINDOW_S = 600.0
PER_ID_ADDR = 5
PER_ID = 20
PER_ADDR = 100
MAX_KEYS = 20000
MAX_SESSIONS = 5000


@dataclass
class Session:
    sid: str
    staff: str
    csrf: str
    last_used: float

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode("utf-8", "replace"), self.csrf.encode())


@dataclass
class Sessions:
    """In-memory sessions with an idle timeout; a restart of the console signs everyone out."""

    idle_timeout_s: float
    _by_id: OrderedDict[str, Session] = field(default_factory=OrderedDict)

    def create(self, staff: str, now: float) -> Session:
        s = Session(secrets.token_urlsafe(32), staff, secrets.token_urlsafe(32), now)
        self._by_id[s.sid] = s
        while len(self._by_id) > MAX_SESSIONS:
            self._by_id.popitem(last=False)
        return s

    def get(self, sid: str | None, now: float) -> Session | None:
        """The live session of a cookie value, touched; None when unknown or idle too long."""
        if not sid:
            return None
        s = self._by_id.get(sid)
        if s is None:
            return None
        if now - s.last_used > self.idle_timeout_s:
            del self._by_id[sid]
            return None
        s.last_used = now
        self._by_id.move_to_end(sid)
        return s

    def drop(self, sid: str) -> None:
        self._by_id.pop(sid, None)

    def __len__(self) -> int:
        return len(self._by_id)


def _prune(q: deque[float], now: float) -> deque[float]:
    while q and now - q[0] >= WINDOW_S:
        q.popleft()
    return q


class _Counter:
    """Failure times per key within the window, capped in keys."""

    def __init__(self) -> None:
        self._m: OrderedDict[object, deque[float]] = OrderedDict()

    def count(self, key: object, now: float) -> int:
        q = self._m.get(key)
        if q is None:
            return 0
        if not _prune(q, now):
            del self._m[key]
            return 0
        return len(q)

    def add(self, key: object, now: float) -> int:
        q = _prune(self._m.setdefault(key, deque()), now)
        q.append(now)
        self._m.move_to_end(key)
        while len(self._m) > MAX_KEYS:
            self._m.popitem(last=False)
        return len(q)

    def clear(self, key: object) -> None:
        self._m.pop(key, None)


class LoginGuard:
    """Decides whether a sign-in attempt is refused (429) before any password is checked."""

    def __init__(self) -> None:
        self.by_id_addr = _Counter()
        self.by_id = _Counter()
        self.by_addr = _Counter()
        self.locked_until: dict[str, float] = {}      # staff id -> end of the lock for everyone

    def refused(self, staff: str, addr: str, now: float) -> bool:
        until = self.locked_until.get(staff)
        if until is not None:
            if now < until:
                return True
            del self.locked_until[staff]
        return (self.by_id_addr.count((staff, addr), now) >= PER_ID_ADDR
                or self.by_addr.count(addr, now) >= PER_ADDR)

    def failed(self, staff: str, addr: str, now: float) -> bool:
        """Count a failure; True when it is the one that locks `staff` for everyone (raise the alert)."""
        self.by_id_addr.add((staff, addr), now)
        self.by_addr.add(addr, now)
        if self.by_id.add(staff, now) >= PER_ID:
            self.by_id.clear(staff)
            self.locked_until[staff] = now + WINDOW_S
            if len(self.locked_until) > MAX_KEYS:
                self.locked_until = {k: v for k, v in self.locked_until.items() if v > now}
            return True
        return False

    def succeeded(self, staff: str, addr: str) -> None:
        self.by_id_addr.clear((staff, addr))

    def unlock(self, staff: str) -> None:
        """A manager acknowledged the `login_failures` alert naming `staff`."""
        self.locked_until.pop(staff, None)
        self.by_id.clear(staff)


class ConsoleStartError(Exception):
    """Why the console cannot start, in one line."""


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConsoleStartError(f"--listen {text!r}: give HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def check_sign_in(guard: LoginGuard, slots: asyncio.Semaphore, check: Callable[[str, str], bool],
                        known: Container[str], clock: Callable[[], float], staff: str, password: str,
                        addr: str) -> tuple[str, bool]:
    """A sign-in attempt as CONTRACT §6 rules it, for both consoles: "locked" (429: no password checked, no failure
    counted), "bad" (401, counted; the second value says this failure locked the id for everyone) or "ok".
    The slow hash runs in a thread, at most `slots` at once; an unknown id costs the same hash."""
    async with slots:
        if guard.refused(staff, addr, clock()):
            return "locked", False
        ok = await asyncio.to_thread(check, staff, password)
        if not ok or staff not in known:
            return "bad", guard.failed(staff, addr, clock())
    guard.succeeded(staff, addr)
    return "ok", False


def sign_in_fields(body: dict[str, object]) -> tuple[str, str] | None:
    """`staff` and `password` of a sign-in body, or None when they are not short strings."""
    staff, password = body.get("staff"), body.get("password")
    if not isinstance(staff, str) or not isinstance(password, str) or not staff or len(staff) > 64 \
            or len(password) > 256:
        return None
    return staff, password
