"""`hallq sim evaluator --port LINK --address N [...]`: simulated evaluators on a pty, driven from stdin.

Type `ADDRESS ACTION` to act at an evaluator: `3 call`, `3 recall`, `3 skip`, `3 finish`, `3 pause`,
`3 resume`, `3 transfer tax`, `3 rate 5`, `3 rate 2 1 3` (level and 差评 reason codes), `3 login S001`,
`3 login S001 1234` (with the staff's PIN: LOGIN `S001 0x1F 1234`, CONTRACT §5.4), `3 logout`; `show`
prints every evaluator's screen. `--login STAFF [--pin PIN]` logs every evaluator in at start. A PIN is
never printed back.
"""

from __future__ import annotations

import argparse
import sys
import threading

from firmware_bridge.hallbus.messages import KEY, WSTATE
from firmware_bridge.sim.bus import Faults, SimBus
from firmware_bridge.sim.device import SimEvaluator
from hallq.errors import UsageError
from hallq.runner import stop_on_signal

KEYS = {k.name.lower(): k for k in KEY}
PIN_CHARS = frozenset("0123456789")


def _pin_ok(pin: str) -> bool:
    return 4 <= len(pin) <= 8 and set(pin) <= PIN_CHARS


def screen(ev: SimEvaluator) -> str:
    st = ev.state
    text = ev.text(0)
    return f"{ev.address}:[{WSTATE(st.state).name.lower()} {st.ticket or '-'} {st.staff or '-'}" + \
        (f" | {text}" if text else "") + "]"


def act(line: str, evaluators: dict[int, SimEvaluator]) -> str:
    """One typed line: what the evaluator did, or why not (never the PIN)."""
    parts = line.split()
    if not parts:
        return ""
    if parts == ["show"]:
        return "  ".join(screen(e) for _a, e in sorted(evaluators.items()))
    usage = (f"not understood: type 'ADDRESS ACTION' (actions: {', '.join(KEYS)}, rate N [REASON…], login STAFF "
             f"[PIN], logout) or 'show'; addresses: {', '.join(map(str, sorted(evaluators)))}")
    try:
        ev = evaluators[int(parts[0])]
    except (ValueError, KeyError):
        return usage
    what, args = (parts[1] if len(parts) > 1 else ""), parts[2:]
    try:
        if what == "transfer" and len(args) == 1 and args[0].isascii():
            e = ev.press(KEY.TRANSFER, args[0])
        elif what in KEYS and what != "transfer" and not args:
            e = ev.press(KEYS[what])
        elif what == "rate" and args:
            level, *reasons = (int(a) for a in args)
            if not 1 <= level <= 5 or not all(0 <= r <= 255 for r in reasons):
                return "rate LEVEL (1-5) [REASON codes 0-255 …]"
            e = ev.rate(level, tuple(reasons))
        elif what == "login" and len(args) in (1, 2) and args[0].isascii():
            if len(args) == 2 and not _pin_ok(args[1]):
                return "a PIN is 4-8 digits"
            e = ev.login(args[0], args[1] if len(args) == 2 else None)
        elif what == "logout" and not args:
            e = ev.logout()
        else:
            return usage
    except ValueError:
        return usage
    return f"evaluator {ev.address}: {e} queued"


def run(rest: list[str]) -> int:
    p = argparse.ArgumentParser(prog="hallq sim evaluator", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", required=True, help="path of the symlink to create for the pty")
    p.add_argument("--address", type=int, action="append", required=True, help="device address (repeatable)")
    p.add_argument("--baud", type=int, default=9600)
    p.add_argument("--ber", type=float, default=0.0)
    p.add_argument("--drop", type=float, default=0.0)
    p.add_argument("--slow-ms", type=float, default=2.0)
    p.add_argument("--wire-time", action="store_true", help="delay replies by their time on the line")
    p.add_argument("--login", metavar="STAFF", help="log every evaluator in as STAFF at start")
    p.add_argument("--pin", help="with --login: the staff's PIN (4-8 digits), sent in the LOGIN event")
    o = p.parse_args(rest)
    bad = [a for a in o.address if not 1 <= a <= 247]
    if bad:
        raise UsageError(f"hallq sim evaluator: --address {bad[0]} is outside 1..247")
    if o.pin is not None and (o.login is None or not _pin_ok(o.pin)):
        raise UsageError("hallq sim evaluator: --pin needs --login STAFF and is 4-8 digits")
    if o.login is not None and not (o.login.isascii() and 0 < len(o.login) <= 32):
        raise UsageError("hallq sim evaluator: --login must be an ASCII staff id")
    evaluators = {a: SimEvaluator(a, uid=bytes((0x48, 0x51, 0, 0, 0, 0, 0, a))) for a in o.address}
    bus = SimBus(evaluators.values(), o.baud, link=o.port,
                 faults=Faults(drop_rate=o.drop, ber=o.ber, reply_delay_s=o.slow_ms / 1000,
                               wire_time=o.wire_time)).open()
    if o.login is not None:
        for ev in evaluators.values():
            ev.login(o.login, o.pin)
    print(f"simulated evaluator {o.address} on {bus.port}; type 'ADDRESS ACTION' (e.g. '{o.address[0]} call', "
          f"'{o.address[0]} login S001 1234') or 'show'; Ctrl-C to stop", flush=True)
    done = stop_on_signal()

    def repl() -> None:
        for line in sys.stdin:
            out = act(line, evaluators)
            if out:
                print(out, flush=True)

    threading.Thread(target=repl, name="evaluator-cli", daemon=True).start()
    done.wait()
    bus.close()
    return 0
