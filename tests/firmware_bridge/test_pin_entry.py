"""Device PIN login, the pure parts: the LOGIN payload `STAFF 0x1F PIN`, keypad PIN entry, the MQTT device's
`pin`, and that a PIN never shows in a log form, the in-flight store or a simulator's output."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_bridge.hallbus.frame import encode_frame
from firmware_bridge.hallbus.messages import EVENT, DeviceEvent, PayloadError, decode_event
from firmware_bridge.inflight import InflightStore
from firmware_bridge.keypad.pinentry import ENTRY_TIMEOUT_S, Local, PinEntry, entry_display, refusal_display
from firmware_bridge.mapping import command_for, json_event, login_refusal_show, redacted
from firmware_bridge.sim.device import SimEvaluator
from firmware_bridge.sim.evaluator_cli import act

PIN = "73914682"


def test_login_payload_with_a_pin() -> None:
    ev = decode_event(bytes((9, EVENT.LOGIN)) + b"S001\x1f" + PIN.encode())
    assert ev is not None and ev.staff == "S001" and ev.pin == PIN
    assert decode_event(bytes((9, EVENT.LOGIN)) + b"S001").pin is None        # type: ignore[union-attr]
    with pytest.raises(PayloadError):
        decode_event(bytes((9, EVENT.LOGIN)) + b"\x1f1234")                     # no staff id
    with pytest.raises(PayloadError):
        decode_event(bytes((9, EVENT.LOGIN)) + b"S001\x1f" + b"1" * 17)         # PIN too long for the bus
    assert encode_frame(3, 4, 0x82, DeviceEvent(9, EVENT.LOGIN, b"S001\x1f1234").encode()).hex(" ").upper() == \
        "02 03 04 82 0B 09 03 53 30 30 31 1F 31 32 33 34 35 A2 03"           # the vector of docs/hallbus.md
    cmd = command_for(ev, "1", None)
    assert not isinstance(cmd, str) and cmd.args == {"window": "1", "staff": "S001", "pin": PIN}
    for shown in (str(ev), repr(ev), str(cmd), repr(cmd), f"{ev!r} {cmd}"):
        assert PIN not in shown and PIN.encode().hex() not in shown.replace(" ", "")
    assert "with a PIN" in str(ev) and "***" in str(cmd)
    stripped = ev.without_pin()
    assert stripped.pin == "" and PIN.encode() not in stripped.encode() and stripped.staff == "S001"
    bare = decode_event(bytes((9, EVENT.LOGIN)) + b"S001")
    assert bare is not None
    bare_cmd = command_for(bare, "1", None)
    assert not isinstance(bare_cmd, str) and bare_cmd.args == {"window": "1", "staff": "S001"}


def test_inflight_store_keeps_the_command_id_but_never_the_pin(tmp_path: Path) -> None:
    store = InflightStore(tmp_path / "inflight.sqlite3").open()
    ev = DeviceEvent(9, EVENT.LOGIN, b"S001\x1f" + PIN.encode())
    cid = store.command_id("bus1-3", ev.without_pin().encode())
    # the same event presented again (after a bridge restart: the device repeats it, PIN included)
    assert store.command_id("bus1-3", DeviceEvent(9, EVENT.LOGIN, b"S001\x1f" + PIN.encode()).without_pin()
                            .encode()) == cid
    # a login without a PIN is another event
    assert store.command_id("bus1-3", DeviceEvent(9, EVENT.LOGIN, b"S001").encode()) != cid
    store.close()
    for f in tmp_path.iterdir():
        assert PIN.encode() not in f.read_bytes() and PIN.encode().hex().encode() not in f.read_bytes()


def test_keypad_pin_entry() -> None:
    e = PinEntry(width=3)
    assert e.key("digit:1", 1, 0.0) == "key 'digit:1' outside PIN entry (press a login key first)"
    assert e.key("login:S002", 2, 0.0) == Local("--0")
    for i, d in enumerate(PIN, 1):
        assert e.key(f"digit:{d}", 2 + i, float(i)) == Local(f"--{i}")
    assert e.key("digit:5", 11, 9.0) == Local("--8"), "at most 8 digits"
    ev = e.key("enter", 12, 10.0)
    assert isinstance(ev, DeviceEvent) and ev.event_id == 12 and ev.staff == "S002" and ev.pin == PIN
    assert not e.active(10.0), "the PIN is forgotten once sent"
    assert e.key("enter", 13, 11.0) == "key 'enter' outside PIN entry (press a login key first)"
    # clear, another key, a timeout
    e.key("login:S002", 14, 20.0)
    e.key("digit:4", 15, 21.0)
    assert e.key("clear", 16, 22.0) == Local(None) and e.digits == ""
    e.key("login:S002", 17, 30.0)
    e.key("digit:4", 18, 31.0)
    assert e.key("call", 19, 32.0) is None and e.digits == "", "another key abandons the entry"
    e.key("login:S002", 20, 40.0)
    assert e.key("enter", 21, 41.0) == Local("--0"), "enter without digits keeps asking"
    assert isinstance(e.key("digit:4", 22, 41.0 + ENTRY_TIMEOUT_S + 1), str), "an abandoned entry times out"
    assert entry_display(4, 1) == "4" and entry_display(4, 4) == "---4"
    assert refusal_display("BAD_CREDENTIALS", 3) == "-1-" and refusal_display("LOCKED_OUT", 3) == "-2-"
    assert refusal_display("UNKNOWN_STAFF", 4) == " -3-" and refusal_display("BAD_CREDENTIALS", 1) == "1"


def test_mqtt_device_pin_and_refusal_texts() -> None:
    eid, ev = json_event({"event_id": "b1-1", "type": "login", "staff": "S001", "pin": PIN})
    assert eid == "b1-1" and ev.pin == PIN and ev.staff == "S001"
    assert json_event({"event_id": "b1-2", "type": "login", "staff": "S001"})[1].pin is None
    for bad in (1234, "", "x" * 17, "12\x1f34"):
        with pytest.raises(ValueError) as err:
            json_event({"event_id": "b1-3", "type": "login", "staff": "S001", "pin": bad})
        assert str(bad) not in str(err.value) or bad == ""
    assert PIN not in str(redacted({"type": "login", "pin": PIN}))
    assert login_refusal_show("BAD_CREDENTIALS", True).text == "密码错误 请重新登录"
    assert login_refusal_show("LOCKED_OUT", False).text == "登录已锁定 请联系管理员"
    assert login_refusal_show("UNKNOWN_STAFF", True).encode()  # fits GB18030


def test_evaluator_simulator_types_a_pin_without_echoing_it() -> None:
    ev = SimEvaluator(3)
    out = act(f"3 login S001 {PIN}", {3: ev})
    assert PIN not in out and "with a PIN" in out
    assert ev.queue[-1].data == b"S001\x1f" + PIN.encode()
    assert act("3 login S001 12", {3: ev}) == "a PIN is 4-8 digits"
    assert "queued" in act("3 call", {3: ev}) and "queued" in act("3 rate 2 1 3", {3: ev})
    assert act("9 call", {3: ev}).startswith("not understood")
