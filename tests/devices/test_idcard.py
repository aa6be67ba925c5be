"""ID card reader: GA 467 frame and text vectors built by hand, round trips, the driver against the simulator."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from devices.idcard import (
    CardError,
    CardPlaced,
    CardRefused,
    CardWatch,
    ReaderDown,
    ReaderError,
    ReaderUp,
    SamReader,
    reader_for_url,
)
from devices.idcard.card import (
    IdCard,
    decode_text,
    encode_text,
    id_check_char,
    id_number_valid,
    mask_id_number,
)
from devices.idcard.frame import (
    MESSAGES,
    Answer,
    FrameDecoder,
    answers,
    encode_answer,
    encode_command,
    parse_answer,
    parse_command,
    split_read_text,
    xor_check,
)
from devices.idcard.holder import holder_of, load_holder_key
from devices.idcard.nations import NATIONS
from devices.idcard.simcli import command
from devices.idcard.simulator import (
    SAMPLE_CARDS,
    PtySamReader,
    SamSimulator,
    make_id_number,
    register,
    unregister,
)
from hallq.config.idcard import IdCardConfig
from hallq.sealed import load_private_key, new_private_key_pem, open_sealed
from tests.conftest import REPO

ELDER = SAMPLE_CARDS["elder"]
KEY = bytes(range(32))

# -- frame vectors ---------------------------------------------------------------------------------------
# Host -> module: AA AA AA 96 69 | Len1 Len2 = 00 03 (CMD + Para + CHK) | CMD Para | CHK = 00^03^CMD^Para.
COMMAND_VECTORS = {
    "find-card": "aa aa aa 96 69 00 03 20 01 22",     # 00^03^20^01 = 22
    "select-card": "aa aa aa 96 69 00 03 20 02 21",   # 00^03^20^02 = 21
    "read-text": "aa aa aa 96 69 00 03 30 01 32",     # 00^03^30^01 = 32
    "sam-status": "aa aa aa 96 69 00 03 11 ff ed",    # 00^03^11^FF = ED
    "reset": "aa aa aa 96 69 00 03 10 ff ec",         # 00^03^10^FF = EC
}
# Module -> host: preamble | Len (SW1 SW2 SW3 + data + CHK) | 00 00 SW3 | data | CHK over Len..data.
ANSWER_VECTORS = [
    # find-card success: SW3 9F and the card's 4-byte IIN (zeros); Len 00 08 = 3 + 4 + 1; CHK 08^9F = 97
    ("aa aa aa 96 69 00 08 00 00 9f 00 00 00 00 97", 0x9F, b"\0" * 4),
    # find-card, no card: SW3 80, no data; Len 00 04; CHK 04^80 = 84
    ("aa aa aa 96 69 00 04 00 00 80 84", 0x80, b""),
    # select-card success: SW3 90 and the 8-byte card serial (zeros here); Len 00 0C; CHK 0C^90 = 9C
    ("aa aa aa 96 69 00 0c 00 00 90 00 00 00 00 00 00 00 00 9c", 0x90, b"\0" * 8),
    # select-card failed: SW3 81; CHK 04^81 = 85
    ("aa aa aa 96 69 00 04 00 00 81 85", 0x81, b""),
    # read failed (card moved away): SW3 41; CHK 04^41 = 45
    ("aa aa aa 96 69 00 04 00 00 41 45", 0x41, b""),
]


@pytest.mark.parametrize("name", sorted(COMMAND_VECTORS))
def test_command_frames_match_ga467_layout(name: str) -> None:
    assert MESSAGES[name].encode().hex(" ") == COMMAND_VECTORS[name]


@pytest.mark.parametrize(("hexbytes", "sw3", "data"), ANSWER_VECTORS)
def test_answer_frames_match_ga467_layout(hexbytes: str, sw3: int, data: bytes) -> None:
    wire = bytes.fromhex(hexbytes)
    assert encode_answer(sw3, data) == wire
    (raw,) = FrameDecoder().feed(wire)
    assert raw.check_ok
    a = parse_answer(raw)
    assert (a.sw1, a.sw2, a.sw3, a.data) == (0, 0, sw3, data)


def test_read_text_answer_layout() -> None:
    # Len 05 08 = 3 (SW) + 2 + 2 (text and photo lengths) + 256 + 1024 + 1 (CHK) = 1288
    text, photo = encode_text(ELDER), ELDER.photo
    wire = encode_answer(0x90, len(text).to_bytes(2, "big") + len(photo).to_bytes(2, "big") + text + photo)
    assert wire[:14].hex(" ") == "aa aa aa 96 69 05 08 00 00 90 01 00 04 00"
    assert len(wire) == 7 + 0x0508
    assert wire[-1] == xor_check(wire[5:-1])
    (raw,) = FrameDecoder().feed(wire)
    assert split_read_text(parse_answer(raw).data) == (text, photo)


def parse_answer_hex(hexbytes: str) -> Answer:
    (raw,) = FrameDecoder().feed(bytes.fromhex(hexbytes))
    return parse_answer(raw)


def test_decoder_flags_a_bad_check_byte_and_skips_noise() -> None:
    good = bytes.fromhex(ANSWER_VECTORS[1][0])
    bad = good[:-1] + b"\x00"
    noise = b"\x00\xaa\xaa\x13\xaa\xaa\xaa\x96"          # looks like half a preamble, twice
    frames = FrameDecoder().feed(noise + bad + good)
    assert [f.check_ok for f in frames] == [False, True]
    # a length of 0xFFFF after a preamble is noise: the frame behind it is still found
    frames = FrameDecoder().feed(b"\xaa\xaa\xaa\x96\x69\xff\xff" + good)
    assert [(f.check_ok, f.body) for f in frames] == [(True, b"\x00\x00\x80")]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=300), st.binary(max_size=40),
       st.lists(st.integers(1, 64), max_size=20))
def test_frames_round_trip_in_any_pieces(cmd: int, para: int, data: bytes, noise: bytes, cuts: list[int]) -> None:
    noise = noise.replace(b"\xaa", b"\x00")   # noise that cannot start a preamble
    wire = noise + encode_command(cmd, para, data) + encode_answer(para, data, sw1=cmd)
    dec, frames, at = FrameDecoder(), [], 0
    for n in cuts:
        frames += dec.feed(wire[at:at + n])
        at += n
    frames += dec.feed(wire[at:])
    assert len(frames) == 2 and all(f.check_ok for f in frames)
    c, a = parse_command(frames[0]), parse_answer(frames[1])
    assert (c.cmd, c.para, c.data) == (cmd, para, data)
    assert (a.sw1, a.sw2, a.sw3, a.data) == (cmd, 0, para, data)
    assert dec.pending == 0


# -- text vectors ----------------------------------------------------------------------------------------
def ucs2(text: str, width: int) -> bytes:
    """A text field as the card stores it: UCS-2 little-endian, padded with spaces (20 00) to `width` bytes."""
    raw = text.encode("utf-16-le")
    return raw + b"\x20\x00" * ((width - len(raw)) // 2)


def hand_built_text(card_type: bytes = b"\x20\x00") -> bytes:
    """The 256 text bytes of a made-up card, field by field in GA 467's order and widths."""
    text = (
        bytes.fromhex("205f d16d cd73") + b"\x20\x00" * 12      # name (30): 张 U+5F20, 淑 U+6DD1, 珍 U+73CD
        + bytes.fromhex("3200")                                # sex (2): "2" = female (GB 2261)
        + bytes.fromhex("3000 3200")                           # nation (4): "02" = 蒙古 (GB 3304)
        + "19480315".encode("utf-16-le")                       # birth (16): YYYYMMDD
        + ucs2("内蒙古自治区呼和浩特市新城区示例路1号", 70)       # address (70)
        + "150102194803150248".encode("utf-16-le")             # ID number (36): 17 digits + check char
        + ucs2("呼和浩特市公安局新城分局", 30)                    # issuer (30)
        + "20160501".encode("utf-16-le")                       # valid from (16)
        + ucs2("长期", 16)                                      # valid until (16): 长期 = long-term
        + b"\x20\x00" * 14 + card_type + b"\x20\x00" * 3       # extra (36): card type at byte 248
    )
    assert len(text) == 256
    return text


