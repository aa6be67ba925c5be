"""An evaluator's 差评 reason keys become the hall's configured reason texts in the `rate` command."""

from __future__ import annotations

from firmware_bridge.hallbus.messages import EVENT, DeviceEvent
from firmware_bridge.mapping import Command, command_for, reason_names

OPTIONS = ["态度不好", "效率低", "一次性告知不清"]


def test_reason_codes_are_the_configured_options_in_order() -> None:
    assert reason_names(bytes((1, 3)), OPTIONS) == ["态度不好", "一次性告知不清"]
    assert reason_names([2, 9], OPTIONS) == ["效率低", "r9"], "an unknown code is kept, not dropped"


def test_rate_event_with_reasons() -> None:
    cmd = command_for(DeviceEvent(8, EVENT.RATE, bytes((2, 2, 1))), "3", "A012", OPTIONS)
    assert cmd == Command("rate", {"ticket": "A012", "level": 2, "window": "3", "reasons": ["效率低", "态度不好"],
                                   "channel": "evaluator"})
    assert isinstance(command_for(DeviceEvent(9, EVENT.RATE, bytes((5,))), "3", None, OPTIONS), str), \
        "no ticket shown: no rating"
