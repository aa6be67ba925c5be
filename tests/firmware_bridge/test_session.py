"""The pure hallbus session (firmware_bridge/hallbus/session.py) against the simulated devices in-process,
on a fake clock: every master rule of CONTRACT §4, the contract's vectors, and exactly-once delivery of
device events under random loss and corruption."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.hallbus.decoder import FrameDecoder
from firmware_bridge.hallbus.frame import Frame, encode_frame
from firmware_bridge.hallbus.messages import CMD, EVENT, KEY, KIND, NAK_REASON, DeviceEvent, Show, StateMsg
from firmware_bridge.hallbus.session import (
    Device,
    Duplicate,
    Event,
    EventReceived,
    Identified,
    Nak,
    Offline,
    Online,
    Reply,
    Session,
)
from firmware_bridge.sim.bus import Faults, SimWire
from firmware_bridge.sim.device import SimBitmapBoard, SimDevice, SimEvaluator, SimLed
from hallq.config import BusConfig, DeviceConfig
from hallq.config.devices import DeviceKind

MS = 0.001


def h(s: str) -> bytes:
    return bytes.fromhex(s)


def bus_config(*devices: tuple[int, DeviceKind], **kw: Any) -> BusConfig:
    return BusConfig(id="b", port="x", devices=[DeviceConfig(address=a, kind=k, window="1") for a, k in devices],
                     **kw)


class Line:
    """A session and simulated devices on one line, with a fake clock; `lose_request(n, wire)` /
    `lose_reply(n, wire)` drop the n-th request / reply on the way (n counts from 0)."""

    def __init__(self, bus: BusConfig, devices: list[SimDevice], faults: Faults | None = None, seed: int = 1,
                 execute_s: float = 0.0) -> None:
        self.session = Session(bus, rng=random.Random(seed))
        self.wire = SimWire(devices, bus.baud, faults or Faults(reply_delay_s=2 * MS), seed=seed)
        self.now = 0.0
        self.execute_s = execute_s                      # how long the "controller" takes to execute an event
        self.inbox: list[tuple[float, bytes]] = []      # bytes on their way to the master
        self.executions: list[tuple[float, Device, DeviceEvent]] = []
        self.events: list[Event] = []
        self.sent: list[tuple[float, bytes]] = []
        self.received: list[tuple[int, DeviceEvent]] = []   # (address, event) executed
        self.lose_request: Callable[[int, bytes], bool] = lambda n, w: False
        self.lose_reply: Callable[[int, bytes], bool] = lambda n, w: False
        self.rewrite_request: Callable[[int, bytes], bytes] = lambda n, w: w
        self.auto_execute = True
        self._replies = 0

    def dev(self, address: int) -> Device:
        return self.session.devices[address]

    def run(self, until: float | None = None, *, steps: int = 100_000, stop: Callable[[], bool] | None = None) -> None:
        data = b""
        for _ in range(steps):
            step = self.session.step(self.now, data)
            for e in step.events:
                self.events.append(e)
                if isinstance(e, EventReceived):
                    self.received.append((e.device.cfg.address, e.event))
                    if self.auto_execute:
                        self.executions.append((self.now + self.execute_s, e.device, e.event))
            if step.send:
                n = len(self.sent)
                self.sent.append((self.now, step.send))
                if not self.lose_request(n, step.send):
                    for delay, reply in self.wire.receive(self.rewrite_request(n, step.send), self.now):
                        if not self.lose_reply(self._replies, reply):
                            self.inbox.append((self.now + delay, reply))
                        self._replies += 1
            if stop is not None and stop():
                return
            due = [t for t, _ in self.inbox] + [t for t, _, _ in self.executions] + [step.wait_until]
            nxt = min(due)
            if until is not None and nxt > until:
                self.now = until
                return
            self.now = max(self.now, nxt)
            data = b"".join(b for t, b in self.inbox if t <= self.now)
            self.inbox = [(t, b) for t, b in self.inbox if t > self.now]
            for item in [x for x in self.executions if x[0] <= self.now]:
                self.executions.remove(item)
                self.session.event_executed(item[1].cfg.address, item[2])
        raise AssertionError("the line did not settle")

    def frames(self) -> list[Frame]:
        return [f for _, w in self.sent for f in FrameDecoder().feed(w)]

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def identified_line(*devices: SimDevice, **kw: Any) -> Line:
    kinds: dict[int, DeviceKind] = {KIND.EVALUATOR: "evaluator", KIND.WINDOW_LED: "led"}
    bus = bus_config(*((d.address, kinds[d.kind]) for d in devices), **kw)
    line = Line(bus, list(devices))
    line.run(stop=lambda: all(d.online for d in line.session.devices.values()))
    return line


# -- CONTRACT §4 test vectors ---------------------------------------------------------------------------------
def test_vectors_identify_poll_events_show_state() -> None:
    """The master's own frames are the contract's vectors, and it reads the contract's replies."""
    s = Session(bus_config((3, "evaluator"), (0x11, "led")), rng=random.Random(0))
    ev3, led = s.devices[3], s.devices[0x11]
    ev3.seq, led.seq = 0, 0x28
    led.last_poll = 0.0                                  # the evaluator is served first
    st = s.step(0.0)
    assert st.send == h("02 03 01 01 00 50 30 03") and st.listening, "IDENTIFY to 0x03, seq 1"
    st = s.step(5 * MS, h("02 03 01 81 0B 01 01 00 00 11 22 33 44 55 66 77 22 3C 03"))
    ids = [e for e in st.events if isinstance(e, Identified)]
    assert len(ids) == 1 and ids[0].info.uid == h("0011223344556677") and ids[0].kind_matches
    assert Online(ev3) in st.events and ev3.online
    assert st.send == encode_frame(0x11, 0x29, CMD.IDENTIFY)
    st = s.step(10 * MS, encode_frame(0x11, 0x29, 0x81, bytes((KIND.WINDOW_LED, 1, 0)) + bytes(8)))
    assert st.send == b"" and not st.listening and abs(st.wait_until - 50 * MS) < 1e-9, \
        "idle until the evaluator's next POLL is due (poll_interval_ms after the last)"
    st = s.step(50 * MS)
    assert st.send == h("02 03 02 02 01 00 C1 E8 03"), "POLL to 0x03, seq 2, ack 0"
    st = s.step(55 * MS, h("02 03 02 82 03 07 01 01 20 29 03"))
    got = [e.event for e in st.events if isinstance(e, EventReceived)]
    assert got == [DeviceEvent(7, EVENT.KEY, bytes((KEY.CALL,)))]
    s.event_executed(3, got[0])
    s.show(0x11, Show(0, "请A012号到3号窗口"))
    st = s.step(56 * MS)
    assert st.send == h("02 11 2A 03 13 00 01 C7 EB 41 30 31 32 BA C5 B5 BD 33 BA C5 B4 B0 BF DA A1 5D 03"), \
        "SHOW first: it outranks the acknowledgement"
    st = s.step(60 * MS, h("02 11 2A 83 01 00 20 63 03"))
    assert Reply(led, CMD.SHOW, b"\x00") in st.events and not led.show_out
    assert st.send == encode_frame(3, 3, CMD.POLL, b"\x07"), "the executed event is acknowledged at once"
    st = s.step(65 * MS, h("02 03 03 82 03 08 02 05 10 C8 03"))
    got = [e.event for e in st.events if isinstance(e, EventReceived)]
    assert got == [DeviceEvent(8, EVENT.RATE, b"\x05")]
    s.event_executed(3, got[0])
    s.set_state(3, StateMsg(2, "A012", "S001"), 66 * MS)
    st = s.step(66 * MS)
    assert st.send == encode_frame(3, 4, CMD.POLL, b"\x08"), "the acknowledgement before the STATE"
    st = s.step(70 * MS, encode_frame(3, 4, 0x82))
    assert st.send == h("02 03 05 04 0D 02 41 30 31 32 00 00 00 00 53 30 30 31 97 67 03"), "STATE to 0x03, seq 5"
    st = s.step(75 * MS, encode_frame(3, 5, 0x84, b"\x00"))
    assert ev3.state_out is None and not st.send
    st = s.step(st.wait_until)
    assert st.send == encode_frame(3, 6, CMD.POLL, b"\x08")
    st = s.step(st.wait_until - 50 * MS, h("02 03 06 FF 02 02 10 19 50 03"))
    assert Nak(ev3, CMD.POLL, NAK_REASON.NOT_IDENTIFIED) in st.events and not ev3.identified and ev3.online
    assert st.send == encode_frame(3, 7, CMD.IDENTIFY), "NAK 0x10: IDENTIFY at once"
    assert s.broadcast(CMD.SHOW, Show(0, "OPEN", gb18030=False).encode()) == \
        h("02 00 00 03 06 00 00 4F 50 45 4E F2 73 03"), "broadcast SHOW line 0 UTF-8 OPEN"