def test_text_decoder_reads_every_field() -> None:
    card = decode_text(hand_built_text(), b"\x01" * 1024)
    assert (card.name, card.sex, card.nation, card.birth_date) == ("张淑珍", "女", "蒙古", date(1948, 3, 15))
    assert card.address == "内蒙古自治区呼和浩特市新城区示例路1号"
    assert card.id_number == "150102194803150248"
    assert card.issuer == "呼和浩特市公安局新城分局"
    assert (card.valid_from, card.valid_until, card.kind) == (date(2016, 5, 1), None, "resident")
    assert card.photo == b"\x01" * 1024
    assert card.age_on(date(2026, 3, 14)) == 77 and card.age_on(date(2026, 3, 15)) == 78


def test_text_decoder_refuses_what_it_cannot_take() -> None:
    with pytest.raises(CardError, match="foreigner"):
        decode_text(hand_built_text(card_type="I".encode("utf-16-le")))
    permit = decode_text(hand_built_text(card_type="J".encode("utf-16-le")))
    assert permit.kind == "permit" and permit.nation_code == ""
    broken = bytearray(hand_built_text())
    broken[30 + 2 + 4 + 16 + 70 + 34] = ord("1")          # last character of the ID number: check fails
    with pytest.raises(CardError, match="ID number") as e:
        decode_text(bytes(broken))
    assert "1501021948031502" not in str(e.value)
    broken = bytearray(hand_built_text())
    broken[32:34] = b"9\x00"                               # nation "92": not a GB 3304 code
    with pytest.raises(CardError, match="nation"):
        decode_text(bytes(broken))
    with pytest.raises(CardError, match="256"):
        decode_text(hand_built_text()[:200])


