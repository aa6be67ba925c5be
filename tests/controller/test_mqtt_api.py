"""The controller over a real mosquitto: the command set, bad input, idempotency, presence, restarts."""

from __future__ import annotations

import threading
import time
from typing import Any

from hallq.mqtt import BlockingClient, CommandError
from tests.conftest import Hall


def _all(hall: Hall) -> BlockingClient:
    c = hall.client("t", (hall.cfg.topic("#"),))
    c.connect()
    return c


def test_whole_command_set_over_mqtt(hall: Hall) -> None:
    c = _all(hall)
    hall.start_controller(c)
    t = c.command("issue", service="general")["ticket"]
    assert (t["number"], t["status"], t["priority"], t["ahead"]) == ("A001", "waiting", "normal", 0)
    assert t["issued_at"].endswith("+08:00"), "timestamps carry the hall's offset"
    c.command("issue", service="tax", priority="green", source="kiosk-1")
    assert c.command("login", window="1", staff="S001")["window"]["status"] == "idle"
    assert c.command("call", window="1")["ticket"]["number"] == "S001"
    assert c.command("recall", window="1")["recalls"] == 1
    assert c.command("transfer", window="1", service="general")["ticket"]["status"] == "waiting"
    assert c.command("call", window="1")["ticket"]["number"] == "S001", "transfer kept issued_at"
    assert c.command("skip", window="1")["ticket"]["status"] == "no_show"
    assert c.command("call", window="1")["ticket"]["number"] == "A001"
    assert c.command("pause", window="1", reason="午休")["window"]["status"] == "paused"
    assert c.command("resume", window="1")["window"]["status"] == "serving"
    assert c.command("finish", window="1")["ticket"]["status"] == "finished"
    ev = c.command("rate", ticket="A001", level=5, window="1")["evaluation"]
    assert ev["level"] == 5
    assert c.command("ticket", number="A001")["ticket"]["status"] == "finished"
    assert c.command("logout", window="1")["window"]["status"] == "closed"

    # retained state and events
    w = c.wait_for(hall.cfg.topic("state", "window", "1"), lambda b: b["status"] == "closed")
    assert w["staff"] is None
    q = c.wait_for(hall.cfg.topic("state", "queues"), lambda b: True)
    assert [s["id"] for s in q["services"]] == ["general", "tax"]
    called = c.wait_for(hall.cfg.topic("event", "ticket.called"), lambda b: b["recall"] == 1)
    assert called["ticket"] == "S001" and called["window"] == "1" and called["date"]
    seqs = [m.json()["seq"] for m in c.received if "/event/" in m.topic]
    assert seqs == list(range(1, len(seqs) + 1)), f"event seq must be gap-free, got {seqs}"
    c.close()


def test_errors_have_codes_and_messages(hall: Hall) -> None:
    c = _all(hall)
    hall.start_controller(c)
    for name, args, code in [("issue", {"service": "x"}, "UNKNOWN_SERVICE"), ("call", {"window": "1"}, "NOT_LOGGED_IN"),
                             ("nope", {}, "BAD_REQUEST"), ("rate", {"ticket": "A001", "level": 9}, "BAD_REQUEST")]:
        r = c.request(name, **args)
        assert r["ok"] is False and r["error"]["code"] == code, f"{name} {args}: expected {code}, got {r}"
        assert r["error"]["message"]
    c.close()


def test_bad_input_never_stops_the_controller(hall: Hall) -> None:
    c = _all(hall)
    hall.start_controller(c)
    cmd = hall.cfg.topic("cmd", "issue")
    garbage: list[Any] = [b"", b"{", b"\xff\xfe", b"[]", b"null", b"123", b'"str"', b"x" * 200_000,
                          {"id": "g1"}, {"reply_to": c.reply_topic}, {"id": 5, "reply_to": c.reply_topic},
                          {"id": "g2", "reply_to": "bad/+/topic", "service": "tax"},
                          {"id": "x" * 65, "reply_to": c.reply_topic, "service": "tax"}]
    for g in garbage:
        c.publish(cmd, g)
    r = c.request("issue", cmd_id="g3", service=["tax"])
    assert r["error"]["code"] == "BAD_REQUEST" and "service" in r["error"]["message"]
    r = c.request("issue", service="tax")
    assert r["ok"], "the controller keeps serving after garbage"
    assert hall.controller.proc is not None and hall.controller.proc.poll() is None
    c.close()


def test_repeated_id_returns_the_original_reply_across_restart(hall: Hall) -> None:
    c = _all(hall)
    hall.start_controller(c)
    first = c.request("issue", cmd_id="kiosk-1-0001", service="general")
    err = c.request("call", cmd_id="kiosk-1-0002", window="2")
    hall.controller.stop()
    hall.start_controller(c)
    again = c.request("issue", cmd_id="kiosk-1-0001", service="general")
    assert again == first, "a repeat gets the original reply, not a new ticket"
    assert c.request("call", cmd_id="kiosk-1-0002", window="2") == err, "errors are remembered too"
    assert c.request("login", cmd_id="kiosk-1-0001", window="1", staff="S001")["error"]["code"] == "BAD_REQUEST"
    assert c.command("issue", service="general")["ticket"]["number"] == "A002"
    c.close()


def test_presence_online_offline_and_lost(hall: Hall) -> None:
    c = _all(hall)
    status = hall.cfg.topic("controller", "status")
    hall.start_controller(c)
    assert hall.controller.stop() == 0, "SIGTERM is a clean stop: exit code 0"
    c.wait_for(status, lambda b: b["state"] == "offline")
    hall.start_controller(c)
    hall.controller.kill()
    c.wait_for(status, lambda b: b["state"] == "lost", timeout_s=40)
    c.close()


def test_two_windows_calling_at_once_never_share_a_ticket(hall: Hall) -> None:
    c = _all(hall)
    hall.start_controller(c)
    c.command("login", window="1", staff="S001")
    c.command("login", window="3", staff="S003")
    for _round in range(15):
        for _ in range(3):
            c.command("issue", service="general")
        got: dict[str, list[Any]] = {"1": [], "3": []}
        clients = {w: hall.client(f"win{w}") for w in got}
        for cl in clients.values():
            cl.connect()
        barrier = threading.Barrier(2)

        def press(w: str, got: dict[str, list[Any]] = got, clients: dict[str, BlockingClient] = clients,
                  barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            for _ in range(2):
                got[w].append(clients[w].command("call", window=w)["ticket"])

        threads = [threading.Thread(target=press, args=(w,)) for w in got]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
        numbers = [t["number"] for ts in got.values() for t in ts if t]
        assert len(numbers) == len(set(numbers)), f"round {_round}: two windows got the same ticket: {got}"
        for cl in clients.values():
            cl.close()
    c.close()


def test_broker_restart_is_survived(hall: Hall) -> None:
    hall.start_controller()
    with hall.client("a") as c:
        c.command("issue", service="general")
    hall.broker.stop()
    time.sleep(0.5)
    hall.broker.start()
    deadline = time.monotonic() + 30
    while True:
        try:
            with hall.client("b", (hall.cfg.topic("controller", "status"),)) as c:
                c.wait_for(hall.cfg.topic("controller", "status"), lambda b: b["state"] == "online", timeout_s=10)
                assert c.command("issue", service="general")["ticket"]["number"] == "A002"
                break
        except (TimeoutError, ConnectionError, CommandError):
            if time.monotonic() > deadline:
                raise AssertionError("controller did not come back after a broker restart:\n"
                                     + hall.controller.log()) from None
