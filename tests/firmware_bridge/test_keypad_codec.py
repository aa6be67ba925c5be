"""Legacy keypad codec: frame layout, checksum, resynchronisation, and no invented frames."""

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.keypad import KeypadDecoder, KeypadFrame, encode_keypad


def test_layout_and_checksum() -> None:
    # keypad 5 sends function 0x01 (call) with no data: L = 2, CS = 5 + 1
    assert encode_keypad(5, 0x01) == bytes.fromhex("FF 68 02 02 68 05 01 06 16")
    # host shows "012" on keypad 5: function 0x10, data ASCII digits
    wire = encode_keypad(5, 0x10, b"012")
    cs = (5 + 0x10 + 0x30 + 0x31 + 0x32) & 0xFF
    assert wire == bytes.fromhex("FF 68 05 05 68 05 10 30 31 32") + bytes((cs, 0x16))
    assert KeypadDecoder().feed(wire) == [KeypadFrame(5, 0x10, b"012")]
    assert KeypadFrame(5, 0x10, b"012").display_digits() == "012"


def test_resync_after_garbage_and_split() -> None:
    a, b = encode_keypad(1, 1), encode_keypad(2, 3, b"9")
    stream = b"\x00\xff\x68\x09\x02\xff" + a + b"\xff" + b
    dec = KeypadDecoder()
    got = []
    for i in range(len(stream)):
        got += dec.feed(stream[i:i + 1])
    assert [f.encode() for f in got] == [a, b]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=6)), min_size=1, max_size=4),
       st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 7)), max_size=1))
def test_a_flipped_bit_never_invents_frames(frames: list[tuple[int, int, bytes]], flips: list[tuple[int, int]]) -> None:
    sent = [encode_keypad(a, f, d) for a, f, d in frames]
    stream = bytearray(b"".join(sent))
    for pos, bit in flips:
        stream[pos % len(stream)] ^= 1 << bit
    # an 8-bit sum catches every single-bit error; two compensating flips can pass it (a limit of the
    # legacy protocol, which is why window devices speak hallbus with CRC-16)
    for f in KeypadDecoder().feed(bytes(stream)):
        assert f.encode() in sent