def test_id_numbers_nations_and_masks() -> None:
    # the examples of GB 11643-1999 itself
    assert id_check_char("11010519491231002") == "X" and id_number_valid("11010519491231002X")
    assert id_number_valid("440524188001010014") and not id_number_valid("440524188001010015")
    assert mask_id_number("150102194803150248") == "1501**********0248"
    assert len([c for c in NATIONS if c <= "56"]) == 56 and NATIONS["02"] == "蒙古"


cjk = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=1, max_size=15)


@settings(max_examples=100, deadline=None)
@given(cjk, st.sampled_from("1290"), st.sampled_from(sorted(NATIONS)), st.dates(date(1900, 1, 1), date(2030, 1, 1)),
       st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFFEF, exclude_categories=("Cs", "Cc", "Zs")),
               max_size=35).map(str.strip),
       st.from_regex(r"[1-6][0-9]{5}", fullmatch=True), st.from_regex(r"[0-9]{3}", fullmatch=True),
       st.none() | st.dates(date(2000, 1, 1), date(2060, 1, 1)), st.booleans())
def test_card_text_round_trips(name: str, sex: str, nation: str, birth: date, address: str, region: str,
                               seq: str, until: date | None, permit: bool) -> None:
    card = IdCard(name=name, sex_code=sex, nation_code="" if permit else nation, birth_date=birth, address=address,
                  id_number=make_id_number(region, birth, seq), issuer="某市公安局", valid_from=date(2020, 2, 29),
                  valid_until=until, kind="permit" if permit else "resident")
    assert decode_text(encode_text(card)) == card


