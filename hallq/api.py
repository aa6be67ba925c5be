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
import time
from dataclasses import dataclass
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
        elif isinstance(v, dict | list):
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
    if "+" in topic or "#" in topic:
        return "the topic holds a wildcard (+ or #)"
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in topic):
        return "the topic holds a control character"
    if any(0xD800 <= ord(c) <= 0xDFFF or c in "\ufffe\uffff" for c in topic):
        return "the topic holds a non-character"
    return None


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
