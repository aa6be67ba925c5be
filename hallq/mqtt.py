"""MQTT adapter shared by every hallq process: a paho client handed to one asyncio loop,
plus the request/reply helper of CONTRACT §3.2 and a blocking client for tools and tests.

paho runs its network loop in its own thread; every callback is handed to the asyncio loop
with `call_soon_threadsafe`, so the rest of hallq never sees paho's threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from hallq.api import MESSAGE_MAX_BYTES, Topics, decode, dumps
from hallq.config import ConfigError, HallConfig

log = logging.getLogger("hallq.mqtt")



__all__ = ["BlockingClient", "CommandClient", "CommandError", "Credentials", "Message", "MqttLink", "dumps",
           "load_credentials", "make_client", "new_command_id", "principal_of", "topic_matches", "topics_for"]


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool = False

    def json(self, max_bytes: int = MESSAGE_MAX_BYTES) -> Any:
        """The payload through the guarded decoder (hallq.api.decode); raises ValueError (BadPayload)
        with a readable reason."""
        return decode(self.payload, max_bytes=max_bytes)


def topic_matches(pattern: str, topic: str) -> bool:
    return paho.topic_matches_sub(pattern, topic)


class Throttle:
    """Says yes to a key at most once per `every_s`: a retry loop's warning is logged once a minute."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._last: dict[str, float] = {}

    def ready(self, key: str) -> bool:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.every_s:
            return False
        self._last[key] = now
        return True


@dataclass(frozen=True)
class Credentials:
    """A principal's broker account, as `hallq secure init` writes it to `credentials/{id}.yaml`."""

    username: str
    password: str
    ca: str | None = None


