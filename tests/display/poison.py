"""A corpus of poisoned MQTT payloads (issue 12): nesting to depth 10,000, lone surrogates escaped and raw,
NUL, 1 MB strings, non-JSON, empty, and a valid template with each field given each wrong type."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

WRONG: tuple[Any, ...] = (None, 0, -1, 2 ** 70, 1.5, 1e308, True, "", "x" * 300, "\u0000", [], {}, [1], {"a": 1})


def raw_corpus() -> list[bytes]:
    deep_arrays = b"[" * 10_000 + b"]" * 10_000
    deep_objects = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
    return [
        b"", b" ", b"null", b"42", b'"text"', b"[]", b"{not json", b"\xff\xfe\xfd", b"\x00", b"{}",
        deep_arrays, deep_objects,
        b"[" * 30_000 + b"]" * 30_000,                                  # 60 kB of [[[...]]]
        b'{"x":' + b"[" * 5_000 + b"]" * 5_000 + b"}",
        b'{"ticket":"\\ud800","type":"ticket.called","seq":3,"at":"x","window":"1","service":"general"}',
        b'{"state":"\\udfff"}', b'{"\\ud800":1}',
        b'{"ticket":"\xed\xa0\x80"}',                                  # a raw (UTF-8-encoded) surrogate
        b'{"state":"online\\u0000"}', b'{"state":"online","at":"\x00"}',
        b'{"state":"' + b"A" * 1_000_000 + b'"}',                      # a 1 MB string
        b'{"services":[' + b",".join([b'{"id":"general","waiting":1}'] * 20_000) + b"]}",
    ]


def wrong_types(template: dict[str, Any]) -> Iterator[bytes]:
    """The template with one field at a time (nested ones too) replaced by each wrong value, and missing."""
    for variant in _variants(template):
        yield json.dumps(variant).encode()


def _variants(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key, value in obj.items():
        for bad in WRONG:
            if not (bad == value and type(bad) is type(value)):
                yield {**obj, key: bad}
        yield {k: v for k, v in obj.items() if k != key}
        if isinstance(value, dict):
            for inner in _variants(value):
                yield {**obj, key: inner}
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for inner in _variants(value[0]):
                yield {**obj, key: [inner, *value[1:]]}


CALLED = {"type": "ticket.called", "seq": 2, "at": "2026-11-23T09:00:00+08:00", "ticket": "Q777", "date": "2026-11-23",
          "service": "general", "window": "1", "recall": 0}
QUEUES = {"at": "2026-11-23T09:00:00+08:00", "services": [{"id": "general", "waiting": 888, "est_wait_s": 60,
                                                             "issuing": "closed"}]}
STATUS = {"state": "offline", "at": "2026-11-23T09:00:00+08:00"}
REPLY = {"id": "x-1", "ok": True, "result": {"events": [CALLED], "next_seq": 2, "head_seq": 2, "first_seq": 1}}


def corpus(template: dict[str, Any]) -> list[bytes]:
    return raw_corpus() + list(wrong_types(template))