# -- privacy ---------------------------------------------------------------------------------------------
def test_card_repr_and_holder_never_show_the_number(tmp_path: Path) -> None:
    for shown in (repr(ELDER), str(ELDER), f"{ELDER}"):
        assert ELDER.id_number not in shown and "1501**********0248" in shown and ELDER.name not in shown
    h = holder_of(ELDER, KEY, date(2026, 11, 30), 70)
    assert (h.age, h.elderly, h.expired, h.id_masked) == (78, True, False, "1501**********0248")
    assert h.holder_key == ELDER.holder_key(KEY) and h.holder_key.startswith("idc:") and len(h.holder_key) == 36
    assert h.holder_key != ELDER.holder_key(bytes(32)) and ELDER.id_number not in repr(h)
    assert not holder_of(SAMPLE_CARDS["young"], KEY, date(2026, 11, 30), 70).elderly
    assert holder_of(SAMPLE_CARDS["expired"], KEY, date(2026, 11, 30), None).expired
    pem, public = new_private_key_pem()
    (tmp_path / "rater.pem").write_bytes(pem)
    sealed = holder_of(ELDER, KEY, date(2026, 11, 30), 70, rater_public_key=public).sealed
    assert sealed is not None and ELDER.id_number not in sealed
    assert open_sealed(load_private_key(str(tmp_path / "rater.pem")), sealed)["idn"] == ELDER.id_number


def test_holder_key_file(tmp_path: Path) -> None:
    (tmp_path / "k").write_text(KEY.hex() + "\n")
    assert load_holder_key(tmp_path / "k") == KEY
    (tmp_path / "short").write_text("abcd\n")
    with pytest.raises(ValueError, match="too short"):
        load_holder_key(tmp_path / "short")
    with pytest.raises(ValueError, match="cannot read"):
        load_holder_key(tmp_path / "missing")


# -- the driver against the pty simulator ----------------------------------------------------------------
class Bench:
    def __init__(self, tmp: Path) -> None:
        self.sim = SamSimulator("bench")
        self.host = PtySamReader(self.sim, tmp / "ttyIDC").open()
        self.url = f"serial://{self.host.port}?baud=115200"

    def reader(self, timeout_s: float = 0.3, retries: int = 2) -> SamReader:
        r = reader_for_url(self.url, name="kiosk-1", reply_timeout_s=timeout_s, card_timeout_s=timeout_s,
                           retries=retries)
        assert r is not None
        return r


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    b = Bench(tmp_path)
    yield b
    b.host.close()


@pytest.fixture
def reader(bench: Bench) -> Iterator[SamReader]:
    r = bench.reader()
    r.open()
    yield r
    r.close()


def test_reads_a_card(bench: Bench, reader: SamReader) -> None:
    bench.sim.place(ELDER)
    card = reader.read_card()
    assert card == ELDER and card is not None and card.photo == ELDER.photo
    assert bench.sim.commands == ["sam-status", "find-card", "select-card", "read-text"]
    assert reader.sam_id() == "0501000020261130000000120000abcd"


def test_no_card_is_none(bench: Bench, reader: SamReader) -> None:
    assert reader.read_card() is None
    assert bench.sim.commands == ["sam-status", "find-card"]


def test_card_lifted_mid_read(bench: Bench, reader: SamReader) -> None:
    bench.sim.place(ELDER)
    bench.sim.faults.lift_during_read = True
    with pytest.raises(CardError, match=r"ID card reader kiosk-1 \(serial .*\): the card was moved away"):
        reader.read_card()
    assert not bench.sim.has_card and reader.read_card() is None


def test_bad_check_byte_is_retried(bench: Bench, reader: SamReader) -> None:
    bench.sim.place(ELDER)
    bench.sim.faults.bad_check, bench.sim.faults.bad_check_only = 1, "read-text"
    assert reader.read_card() == ELDER
    assert bench.sim.commands[1:] == ["find-card", "select-card", "read-text", "read-text"]


def test_bad_check_byte_every_time_is_a_clear_error(bench: Bench, reader: SamReader) -> None:
    bench.sim.place(ELDER)
    bench.sim.faults.bad_check = -1
    with pytest.raises(ReaderError) as e:
        reader.read_card()
    msg = str(e.value)
    assert msg.startswith(f"ID card reader kiosk-1 (serial {bench.host.port} 115200 baud): no valid answer to "
                          "find-card after 3 tries (bad check byte ×3)")
    assert "check the cable" in msg and bench.sim.commands.count("find-card") == 3


