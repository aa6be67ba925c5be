"""The ingest's gap filler against a scripted hall (real mosquitto, real PostgreSQL): pages of `events` until the
head, a hole the hall's log no longer holds noted in `hallq_gaps`, bad payloads dropped without a stall."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from hallq.broker import Mosquitto
from hallq.config.region import parse_region
from region.ingest import Ingest
from region.pgtest import Postgres

LOG = "seg-1"


def _ev(seq: int) -> dict[str, Any]:
    at = f"2026-11-23T09:{seq // 60:02d}:{seq % 60:02d}+08:00"
    return {"type": "ticket.issued", "seq": seq, "log": LOG, "at": at,
            "ticket": f"A{seq:03d}", "date": "2026-11-23", "service": "g", "priority": "normal"}


class ScriptedHall:
    """Answers `events` from a log that holds seq FIRST..HEAD, at most 7 a page."""

    def __init__(self, port: int, first: int, head: int) -> None:
        self.first, self.head = first, head
        self.asked: list[int] = []
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id="scripted-hall")
        self.c.on_message = self._on
        self.c.connect("127.0.0.1", port)
        self.c.subscribe("hallq/h1/cmd/#", 1)
        self.c.loop_start()

    def _on(self, _c: Any, _u: Any, m: paho.MQTTMessage) -> None:
        body = json.loads(m.payload)
        since = int(body["since_seq"])
        self.asked.append(since)
        evs = [_ev(s) for s in range(max(since + 1, self.first), min(since + 8, self.head + 1))]
        nxt = evs[-1]["seq"] if evs else since
        self.c.publish(body["reply_to"], json.dumps({"id": body["id"], "ok": True, "result": {
            "events": evs, "next_seq": nxt, "head_seq": self.head, "first_seq": self.first}}), qos=1)

    def publish(self, topic: str, payload: bytes) -> None:
        self.c.publish(topic, payload, qos=1).wait_for_publish(5)


def test_gaps_filled_by_pages_and_a_lost_hole_noted() -> None:
    pg = Postgres().init().start()
    broker = Mosquitto().start()
    stop = threading.Event()
    try:
        cfg = parse_region({"region": {"id": "r", "name": {"zh": "r"}},
                            "mqtt": {"host": "127.0.0.1", "port": broker.port}, "postgres": pg.dsn,
                            "halls": [{"id": "h1", "name": {"zh": "x"}, "level": "gacha"}],
                            "ingest": {"gap_wait_s": 0.2, "shared": False}}, "REGION.yaml")
        ing = Ingest(cfg, None)
        t = threading.Thread(target=ing.run, args=(stop,), daemon=True)
        t.start()
        assert ing.connected.wait(10)
        hall = ScriptedHall(broker.port, first=5, head=30)      # seq 1..4 are gone from the hall's log
        hall.publish("hallq/h1/event/ticket.issued", b"\xff not json")
        hall.publish("hallq/h1/event/ticket.issued", json.dumps({"type": "x"}).encode())
        hall.publish("hallq/h1/event/ticket.issued", json.dumps({**_ev(29), "service": "g\u0000"}).encode())
        hall.publish("hallq/h1/event/ticket.issued", json.dumps(_ev(30)).encode())
        with psycopg.connect(pg.dsn, autocommit=True) as db:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                row = db.execute("SELECT seq FROM hallq_ingest_state WHERE hall = 'h1'").fetchone()
                if row and row[0] == 30:
                    break
                time.sleep(0.1)
            assert [r[0] for r in db.execute("SELECT seq FROM hallq_events ORDER BY seq").fetchall()] == \
                list(range(5, 31))
            assert db.execute("SELECT from_seq, to_seq FROM hallq_gaps").fetchall() == [(1, 4)]
            assert db.execute("SELECT count(*) FROM hallq_tickets").fetchone() == (26,)
        assert hall.asked[0] == 0 and len(hall.asked) >= 4          # pages of 7 until the head
        assert ing.drops.dropped == 3
    finally:
        stop.set()
        broker.stop()
        pg.stop()
