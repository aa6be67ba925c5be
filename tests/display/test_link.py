"""The call screen's persistent MQTT session against a real mosquitto: calls published while the screen
was away arrive when it comes back; after a broker restart the link comes back by itself and subscribes
again (a broker that lost its sessions on restart still delivers to the screen)."""

from __future__ import annotations

import queue
import time
from pathlib import Path

from display.link import SessionLink, display_topics, session_id
from hallq.broker import Mosquitto
from hallq.config import HallConfig, parse_config
from hallq.mqtt import BlockingClient, Message
from tests.conftest import small_hall

WAIT_S = 20.0  # an upper bound on waiting for the broker, not a timing requirement


class Probe:
    """A SessionLink whose messages and up/down changes land in one queue."""

    def __init__(self, cfg: HallConfig, client_id: str) -> None:
        self.q: queue.Queue[Message | bool] = queue.Queue()
        self.link = SessionLink(cfg, client_id, display_topics(cfg), self.q.put, self.q.put)

    def next_matching(self, want: str | bool) -> Message | bool:
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                item = self.q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"nothing like {want!r} from the broker within {WAIT_S:g} s") from None
            if isinstance(want, bool) and item is want:
                return item
            if isinstance(want, str) and isinstance(item, Message) and item.topic.endswith(want):
                return item


def _cfg(port: int) -> HallConfig:
    return parse_config(small_hall(port, displays=[{"id": "tv-1"}]))


def _call(seq: int) -> dict[str, object]:
    return {"type": "ticket.called", "seq": seq, "at": "2026-11-23T09:00:00+08:00", "ticket": f"A{seq:03d}",
            "date": "2026-11-23", "service": "general", "window": "1", "recall": 0}


def test_a_call_published_while_the_screen_was_away_is_delivered(mosquitto: Mosquitto) -> None:
    cfg = _cfg(mosquitto.port)
    cid = session_id(cfg, cfg.displays[0])
    assert cid == "hallq-test-hall-display-tv-1", "a fixed id per display, the same on every run"
    first = Probe(cfg, cid)
    first.link.open()
    first.next_matching(True)
    first.link.close()
    with BlockingClient(cfg, "ctl") as c:
        c.publish(cfg.topic("event", "ticket.called"), _call(7))
    again = Probe(cfg, cid)
    again.link.open()
    try:
        m = again.next_matching("/ticket.called")
        assert isinstance(m, Message) and m.json()["ticket"] == "A007", "the broker kept the call for the session"
    finally:
        again.link.close()


def test_a_fresh_client_id_would_have_missed_it(mosquitto: Mosquitto) -> None:
    """The control for the test above: without the session, the call is gone (it is not retained)."""
    cfg = _cfg(mosquitto.port)
    with BlockingClient(cfg, "ctl") as c:
        c.publish(cfg.topic("event", "ticket.called"), _call(8))
        c.publish(cfg.topic("state", "queues"), {"at": "x", "services": []}, retain=True)
    other = Probe(cfg, "someone-else")
    other.link.open()
    try:
        other.next_matching("/state/queues")  # subscribed and caught up
        assert other.q.empty(), "no ticket.called for a client that never had a session"
    finally:
        other.link.close()


def test_broker_restart_is_survived(tmp_path: Path) -> None:
    broker = Mosquitto(workdir=tmp_path / "broker").start()
    cfg = _cfg(broker.port)
    p = Probe(cfg, session_id(cfg, cfg.displays[0]))
    try:
        with BlockingClient(cfg, "ctl") as c:
            c.publish(cfg.topic("controller", "status"), {"state": "online"}, retain=True)
        p.link.open()
        p.next_matching(True)
        p.next_matching("/controller/status")
        broker.stop()
        p.next_matching(False)
        broker.start()
        p.next_matching(True)
        with BlockingClient(cfg, "ctl") as c:  # the controller republishes its status after a broker restart
            c.publish(cfg.topic("controller", "status"), {"state": "online", "again": True}, retain=True)
        for _ in range(3):  # the broker keeps retained messages: the old status may come back first
            status = p.next_matching("/controller/status")
            if isinstance(status, Message) and status.json().get("again"):
                break
        assert isinstance(status, Message) and status.json().get("again"), "subscriptions were made again"
        with BlockingClient(cfg, "ctl") as c:
            c.publish(cfg.topic("event", "ticket.called"), _call(9))
        m = p.next_matching("/ticket.called")
        assert isinstance(m, Message) and m.json()["seq"] == 9
    finally:
        p.link.close()
        broker.stop()