def test_silent_reader_times_out(bench: Bench, reader: SamReader) -> None:
    bench.sim.faults.silent = True
    t0 = time.monotonic()
    with pytest.raises(ReaderError, match=r"no valid answer to find-card after 3 tries \(no answer within 0.3 s ×3\)"):
        reader.read_card()
    assert 0.85 < time.monotonic() - t0 < 2.5


def test_slow_split_noisy_answers_within_the_timeout(bench: Bench) -> None:
    r = bench.reader(timeout_s=1.0)
    r.open()
    try:
        bench.sim.place(SAMPLE_CARDS["adult"])
        bench.sim.faults.slow_s, bench.sim.faults.split, bench.sim.faults.noise = 0.15, True, True
        assert r.read_card() == SAMPLE_CARDS["adult"]
        assert bench.sim.commands.count("read-text") == 1
    finally:
        r.close()


def test_slow_answer_beyond_the_timeout(bench: Bench, reader: SamReader) -> None:
    bench.sim.faults.slow_s = 1.0           # later than all three tries (3 x 0.3 s)
    with pytest.raises(ReaderError, match=r"find-card after 3 tries \(no answer within 0.3 s ×3\)"):
        reader.read_card()


def test_late_answers_to_earlier_commands_are_dropped() -> None:
    find, select, read = MESSAGES["find-card"], MESSAGES["select-card"], MESSAGES["read-text"]
    found, selected = parse_answer_hex(ANSWER_VECTORS[0][0]), parse_answer_hex(ANSWER_VECTORS[2][0])
    assert answers(find, found) and not answers(select, found)          # 9F belongs to find-card only
    assert answers(select, selected) and not answers(read, selected)    # 90 with 8 bytes is no card text
    assert answers(read, parse_answer_hex(ANSWER_VECTORS[4][0]))        # 41: reading failed


def test_open_checks_the_module(bench: Bench, tmp_path: Path) -> None:
    bench.sim.faults.silent = True
    with pytest.raises(ReaderError, match="no valid answer to sam-status"):
        bench.reader(retries=0).open()
    missing = reader_for_url(f"serial://{tmp_path}/nothing", name="kiosk-2")
    assert missing is not None
    with pytest.raises(ReaderError, match=r"ID card reader kiosk-2 .*cannot open the port"):
        missing.open()


def test_poll_reports_each_placement_once(bench: Bench, reader: SamReader) -> None:
    bench.sim.place(ELDER)
    assert reader.poll() == ELDER
    assert reader.poll() is None and reader.poll() is None     # still lying there: not found again
    bench.sim.remove()
    assert reader.poll() is None
    bench.sim.place(ELDER)
    assert reader.poll() == ELDER


