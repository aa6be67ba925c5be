"""End to end: ratings made through the real controller (MQTT) reach the fake platform as national records."""

from __future__ import annotations

import asyncio
import random
import time

from controller.platform_fake import FakePlatform
from controller.upstream_reporter import UpstreamReporter
from hallq.clock import SystemClock
from hallq.config import parse_config
from tests.conftest import Hall


def test_ratings_from_the_controller_reach_the_platform(hall: Hall) -> None:
    platform = FakePlatform().start()
    try:
        hall.start_controller()
        c = hall.client("e2e")
        c.connect()
        c.command("login", window="1", staff="S001")
        a1 = c.command("issue", service="general")["ticket"]["number"]
        a2 = c.command("issue", service="general")["ticket"]["number"]
        c.command("call", window="1")
        c.command("finish", window="1")
        c.command("rate", ticket=a1, level=2, window="1", reasons=["r1", "r3"], comment="等了很久")
        c.command("call", window="1")
        c.command("finish", window="1")
        c.command("call", window="1")          # nobody waiting: the prompt for a2 closes unrated
        c.command("rate", ticket=a2, level=4)  # later, by the ticket QR: supplementary
        c.close()

        cfg = parse_config({**hall.cfg_dict, "upstream": {"url": platform.url, "area_code": "150102",
                                                          "task_codes": {"general": "T-general"},
                                                          "backoff_min_s": 0.01, "backoff_max_s": 0.05}})
        rep = UpstreamReporter(cfg, hall.data_dir, SystemClock(), rng=random.Random(3), poll_s=0.02)

        async def main() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(rep.run(stop))
            deadline = time.monotonic() + 20
            while len(platform.records()) < 2 and time.monotonic() < deadline and not task.done():
                await asyncio.sleep(0.02)
            stop.set()
            await task

        asyncio.run(main())
        recs = [r["record"] for r in platform.records()]
        assert len(recs) == 2, f"expected 2 records, platform has {recs}; reporter: {rep.status()}"
        first, second = recs
        day = first["projectNo"].split("-")[-2]
        assert first["projectNo"] == f"test-hall-{day}-{a1}" and second["projectNo"] == f"test-hall-{day}-{a2}"
        assert (first["satisfaction"], first["pf"], first["assessNumber"]) == ("2", "5", "1")
        assert (first["evalDetail"], first["writingEvaluation"], first["proManager"]) == ("r1,r3", "等了很久", "张三")
        assert (second["satisfaction"], second["pf"], second["assessNumber"]) == ("4", "3", "2")
        assert first["taskCode"] == "T-general" and first["areaCode"] == "150102"
    finally:
        platform.stop()
