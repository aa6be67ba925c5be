"""Outage: the platform is down while the reporter process is SIGKILLed, evaluations keep coming; then
the platform comes back and the reporter is killed once more in the middle of an answer. In the end
the platform holds every evaluation exactly once, in log order.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.platform_fake import FakePlatform
from controller.store import EventStore
from controller.upstream_reporter import OUTBOX_NAME
from tests.conftest import REPO, small_hall
from tests.controller.test_upstream_reporter import append, evaluation, keys, noise

CHILD = """
import logging, sys
from pathlib import Path
from controller.upstream_reporter import UpstreamReporter
from hallq.clock import SystemClock
from hallq.config import load_config
from hallq.runner import run_until_signal
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
reporter = UpstreamReporter(load_config(sys.argv[1]), Path(sys.argv[2]), SystemClock(), poll_s=0.02)
run_until_signal(reporter.run)
"""


class ReporterProc:
    def __init__(self, config: Path, data: Path, log: Path) -> None:
        self.config, self.data, self.log_path = config, data, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        with open(self.log_path, "ab") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", CHILD, str(self.config), str(self.data)], cwd=REPO,
                                         env=dict(os.environ, PYTHONUNBUFFERED="1"), stdout=subprocess.DEVNULL,
                                         stderr=err)

    def kill(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, "the reporter died by itself:\n" + self.log()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.kills += 1

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return -1
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(15)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_for(cond: Callable[[], bool], what: str, proc: ReporterProc, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {what} within {timeout_s} s; reporter log:\n{proc.log()[-3000:]}")
        time.sleep(0.01)


def cursor(data: Path) -> int:
    try:
        with sqlite3.connect(f"file:{data / OUTBOX_NAME}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT seq FROM cursor").fetchone()[0])
    except sqlite3.Error:
        return 0


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    p = FakePlatform().start()
    yield p
    p.stop()


def test_outage_with_kill_9_delivers_every_evaluation_exactly_once(platform: FakePlatform, tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = tmp_path / "hall.yaml"
    up = {"url": platform.url, "timeout_s": 5.0, "backoff_min_s": 0.02, "backoff_max_s": 0.2,
          "task_codes": {"general": "T1"}}
    config.write_text(yaml.safe_dump(small_hall(upstream=up), allow_unicode=True), encoding="utf-8")
    store = EventStore(data).open()
    rep = ReporterProc(config, data, tmp_path / "reporter.log")
    evals: list[dict[str, Any]] = []
    n = 0

    def more(count: int) -> None:
        nonlocal n
        for _ in range(count):
            n += 1
            evals.extend(e for e in append(store, noise(n), evaluation(n)) if e["type"] == "evaluation.recorded")

    def refused_count() -> int:
        return rep.log().count("connection refused")

    def refused_since(before: int) -> Callable[[], bool]:
        return lambda: refused_count() > before

    try:
        rep.start()
        more(4)
        wait_for(lambda: len(platform.keys()) == 4, "the first 4 delivered", rep)

        platform.stop()                               # the outage
        for _ in range(2):
            more(3)
            wait_for(refused_since(refused_count()), "a refused attempt", rep)
            rep.kill()
            more(2)                                   # evaluations keep coming while it is dead
            rep.start()
        more(2)
        wait_for(lambda: refused_count() >= 3, "the restarted reporter to retry", rep)
        assert platform.keys() == keys(evals[:4]), "nothing can arrive while the platform is down"

        platform.delay_s = 0.5                        # up again, slow: kill while an answer is on its way
        received = platform.received
        platform.start()
        wait_for(lambda: platform.received > received, "a POST after the outage", rep)
        rep.kill()
        platform.delay_s = 0.0
        rep.start()
        more(3)
        wait_for(lambda: cursor(data) == evals[-1]["seq"], "the cursor at the last evaluation", rep)
        assert rep.stop() == 0, "the reporter should stop cleanly on SIGTERM"
    finally:
        if rep.proc is not None and rep.proc.poll() is None:
            rep.proc.kill()
        store.close()

    assert rep.kills == 3
    assert platform.keys() == keys(evals), "every evaluation exactly once, in log order"
    assert len(platform.records()) == len(evals) == 19
    statuses = [s for k, s in platform.answers]
    assert 409 in statuses, "the record answered while the reporter was killed is re-sent and kept once"
    with sqlite3.connect(data / OUTBOX_NAME) as db:
        rows = db.execute("SELECT seq, outcome FROM outcomes ORDER BY seq").fetchall()
    assert [s for s, _ in rows] == [e["seq"] for e in evals]
    assert {o for _, o in rows} <= {"sent", "duplicate"} and ("duplicate" in {o for _, o in rows})