def load_credentials(path: str) -> Credentials:
    """Read a credentials file; ConfigError naming the file and key when it is unusable."""
    try:
        data = yaml.safe_load(open(path, encoding="utf-8"))  # noqa: SIM115 (closed by the GC at once)
    except OSError as e:
        raise ConfigError(path, "", f"cannot read the credentials file: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(path, "", f"not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(path, "", "a credentials file holds 'username' and 'password' (hallq secure init)")
    for key in ("username", "password"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ConfigError(path, key, "required key is missing (write the file with hallq secure init)")
    ca = data.get("ca")
    if ca is not None and not isinstance(ca, str):
        raise ConfigError(path, "ca", "must be the path of the hall CA certificate")
    return Credentials(data["username"], data["password"], ca)


def _credentials(cfg: HallConfig) -> Credentials | None:
    if cfg.mqtt.credentials:
        return load_credentials(cfg.mqtt.credentials)
    if cfg.mqtt.username:
        return Credentials(cfg.mqtt.username, cfg.mqtt.password or "", None)
    return None


def principal_of(cfg: HallConfig) -> str | None:
    """The principal this process acts as: its broker username in a secure hall, None in an open one."""
    if not cfg.secure:
        return None
    cred = _credentials(cfg)
    if cred is None:
        raise ConfigError("<config>", "mqtt.credentials", "a secure hall needs this process's credentials file "
                          "(--credentials FILE or mqtt.credentials; hallq secure init writes them)")
    return cred.username


def topics_for(cfg: HallConfig) -> Topics:
    """The hall's topics as this process's principal sees them (open form in an open hall)."""
    return Topics(cfg.hall.id, principal_of(cfg))


def make_client(cfg: HallConfig, client_id: str, clean: bool,
                will: tuple[str, dict[str, Any]] | None = None) -> paho.Client:
    """The one paho set-up of hallq: credentials, TLS with the hall CA, will, reconnect and queue limits."""
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
                    protocol=paho.MQTTv311)
    cred = _credentials(cfg)
    if cred is not None:
        c.username_pw_set(cred.username, cred.password)
    if cfg.mqtt.tls:
        c.tls_set(ca_certs=cred.ca if cred is not None and cred.ca else None)
    if will:
        c.will_set(will[0], dumps(will[1]), qos=1, retain=True)
    c.reconnect_delay_set(min_delay=1, max_delay=5)
    c.max_queued_messages_set(0)
    c.max_inflight_messages_set(100)
    return c


@dataclass
class MqttLink:
    """One MQTT connection owned by an asyncio loop.

    `clean=False` with a fixed `client_id` gives a persistent session: QoS 1 messages sent
    while this process was away are delivered when it comes back.
    """

    cfg: HallConfig
    client_id: str
    clean: bool = True
    will: tuple[str, dict[str, Any]] | None = None
    on_connected: Callable[[], None] | None = None      # called on the loop after subscriptions are acked
    on_disconnected: Callable[[], None] | None = None
    _subs: list[tuple[str, int]] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _client: paho.Client | None = None
    _pending_sub: set[int] = field(default_factory=set)
    _stopping: bool = False
    _throttle: Throttle = field(default_factory=lambda: Throttle(60.0))
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    messages: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)

    def subscribe(self, topic: str, qos: int = 1) -> None:
        """Declare a subscription; it is (re)made on every connect."""
        self._subs.append((topic, qos))
        if self._client is not None and self.connected.is_set():
            self._client.subscribe(topic, qos)

    def resubscribe(self, topic: str, qos: int = 1) -> None:
        """Subscribe again to a declared topic: the broker resends its retained message (re-reading state)."""
        if self._client is not None and self.connected.is_set():
            self._client.subscribe(topic, qos)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        c = make_client(self.cfg, self.client_id, self.clean, self.will)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        c.on_connect_fail = self._on_connect_fail
        self._client = c
        c.connect_async(self.cfg.mqtt.host, self.cfg.mqtt.port, keepalive=self.cfg.mqtt.keepalive_s)
        c.loop_start()

    async def stop(self, final: tuple[str, dict[str, Any]] | None = None) -> None:
        c = self._client
        if c is None:
            return
        if final and c.is_connected():
            info = c.publish(final[0], dumps(final[1]), qos=1, retain=True)
            await asyncio.to_thread(info.wait_for_publish, 2.0)
        self._stopping = True
        c.disconnect()
        c.loop_stop()
        self._client = None

    def publish(self, topic: str, payload: dict[str, Any] | bytes, *, qos: int = 1,
                retain: bool = False) -> paho.MQTTMessageInfo | None:
        """Queue a message; paho delivers it (and redelivers QoS 1) once connected."""
        if self._client is None:
            return None
        data = payload if isinstance(payload, bytes) else dumps(payload)
        return self._client.publish(topic, data, qos=qos, retain=retain)

    # paho thread -> loop
    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        if rc != 0 and getattr(rc, "is_failure", True):
            if self._throttle.ready(f"refused {rc}"):
                log.warning("mqtt %s: broker %s:%s refused the connection: %s — check this process's credentials "
                            "(--credentials / mqtt.credentials); retrying", self.client_id,
                            self.cfg.mqtt.host, self.cfg.mqtt.port, rc)
            return
        _nodelay(client)
        log.info("mqtt %s: connected to %s:%s", self.client_id, self.cfg.mqtt.host, self.cfg.mqtt.port)
        if not self._subs:
            self._call(self._ready)
            return
        result, mid = client.subscribe(list(self._subs))
        if mid is not None:
            self._pending_sub.add(mid)

    def _on_connect_fail(self, _c: Any, _u: Any) -> None:
        if self._throttle.ready("unreachable"):
            log.warning("mqtt %s: cannot reach the broker at %s:%s (not running, wrong host/port, or a firewall); "
                        "retrying every few seconds", self.client_id, self.cfg.mqtt.host, self.cfg.mqtt.port)

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, _rc: Any, _p: Any = None) -> None:
        if mid in self._pending_sub:
            self._pending_sub.discard(mid)
            self._call(self._ready)

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        if self._stopping:
            log.info("mqtt %s: disconnected on stop", self.client_id)
        else:
            log.warning("mqtt %s: disconnected (%s); reconnecting", self.client_id, rc)
        self._call(self._lost)

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        m = Message(msg.topic, bytes(msg.payload), bool(msg.retain))
        self._call(self.messages.put_nowait, m)

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(fn, *args)

    def _ready(self) -> None:
        self.connected.set()
        if self.on_connected:
            self.on_connected()

    def _lost(self) -> None:
        self.connected.clear()
        if self.on_disconnected:
            self.on_disconnected()


