"""`hallq sim keypad --port LINK --address N [...]`: simulated legacy keypads on a pty, driven from stdin.

Type `ADDRESS CODE` to press key CODE on a keypad (e.g. `1 1` = call on keypad 1), `ADDRESS pin 1234` to
type a PIN with the default digit keys and enter (after a login key), `reset ADDRESS` to power-cycle one,
`show` to print every display. Faults: --ber, --drop, --slow-ms, --lose-echoes.
"""

from __future__ import annotations

import argparse
import sys
import threading

from firmware_bridge.sim.keypad import KeypadFaults, SimKeypad, SimKeypadLink
from hallq.config.devices import PIN_KEY_CODES
from hallq.errors import UsageError
from hallq.runner import stop_on_signal


def _line(cmd: str, link: SimKeypadLink) -> str:
    cmd = cmd.strip()
    parts = cmd.split()
    if not parts:
        return ""
    if parts == ["show"]:
        return "  ".join(f"{a}:[{k.display or ' ' * k.digits}]" for a, k in sorted(link.keypads.items()))
    try:
        if parts[0] == "reset" and len(parts) == 2:
            link.keypads[int(parts[1])].reset()
            return f"keypad {parts[1]} reset: display blank"
        if len(parts) == 3 and parts[1] == "pin" and parts[2].isdigit() and 4 <= len(parts[2]) <= 8:
            k = link.keypads[int(parts[0])]
            for d in parts[2]:
                k.press(PIN_KEY_CODES[d])
            k.press(PIN_KEY_CODES["enter"])
            return f"keypad {parts[0]}: {len(parts[2])} digit keys and enter queued"
        if len(parts) == 2:
            kp = link.keypads[int(parts[0])].press(int(parts[1], 0))
            return f"keypad {parts[0]}: key {kp.code} queued as press {kp.press}"
    except (KeyError, ValueError):
        pass
    return f"not understood: {cmd!r} — type 'ADDRESS CODE', 'ADDRESS pin DIGITS', 'reset ADDRESS' or 'show' " \
           f"(addresses: {', '.join(map(str, sorted(link.keypads)))})"


def run(rest: list[str]) -> int:
    p = argparse.ArgumentParser(prog="hallq sim keypad", description=__doc__)
    p.add_argument("--port", required=True, help="path of the symlink to create for the pty")
    p.add_argument("--address", type=int, action="append", required=True, help="keypad address (repeatable)")
    p.add_argument("--baud", type=int, default=9600)
    p.add_argument("--digits", type=int, default=3, help="digits of the number display")
    p.add_argument("--ber", type=float, default=0.0, help="bit error rate, both directions")
    p.add_argument("--drop", type=float, default=0.0, help="probability an answer is not sent")
    p.add_argument("--slow-ms", type=float, default=2.0, help="delay before answering")
    p.add_argument("--lose-echoes", type=int, default=0, help="lose the host's next N echoes")
    p.add_argument("--wire-time", action="store_true", help="delay answers by their time on the line")
    o = p.parse_args(rest)
    bad = [a for a in o.address if not 0 <= a <= 255]
    if bad:
        raise UsageError(f"hallq sim keypad: --address {bad[0]} is outside 0..255")
    faults = KeypadFaults(drop_rate=o.drop, ber=o.ber, reply_delay_s=o.slow_ms / 1000, wire_time=o.wire_time,
                          lose_echoes=o.lose_echoes)
    link = SimKeypadLink([SimKeypad(a, digits=o.digits) for a in o.address], o.baud, link=o.port,
                         faults=faults).open()
    print(f"simulated keypads {o.address} on {link.port}; type 'ADDRESS CODE' to press a key, 'ADDRESS pin "
          "DIGITS' to type a PIN, 'show', "
          "'reset ADDRESS'; Ctrl-C to stop", flush=True)
    done = stop_on_signal()

    def repl() -> None:
        for cmd in sys.stdin:
            out = _line(cmd, link)
            if out:
                print(out, flush=True)
        if not sys.stdin.isatty():
            return
        done.set()

    threading.Thread(target=repl, name="keypad-cli", daemon=True).start()
    done.wait()
    link.close()
    return 0