def test_vectors_login_transfer_callback_events() -> None:
    for reply, expected in [
        ("02 03 04 82 06 09 03 53 30 30 31 DD 77 03", DeviceEvent(9, EVENT.LOGIN, b"S001")),
        ("02 03 04 82 0B 09 03 53 30 30 31 1F 31 32 33 34 35 A2 03", DeviceEvent(9, EVENT.LOGIN, b"S001\x1f1234")),
    ]:
        s = Session(bus_config((3, "evaluator")))
        d = s.devices[3]
        d.identified, d.online, d.seq, d.ack = True, True, 3, 7
        assert s.step(0.0).send == h("02 03 04 02 01 07 80 A2 03"), "POLL to 0x03, seq 4, ack 7"
        st = s.step(5 * MS, h(reply))
        assert [e.event for e in st.events if isinstance(e, EventReceived)] == [expected]
    s = Session(bus_config((3, "evaluator")))
    d = s.devices[3]
    d.identified, d.online, d.seq = True, True, 4
    s.step(0.0)
    st = s.step(5 * MS, h("02 03 05 82 06 0A 01 07 74 61 78 05 57 03"))
    ev = [e.event for e in st.events if isinstance(e, EventReceived)][0]
    assert (ev.event_id, ev.key, ev.arg) == (10, KEY.TRANSFER, "tax")
    d.inflight, d.seq = None, 5
    s.step(1.0)
    st = s.step(1.005, h("02 03 06 82 07 0B 01 09 41 30 31 32 37 99 03"))
    ev = [e.event for e in st.events if isinstance(e, EventReceived)][0]
    assert (ev.event_id, ev.key, ev.arg) == (11, KEY.CALLBACK, "A012")


