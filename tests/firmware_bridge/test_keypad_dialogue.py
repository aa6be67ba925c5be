"""Keypad dialogue, key maps and config; the BITMAP request; the poll scheduler — no I/O, no clock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from firmware_bridge.boards import chunks, pack_rows, render_calls
from firmware_bridge.hallbus.frame import Frame, encode_frame
from firmware_bridge.hallbus.messages import CMD, EVENT, KEY, BitmapRows, DeviceEvent
from firmware_bridge.keypad.codec import KeypadFrame, encode_keypad
from firmware_bridge.keypad.keymap import key_event
from firmware_bridge.keypad.messages import FUNC, KeyPress, digits_of, display, idle, poll, valid
from firmware_bridge.schedule import pick_event
from firmware_bridge.sim.device import SimBitmapBoard
from firmware_bridge.sim.keypad import SimKeypad
from hallq.config import parse_config
from hallq.config.devices import DEFAULT_KEY_MAP, BusConfig
from tests.conftest import small_hall


def test_keypad_vectors() -> None:
    # POLL keypad 5                        FF 68 02 02 68 05 20 25 16
    assert poll(5).encode() == bytes.fromhex("FF 68 02 02 68 05 20 25 16")
    # its answer: press 7, key 1 (call)   FF 68 04 04 68 05 01 07 01 0E 16 — the host echoes exactly this
    assert KeyPress(7, 1).frame(5).encode() == bytes.fromhex("FF 68 04 04 68 05 01 07 01 0E 16")
    # idle, display blank since power-up FF 68 03 03 68 05 21 01 27 16
    assert idle(5, True).encode() == bytes.fromhex("FF 68 03 03 68 05 21 01 27 16")
    # display "012"                        FF 68 05 05 68 05 10 30 31 32 A8 16
    assert display(5, "012").encode() == encode_keypad(5, 0x10, b"012") == \
        bytes.fromhex("FF 68 05 05 68 05 10 30 31 32 A8 16")
    assert not valid(KeypadFrame(5, FUNC.KEY, b"\x00\x01"), "keypad"), "press 0 does not exist"
    assert not valid(KeypadFrame(5, FUNC.POLL), "keypad"), "a keypad never sends POLL"
    with pytest.raises(ValueError, match="display text"):
        display(5, "A12")


def test_sim_keypad_presents_until_echoed_and_dedups() -> None:
    kp = SimKeypad(5)
    assert kp.handle(poll(5)) == idle(5, True)
    first, second = kp.press(1), kp.press(4)
    assert kp.handle(poll(5)) == first.frame(5)
    assert kp.handle(poll(5)) == first.frame(5), "presented again until echoed"
    assert kp.handle(first.frame(5)) == second.frame(5), "the echo pops it and fetches the next"
    assert kp.handle(first.frame(5)) == second.frame(5), "a stale echo changes nothing"
    assert kp.handle(display(5, "012")) == display(5, "012") and kp.display == "012"
    kp.reset()
    assert kp.display == "" and kp.handle(second.frame(5)) == idle(5, True)
    assert kp.echoed == [first.press, second.press]


def test_key_map_to_events() -> None:
    km = {1: "call", 7: "transfer:tax", 9: "login:S001", 10: "logout"}
    assert key_event(KeyPress(3, 1), km) == DeviceEvent(3, EVENT.KEY, bytes((KEY.CALL,)))
    assert key_event(KeyPress(4, 7), km) == DeviceEvent(4, EVENT.KEY, bytes((KEY.TRANSFER,)) + b"tax")
    assert key_event(KeyPress(5, 9), km) == DeviceEvent(5, EVENT.LOGIN, b"S001")
    assert key_event(KeyPress(6, 10), km) == DeviceEvent(6, EVENT.LOGOUT)
    assert "not in the key map" in str(key_event(KeyPress(7, 2), km))
    assert digits_of("A012", 3) == "012" and digits_of("A1000", 3) == "000" and digits_of("B7", 3) == "007"


def test_keypad_config() -> None:
    bus = {"id": "kp", "port": "/dev/null", "protocol": "legacy-keypad", "devices": [
        {"address": 1, "kind": "keypad", "window": "1"},
        {"address": 2, "kind": "keypad", "window": "2", "key_map": {5: "transfer:tax"}, "digits": 4}]}
    b = parse_config(small_hall(devices={"buses": [bus]})).devices.buses[0]
    assert b.is_keypad and b.key_map_of(b.devices[0]) == DEFAULT_KEY_MAP
    assert b.key_map_of(b.devices[1]) == {5: "transfer:tax"} and b.devices[1].digits == 4
    assert BusConfig(id="old", port="x", protocol="keypad").is_keypad, "the v1 spelling still works"
    with pytest.raises(Exception, match="'jump' is not an action"):
        BusConfig(id="kp", port="x", protocol="legacy-keypad", key_map={1: "jump"})
    with pytest.raises(Exception, match="holds only keypads"):
        BusConfig(id="kp", port="x", protocol="legacy-keypad", devices=[{"address": 1, "kind": "evaluator"}])


def test_bitmap_request_vector_and_board() -> None:
    # BITMAP to 0x28, seq 1: rows 2-3 of a 16-LED-wide board, present
    req = BitmapRows(2, (b"\x80\x01", b"\xff\x00"), present=True)
    assert encode_frame(0x28, 1, CMD.BITMAP, req.encode()) == \
        bytes.fromhex("02 28 01 06 07 02 02 01 80 01 FF 00 9A D5 03")
    assert BitmapRows.decode(req.encode()) == req
    board = SimBitmapBoard(40, size=(192, 64))
    board.handle(Frame(40, 1, CMD.IDENTIFY))
    rows = pack_rows(render_calls([{"ticket": "A012", "window": "3"}], (192, 64)))
    todo = chunks(None, rows)
    assert all(len(c.encode()) <= 250 for c in todo) and [c.present for c in todo][-1]
    for i, c in enumerate(todo):
        assert board.handle(Frame(40, i + 2, CMD.BITMAP, c.encode())) == Frame(40, i + 2, 0x86, b"\0")
    assert board.front == list(rows)
    again = pack_rows(render_calls([{"ticket": "A013", "window": "3"}], (192, 64)))
    assert 0 < sum(len(c.rows) for c in chunks(rows, again)) < 64, "only the rows that changed are sent"
    assert chunks(rows, rows) == []


@dataclass
class Dev:
    kind: str
    last_poll: float = 0.0
    online: bool | None = True
    rank: int | None = None
    is_hot: bool = False

    def output_rank(self) -> int | None:
        return self.rank

    def hot(self, now: float) -> bool:
        return self.is_hot

    def executing(self) -> bool:
        return False

    def weighted_busy(self) -> tuple[bool, bool]:
        return self.is_hot, self.rank is not None


def test_event_schedule() -> None:
    ev1, ev2, led = Dev("evaluator", 9.0), Dev("evaluator", 9.5), Dev("led", 0.0)
    assert pick_event([ev1, ev2, led], 10.0, 0.05, 2.0, False) is led, "LED 10 s overdue for its liveness poll"
    led.last_poll = 9.0
    assert pick_event([ev1, ev2, led], 10.0, 0.05, 2.0, False) is ev1, "keyed devices round robin, oldest first"
    led.rank = 0
    assert pick_event([ev1, ev2, led], 10.0, 0.05, 2.0, False) is led, "output waiting goes first"
    led.rank = 3
    assert pick_event([ev1, ev2, led], 10.0, 0.05, 2.0, False) is ev1, "bitmap rows take turns with polls"
    assert pick_event([ev1, ev2, led], 10.0, 0.05, 2.0, True) is led
    off = Dev("evaluator", 9.5, online=False, rank=1)
    assert pick_event([off], 10.0, 0.05, 2.0, True) is None, "offline devices: once a second"
    assert pick_event([Dev("evaluator", 9.99)], 10.0, 0.05, 2.0, True) is None, "at most every poll_interval"
