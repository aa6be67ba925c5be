"""`hallq sim KIND --port LINK [--address N ...]`: simulated hallbus devices on a pty for bench work.

The pty's path is made available as LINK (a symlink), so `devices.buses[].port: LINK` connects the
bridge to it. Faults: --ber (bit error rate), --drop (reply drop rate), --slow-ms (reply delay).
"""

from __future__ import annotations

import argparse
import signal
import threading

from hallq.cli import UsageError

KINDS = ("evaluator", "led", "hall_led")


def run(args: argparse.Namespace) -> int:
    if args.what == "day":
        raise UsageError("the hall-day simulator is not part of this build yet; `hallq demo` runs a living hall")
    if args.what not in KINDS:
        raise UsageError(f"unknown simulator {args.what!r} (known: {', '.join(KINDS)})")
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
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    bus.close()
    return 0
