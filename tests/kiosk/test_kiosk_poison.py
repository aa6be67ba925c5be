"""The kiosk (headless, a real process, a printer on a pty) against poisoned messages on every topic it reads,
over a real broker with the real controller (issue 12): it stays alive, issues before and after, and
believes no retained lie — "offline" and a queue of 888 "closed" left retained by a stranger do not make it
refuse, neither while it runs nor after a restart. Plus hypothesis on its message handler in process."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from devices.printer.simulator import PrinterSimulator
from hallq.config import parse_config
from hallq.mqtt import Message
from kiosk.intents import ControllerChanged, QueuesChanged
from kiosk.runtime import KioskRuntime
from tests.conftest import Hall, small_hall
from tests.display.poison import QUEUES, STATUS, corpus
from tests.kiosk import test_kiosk_runtime
from tests.kiosk.test_kiosk_runtime import OFFLINE, HeadlessKiosk

kiosk_hall, printer = test_kiosk_runtime.kiosk_hall, test_kiosk_runtime.printer     # the fixtures of that module

REPLY = {"id": "x-1", "ok": True, "result": {"ticket": {"number": "Z001", "service": "general", "status": "waiting",
                                                          "issued_at": "2026-11-23T09:00:00+08:00", "ahead": 0}}}


def _issue(k: HeadlessKiosk, number: str) -> None:
    k.home_online()
    k.send(tap="lang", arg="zh")
    services = k.screen("services")
    assert not any("888" in t for t in services["texts"]), services
    k.send(tap="service", arg="general")
    assert k.screen("result")["texts"][1] == number
    k.send(tap="home")


def test_poison_on_every_topic_the_kiosk_reads(kiosk_hall: Hall, printer: PrinterSimulator) -> None:
    h = kiosk_hall
    printer.faults.paper_out_after = None
    t = h.cfg.topic
    with h.client("stranger", (t("controller", "status"), t("cmd", "+"))) as c:
        h.start_controller(c)
        k = HeadlessKiosk(h)
        try:
            _issue(k, "A001")
            issue_cmd = c.wait_for(t("cmd", "issue"), lambda b: True)
            kiosk_reply = issue_cmd["reply_to"]
            sent = 0
            for topic, template, retain in ((t("state", "queues"), QUEUES, True),
                                            (t("controller", "status"), STATUS, True), (kiosk_reply, REPLY, False)):
                for payload in corpus(template):
                    c.publish(topic, payload, retain=retain)
                    sent += 1
            # the retained lies, in the controller's shape
            c.publish(t("controller", "status"), STATUS, retain=True)
            c.publish(t("state", "queues"), QUEUES, retain=True)
            assert sent > 200
            assert k.proc.stdin is not None          # its own input lines are checked the same way
            for line in ("[" * 100_000, '{"tap": ' + "[" * 50_000, '"\\ud800"', "{}",
                         '{"scan": "' + "A" * 70_000 + '"}'):
                k.proc.stdin.write(line + "\n")
            k.proc.stdin.flush()
            k.wait(lambda v: OFFLINE in v["texts"], "the retained 'offline' seen")
            _issue(k, "A002")       # ... and disproved by the controller's answer to the kiosk's probe
            assert k.proc.poll() is None, "the kiosk is alive"
        finally:
            assert k.stop() == 0
        log = k.log.read_text(errors="replace")
        assert "Traceback" not in log, log[-3000:]
        assert log.count("hallq kiosk: ignoring input line") == 3, "nested, surrogate, neither tap nor scan"
        assert log.count("hallq kiosk: ignoring an input line longer than") == 2
        assert "dropped a message on hallq/test-hall/state/queues" in log
        # restarted with the lies still retained: it comes online (its probe is answered) and issues
        again = HeadlessKiosk(h)
        try:
            _issue(again, "A003")
        finally:
            assert again.stop() == 0
    assert [j.paper.qr_payloads[0].split(":")[-2] for j in printer.jobs if j.paper and j.paper.qr_payloads] == [
        "A001", "A002", "A003"], "every ticket printed, no forged one"


# -- hypothesis on the message handler, in process ---------------------------------------------------

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                     lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
                     max_leaves=20)
_fields = st.fixed_dictionaries({}, optional={
    "state": st.sampled_from(["online", "offline", "lost", "degraded"]) | _json, "at": _json, "log": _json,
    "services": st.lists(st.fixed_dictionaries({"id": st.text(max_size=8) | _json, "waiting": _json},
                                               optional={"issuing": _json, "est_wait_s": _json}), max_size=3) | _json,
    "id": _json, "ok": _json, "result": _json, "error": _json})
_payload = (_fields.map(lambda d: json.dumps(d).encode()) | _json.map(lambda v: json.dumps(v).encode())
            | st.binary(max_size=64))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["hallq/test-hall/state/queues", "hallq/test-hall/controller/status",
                                           "reply", "hallq/test-hall/state/window/1", "x"]), _payload), max_size=10))
def test_any_message_is_checked_before_use(tmp_path_factory: Any, messages: list[tuple[str, bytes]]) -> None:
    tmp: Path = tmp_path_factory.mktemp("k")
    cfg = parse_config(small_hall(kiosks=[{"id": "k1", "printer": {"url": f"file://{tmp / 'paper.bin'}"}}]))
    rt = KioskRuntime(cfg, cfg.kiosks[0], data_dir=tmp)

    async def run() -> None:
        rt._loop = asyncio.get_running_loop()
        for topic, payload in messages:
            await rt.link.messages.put(Message(rt.client.reply_topic if topic == "reply" else topic, payload))
        task = asyncio.create_task(rt._messages())
        while not rt.link.messages.empty():
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert not task.done(), "the message task is still running"
        task.cancel()

    asyncio.run(run())
    while not rt._queue.empty():
        intent = rt._queue.get_nowait()
        if isinstance(intent, QueuesChanged):
            assert all(isinstance(s["waiting"], int) and s["issuing"] in ("open", "closed", "quota")
                       for s in intent.services)
        else:
            assert isinstance(intent, ControllerChanged)