def _nodelay(client: paho.Client) -> None:
    """Disable Nagle: without it every QoS 1 exchange waits ~40 ms for a delayed ACK."""
    sock = client.socket()
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class CommandError(Exception):
    """A command the controller answered with ok:false, or did not answer in time."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


_counter = itertools.count(1)


def new_command_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}-{next(_counter)}"


class CommandClient:
    """Request/reply over an MqttLink: `await client.call('issue', service='tax')`.

    The link must dispatch messages on `reply_topic` to `deliver()`.
    """

    def __init__(self, link: MqttLink, name: str) -> None:
        self.link = link
        self.name = name
        self.topics = topics_for(link.cfg)
        self.reply_topic = self.topics.reply(f"{name}-{uuid.uuid4().hex[:8]}")
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}

    def deliver(self, msg: Message) -> bool:
        """Hand a message to a waiting call; False if it is not a reply for us."""
        if msg.topic != self.reply_topic:
            return False
        try:
            body = msg.json()
            fut = self._waiting.get(str(body.get("id")))
        except (ValueError, AttributeError):
            log.warning("%s: unreadable reply on %s", self.name, msg.topic)
            return True
        if fut is not None and not fut.done():
            fut.set_result(body)
        return True

    async def call(self, command: str, *, cmd_id: str | None = None, timeout_s: float = 5.0,
                   **args: Any) -> dict[str, Any]:
        """Send a command and wait for its reply; returns `result` or raises CommandError."""
        cid = cmd_id or new_command_id(self.name)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[cid] = fut
        try:
            self.link.publish(self.topics.cmd(command), {"id": cid, "reply_to": self.reply_topic, **args})
            try:
                reply = await asyncio.wait_for(fut, timeout_s)
            except TimeoutError:
                raise CommandError("TIMEOUT", f"controller of hall {self.link.cfg.hall.id} did not answer "
                                   f"'{command}' within {timeout_s:g} s — is it running?") from None
        finally:
            self._waiting.pop(cid, None)
        if reply.get("ok"):
            result: dict[str, Any] = reply.get("result") or {}
            return result
        err = reply.get("error") or {}
        raise CommandError(str(err.get("code", "ERROR")), str(err.get("message", "")))


class BlockingClient:
    """A synchronous MQTT client for tools, tests and the demo: commands, and a message log.

    Every message on the subscribed filters is kept in `received`; `wait_for` blocks until one
    matches.
    """

    def __init__(self, cfg: HallConfig, name: str = "tool", subscribe: tuple[str, ...] = ()) -> None:
        self.cfg = cfg
        self.topics = topics_for(cfg)
        self.reply_topic = self.topics.reply(f"{name}-{uuid.uuid4().hex[:8]}")
        self._client = make_client(cfg, f"{name}-{os.getpid()}-{uuid.uuid4().hex[:6]}", True, None)
        self._replies: dict[str, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Condition()
        self.received: list[Message] = []
        self._subs = [(self.reply_topic, 1)] + [(t, 1) for t in subscribe]
        self._ready = threading.Event()
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_a: self._ready.set()
        self._client.on_message = self._on_message

    def __enter__(self) -> BlockingClient:
        self.connect()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    def connect(self, timeout_s: float = 10.0) -> None:
        self._client.connect_async(self.cfg.mqtt.host, self.cfg.mqtt.port, keepalive=15)
        self._client.loop_start()
        if not self._ready.wait(timeout_s):
            raise ConnectionError(f"MQTT broker {self.cfg.mqtt.host}:{self.cfg.mqtt.port} did not accept "
                                  f"a connection within {timeout_s:g} s")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: paho.Client, *_a: Any) -> None:
        _nodelay(client)
        client.subscribe(self._subs)

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        m = Message(msg.topic, bytes(msg.payload), bool(msg.retain))
        if m.topic == self.reply_topic:
            try:
                body = m.json()
                self._replies.setdefault(str(body.get("id")), queue.Queue()).put(body)
            except (ValueError, AttributeError):
                pass
            return
        with self._lock:
            self.received.append(m)
            self._lock.notify_all()

    def publish(self, topic: str, payload: dict[str, Any] | bytes, qos: int = 1, retain: bool = False) -> None:
        data = payload if isinstance(payload, bytes) else dumps(payload)
        self._client.publish(topic, data, qos=qos, retain=retain).wait_for_publish(5)

    def request(self, command: str, cmd_id: str | None = None, timeout_s: float = 10.0,
                **args: Any) -> dict[str, Any]:
        """Send a command and return the whole reply object ({id, ok, result|error})."""
        cid = cmd_id or new_command_id("tool")
        q = self._replies.setdefault(cid, queue.Queue())
        self.publish(self.topics.cmd(command), {"id": cid, "reply_to": self.reply_topic, **args})
        try:
            return q.get(timeout=timeout_s)
        except queue.Empty:
            raise TimeoutError(f"no reply to {command} {cid} within {timeout_s:g} s") from None
        finally:
            self._replies.pop(cid, None)

    def command(self, command: str, **args: Any) -> dict[str, Any]:
        """Send a command; return its result or raise CommandError."""
        reply = self.request(command, **args)
        if reply.get("ok"):
            return dict(reply.get("result") or {})
        err = reply.get("error") or {}
        raise CommandError(str(err.get("code")), str(err.get("message")))

    def wait_for(self, pattern: str, pred: Callable[[Any], bool] = lambda _b: True,
                 timeout_s: float = 10.0, start: int = 0) -> Any:
        """Block until a message on a topic matching `pattern` whose JSON body satisfies pred."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            i = start
            while True:
                while i < len(self.received):
                    m = self.received[i]
                    i += 1
                    if topic_matches(pattern, m.topic):
                        try:
                            body = m.json()
                        except ValueError:
                            continue
                        if pred(body):
                            return body
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no message on {pattern} matching the condition within {timeout_s:g} s")
                self._lock.wait(left)
