"""The MQTT API of the queue controller in one module: topic builders and the one topic parser (open
and secure forms, CONTRACT §3 and §5.2), the guarded decoder every consumer parses payloads with,
and the checks on a topic before anything is published to it.

Every part builds its topics here and decodes every payload here, so a poisoned message (too big,
too deep, not UTF-8, a lone surrogate, not an object) is refused in one place, never raised in a
network thread.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

log = logging.getLogger("hallq.api")

COMMAND_MAX_BYTES = 64 * 1024          # CONTRACT §3.7: larger commands are refused
MESSAGE_MAX_BYTES = 16 * 1024 * 1024   # replies, state and events: an `events` reply of 10,000 events fits
MAX_DEPTH = 32                         # CONTRACT §3.7: nesting deeper than this is refused
TOPIC_MAX_BYTES = 256


class BadPayload(ValueError):
    """A payload that failed the guarded decoder; `str()` says why in one line."""


def decode(payload: bytes, *, max_bytes: int = MESSAGE_MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Decode a JSON payload, refusing what could hurt a consumer: over `max_bytes`, not strict UTF-8,
    nested deeper than `max_depth`, or holding a string with a lone surrogate (escaped or not)."""
    if len(payload) > max_bytes:
        raise BadPayload(f"payload of {len(payload)} bytes is over the {max_bytes}-byte limit")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadPayload(f"payload is not UTF-8 ({e.reason} at byte {e.start})") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise BadPayload(f"payload is nested deeper than {max_depth} levels") from None
    except json.JSONDecodeError as e:
        raise BadPayload(f"payload is not JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except ValueError as e:   # e.g. an integer longer than Python converts (sys.get_int_max_str_digits)
        raise BadPayload(f"payload holds a value that cannot be read: {e}") from None
    _check_tree(value, max_depth)
    return value


def decode_object(payload: bytes, *, max_bytes: int = MESSAGE_MAX_BYTES,
                  max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """`decode`, and the payload must be a JSON object (every payload of the API is one)."""
    value = decode(payload, max_bytes=max_bytes, max_depth=max_depth)
    if not isinstance(value, dict):
        raise BadPayload(f"payload must be a JSON object, not {type(value).__name__}")
    return value


def _check_tree(value: Any, max_depth: int) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, str):
            _check_text(v)
        elif isinstance(v, (dict, list)):  # noqa: UP038  (a tuple: no union object per call)
            if depth > max_depth:
                raise BadPayload(f"payload is nested deeper than {max_depth} levels")
            if isinstance(v, dict):
                for k, x in v.items():
                    _check_text(k)
                    stack.append((x, depth + 1))
            else:
                stack.extend((x, depth + 1) for x in v)


def _check_text(s: str) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise BadPayload("payload holds a string with a lone surrogate (not valid Unicode)") from None


def dumps(obj: Any) -> bytes:
    """The API's JSON form: UTF-8, no ASCII escapes, compact."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def topic_problem(topic: str) -> str | None:
    """Why `topic` is not a valid MQTT topic name to publish to, or None (CONTRACT §3.7)."""
    if not topic:
        return "the topic is empty"
    try:
        size = len(topic.encode("utf-8"))
    except UnicodeEncodeError:
        return "the topic is not valid UTF-8"
    if size > TOPIC_MAX_BYTES:
        return f"the topic is {size} bytes long (at most {TOPIC_MAX_BYTES})"
    bad = _TOPIC_BAD.search(topic)
    if bad is None:
        return None
    c = bad.group()
    if c in "+#":
        return "the topic holds a wildcard (+ or #)"
    if c in "\ufffe\uffff":
        return "the topic holds a non-character"
    return "the topic holds a control character"


_TOPIC_BAD = re.compile("[+#\x00-\x1f\x7f-\x9f\ufffe\uffff]")


Kind = Literal["cmd", "reply", "state", "event", "device", "controller", "audit", "other"]


@dataclass(frozen=True)
class Route:
    """What a topic under a hall is: `kind`, the sender `principal` of a secure command, and `name`
    (the command name, event type, state key, device id or reply suffix)."""

    kind: Kind
    name: str = ""
    principal: str | None = None
    leaf: str = ""            # device topics: status, event, ack, state, show


@dataclass(frozen=True)
class Topics:
    """The topics of one hall as seen by one principal (`principal` None = open mode, CONTRACT §3;
    a principal = secure mode, §5.2: commands under `cmd/{P}/`, replies under `reply/{P}/`)."""

    hall: str
    principal: str | None = None

    @property
    def root(self) -> str:
        return f"hallq/{self.hall}/"

    def _t(self, *parts: str) -> str:
        return self.root + "/".join(parts)

    # commands and replies
    def cmd(self, name: str) -> str:
        return self._t("cmd", self.principal, name) if self.principal else self._t("cmd", name)

    def reply_prefix(self) -> str:
        return self._t("reply", self.principal, "") if self.principal else self._t("reply", "")

    def reply(self, suffix: str) -> str:
        return self.reply_prefix() + suffix

    def reply_filter(self) -> str:
        return self.reply_prefix() + "#"

    def cmd_filter(self, secure: bool) -> str:
        """The controller's subscription: `cmd/+/+` in secure mode, `cmd/+` open."""
        return self._t("cmd", "+", "+") if secure else self._t("cmd", "+")

    # controller facts
    def controller_status(self) -> str:
        return self._t("controller", "status")

    def checkpoint(self) -> str:
        return self._t("audit", "checkpoint")

    def state_window(self, window: str = "+") -> str:
        return self._t("state", "window", window)

    def state_queues(self) -> str:
        return self._t("state", "queues")

    def state_alerts(self) -> str:
        return self._t("state", "alerts")

    def state_all(self) -> str:
        return self._t("state", "#")

    def event(self, type_: str = "#") -> str:
        return self._t("event", type_)

    # devices
    def device(self, device: str, leaf: str) -> str:
        return self._t("device", device, leaf)

    def parse(self, topic: str, secure: bool | None = None) -> Route:
        """What `topic` is; `secure` (default: this view's mode) decides the form of `cmd/`."""
        secure = self.principal is not None if secure is None else secure
        if not topic.startswith(self.root):
            return Route("other", topic)
        parts = topic[len(self.root):].split("/")
        head, rest = parts[0], parts[1:]
        if head == "cmd":
            if secure and len(rest) == 2 and all(rest):
                return Route("cmd", rest[1], principal=rest[0])
            if not secure and len(rest) == 1 and rest[0]:
                return Route("cmd", rest[0])
            return Route("other", topic)
        if head == "reply" and rest:
            if secure and len(rest) >= 2:
                return Route("reply", "/".join(rest[1:]), principal=rest[0])
            return Route("reply", "/".join(rest))
        if head == "state" and rest:
            return Route("state", "/".join(rest))
        if head == "event" and len(rest) == 1:
            return Route("event", rest[0])
        if head == "device" and len(rest) == 2:
            return Route("device", rest[0], leaf=rest[1])
        if head == "controller" and rest == ["status"]:
            return Route("controller", "status")
        if head == "audit" and rest == ["checkpoint"]:
            return Route("audit", "checkpoint")
        return Route("other", topic)

    def reply_to_problem(self, reply_to: str, sender: str | None) -> str | None:
        """Why the controller must not answer to `reply_to` (CONTRACT §3.7, §5.2), or None."""
        problem = topic_problem(reply_to)
        if problem:
            return problem
        if sender is not None:
            own = f"{self.root}reply/{sender}/"
            if not reply_to.startswith(own) or len(reply_to) == len(own):
                return f"replies to principal {sender} go under {own}"
            return None
        if reply_to.startswith(self.root) and not reply_to.startswith(self.root + "reply/"):
            return f"under {self.root} replies go only under {self.root}reply/"
        return None


def logged_alert_id(ev: dict[str, Any]) -> str | None:
    """The id of a logged `alert.raised` (CONTRACT §3.4): its own, or for a log written before alerts had ids,
    one derived from its seq (the same in every replay, snapshot, report and in the region)."""
    aid = ev.get("id")
    if isinstance(aid, str):
        return aid
    return f"e{ev['seq']}" if "seq" in ev else None


class DropLog:
    """Counts dropped messages and logs once per source and reason per `every_s` (a flood of bad
    messages must not become a flood of log lines)."""

    def __init__(self, who: str, every_s: float = 60.0) -> None:
        self.who = who
        self.every_s = every_s
        self.dropped = 0
        self._last: dict[tuple[str, str], float] = {}
        self._since: dict[tuple[str, str], int] = {}

    def drop(self, source: str, reason: str, *, now: float | None = None) -> None:
        self.dropped += 1
        key = (source, reason.split(" (")[0][:80])
        t = time.monotonic() if now is None else now
        self._since[key] = self._since.get(key, 0) + 1
        last = self._last.get(key)
        if last is None or t - last >= self.every_s:
            n = self._since.pop(key)
            self._last[key] = t
            more = f" ({n} such messages since the last report)" if n > 1 else ""
            log.warning("%s: dropped a message on %s: %s%s", self.who, source, reason, more)


# -- typed payloads the screens consume (CONTRACT §3.1, §3.3, §3.4, §3.7) --------------------------
# Each parser takes a decoded object and returns a small typed value or raises BadPayload naming the
# field: a consumer checks the shape before it uses anything, and drops what does not fit.

CONTROLLER_STATES = ("online", "offline", "lost", "degraded")
ISSUING_STATES = ("open", "closed", "quota")


def _field_str(obj: dict[str, Any], key: str, *, required: bool = True, max_len: int = 200) -> str | None:
    v = obj.get(key)
    if v is None:
        if required:
            raise BadPayload(f"'{key}' is missing")
        return None
    if not isinstance(v, str):
        raise BadPayload(f"'{key}' must be a string, not {type(v).__name__}")
    if len(v) > max_len or "\x00" in v:
        raise BadPayload(f"'{key}' is not a plausible value (too long or holds NUL)")
    return v


def _field_int(obj: dict[str, Any], key: str, *, required: bool = True, default: int = 0,
               lo: int = 0, hi: int = 2 ** 53) -> int:
    v = obj.get(key)
    if v is None:
        if required:
            raise BadPayload(f"'{key}' is missing")
        return default
    if isinstance(v, bool) or not isinstance(v, int):
        raise BadPayload(f"'{key}' must be an integer, not {type(v).__name__}")
    if not lo <= v <= hi:
        raise BadPayload(f"'{key}' = {v} is outside {lo}..{hi}")
    return v


def _as_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadPayload(f"{what} must be a JSON object, not {type(value).__name__}")
    return value


@dataclass(frozen=True)
class ControllerStatus:
    """`controller/status` (§3.1): `state`, and the controller's `at` and `log` when it sent them."""

    state: str
    at: str | None = None
    log: str | None = None
    reason: str | None = None

    @property
    def online(self) -> bool:
        return self.state == "online"


def parse_controller_status(value: Any) -> ControllerStatus:
    obj = _as_object(value, "controller status")
    state = _field_str(obj, "state", max_len=16)
    if state not in CONTROLLER_STATES:
        raise BadPayload(f"'state' must be one of {', '.join(CONTROLLER_STATES)}, not {state!r}")
    return ControllerStatus(state, _field_str(obj, "at", required=False, max_len=64),
                            _field_str(obj, "log", required=False, max_len=64),
                            _field_str(obj, "reason", required=False, max_len=1000))


@dataclass(frozen=True)
class ServiceQueue:
    id: str
    waiting: int
    est_wait_s: int | None = None
    issuing: str = "open"
    hours: str | None = None          # today's opening spans of a service with its own hours ("" closed all day)
    appointment_only: bool = False    # today it issues only appointment tickets (issuing is "closed" for walk-ins)


@dataclass(frozen=True)
class QueuesState:
    """`state/queues` (§3.3)."""

    services: tuple[ServiceQueue, ...]
    at: str | None = None
    log: str | None = None


def parse_queues(value: Any) -> QueuesState:
    obj = _as_object(value, "state/queues")
    services = obj.get("services")
    if not isinstance(services, list) or len(services) > 1000:
        raise BadPayload("'services' must be a list of at most 1000 services")
    out = []
    for i, s in enumerate(services):
        s = _as_object(s, f"services[{i}]")
        try:
            sid = _field_str(s, "id", max_len=64)
            waiting = _field_int(s, "waiting", hi=1_000_000)
            est = s.get("est_wait_s")
            if est is not None:
                est = _field_int(s, "est_wait_s", hi=10 ** 7)
            issuing = _field_str(s, "issuing", required=False, max_len=16) or "open"
            hours = s.get("hours")   # shown only: a value that does not fit is left out, the rest kept
            hours = hours if isinstance(hours, str) and len(hours) <= 200 and "\x00" not in hours else None
        except BadPayload as e:
            raise BadPayload(f"services[{i}]: {e}") from None
        if issuing not in ISSUING_STATES:
            raise BadPayload(f"services[{i}]: 'issuing' must be one of {', '.join(ISSUING_STATES)}")
        assert sid is not None
        out.append(ServiceQueue(sid, waiting, est, issuing, hours, s.get("appointment_only") is True))
    return QueuesState(tuple(out), _field_str(obj, "at", required=False, max_len=64),
                       _field_str(obj, "log", required=False, max_len=64))


@dataclass(frozen=True)
class EventHead:
    """What every event carries (§3.4): `type`, `seq`, `at`, `log`; `body` is the whole event."""

    type: str
    seq: int
    at: str
    log: str | None
    body: dict[str, Any]


def parse_event(value: Any) -> EventHead:
    obj = _as_object(value, "event")
    type_ = _field_str(obj, "type", max_len=64)
    at = _field_str(obj, "at", max_len=64)
    assert type_ is not None and at is not None
    return EventHead(type_, _field_int(obj, "seq", lo=1), at, _field_str(obj, "log", required=False, max_len=64),
                     obj)


@dataclass(frozen=True)
class TicketCalled:
    """A `ticket.called` event (§3.4): a call (`recall` 0) or the n-th recall."""

    seq: int
    at: str
    ticket: str
    window: str
    service: str
    recall: int = 0
    date: str | None = None


def parse_ticket_called(ev: EventHead) -> TicketCalled:
    if ev.type != "ticket.called":
        raise BadPayload(f"expected a ticket.called event, not {ev.type!r}")
    b = ev.body
    ticket, window = _field_str(b, "ticket", max_len=32), _field_str(b, "window", max_len=64)
    service = _field_str(b, "service", max_len=64)
    assert ticket is not None and window is not None and service is not None
    return TicketCalled(ev.seq, ev.at, ticket, window, service, _field_int(b, "recall", required=False, hi=10_000),
                        _field_str(b, "date", required=False, max_len=16))


@dataclass(frozen=True)
class EventsPage:
    """The result of the `events` command (§3.7); `events` holds only those of the controller's shape
    (`bad` counts the others)."""

    events: tuple[EventHead, ...]
    next_seq: int
    head_seq: int
    first_seq: int
    bad: int = 0


def parse_events_page(value: Any) -> EventsPage:
    obj = _as_object(value, "events result")
    events = obj.get("events")
    if not isinstance(events, list):
        raise BadPayload("'events' must be a list")
    good, bad = [], 0
    for e in events:
        try:
            good.append(parse_event(e))
        except BadPayload:
            bad += 1
    return EventsPage(tuple(good), _field_int(obj, "next_seq"), _field_int(obj, "head_seq"),
                      _field_int(obj, "first_seq"), bad)


@dataclass(frozen=True)
class Reply:
    """A command reply (§3.2): `result` when ok, else `code` and `message`."""

    id: str
    ok: bool
    result: dict[str, Any]
    code: str = ""
    message: str = ""


def parse_reply(value: Any) -> Reply:
    obj = _as_object(value, "reply")
    cid = _field_str(obj, "id", max_len=200)
    assert cid is not None
    ok = obj.get("ok")
    if not isinstance(ok, bool):
        raise BadPayload("'ok' must be true or false")
    if ok:
        result = obj.get("result")
        return Reply(cid, True, {} if result is None else _as_object(result, "'result'"))
    err = _as_object(obj.get("error"), "'error'")
    return Reply(cid, False, {}, _field_str(err, "code", max_len=64) or "",
                 _field_str(err, "message", required=False, max_len=2000) or "")


TICKET_STATUSES = ("waiting", "serving", "finished", "no_show", "held", "cancelled")


def parse_ticket(value: Any) -> dict[str, Any]:
    """A Ticket object (§3.2) checked field by field; the same dict back (with only the known keys)."""
    t = _as_object(value, "ticket")
    out: dict[str, Any] = {
        "number": _field_str(t, "number", max_len=32),
        "service": _field_str(t, "service", max_len=64),
        "priority": _field_str(t, "priority", required=False, max_len=16) or "normal",
        "status": _field_str(t, "status", max_len=16),
        "issued_at": _field_str(t, "issued_at", required=False, max_len=64),
        "window": _field_str(t, "window", required=False, max_len=64),
        "ahead": _field_int(t, "ahead", required=False, hi=1_000_000),
        "est_wait_s": None if t.get("est_wait_s") is None else _field_int(t, "est_wait_s", hi=10 ** 7),
        "date": _field_str(t, "date", required=False, max_len=16),
    }
    if out["status"] not in TICKET_STATUSES:
        raise BadPayload(f"'status' must be one of {', '.join(TICKET_STATUSES)}")
    if out["issued_at"] is not None:
        try:
            datetime.fromisoformat(out["issued_at"])
        except ValueError:
            raise BadPayload("'issued_at' is not an ISO 8601 time") from None
    return out


class ControllerWatch:
    """Whether a screen believes the controller is there (CONTRACT §3.1), not trusting a retained status
    blindly: `controller/status` online is believed; any other state (which a stranger in an open hall can
    leave retained) makes the screen probe the controller with a command, and a reply, which only the
    controller sends, counts as online for `trust_s`. `log` is the log of the last online status: retained
    state of another log (or none) is not the controller's current state (`state_problem`). Times are
    monotonic seconds; not thread-safe."""

    def __init__(self, probe_every_s: float = 5.0, trust_s: float = 15.0) -> None:
        self.probe_every_s, self.trust_s = probe_every_s, trust_s
        self.status: ControllerStatus | None = None
        self.log: str | None = None          # the log named by the last online status (state must match it)
        self.changed_at = float("-inf")
        self.answered_at: float | None = None
        self.probed_at: float | None = None

    def on_status(self, status: ControllerStatus, now: float) -> bool:
        """A status arrived; True when it announces the controller (newly) online: re-read the state."""
        old = self.status
        self.status = status
        if status.online and status.log:
            self.log = status.log
        if old is None or old.state != status.state:
            self.changed_at = now
            self.probed_at = None
        return status.online and (old is None or not old.online or old.log != status.log or old.at != status.at)

    def state_problem(self, state_log: str | None) -> str | None:
        """Why retained state carrying `state_log` is not to be believed, or None."""
        if self.log is not None and state_log != self.log:
            return f"state of log {state_log!r}, not the controller's current log {self.log!r}"
        return None

    def on_reply(self, now: float) -> None:
        """Any reply of the controller (to a probe or any other command)."""
        self.answered_at = now

    def online(self, now: float) -> bool:
        if self.status is not None and self.status.online:
            return True
        a = self.answered_at
        return a is not None and a >= self.changed_at and now - a <= self.trust_s

    def probe_due(self, now: float) -> bool:
        """True (and noted as sent) when the status is not online and it is time to ask the controller."""
        if self.status is not None and self.status.online:
            return False
        if self.probed_at is not None and now - self.probed_at < self.probe_every_s:
            return False
        self.probed_at = now
        return True