# -- SEQ and retries --------------------------------------------------------------------------------------------
def test_seq_counts_per_device_and_wraps_from_a_random_start() -> None:
    starts = {Session(bus_config((3, "evaluator")), rng=random.Random(i)).devices[3].seq for i in range(40)}
    assert len(starts) > 20, "the master starts at a random SEQ"
    line = identified_line(SimEvaluator(3), SimLed(4))
    line.dev(3).seq = 253
    first = len(line.sent)
    line.run(line.now + 2.0)
    seqs = [f.seq for f in line.frames()[first:] if f.addr == 3]
    assert seqs[:4] == [254, 255, 1, 2], "1..255, then 1 again; never 0 (that is for broadcasts)"
    assert all(b == a % 255 + 1 for a, b in zip(seqs, seqs[1:], strict=False))
    led_seq = line.dev(4).seq
    line.session.show(4, Show(0, "x"))
    line.run(line.now + 0.1)
    assert [f.seq for f in line.frames() if f.addr == 4][-1] == led_seq % 255 + 1, "each device counts its own"


def test_a_lost_reply_is_retried_byte_for_byte_and_executed_once() -> None:
    dev = SimEvaluator(3)
    line = identified_line(dev)
    line.session.set_state(3, StateMsg(1, "A001", "S001"), line.now)
    first = len(line.sent)
    # the replies to the first two copies are lost; the third gets through
    line.lose_reply = lambda n, w: w[3] == 0x84 and sum(s[3] == CMD.STATE for _, s in line.sent) < 3
    line.run(line.now + 0.5)
    states = [(t, w) for t, w in line.sent[first:] if w[3] == CMD.STATE]
    assert len(states) == 3 and states[0][1] == states[1][1] == states[2][1], "retries are byte for byte"
    assert states[1][0] - states[0][0] >= 60 * MS, "a retry only after the reply timeout"
    assert dev.history == [StateMsg(1, "A001", "S001")], "the device executed it once and resent its reply"
    assert line.session.devices[3].state_out is None and line.session.stats["retries"] == 2


