"""The controller survives any message (issue 12): a corpus of poison and hypothesis-made payloads on its
command and device-status topics, interleaved with legitimate commands, over a real mosquitto. Every
legitimate command is answered correctly, the controller stays alive, nothing is rebuilt, no traceback."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hallq.mqtt import BlockingClient
from tests.conftest import Hall, small_hall

CORPUS: list[bytes] = [
    b"[" * 10_000 + b"]" * 10_000,
    b"{" * 10_000,
    b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    b'{"id": "x1", "reply_to": "hallq/test-hall/reply/p", "service": "\\ud800"}',
    b'{"id": "x2", "reply_to": "hallq/test-hall/reply/p", "service": "\xed\xa0\x80"}',
    b'{"id": "x3\\u0000", "reply_to": "hallq/test-hall/reply/p", "service": "general"}',
    b'{"id": "x4", "reply_to": "hallq/test-hall/reply/p", "service": "gen\\u0000eral"}',
    b'{"id": "x5", "reply_to": "hallq/test-hall/reply/p\\t", "service": "general"}',
    b'{"id": "x6", "reply_to": "hallq/test-hall/state/queues", "service": "general"}',
    b'{"id": "x7", "reply_to": "hallq/+/reply", "service": "general"}',
    b'{"id": "x8", "reply_to": "' + b"r" * 300 + b'", "service": "general"}',
    json.dumps({"id": "x9", "reply_to": "hallq/test-hall/reply/p", "service": "x" * 1_000_000}).encode(),
    b"", b"null", b"[]", b'"text"', b"12", b"\xff\xfe\xfd", b"not json at all",
    b'{"id": 5, "reply_to": [], "window": {"a": 1}}',
    b'{"id": "x10", "reply_to": "hallq/test-hall/reply/p", "window": ["1"], "level": "5", "ticket": 7}',
    b'{"id": "x11", "reply_to": "hallq/test-hall/reply/p", "since_seq": -1}',
    b'{"id": "x12", "reply_to": "hallq/test-hall/reply/p", "since_seq": 0, "limit": 100000}',
]
NAMES = ["issue", "call", "rate", "ticket", "login", "events", "transfer", "alert_ack", "nope", "hold", "cancel"]


@pytest.fixture(scope="module")
def hall(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hall]:
    from hallq.broker import Mosquitto
    tmp = tmp_path_factory.mktemp("poison")
    broker = Mosquitto(workdir=tmp / "broker").start()
    h = Hall(tmp, broker, small_hall(broker.port))
    h.start_controller()
    yield h
    h.controller.stop()
    broker.stop()


def _legit(c: BlockingClient, i: int) -> None:
    t = c.command("issue", cmd_id=f"legit-issue-{i}", service="general")["ticket"]
    assert c.command("ticket", number=t["number"])["ticket"]["status"] == "waiting"


def test_the_corpus_on_every_command_and_device_topic(hall: Hall) -> None:
    with hall.client("poison") as c:
        for i, payload in enumerate(CORPUS):
            for name in NAMES:
                c._client.publish(hall.cfg.topic("cmd", name), payload, qos=1)
            c._client.publish(hall.cfg.topic("device", "bus1-1", "status"), payload, qos=1, retain=False)
            _legit(c, i)
        # a BAD_REQUEST is still answered where the reply_to can be read (CONTRACT §3.2, §3.7)
        reply = c.request("issue", cmd_id="nul-arg", service="gen\x00eral")
        assert reply["ok"] is False and reply["error"]["code"] == "BAD_REQUEST"
        q: queue.Queue[dict[str, Any]] = c._replies.setdefault("sur", queue.Queue())
        c._client.publish(hall.cfg.topic("cmd", "issue"), b'{"id": "sur", "reply_to": "' + c.reply_topic.encode()
                          + b'", "service": "\\udc00"}', qos=1)
        bad = q.get(timeout=10)
        assert bad["error"]["code"] == "BAD_REQUEST" and "surrogate" in bad["error"]["message"]
    _alive_and_clean(hall)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(NAMES), body=st.dictionaries(
    st.sampled_from(["id", "reply_to", "service", "window", "number", "level", "ticket", "staff", "date", "priority",
                     "since_seq", "limit", "actor", "code", "credential", "pin", "reasons"]),
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=80)
    | st.lists(st.text(max_size=5), max_size=3) | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    max_size=8))
def test_wrong_types_at_every_field(hall: Hall, name: str, body: dict[str, Any]) -> None:
    with hall.client("typer") as c:
        if "reply_to" in body:
            body["reply_to"] = c.reply_topic if isinstance(body["reply_to"], str) else body["reply_to"]
        c._client.publish(hall.cfg.topic("cmd", name), json.dumps(body, allow_nan=True).encode(), qos=1)
        _legit(c, 1000 + abs(hash(json.dumps(body, sort_keys=True, default=str))) % 10**9)


def _alive_and_clean(hall: Hall) -> None:
    assert hall.controller.proc is not None and hall.controller.proc.poll() is None, "the controller died"
    log = hall.controller.log()
    assert "Traceback" not in log, log[-4000:]
    assert "rebuilding state" not in log


def test_the_controller_is_still_well(hall: Hall, tmp_path: Path) -> None:
    _alive_and_clean(hall)
    assert "dropped a message" in hall.controller.log()   # counted and logged, once per cause a minute
