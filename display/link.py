"""The call screen's MQTT session: a fixed client id, clean_session False, QoS 1 subscriptions.

With a persistent session the broker keeps the events published while the screen was away (display
restarted, network dropped) and delivers them when it comes back, so a call is never lost to a reconnect.
paho reconnects by itself (also when the broker was down at start); every connect re-subscribes, which
makes the broker resend the retained state. The client is hallq's one paho set-up (`hallq.mqtt.make_client`:
credentials and the hall CA in a secure hall) and the topics are the principal's (`topics_for`).
Callbacks run in paho's thread: the owner hands them over to its own loop (the Kivy clock, or a queue
when headless); nothing raised in them may escape (paho would stop its network thread).
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as paho

from hallq.api import Topics, dumps
from hallq.config import DisplayConfig, HallConfig
from hallq.mqtt import Message, Throttle, make_client, topics_for

log = logging.getLogger("hallq.display.link")


def session_id(cfg: HallConfig, display: DisplayConfig) -> str:
    """The display's MQTT client id; it must not change between runs, or the session is lost."""
    return display.client_id or f"hallq-{cfg.hall.id}-display-{display.id}"


def reply_topic(cfg: HallConfig, display: DisplayConfig) -> str:
    """Where the controller answers this screen's `events` and probe commands (fixed: the session keeps it)."""
    return topics_for(cfg).reply(f"display-{display.id}")


def display_topics(cfg: HallConfig, reply: str | None = None) -> tuple[str, ...]:
    """The controller's status first (its retained copy then comes before the state it vouches for), the
    queues, every event (seq continuity needs them all, CONTRACT §3.4), and the screen's reply topic."""
    t = topics_for(cfg)
    return (t.controller_status(), t.state_queues(), t.event(), *((reply,) if reply else ()))


class SessionLink:
    """A persistent MQTT session; `open()` returns at once, `on_state(True)` once subscriptions are acked."""

    def __init__(self, cfg: HallConfig, client_id: str, topics: Sequence[str],
                 on_message: Callable[[Message], None], on_state: Callable[[bool], None]) -> None:
        self.cfg, self.client_id, self.topics = cfg, client_id, tuple(topics)
        self.hall_topics: Topics = topics_for(cfg)
        self.on_message, self.on_state = on_message, on_state
        self.up = False
        self._client: paho.Client | None = None
        self._sub_mid: int | None = None
        self._throttle = Throttle(60.0)        # a broker that stays away is said once a minute, not per retry

    def open(self) -> None:
        c = make_client(self.cfg, self.client_id, False)
        c.on_connect = self._on_connect
        c.on_subscribe = self._on_subscribe
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_connect_fail = self._on_connect_fail
        self._client = c
        m = self.cfg.mqtt
        c.connect_async(m.host, m.port, keepalive=m.keepalive_s)
        c.loop_start()

    def close(self) -> None:
        """Disconnect cleanly; the broker keeps the session and queues events until the next open()."""
        c, self._client = self._client, None
        if c is not None:
            c.disconnect()
            c.loop_stop()
        self.up = False

    def publish(self, topic: str, payload: dict[str, Any], *, retain: bool = False) -> bool:
        """Queue a QoS 1 message (any thread); False when not connected (paho would drop it anyway)."""
        c = self._client
        if c is None or not self.up:
            return False
        return c.publish(topic, dumps(payload), qos=1, retain=retain).rc == paho.MQTT_ERR_SUCCESS

    def resubscribe(self, topic: str) -> None:
        """Subscribe again: the broker resends the topic's retained message (re-reading the state)."""
        c = self._client
        if c is not None and self.up:
            c.subscribe(topic, 1)

    def _on_connect(self, client: paho.Client, _u: Any, flags: Any, rc: Any, _p: Any = None) -> None:
        if rc != 0 and getattr(rc, "is_failure", True):
            if self._throttle.ready(f"refused {rc}"):
                log.warning("display %s: broker %s:%s refused the connection (%s); retrying", self.client_id,
                            self.cfg.mqtt.host, self.cfg.mqtt.port, rc)
            return
        sock = client.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        log.info("display %s: connected to %s:%s (session %s)", self.client_id, self.cfg.mqtt.host,
                 self.cfg.mqtt.port, "resumed" if getattr(flags, "session_present", False) else "new")
        _rc, self._sub_mid = client.subscribe([(t, 1) for t in self.topics])

    def _on_connect_fail(self, _c: Any, _u: Any) -> None:
        if self._throttle.ready("unreachable"):
            log.warning("display %s: cannot reach the broker at %s:%s (not running, wrong host/port, or a "
                        "firewall); retrying every few seconds", self.client_id, self.cfg.mqtt.host,
                        self.cfg.mqtt.port)

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, _rc: Any, _p: Any = None) -> None:
        if mid == self._sub_mid:
            self.up = True
            self._safe(self.on_state, True)

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        if self._client is None:
            return  # our own close()
        log.warning("display %s: lost the broker %s:%s (%s); reconnecting", self.client_id, self.cfg.mqtt.host,
                    self.cfg.mqtt.port, rc)
        self.up = False
        self._safe(self.on_state, False)

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        self._safe(self.on_message, Message(msg.topic, bytes(msg.payload), bool(msg.retain)))

    def _safe(self, fn: Callable[[Any], None], arg: Any) -> None:
        """A handler's bug is logged, never raised into paho's network thread (that would end it)."""
        try:
            fn(arg)
        except Exception:
            log.exception("display %s: a message handler failed; the session goes on", self.client_id)