def test_the_wrong_reply_is_never_taken() -> None:
    s = Session(bus_config((3, "evaluator")))
    d = s.devices[3]
    d.identified, d.online, d.seq = True, True, 9
    st = s.step(0.0)
    assert st.send == encode_frame(3, 10, CMD.POLL, b"\x00")
    st = s.step(3 * MS, encode_frame(3, 9, 0x82, b"\x05\x01\x01") + encode_frame(4, 10, 0x82, b"\x05\x01\x01"))
    assert not st.events and st.listening and s.stats["bad_replies"] == 2, "stale SEQ, foreign ADDR"
    st = s.step(4 * MS, encode_frame(3, 10, 0x83, b"\x00"))
    assert st.send == encode_frame(3, 10, CMD.POLL, b"\x00"), "wrong CMD in the reply: retried at once"


# -- events: ACK_EVENT, duplicates, wrap -----------------------------------------------------------------------
def test_events_are_acknowledged_only_after_execution() -> None:
    dev = SimEvaluator(3)
    line = identified_line(dev)
    line.auto_execute = False
    ev = dev.press(KEY.CALL)
    line.run(line.now + 5.0)
    assert line.received == [(3, ev)], "reported once while it is being executed"
    polls = [f for f in line.frames() if f.cmd == CMD.POLL and f.payload == bytes((ev.event_id,))]
    assert not polls, "not acknowledged before it was executed"
    executing = [t for t, w in line.sent if w[3] == CMD.POLL]
    assert executing[-1] - executing[-2] >= 2.9, "an executing device is polled only every output_poll_ms"
    t0 = line.now
    line.session.event_executed(3, ev)
    line.run(t0 + 0.2)
    acks = [(t, f) for t, w in line.sent for f in FrameDecoder().feed(w) if t >= t0 and f.cmd == CMD.POLL]
    assert acks[0][1].payload == bytes((ev.event_id,)) and acks[0][0] == t0, "acknowledged at once"
    assert not dev.queue


def test_a_lost_acknowledgement_makes_a_duplicate_that_is_acknowledged_again_not_executed() -> None:
    """The device did not take the ACK_EVENT (here: it reached it as 0) and presents the executed event
    again at the head: a duplicate, acknowledged again by the next POLL, never reported again."""
    dev = SimEvaluator(3)
    line = identified_line(dev)
    ev = dev.press(KEY.CALL)
    acks: list[int] = []

    def lose_ack(n: int, w: bytes) -> bytes:
        f = FrameDecoder().feed(w)[0]
        if f.cmd == CMD.POLL and f.payload == bytes((ev.event_id,)):
            acks.append(n)
            if len(acks) == 1:
                return encode_frame(f.addr, f.seq, CMD.POLL, b"\x00")
        return w

    line.rewrite_request = lose_ack
    line.run(line.now + 1.0)
    assert line.received == [(3, ev)], "executed once"
    assert [d.event for d in line.of(Duplicate)] == [ev] and line.dev(3).duplicates == 1, "the repeat was recognised"
    assert len(acks) >= 2 and not dev.queue, "acknowledged again (every later POLL carries it), and it was taken"
    assert line.dev(3).online


def test_an_ack_poll_lost_on_the_way_is_sent_again_with_the_same_ack() -> None:
    dev = SimEvaluator(3)
    line = identified_line(dev)
    ev = dev.press(KEY.CALL)
    line.lose_request = lambda n, w: w[3] == CMD.POLL and w[5] == ev.event_id and \
        len([1 for _, s in line.sent if s[3] == CMD.POLL and s[5] == ev.event_id]) <= 3
    line.run(line.now + 1.0)
    ack_polls = [w for _, w in line.sent if w[3] == CMD.POLL and w[5] == ev.event_id]
    assert ack_polls[0] == ack_polls[1] == ack_polls[2] != ack_polls[3], "a miss, then a new POLL, same ack"
    assert line.received == [(3, ev)] and not dev.queue and line.dev(3).misses == 0
    assert line.session.stats["timeouts"] == 1 and line.dev(3).online


