"""The typed parsers the screens use (hallq.api): any JSON value gives a typed result or BadPayload, never
another exception; and ControllerWatch, which believes a retained "offline" only until the controller
answers a probe."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hallq.api import (
    BadPayload,
    ControllerStatus,
    ControllerWatch,
    parse_controller_status,
    parse_event,
    parse_events_page,
    parse_queues,
    parse_reply,
    parse_ticket,
    parse_ticket_called,
)

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                     lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=5),
                     max_leaves=25)
_keys = st.sampled_from(["state", "at", "log", "reason", "services", "id", "waiting", "est_wait_s", "issuing",
                         "type", "seq", "ticket", "window", "service", "recall", "date", "ok", "result", "error",
                         "code", "message", "events", "next_seq", "head_seq", "first_seq", "number", "status",
                         "issued_at", "ahead", "priority"])
_objects = st.dictionaries(_keys, _json, max_size=12)


def _called_from_event(v: Any) -> Any:
    return parse_ticket_called(parse_event(v))


@settings(max_examples=500, deadline=None)
@given(st.one_of(_json, _objects),
       st.sampled_from([parse_controller_status, parse_queues, parse_event, parse_events_page, parse_reply,
                        parse_ticket, _called_from_event]))
def test_parsers_give_a_typed_value_or_bad_payload(value: Any, parser: Any) -> None:
    with contextlib.suppress(BadPayload):
        parser(value)


def test_a_valid_queue_and_the_fields_that_break_it() -> None:
    q = parse_queues({"at": "t", "log": "L", "services": [{"id": "general", "waiting": 4, "est_wait_s": None,
                                                           "issuing": "quota"}]})
    assert (q.log, q.services[0].waiting, q.services[0].issuing) == ("L", 4, "quota")
    for bad in ({"services": [{"id": "g", "waiting": True}]}, {"services": [{"id": "g", "waiting": -1}]},
                {"services": [{"id": "g", "waiting": 1, "issuing": "maybe"}]}, {"services": "all"}):
        with pytest.raises(BadPayload):
            parse_queues(bad)


def test_watch_believes_offline_only_until_the_controller_answers() -> None:
    w = ControllerWatch(probe_every_s=5, trust_s=15)
    assert not w.online(0) and w.probe_due(0) and not w.probe_due(1)
    assert w.on_status(ControllerStatus("online", "t1", "L"), 1) and w.online(1) and not w.probe_due(2)
    assert w.state_problem("L") is None and w.state_problem(None) and w.state_problem("other")
    assert not w.on_status(ControllerStatus("offline"), 3)          # a retained lie (or the truth)
    assert not w.online(3) and w.probe_due(3)
    w.on_reply(3.2)                                                 # only the controller answers
    assert w.online(4) and not w.online(20), "an answer counts for trust_s"
    assert w.probe_due(8.5), "asked again while the status still says offline"
    assert w.log == "L", "the log of the last online status stays the one state must carry"
    assert w.on_status(ControllerStatus("online", "t2", "L2"), 30), "online again: re-read the state"
    assert not w.on_status(ControllerStatus("online", "t2", "L2"), 31), "the same status again: nothing to re-read"
