"""The console survives any message (issue 12): the poison corpus on every topic it reads (retained state,
events, controller status, replies), then it still serves its pages and a window client's call works."""

from __future__ import annotations

from hallq.mqtt import BlockingClient
from tests.console.desk import Desk, desk  # noqa: F401 (the fixture)
from tests.controller.test_poison import CORPUS


def test_poison_on_every_topic_the_console_reads(desk: Desk) -> None:  # noqa: F811
    cfg = desk.hall.cfg
    topics = [cfg.topic("state", "window", "1"), cfg.topic("state", "queues"), cfg.topic("state", "alerts"),
              cfg.topic("event", "ticket.called"), cfg.topic("event", "ticket.issued"),
              cfg.topic("event", "alert.raised"), cfg.topic("controller", "status"), cfg.topic("reply", "x")]
    with BlockingClient(cfg, "poison") as p:
        for payload in CORPUS:
            for t in topics:
                p._client.publish(t, payload, qos=1, retain=False).wait_for_publish(5)
        p.command("issue", service="general")
    c, csrf = desk.session("S001")
    h = {"X-CSRF-Token": csrf}
    assert c.post("/api/windows/1/login", json={}, headers=h).status_code == 200
    r = c.post("/api/windows/1/call", json={}, headers=h)
    assert r.status_code == 200 and r.json()["result"]["ticket"]["number"] == "A001", r.text
    assert c.get("/api/hall").status_code == 200
    assert desk.console.proc is not None and desk.console.proc.poll() is None
    assert "Traceback" not in desk.console.log(), desk.console.log()[-3000:]