def test_the_device_drops_a_retried_ack_poll_once() -> None:
    """The ack POLL reached the device but its reply was lost: the byte-identical retry gets the same reply;
    the device does not drop a second event."""
    dev = SimEvaluator(3)
    line = identified_line(dev)
    a, b = dev.press(KEY.CALL), dev.press(KEY.FINISH)
    lost: list[bytes] = []

    def lose_first_reply_with_b(n: int, w: bytes) -> bool:
        if w[3] == 0x82 and w[4] > 0 and w[5] == b.event_id and not lost:
            lost.append(w)
            return True
        return False

    line.lose_reply = lose_first_reply_with_b
    line.run(line.now + 2.0)
    assert lost and line.received == [(3, a), (3, b)] and not dev.queue
    acks_a = [w for _, w in line.sent if w[3] == CMD.POLL and w[5] == a.event_id]
    assert len(acks_a) == 2 and acks_a[0] == acks_a[1], "the ack POLL was retried byte for byte"


def test_event_id_wraps_from_255_to_1() -> None:
    dev = SimEvaluator(3)
    dev.next_event_id = 254
    line = identified_line(dev)
    evs = [dev.press(KEY.CALL), dev.rate(5), dev.press(KEY.FINISH), dev.login("S001")]
    assert [e.event_id for e in evs] == [254, 255, 1, 2]
    line.run(line.now + 2.0)
    assert line.received == [(3, e) for e in evs] and not dev.queue
    acks = [f.payload[0] for f in line.frames() if f.cmd == CMD.POLL and f.payload[0]]
    assert sorted(set(acks), key=acks.index) == [254, 255, 1, 2]


# -- restarts, offline, online ---------------------------------------------------------------------------------
def test_nak_not_identified_means_identify_and_what_it_reports_is_new() -> None:
    dev = SimEvaluator(3, uid=h("0011223344556677"))
    line = identified_line(dev)
    ev = dev.press(KEY.CALL)
    line.auto_execute = False
    line.run(line.now + 0.3)
    assert line.received == [(3, ev)]
    line.session.event_executed(3, ev)
    dev.reset()                                     # the ack POLL meets a device that just restarted
    first = len(line.sent)
    line.run(line.now + 0.3)
    after = line.frames()[first:]
    naks = line.of(Nak)
    assert naks == [Nak(line.dev(3), CMD.POLL, NAK_REASON.NOT_IDENTIFIED)]
    assert [f.cmd for f in after[:3]] == [CMD.POLL, CMD.IDENTIFY, CMD.POLL]
    assert after[2].payload == b"\x00", "after IDENTIFY: POLL with ACK_EVENT 0"
    assert line.received == [(3, ev), (3, ev)], "what it reports after IDENTIFY is new (the bridge's ids dedupe)"
    assert len(line.of(Identified)) == 2 and len(line.of(Online)) == 1, "online throughout"


def test_three_misses_make_a_device_offline_and_it_is_identified_again_when_it_answers() -> None:
    faults = Faults(reply_delay_s=2 * MS)
    line = identified_line(SimEvaluator(3), SimLed(4))
    line.wire.faults = faults
    faults.silent = frozenset({3})
    first = len(line.sent)
    line.run(stop=lambda: bool(line.of(Offline)))
    to3 = [w for _, w in line.sent[first:] if w[1] == 3]
    assert len(to3) == 9, "three requests, each sent three times (retries: 2)"
    assert to3[0] == to3[1] == to3[2] != to3[3] == to3[4] == to3[5] != to3[6]
    assert line.of(Offline)[0].device is line.dev(3) and not line.dev(3).identified
    assert line.dev(4).online, "the other device is not affected"
    t_off = line.now
    line.run(t_off + 3.0)
    to3_off = [(t, w) for t, w in line.sent if t > t_off and w[1] == 3]
    assert all(w[3] == CMD.IDENTIFY for _, w in to3_off)
    starts = [t for i, (t, w) in enumerate(to3_off) if i == 0 or w != to3_off[i - 1][1]]
    assert len(starts) >= 2 and all(b - a >= 1.0 for a, b in zip(starts, starts[1:], strict=False)), \
        "an offline device is tried once a second"
    assert len(line.of(Offline)) == 1
    faults.silent = frozenset()
    t_back = line.now
    line.run(t_back + 1.5)
    assert [type(e) for e in line.events if isinstance(e, (Online, Offline))][-2:] == [Offline, Online]
    assert line.dev(3).online and line.dev(3).identified


