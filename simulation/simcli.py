"""`hallq sim KIND --port LINK [--address N ...]`: simulated hallbus devices on a pty for bench work.

The pty's path is made available as LINK (a symlink), so `devices.buses[].port: LINK` connects the
bridge to it. Faults: --ber (bit error rate), --drop (reply drop rate), --slow-ms (reply delay).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util

from hallq.errors import UsageError
from hallq.runner import stop_on_signal

KINDS = ("led", "hall_led")
# simulators of other parts: KIND -> "module:function" taking the remaining arguments
OTHERS = {
    "printer": "devices.printer.simcli:run",        # an ESC/POS printer on a pty or TCP port, paper to PNG
    "scanner": "devices.scanner.simcli:run",        # a keyboard-mode scanner typing into a FIFO
    "idcard": "devices.idcard.simcli:run",          # a GA 467 ID card reader on a pty, cards placed from stdin
    "token": "kiosk.credentials_cli:run",           # 蒙速办 test keys, credential and appointment codes
    "keypad": "firmware_bridge.sim.keypad_cli:run",  # legacy caller keypads (FF 68 … 16) on a pty
    "evaluator": "firmware_bridge.sim.evaluator_cli:run",  # evaluators on a pty, keys and PIN login from stdin
    "mqtt-device": "firmware_bridge.sim.mqtt_device:run",  # an MQTT-native evaluator (docs/devices-mqtt.md)
    "day": "simulation.simday.cli:run",                  # a simulated hall day against the real controller
}


def run(args: argparse.Namespace) -> int:
    if args.what in OTHERS:
        module, fn = OTHERS[args.what].split(":")
        if importlib.util.find_spec(module.rsplit(".", 1)[0]) is None or importlib.util.find_spec(module) is None:
            raise UsageError(f"the {args.what} simulator is not part of this build yet")
        return int(getattr(importlib.import_module(module), fn)(list(args.rest)))
    if args.what not in KINDS:
        raise UsageError(f"unknown simulator {args.what!r} (known: {', '.join(KINDS + tuple(OTHERS))})")
    p = argparse.ArgumentParser(prog=f"hallq sim {args.what}")
    p.add_argument("--port", required=True, help="path of the symlink to create for the pty")
    p.add_argument("--address", type=int, action="append", required=True, help="device address (repeatable)")
    p.add_argument("--baud", type=int, default=9600)
    p.add_argument("--ber", type=float, default=0.0)
    p.add_argument("--drop", type=float, default=0.0)
    p.add_argument("--slow-ms", type=float, default=2.0)
    p.add_argument("--wire-time", action="store_true", help="delay replies by their time on the line")
    o = p.parse_args(args.rest)
    from firmware_bridge.hallbus.messages import KIND
    from firmware_bridge.sim import Faults, SimBus, SimEvaluator, SimLed

    devs = [SimEvaluator(a) if args.what == "evaluator" else
            SimLed(a, kind=KIND.WINDOW_LED if args.what == "led" else KIND.HALL_LED) for a in o.address]
    bus = SimBus(devs, o.baud, link=o.port, faults=Faults(drop_rate=o.drop, ber=o.ber, reply_delay_s=o.slow_ms / 1000,
                                                          wire_time=o.wire_time)).open()
    print(f"simulated {args.what} {o.address} on {bus.port}; Ctrl-C to stop", flush=True)
    done = stop_on_signal()
    done.wait()
    bus.close()
    return 0
