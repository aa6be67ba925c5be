"""The call screen (headless, a real process) against poisoned messages on every topic it reads, over a
real broker with the real controller (issue 12): it stays alive, shows the real calls before and after,
and believes no lie — a forged call far ahead, a retained "offline", a retained queue of 888.
Plus hypothesis on the runtime itself: no message, however shaped, escapes as an exception."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from display.runtime import DisplayRuntime
from hallq.broker import Mosquitto
from hallq.config import parse_config
from hallq.mqtt import Message
from tests.conftest import REPO, Hall, small_hall
from tests.display.poison import CALLED, QUEUES, REPLY, STATUS, corpus

OFFLINE = "系统连接中，请稍候"
CALL = "请 {} 号到 {} 号窗口办理"


class HeadlessScreen:
    """`hallq display --headless` as a child process (its own process group): the texts it prints."""

    def __init__(self, config: Path, log: Path, extra: tuple[str, ...] = ()) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hallq", "display", "--config", str(config), "--headless", *extra],
            cwd=REPO, env=dict(os.environ, PYTHONUNBUFFERED="1"), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=open(log, "ab"), text=True, start_new_session=True)  # noqa: SIM115
        self.lines: queue.Queue[list[str]] = queue.Queue()
        self.seen: list[list[str]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n").split(" | "))

    def wait(self, pred: object, what: str, timeout_s: float = 30.0) -> list[str]:
        assert callable(pred)
        if self.seen and pred(self.seen[-1]):
            return self.seen[-1]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                texts = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(texts)
            if pred(texts):
                return texts
        raise AssertionError(f"the screen never showed {what}; last {self.seen[-1:]}; log:\n"
                             + self.log.read_text(errors="replace")[-3000:])

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise


def _wait_in_log(path: Path, text: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in path.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never logged in {path}")
        time.sleep(0.05)


def _hall(tmp_path: Path, broker: Mosquitto) -> Hall:
    return Hall(tmp_path, broker, small_hall(broker.port, data_dir=str(tmp_path / "data"),
                                             displays=[{"id": "tv", "voice": False}]))


def test_poison_on_every_topic_the_screen_reads(tmp_path: Path, mosquitto: Mosquitto) -> None:
    h = _hall(tmp_path, mosquitto)
    t = h.cfg.topic
    try:
        with h.client("staff", (t("controller", "status"),)) as c:
            h.start_controller(c)
            screen = HeadlessScreen(h.config_path, tmp_path / "display.log")
            try:
                screen.wait(lambda x: OFFLINE not in x, "the controller online")
                c.command("login", window="1", staff="S001")
                c.command("issue", service="general")
                c.command("call", window="1")
                screen.wait(lambda x: CALL.format("A001", "1") in x, "the first real call")

                sent = 0
                for topic, template, retain in (
                        (t("event", "ticket.called"), CALLED, False), (t("event", "ticket.issued"), CALLED, False),
                        (t("state", "queues"), QUEUES, True), (t("controller", "status"), STATUS, True),
                        (t("reply", "display-tv"), REPLY, False)):
                    for payload in corpus(template):
                        c.publish(topic, payload, retain=retain)
                        sent += 1
                # the lies, in the controller's shape: a call far ahead, "offline" and 888 waiting, retained
                c.publish(t("event", "ticket.called"), {**CALLED, "seq": 10 ** 9, "ticket": "Z999"})
                c.publish(t("controller", "status"), STATUS, retain=True)
                c.publish(t("state", "queues"), QUEUES, retain=True)
                c.publish(t("state", "queues"), b"", retain=True)               # a retained empty payload
                assert sent > 300

                c.command("issue", service="general")
                c.command("call", window="1")
                shown = screen.wait(lambda x: CALL.format("A002", "1") in x, "the next real call after the poison")
                assert screen.proc.poll() is None, "the screen process is alive"
                assert all(not any("Z999" in s or "Q777" in s for s in x) for x in screen.seen), "a forged call shown"
                assert not any("888" in s for x in screen.seen for s in x), "a retained queue lie shown"
                screen.wait(lambda x: OFFLINE not in x, "online although 'offline' is retained (its probe)", 20)
                assert "A001 → 1号窗口" in shown
                _wait_in_log(screen.log, "not in the controller's log")   # the forged call checked and dropped
            finally:
                assert screen.stop() == 0
            log = screen.log.read_text(errors="replace")
            assert "Traceback" not in log, log[-3000:]
            assert "dropped a message on hallq/test-hall/event/ticket.called" in log

            # the lies are still retained: a screen started now does not believe them either
            again = HeadlessScreen(h.config_path, tmp_path / "display2.log")
            try:
                again.wait(lambda x: OFFLINE not in x, "online with the lie retained", 30)
                c.command("issue", service="general")
                c.command("call", window="1")
                again.wait(lambda x: CALL.format("A003", "1") in x, "a real call on the restarted screen")
                assert not any("888" in s for x in again.seen for s in x)
            finally:
                assert again.stop() == 0
    finally:
        h.controller.kill()


# -- hypothesis on the runtime, in process: any payload on any topic is checked, never raised ---------

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                     lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
                     max_leaves=20)
_fields = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["ticket.called", "ticket.issued"]) | st.text(max_size=4),
    "seq": st.integers(-3, 10) | _json, "at": st.text(max_size=30) | _json, "ticket": st.text(max_size=6) | _json,
    "window": st.sampled_from(["1", "2"]) | _json, "service": st.sampled_from(["general", "tax"]) | _json,
    "recall": st.integers(-1, 3) | _json, "state": st.sampled_from(["online", "offline"]) | _json,
    "services": st.lists(st.fixed_dictionaries({"id": st.text(max_size=8) | _json, "waiting": _json}), max_size=3)
    | _json, "id": st.text(max_size=6) | _json, "ok": _json, "result": _json, "error": _json, "log": _json})
_payload = (_fields.map(lambda d: json.dumps(d).encode()) | _json.map(lambda v: json.dumps(v).encode())
            | st.binary(max_size=64))
_topic = st.sampled_from([f"hallq/test-hall/{t}" for t in ("event/ticket.called", "event/x", "state/queues",
                                                           "controller/status", "reply/display-tv", "state/window/1")]
                         + ["elsewhere"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_topic, _payload), max_size=12))
def test_any_message_is_checked_in_the_receiving_thread(messages: list[tuple[str, bytes]]) -> None:
    cfg = parse_config(small_hall(displays=[{"id": "tv", "voice": False}]))
    rt = DisplayRuntime(cfg, cfg.displays[0])
    rt.sequence.last = 0
    for topic, payload in messages:
        rt._put(Message(topic, payload))         # raises nothing (a raise would end paho's thread)
    rt.pump()
    assert all(c.seq >= 1 and c.number for c in rt.board.calls)
    shown = {s.id for s in cfg.services}
    assert set(rt.board.waiting) <= shown | set(rt.board.waiting)    # only parsed, typed counts
    assert all(isinstance(n, int) and n >= 0 for n in rt.board.waiting.values())


def test_a_flood_of_forged_calls_is_not_a_flood_of_events_commands() -> None:
    """Held events need the controller's log, but at most one `events` command per FETCH_GAP_S goes out;
    calls in seq order are shown without waiting for it."""
    cfg = parse_config(small_hall(displays=[{"id": "tv", "voice": False}]))
    rt = DisplayRuntime(cfg, cfg.displays[0])
    rt.sequence.last, rt.sequence.log = 7, "L"
    sent: list[dict[str, object]] = []

    def publish(_topic: str, payload: dict[str, object], *, retain: bool = False) -> bool:
        sent.append(payload)
        return True

    rt.link.publish = publish  # type: ignore[method-assign,assignment]   # what it sends, without a broker
    topic = "hallq/test-hall/event/ticket.called"
    for i in range(500):
        rt._put(Message(topic, json.dumps({**CALLED, "seq": 10 ** 6 + i, "ticket": "Z999", "log": "L"}).encode()))
    assert len(sent) == 1 and sent[0]["since_seq"] == 7
    rt._put(Message(topic, json.dumps({**CALLED, "seq": 8, "ticket": "A008", "log": "L"}).encode()))
    rt.pump()
    assert [c.number for c in rt.board.calls] == ["A008"], "the next real call is shown at once"
    log8 = {"events": [{**CALLED, "seq": 8, "ticket": "A008", "log": "L"}], "next_seq": 8, "head_seq": 8,
            "first_seq": 1}
    rt._put(Message(rt.reply_topic, json.dumps({"id": sent[0]["id"], "ok": True, "result": log8}).encode()))
    assert rt.sequence.forged == 1, "the one that came before the question is not in the log"
    assert len(sent) == 1, "those that came after it wait for the next question (the timer's)"
    rt.tick(time.monotonic() + 1)
    assert len(sent) == 2 and sent[1]["since_seq"] == 8
    rt._put(Message(rt.reply_topic, json.dumps({"id": sent[1]["id"], "ok": True, "result": log8}).encode()))
    assert rt.sequence.pending == {} and rt.sequence.forged == 500
    rt.pump()
    assert [c.number for c in rt.board.calls] == ["A008"]
