"""hallq/api.py: the guarded decoder, topic checks and the one topic parser; the MQTT link's clear line
for an unreachable broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hallq.api import BadPayload, DropLog, Topics, decode, decode_object, topic_problem
from hallq.config import parse_config
from hallq.mqtt import MqttLink
from tests.conftest import small_hall


@pytest.mark.parametrize(("payload", "words"), [
    (b"[" * 30000 + b"]" * 30000, "nested deeper"),
    (json.dumps({"a": json.loads("[" * 33 + "1" + "]" * 33)}).encode(), "nested deeper"),
    (b'{"reply_to": "x\\ud800"}', "lone surrogate"),
    (b'{"\\udfff": 1}', "lone surrogate"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"a": "\xed\xa0\x80"}', "not UTF-8"),          # a surrogate encoded raw
    (b"", "not JSON"),
    (b"{", "not JSON"),
    (b"x" * 70_000, "over the"),
    (b'{"seq": ' + b"9" * 5000 + b"}", "cannot be read"),  # longer than Python converts to an int
])
def test_decoder_refuses_poison(payload: bytes, words: str) -> None:
    with pytest.raises(BadPayload, match=words):
        decode(payload, max_bytes=64 * 1024)


def test_decode_object_needs_an_object() -> None:
    assert decode_object(b'{"a": [1, {"b": "\\u00e9"}]}') == {"a": [1, {"b": "é"}]}
    with pytest.raises(BadPayload, match="JSON object"):
        decode_object(b"[1]")


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(), lambda c: st.lists(c, max_size=3)
                    | st.dictionaries(st.text(max_size=5), c, max_size=3), max_leaves=30))
def test_decoder_never_raises_anything_but_bad_payload(value: object) -> None:
    raw = json.dumps(value).encode()
    with contextlib.suppress(BadPayload):   # refusing (too deep) is allowed; anything else must round-trip
        assert decode(raw) == value


@pytest.mark.parametrize(("topic", "ok"), [
    ("hallq/h/reply/kiosk-1/x", True), ("", False), ("a/+/b", False), ("a/#", False), ("a\tb", False),
    ("a\x00b", False), ("a\u0085b", False), ("x" * 300, False), ("回复/主题", True),
])
def test_topic_problem(topic: str, ok: bool) -> None:
    assert (topic_problem(topic) is None) is ok


def test_topics_open_and_secure_forms() -> None:
    open_, secure = Topics("h"), Topics("h", "kiosk-1")
    assert open_.cmd("issue") == "hallq/h/cmd/issue" and secure.cmd("issue") == "hallq/h/cmd/kiosk-1/issue"
    assert secure.reply("x") == "hallq/h/reply/kiosk-1/x"
    r = Topics("h").parse("hallq/h/cmd/kiosk-1/issue", secure=True)
    assert (r.kind, r.principal, r.name) == ("cmd", "kiosk-1", "issue")
    assert Topics("h").parse("hallq/h/cmd/issue", secure=True).kind == "other"
    assert Topics("h").parse("hallq/h/cmd/issue", secure=False).name == "issue"
    assert Topics("h").parse("hallq/h/device/bus1-3/status").leaf == "status"
    t = Topics("h")
    assert t.reply_to_problem("hallq/h/reply/kiosk-1/a", "kiosk-1") is None
    assert t.reply_to_problem("hallq/h/reply/display-1/a", "kiosk-1") is not None
    assert t.reply_to_problem("hallq/h/reply/kiosk-1/", "kiosk-1") is not None
    assert t.reply_to_problem("hallq/h/state/queues", None) is not None   # open mode: never onto our own facts
    assert t.reply_to_problem("my/own/replies", None) is None


def test_drop_log_reports_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    d = DropLog("x", every_s=60)
    with caplog.at_level(logging.WARNING):
        for i in range(100):
            d.drop("t", "payload is not JSON (x)", now=float(i))
        d.drop("t", "payload is not JSON (x)", now=61.0)
    lines = [r.getMessage() for r in caplog.records]
    assert d.dropped == 101 and len(lines) == 2 and "since the last report" in lines[1]


def test_unreachable_broker_is_one_clear_line(caplog: pytest.LogCaptureFixture) -> None:
    cfg = parse_config(small_hall(port=1))

    async def run() -> None:
        link = MqttLink(cfg, "probe")
        await link.start()
        for _ in range(100):
            if any("cannot reach the broker" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.05)
        await link.stop()

    with caplog.at_level(logging.WARNING, logger="hallq.mqtt"):
        asyncio.run(run())
    lines = [r.getMessage() for r in caplog.records if "cannot reach" in r.getMessage()]
    assert len(lines) == 1 and "127.0.0.1:1" in lines[0]
