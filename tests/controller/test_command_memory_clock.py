"""The command memory (CONTRACT §3.2: an id is remembered at least 24 h; hallq keeps 48 h) runs on one clock —
the service's — and compares instants: a machine whose zone differs from the hall's, or a simulated clock
far ahead of real time, neither shortens nor lengthens it (issue 17)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from controller.store import COMMAND_MEMORY, EventStore, StoredCommand

HALL = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def machine_in_new_york() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_memory_lasts_48_hours_of_the_services_clock(tmp_path: Path, machine_in_new_york: None) -> None:
    store = EventStore(tmp_path).open()
    ahead = datetime.now(HALL).replace(microsecond=0) + timedelta(days=30)   # a simulated day, a month ahead
    store.append([([], StoredCommand("c1", "ticket", {"ok": True, "result": {}}))], ahead)
    later = ahead + COMMAND_MEMORY - timedelta(minutes=1)
    store.forget_commands_before(later - COMMAND_MEMORY)
    assert store.command("c1") is not None, "forgotten before 48 h of the service's clock"
    store.forget_commands_before(ahead + COMMAND_MEMORY + timedelta(minutes=1) - COMMAND_MEMORY)
    assert store.command("c1") is None, "kept past 48 h of the service's clock"
    store.close()