def test_port_lost_makes_every_device_offline() -> None:
    line = identified_line(SimEvaluator(3), SimLed(4))
    evs = line.session.port_lost("unplugged")
    assert {e.device.cfg.address for e in evs if isinstance(e, Offline)} == {3, 4}
    line.session.port_opened()
    line.run(line.now + 2.5)
    assert all(d.online for d in line.session.devices.values())


# -- broadcasts and the line ------------------------------------------------------------------------------------
def test_broadcasts_use_seq_0_wait_for_no_reply_and_are_never_deduplicated() -> None:
    ev1, led = SimEvaluator(3), SimLed(4)
    line = identified_line(ev1, led)
    wire = line.session.broadcast(CMD.SHOW, Show(0, "OPEN", gb18030=False).encode())
    line.session.broadcast(CMD.SHOW, Show(0, "OPEN", gb18030=False).encode())
    line.run(line.now + 0.2)
    sent = [(t, w) for t, w in line.sent]
    at = [i for i, (_, w) in enumerate(sent) if w == wire]
    assert len(at) == 2 and at[1] == at[0] + 1, "both go out first, and both are sent"
    line_s = len(wire) * 10 / 9600
    assert sent[at[1]][0] - sent[at[0]][0] >= line_s and sent[at[1] + 1][0] - sent[at[1]][0] >= line_s, \
        "no reply awaited, only the frame's line time"
    assert [s.text for s in led.shown] == ["OPEN", "OPEN"] and [s.text for s in ev1.shown] == ["OPEN", "OPEN"]
    with pytest.raises(ValueError, match="request"):
        line.session.broadcast(0x83, b"\x00")


def test_a_reply_that_stalls_for_3_5_characters_is_dropped() -> None:
    s = Session(bus_config((3, "evaluator")))          # the contract's stall: 3.5 characters at 9600 (3.6 ms)
    d = s.devices[3]
    d.identified, d.online, d.seq = True, True, 1
    reply = encode_frame(3, 2, 0x82, b"\x07\x01\x01")
    st = s.step(0.0)
    st = s.step(2 * MS, reply[:5])
    assert st.wait_until < 7 * MS, "woken to expire a stalled frame, not at the reply timeout"
    st = s.step(5 * MS, reply[5:])                     # 3 ms: no stall
    assert any(isinstance(e, EventReceived) for e in st.events)
    d.inflight = None
    st = s.step(1.0)
    reply = encode_frame(3, 3, 0x82, b"\x08\x01\x01")
    s.step(1.002, reply[:5])
    st = s.step(1.007, reply[5:])                      # 5 ms: the partial frame failed
    assert not st.events and st.listening
    st = s.step(1.070)
    assert st.send == encode_frame(3, 3, CMD.POLL, b"\x00"), "then retried"


def test_output_order_show_beep_ack_state() -> None:
    dev = SimEvaluator(3)
    line = identified_line(dev)
    first = len(line.sent)
    line.session.set_state(3, StateMsg(1, "A001"), line.now)
    line.session.beep(3, 200)
    line.session.show(3, Show(0, "hi"))
    line.run(line.now + 0.1)
    assert [f.cmd for f in line.frames()[first:first + 3]] == [CMD.SHOW, CMD.BEEP, CMD.STATE]
    assert dev.beeps == [20] and dev.text() == "hi" and dev.state == StateMsg(1, "A001")


def test_weighted_schedule_serves_outputs_then_polls() -> None:
    dev = SimEvaluator(3)
    line = identified_line(dev, schedule="weighted")
    ev = dev.press(KEY.CALL)
    line.session.show(3, Show(0, "hi"))
    line.run(line.now + 1.0)
    assert line.received == [(3, ev)] and dev.text() == "hi" and not dev.queue