def test_logs_and_errors_never_carry_the_number(bench: Bench, reader: SamReader,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bench.sim.place(ELDER)
    bench.sim.faults.bad_check, bench.sim.faults.bad_check_only = 1, "read-text"
    assert reader.read_card() == ELDER
    bench.sim.place(ELDER)
    bench.sim.faults.bad_check = -1
    with pytest.raises(ReaderError) as e:
        reader.read_card()
    assert "read-text" in caplog.text and "trying again" in caplog.text
    for text in (caplog.text, str(e.value)):
        assert ELDER.id_number not in text and ELDER.name not in text and "0248" not in text


# -- the factory, sim:// and config ----------------------------------------------------------------------
def test_sim_url_reads_in_process() -> None:
    sim = register(SamSimulator("t-sim"))
    try:
        r = reader_for_url("sim://t-sim", reply_timeout_s=0.2, card_timeout_s=0.2)
        assert r is not None
        r.open()
        assert r.read_card() is None
        sim.place(SAMPLE_CARDS["permit"])
        assert r.read_card() == SAMPLE_CARDS["permit"]
        sim.place(SAMPLE_CARDS["young"])
        sim.faults.slow_s = 0.7             # later than all three tries (3 x 0.2 s)
        with pytest.raises(ReaderError, match=r"ID card reader idcard \(sim t-sim\): .*no answer within 0.2 s"):
            r.read_card()
        r.close()
    finally:
        unregister("t-sim")


def test_card_watch_events() -> None:
    sim = register(SamSimulator("t-watch"))
    reader = reader_for_url("sim://t-watch", name="kiosk-1", reply_timeout_s=0.05, card_timeout_s=0.05, retries=0)
    assert reader is not None
    watch = CardWatch(reader, KEY, elderly_min_age=70)
    today = date(2026, 11, 30)
    try:
        assert watch.step(today) is None
        sim.place(ELDER)
        ev = watch.step(today)
        assert isinstance(ev, CardPlaced) and ev.holder.elderly and ev.holder.holder_key == ELDER.holder_key(KEY)
        assert ELDER.id_number not in repr(ev) and watch.step(today) is None
        sim.place(SAMPLE_CARDS["expired"])
        ev = watch.step(today)
        assert isinstance(ev, CardRefused) and ev.problem == "expired" and "0465" not in ev.log
        sim.place(SAMPLE_CARDS["adult"])
        sim.faults.lift_during_read = True
        ev = watch.step(today)
        assert isinstance(ev, CardRefused) and ev.problem == "moved"
        sim.faults.silent = True
        ev = watch.step(today)
        assert isinstance(ev, ReaderDown) and ev.log.startswith("ID card reader kiosk-1 (sim t-watch): no valid")
        assert watch.step(today) is None and watch.step(today) is None      # down is said once
        sim.faults.silent = False
        assert watch.step(today) == ReaderUp("ID card reader kiosk-1 (sim t-watch)")
        sim.place(SAMPLE_CARDS["young"])
        ev = watch.step(today)
        assert isinstance(ev, CardPlaced) and not ev.holder.elderly and ev.holder.age == 22
    finally:
        watch.close()
        unregister("t-watch")


def test_factory_urls() -> None:
    assert reader_for_url("none://") is None
    r = reader_for_url("serial:///dev/ttyUSB0?baud=9600", name="k")
    assert r is not None and r.describe() == "ID card reader k (serial /dev/ttyUSB0 9600 baud)"
    with pytest.raises(ReaderError, match="baud='1234'"):
        reader_for_url("serial:///dev/ttyUSB0?baud=1234")
    with pytest.raises(ReaderError, match="cannot use 'usb://1:2'"):
        reader_for_url("usb://1:2")


def test_config_model() -> None:
    assert not IdCardConfig().enabled
    cfg = IdCardConfig(url="serial:///dev/ttyUSB0?baud=115200", holder_key_file="idcard.key")
    assert cfg.enabled and cfg.card_timeout_s == 2.0
    with pytest.raises(ValidationError, match="holder_key_file"):
        IdCardConfig(url="sim://idcard")
    with pytest.raises(ValidationError, match="not an ID card reader URL"):
        IdCardConfig(url="usb://0416:5011", holder_key_file="k")


def test_simcli_commands() -> None:
    sim = SamSimulator("cli")
    assert command(sim, "place elder").startswith("placed elder: 1501**********0248")
    assert sim.has_card and command(sim, "remove") == "lifted the card" and not sim.has_card
    assert command(sim, "bad-check 2") == "bad check byte on the next 2 answers" and sim.faults.bad_check == 2
    assert command(sim, "silent maybe") == "silent: say on or off"
    assert command(sim, "place nobody").startswith("place what?")
    assert "commands" in command(sim, "fly")


def test_hallq_sim_idcard_on_a_pty(tmp_path: Path) -> None:
    link = tmp_path / "ttyIDC"
    proc = subprocess.Popen([sys.executable, "-m", "hallq", "sim", "idcard", "--port", str(link), "--place", "adult"],
                            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        first = proc.stdout.readline()
        assert first.startswith("simulated ID card reader on"), first
        r = reader_for_url(f"serial://{link}", reply_timeout_s=1.0, card_timeout_s=1.0)
        assert r is not None
        r.open()
        assert r.read_card() == SAMPLE_CARDS["adult"]
        proc.stdin.write("remove\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "lifted the card\n"
        assert r.read_card() is None
        r.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(5) == 0
    assert not link.exists()
