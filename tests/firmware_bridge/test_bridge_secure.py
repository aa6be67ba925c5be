"""The bridge in a secure hall (CONTRACT §5): a real mosquitto from the generated config, the controller and
`hallq bridge` each with their own credentials, simulated devices on ptys.

Device PIN login (§5.4) over hallbus (LOGIN `STAFF 0x1F PIN`), a legacy keypad (login key, digit keys,
enter) and an MQTT-native device (`pin` in its login event): the right PIN logs in, a wrong one is
refused with BAD_CREDENTIALS and shown on the device, and the PIN is in no log and no database.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from firmware_bridge.hallbus.messages import KEY, WSTATE
from firmware_bridge.sim.bus import SimBus
from firmware_bridge.sim.device import SimEvaluator, SimLed
from firmware_bridge.sim.keypad import SimKeypad, SimKeypadLink
from firmware_bridge.sim.mqtt_device import MqttDevice
from hallq.config.devices import PIN_KEY_CODES
from hallq.staffauth import StaffSecrets
from tests.conftest import REPO, ControllerProc, small_hall
from tests.secure_hall import SecureHall, secure_hall

RIGHT, WRONG = "73914682", "51829374"        # 8 digits: never in a hash or a log line by chance
LOGIN_KEY = 33


def until(cond: Callable[[], Any], what: str, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {what}")


def _hall_dict(tmp: Path) -> dict[str, Any]:
    key_map = {1: "call", 4: "finish", LOGIN_KEY: "login:S002", 13: "enter", 27: "clear",
               **{0x30 + d: f"digit:{d}" for d in range(10)}}
    devices = {"buses": [
        {"id": "bus1", "port": str(tmp / "ttyBUS"), "reply_timeout_ms": 80, "retries": 3,
         "devices": [{"address": 3, "kind": "evaluator", "window": "1"},
                     {"address": 17, "kind": "led", "window": "1"}]},
        {"id": "kp", "port": str(tmp / "ttyKP"), "protocol": "legacy-keypad", "reply_timeout_ms": 80,
         "key_map": key_map, "devices": [{"address": 5, "kind": "keypad", "window": "2"}]}]}
    d = small_hall(devices=devices)
    d["staff"].append({"id": "S004", "name": "萨仁", "windows": ["4"]})
    d["security"] = {"mode": "secure", "device_login": "pin", "principals": [
        {"id": "kiosk-1", "role": "kiosk"}, {"id": "bridge-1", "role": "bridge"},
        {"id": "eval-4", "role": "device", "window": "4"}]}
    return d


class SecureBridgeHall:
    def __init__(self, h: SecureHall, tmp: Path) -> None:
        self.h, self.tmp = h, tmp
        self.ev, self.led = SimEvaluator(3, uid=bytes(range(8))), SimLed(17)
        self.kp = SimKeypad(5)
        self.bus = SimBus([self.ev, self.led], link=tmp / "ttyBUS").open()
        self.kpl = SimKeypadLink([self.kp], link=tmp / "ttyKP").open()
        self.data = Path(h.cfg.data_dir)
        secrets = StaffSecrets(self.data)
        for staff in ("S001", "S002", "S004"):
            secrets.set_pin(staff, RIGHT)
        self.controller = ControllerProc(h.config_path, self.data, tmp / "controller.log",
                                         ("--credentials", str(h.credentials("controller"))))
        self.bridge: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.start_controller()
        self.start_bridge()

    def start_controller(self) -> None:
        status = self.h.cfg.topic("controller", "status")
        with self.h.client("kiosk-1", "waiter", (status,)) as c:
            t0 = datetime.now(UTC) - timedelta(milliseconds=5)
            self.controller.start()
            c.wait_for(status, lambda b: b.get("state") == "online" and datetime.fromisoformat(b["at"]) >= t0,
                       timeout_s=30)

    def start_bridge(self) -> None:
        self.bridge = subprocess.Popen(
            [sys.executable, "-m", "hallq", "bridge", "--config", str(self.h.config_path), "--data",
             str(self.tmp / "bridge"), "--credentials", str(self.h.credentials("bridge-1"))],
            cwd=REPO, env=dict(os.environ, PYTHONUNBUFFERED="1"), stdout=subprocess.DEVNULL,
            stderr=open(self.tmp / "bridge.log", "ab"), start_new_session=True)  # noqa: SIM115

    def log(self) -> str:
        return (self.tmp / "bridge.log").read_text(errors="replace")

    def close(self) -> None:
        if self.bridge is not None and self.bridge.poll() is None:
            self.bridge.send_signal(signal.SIGTERM)
            self.bridge.wait(15)
        self.controller.kill()
        self.bus.close()
        self.kpl.close()


@contextmanager
def running(tmp: Path) -> Iterator[SecureBridgeHall]:
    with secure_hall(tmp, _hall_dict(tmp)) as h:
        sb = SecureBridgeHall(h, tmp)
        try:
            sb.start()
            yield sb
        finally:
            sb.close()


def _no_pin_anywhere(sb: SecureBridgeHall) -> None:
    """Neither PIN in the bridge's or controller's log, the in-flight store, the event log or the replies."""
    files = [sb.tmp / "bridge.log", sb.tmp / "controller.log", *sorted((sb.tmp / "bridge").glob("*")),
             *sorted(sb.data.glob("*.sqlite3*"))]
    assert any(f.name.startswith("inflight.sqlite3") for f in files)
    for f in files:
        blob = f.read_bytes()
        for pin in (RIGHT, WRONG):
            assert pin.encode() not in blob, f"a PIN is in {f}"


def test_pin_logins_hallbus_keypad_and_mqtt_device(tmp_path: Path) -> None:
    with running(tmp_path) as sb:
        h = sb.h
        t = h.cfg.topic
        with h.client("kiosk-1", "watch", (t("state", "window", "+"),)) as c:
            until(lambda: sb.ev.identified, "the bridge identified the evaluator", 30)
            # hallbus evaluator: LOGIN "S001 0x1F PIN"
            sb.ev.login("S001", WRONG)
            until(lambda: "密码错误" in sb.ev.text(0), f"the evaluator shows the wrong PIN; {sb.log()[-2000:]}")
            assert sb.ev.state.state == WSTATE.CLOSED
            sb.ev.login("S001")                                   # no PIN at all: refused too
            until(lambda: not sb.ev.queue, "the PIN-less login acknowledged")
            assert sb.ev.state.state == WSTATE.CLOSED
            sb.ev.login("S001", RIGHT)
            until(lambda: sb.ev.state.state == WSTATE.THANKS and sb.ev.state.staff == "S001", "S001 logged in")
            until(lambda: sb.ev.text(0) == "", "the refusal is cleared after the good login")
            # key presses work in the secure hall: call shows on the LED board
            c.command("issue", service="general")
            sb.ev.press(KEY.CALL)
            until(lambda: "A001" in sb.led.text(), "LED shows A001")

            # legacy keypad: login key, digit keys, enter
            def type_pin(pin: str) -> None:
                sb.kp.press(LOGIN_KEY)
                for d in pin:
                    sb.kp.press(PIN_KEY_CODES[d])
                sb.kp.press(PIN_KEY_CODES["enter"])

            type_pin(WRONG)
            until(lambda: sb.kp.display == "-1-", f"keypad shows -1- (shows {sb.kp.display!r}); {sb.log()[-2000:]}")
            assert "--0" in sb.kp.displayed and "--8" in sb.kp.displayed, sb.kp.displayed
            type_pin(RIGHT)
            c.wait_for(t("state", "window", "2"), lambda b: (b.get("staff") or {}).get("id") == "S002", 20)
            until(lambda: sb.kp.display.strip() in ("", "000"), f"keypad back to digits ({sb.kp.display!r})")

            # MQTT-native device eval-4 as its own principal: `pin` in its login event
            dev = MqttDevice(h.config_for("eval-4"), "eval-4").connect()
            try:
                bad = dev.login("S004", WRONG)
                assert bad["ok"] is False and bad["code"] == "BAD_CREDENTIALS", bad
                good = dev.login("S004", RIGHT)
                assert good["ok"] is True and good["command"] == "login", good
                until(lambda: (dev.state.get("staff") or {}).get("id") == "S004", "device state shows S004")
            finally:
                dev.close()
        assert sb.bridge is not None and sb.bridge.poll() is None, sb.log()[-3000:]
        sb.bridge.send_signal(signal.SIGTERM)
        sb.bridge.wait(15)
        _no_pin_anywhere(sb)


def test_five_wrong_pins_lock_the_window_and_the_evaluator_says_so(tmp_path: Path) -> None:
    with running(tmp_path) as sb:
        until(lambda: sb.ev.identified, "the bridge identified the evaluator", 30)
        for _ in range(5):
            sb.ev.login("S001", WRONG)
        until(lambda: not sb.ev.queue, "five logins acknowledged", 40)
        sb.ev.login("S001", RIGHT)
        until(lambda: "锁定" in sb.ev.text(0), f"the evaluator shows the lock ({sb.ev.text(0)!r}); {sb.log()[-2000:]}")
        assert sb.ev.state.state == WSTATE.CLOSED


def test_a_pin_login_in_flight_survives_kill_9_of_the_bridge(tmp_path: Path) -> None:
    """The in-flight store keeps the command id without the PIN; after kill -9 the evaluator presents its
    LOGIN again, PIN included, and the restarted bridge sends it with the same id: logged in once."""
    with running(tmp_path) as sb:
        until(lambda: sb.ev.identified, "the bridge identified the evaluator", 30)
        sb.controller.kill()                         # the login cannot be answered: it stays in flight
        sb.ev.login("S001", RIGHT)
        db = sb.tmp / "bridge" / "inflight.sqlite3"

        def stored() -> str:
            if not db.exists():
                return ""
            con = sqlite3.connect(db)
            try:
                row = con.execute("SELECT event FROM inflight WHERE device = 'bus1-3'").fetchone()
            finally:
                con.close()
            return str(row[0]) if row else ""

        event_hex = until(stored, "the bridge persisted the login's command id")
        assert bytes.fromhex(event_hex)[2:] == b"S001\x1f", "stored without the PIN"
        assert sb.bridge is not None
        sb.bridge.send_signal(signal.SIGKILL)
        sb.bridge.wait(10)
        sb.start_controller()
        sb.start_bridge()
        until(lambda: sb.ev.state.state == WSTATE.THANKS and sb.ev.state.staff == "S001",
              f"logged in after the restart; {sb.log()[-2000:]}", 40)
        until(lambda: not sb.ev.queue, "the login acknowledged")
        sb.bridge.send_signal(signal.SIGTERM)
        sb.bridge.wait(15)
        logins = [line for line in (sb.tmp / "bridge.log").read_text().splitlines() if "login" in line]
        assert any("with the same id" in line or "-> ok" in line for line in logins), logins
        _no_pin_anywhere(sb)


def test_a_bridge_with_credentials_of_another_role_stops_with_one_line(tmp_path: Path) -> None:
    with secure_hall(tmp_path, _hall_dict(tmp_path)) as h:
        res = subprocess.run([sys.executable, "-m", "hallq", "bridge", "--config", str(h.config_path),
                              "--data", str(tmp_path / "bridge"), "--credentials", str(h.credentials("kiosk-1"))],
                             cwd=REPO, capture_output=True, text=True, timeout=60)
        assert res.returncode == 2, res.stderr
        assert "role bridge" in res.stderr and "Traceback" not in res.stderr, res.stderr
        missing = subprocess.run([sys.executable, "-m", "hallq", "bridge", "--config", str(h.config_path),
                                  "--data", str(tmp_path / "bridge")], cwd=REPO, capture_output=True, text=True,
                                 timeout=60)
        assert missing.returncode == 2 and "credentials" in missing.stderr and "Traceback" not in missing.stderr, \
            missing.stderr