# -- exactly once under loss and corruption --------------------------------------------------------------------
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), drop=st.floats(0.0, 0.25), ber=st.floats(0.0, 0.002),
       presses=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3000)), min_size=1, max_size=25),
       schedule=st.sampled_from(["event", "weighted"]))
def test_every_event_is_delivered_exactly_once_and_in_order(seed: int, drop: float, ber: float,
                                                            presses: list[tuple[int, int]], schedule: str) -> None:
    devs = [SimEvaluator(3 + i, uid=bytes(8)) for i in range(3)]
    for d in devs:
        d.next_event_id = 250                      # cross the wrap
    bus = bus_config(*((d.address, "evaluator") for d in devs), schedule=schedule)
    line = Line(bus, list(devs), Faults(reply_delay_s=2 * MS, drop_rate=drop, ber=ber), seed=seed, execute_s=0.02)
    queued: dict[int, list[DeviceEvent]] = {d.address: [] for d in devs}
    t = 0.0
    for i, (which, gap_ms) in enumerate(presses):
        t += gap_ms * MS
        line.run(t)
        d = devs[which]
        queued[d.address].append(d.press(KEY.CALL) if i % 3 else d.rate(1 + i % 5))
    line.run(stop=lambda: not any(d.queue for d in devs) and not line.executions, steps=200_000)
    for d in devs:
        got = [e for a, e in line.received if a == d.address]
        assert got == queued[d.address], f"device {d.address}: {line.session.stats}"


# -- hallq extensions: BITMAP ----------------------------------------------------------------------------------
def board_session() -> Session:
    bus = BusConfig(id="b", port="x", devices=[DeviceConfig(address=0x28, kind="hall_led", size=(16, 8))])
    s = Session(bus)
    d = s.devices[0x28]
    d.identified, d.online, d.seq = True, True, 0
    d.bitmap_back, d.bitmap_shown = [bytes(2)] * 8, (bytes(2),) * 8
    return s


def test_bitmap_vector_sends_only_the_rows_that_changed() -> None:
    s = board_session()
    d = s.devices[0x28]
    rows = (bytes(2),) * 2 + (h("80 01"), h("FF 00")) + (bytes(2),) * 4
    s.show_bitmap(0x28, rows)
    st = s.step(0.0)
    assert st.send == h("02 28 01 06 07 02 02 01 80 01 FF 00 9A D5 03"), "rows 2-3 of a 16-wide board, present"
    st = s.step(5 * MS, encode_frame(0x28, 1, 0x86, b"\x00"))
    assert d.bitmap_shown == rows and d.bitmap_back == list(rows) and not st.send


def test_a_board_that_refuses_bitmap_gets_no_more_pictures() -> None:
    s = board_session()
    d = s.devices[0x28]
    rows = (b"\xff\xff",) * 8
    s.show_bitmap(0x28, rows)
    st = s.step(0.0)
    assert st.send[3] == CMD.BITMAP
    st = s.step(5 * MS, encode_frame(0x28, 1, 0xFF, bytes((CMD.BITMAP, NAK_REASON.UNKNOWN_COMMAND))))
    assert Nak(d, CMD.BITMAP, NAK_REASON.UNKNOWN_COMMAND) in st.events and d.online
    assert d.bitmap_shown == rows and d.output_rank() is None and not st.send


def test_a_bitmap_board_shows_the_picture_and_a_restarted_one_gets_it_whole() -> None:
    board = SimBitmapBoard(0x28, size=(16, 8))
    bus = BusConfig(id="b", port="x", devices=[DeviceConfig(address=0x28, kind="hall_led", size=(16, 8))])
    line = Line(bus, [board])
    line.run(stop=lambda: bool(line.dev(0x28).online))
    rows = tuple(bytes((y, 255 - y)) for y in range(8))
    line.session.show_bitmap(0x28, rows)
    line.run(line.now + 0.5)
    assert tuple(board.front) == rows and board.presents == 1
    board.reset()                                   # power cycle: blank, not identified
    line.session.show(0x28, Show(0, "x"))           # the next request meets NAK 0x10
    line.run(line.now + 0.5)
    assert tuple(board.front) == rows and board.presents == 2, "the whole picture again after IDENTIFY"
