"""Crash test: the controller is SIGKILLed at random moments while a client issues and calls.

Unanswered commands are retried with the same id. Afterwards no acknowledged ticket is
missing, no number is issued twice, every retry got the original reply, and the log verifies.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from controller.audit import verify
from tests.conftest import Hall


def test_kill_9_loses_nothing_and_retries_get_the_original_reply(hall: Hall) -> None:
    rng = random.Random(20261122)
    hall.start_controller()
    c = hall.client("crash")
    c.connect()
    c.command("login", window="1", staff="S001")
    acked: dict[str, dict[str, Any]] = {}      # command id -> first reply
    retried_same = 0
    kills = [0]
    stop = threading.Event()

    def killer() -> None:
        while not stop.is_set():
            time.sleep(rng.uniform(0.3, 1.2))
            if stop.is_set():
                break
            hall.controller.kill()
            kills[0] += 1
            time.sleep(rng.uniform(0.0, 0.3))
            hall.controller.start()

    th = threading.Thread(target=killer, daemon=True)
    th.start()
    try:
        i = -1
        while kills[0] < 8 and i < 20000:
            i += 1
            service = rng.choice(["general", "tax"])
            name, args = ("call", {"window": "1"}) if i % 3 == 2 else ("issue", {"service": service})
            cid = f"crash-{i}"
            reply = None
            for _attempt in range(60):
                try:
                    reply = c.request(name, cmd_id=cid, timeout_s=1.5, **args)
                except TimeoutError:
                    continue
                if cid in acked:
                    assert reply == acked[cid], f"retry of {cid} got a different reply"
                    retried_same += 1
                break
            assert reply is not None, f"{cid} never answered:\n{hall.controller.log()[-3000:]}"
            acked[cid] = reply
            # an extra deliberate retry of an acknowledged command
            if i % 10 == 0:
                try:
                    assert c.request(name, cmd_id=cid, timeout_s=3, **args) == reply
                    retried_same += 1
                except TimeoutError:
                    pass
    finally:
        stop.set()
        th.join(10)
    hall.controller.kill()
    hall.controller.start()
    time.sleep(0.5)
    issued = [r["result"]["ticket"]["number"] for cid, r in acked.items()
              if r["ok"] and int(cid.split("-")[1]) % 3 != 2]
    assert len(issued) == len(set(issued)), "a number was issued twice"
    for number in issued:
        t = c.command("ticket", number=number, timeout_s=10)["ticket"]
        assert t["number"] == number, f"acknowledged ticket {number} is missing after the crashes"
    called = [r["result"]["ticket"]["number"] for cid, r in acked.items()
              if r["ok"] and int(cid.split("-")[1]) % 3 == 2 and r["result"]["ticket"]]
    assert len(called) == len(set(called)), "a ticket was called twice"
    c.close()
    hall.controller.stop()
    res = verify(hall.data_dir)
    assert res.ok, res.problem
    assert res.records >= len(issued)
    assert kills[0] >= 5 and retried_same >= 5, \
        f"too few crashes ({kills[0]}) or retries ({retried_same}) to mean anything"
