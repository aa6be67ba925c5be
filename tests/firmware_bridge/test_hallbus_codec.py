"""hallbus codec: the contract's test vectors both ways, CRC check value, resynchronisation, stalls,
and property tests that random or corrupted bytes never yield a frame that was not sent."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.hallbus import FrameDecoder, crc16_modbus, encode_frame
from firmware_bridge.hallbus.frame import Frame
from firmware_bridge.hallbus.messages import (
    CMD,
    EVENT,
    KEY,
    DeviceEvent,
    IdentifyReply,
    Show,
    StateMsg,
    decode_event,
)


def h(s: str) -> bytes:
    return bytes.fromhex(s)


# (description, frame bytes, addr, seq, cmd, payload) straight from CONTRACT §4
VECTORS = [
    ("IDENTIFY to 0x03, seq 1", "02 03 01 01 00 50 30 03", 3, 1, 0x01, ""),
    ("its reply: evaluator fw 1.0 uid 0011223344556677",
     "02 03 01 81 0B 01 01 00 00 11 22 33 44 55 66 77 22 3C 03", 3, 1, 0x81, "01 01 00 00 11 22 33 44 55 66 77"),
    ("POLL to 0x03, seq 2, ack 0", "02 03 02 02 01 00 C1 E8 03", 3, 2, 0x02, "00"),
    ("reply: nothing pending", "02 03 02 82 00 C1 00 03", 3, 2, 0x82, ""),
    ("reply: event 7, KEY call", "02 03 02 82 03 07 01 01 20 29 03", 3, 2, 0x82, "07 01 01"),
    ("reply (seq 3): event 8, RATE 5", "02 03 03 82 03 08 02 05 10 C8 03", 3, 3, 0x82, "08 02 05"),
    ("SHOW to 0x11 GB18030 请A012号到3号窗口",
     "02 11 2A 03 13 00 01 C7 EB 41 30 31 32 BA C5 B5 BD 33 BA C5 B4 B0 BF DA A1 5D 03", 0x11, 0x2A, 0x03,
     "00 01 C7 EB 41 30 31 32 BA C5 B5 BD 33 BA C5 B4 B0 BF DA"),
    ("its reply: ok", "02 11 2A 83 01 00 20 63 03", 0x11, 0x2A, 0x83, "00"),
    ("STATE rating prompt A012 S001", "02 03 05 04 0D 02 41 30 31 32 00 00 00 00 53 30 30 31 97 67 03", 3, 5, 0x04,
     "02 41 30 31 32 00 00 00 00 53 30 30 31"),
    ("NAK unknown cmd 0x7E", "02 03 06 FF 02 7E 01 F9 9C 03", 3, 6, 0xFF, "7E 01"),
    ("POLL seq 4 ack 7", "02 03 04 02 01 07 80 A2 03", 3, 4, 0x02, "07"),
    ("event 9 LOGIN S001", "02 03 04 82 06 09 03 53 30 30 31 DD 77 03", 3, 4, 0x82, "09 03 53 30 30 31"),
    ("event 10 KEY transfer tax", "02 03 05 82 06 0A 01 07 74 61 78 05 57 03", 3, 5, 0x82, "0A 01 07 74 61 78"),
    ("NAK not identified", "02 03 06 FF 02 02 10 19 50 03", 3, 6, 0xFF, "02 10"),
    ("broadcast SHOW OPEN", "02 00 00 03 06 00 00 4F 50 45 4E F2 73 03", 0, 0, 0x03, "00 00 4F 50 45 4E"),
]


def test_crc_check_value() -> None:
    assert crc16_modbus(b"123456789") == 0x4B37


def test_contract_vectors_encode_and_decode() -> None:
    for name, wire, addr, seq, cmd, payload in VECTORS:
        assert encode_frame(addr, seq, cmd, h(payload)) == h(wire), f"encode: {name}"
        got = FrameDecoder().feed(h(wire))
        assert got == [Frame(addr, seq, cmd, h(payload))], f"decode: {name}"


def test_vector_payloads_decode_to_messages() -> None:
    assert IdentifyReply.decode(h("01 01 00 00 11 22 33 44 55 66 77")) == IdentifyReply(1, 1, 0, h("0011223344556677"))
    assert decode_event(h("")) is None
    ev = decode_event(h("07 01 01"))
    assert ev == DeviceEvent(7, EVENT.KEY, b"\x01") and ev.key is KEY.CALL
    rate = decode_event(h("08 02 05"))
    assert rate is not None and rate.level == 5
    login = decode_event(h("09 03 53 30 30 31"))
    assert login is not None and login.staff == "S001"
    tr = decode_event(h("0A 01 07 74 61 78"))
    assert tr is not None and (tr.key, tr.arg) == (KEY.TRANSFER, "tax")
    assert Show(0, "请A012号到3号窗口").encode() == h("00 01 C7 EB 41 30 31 32 BA C5 B5 BD 33 BA C5 B4 B0 BF DA")
    assert Show.decode(h("00 00 4F 50 45 4E")) == Show(0, "OPEN", gb18030=False)
    assert StateMsg(2, "A012", "S001").encode() == h("02 41 30 31 32 00 00 00 00 53 30 30 31")
    assert StateMsg.decode(h("02 41 30 31 32 00 00 00 00 53 30 30 31")) == StateMsg(2, "A012", "S001")
    assert int(CMD.SHOW) == 3


def test_resync_after_garbage_and_split_chunks() -> None:
    a, b = h(VECTORS[4][1]), h(VECTORS[6][1])
    stream = b"\x02\x02\xff\x00garbage\x03" + a + b"\x02\x03" + b
    dec = FrameDecoder()
    got = []
    for i in range(0, len(stream), 3):
        got += dec.feed(stream[i:i + 3])
    # "02 03" + b reads as a frame to 0x03 with SEQ 0x02, CMD 0x11, LEN 42: it can only fail by
    # stalling, and then b is found in what was buffered
    assert [f.encode() for f in got] == [a]
    got += dec.feed(b"", now=1.0)
    assert [f.encode() for f in got] == [a, b]
    assert dec.dropped > 0


def test_len_above_the_command_limit_is_rejected_without_waiting() -> None:
    # IDENTIFY allows no payload: LEN 5 is impossible, so the decoder does not wait for 5 bytes
    bogus = bytes((0x02, 0x03, 0x01, 0x01, 0x05))
    good = h(VECTORS[0][1])
    assert FrameDecoder().feed(bogus + good) == [Frame(3, 1, 1, b"")]


def test_stalled_partial_frame_fails_and_is_rescanned() -> None:
    good = h(VECTORS[2][1])
    dec = FrameDecoder(stall_s=0.004)
    assert dec.feed(good[:5], now=0.0) == []
    assert dec.feed(b"", now=0.010) == [], "the stalled partial frame is dropped"
    assert dec.buf == b""
    assert dec.feed(good, now=0.011) == [Frame(3, 2, 2, b"\x00")]


def test_stall_keeps_a_frame_hidden_inside_the_partial_one() -> None:
    inner = h(VECTORS[2][1])
    # a lone STX + bytes that look like the start of a long SHOW, then a full frame inside
    partial = bytes((0x02, 0x11, 0x01, 0x03, 0xF0)) + inner
    dec = FrameDecoder(stall_s=0.004)
    assert dec.feed(partial, now=0.0) == []
    assert dec.feed(b"", now=0.01) == [Frame(3, 2, 2, b"\x00")]


frames = st.builds(lambda a, s, c, p: encode_frame(a, s, c, p), st.integers(0, 247), st.integers(0, 255),
                   st.sampled_from([0x02, 0x03, 0x05, 0x82, 0x83, 0x7E]), st.binary(max_size=1))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_yield_an_invalid_frame(data: bytes) -> None:
    for f in FrameDecoder().feed(data):
        wire = f.encode()
        assert wire in data, "every decoded frame is a valid frame present in the input"


@settings(max_examples=300, deadline=None)
@given(st.lists(frames, min_size=1, max_size=5), st.data())
def test_corrupted_frames_never_yield_a_frame_that_was_not_sent(sent: list[bytes], data: st.DataObject) -> None:
    stream = bytearray(b"".join(sent))
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(stream) - 1), st.integers(0, 7)), max_size=4))
    for pos, bit in flips:
        stream[pos] ^= 1 << bit
    got = FrameDecoder().feed(bytes(stream))
    for f in got:
        assert f.encode() in sent, f"decoded {f} which was never sent"
    if not flips:
        assert [f.encode() for f in got] == sent
