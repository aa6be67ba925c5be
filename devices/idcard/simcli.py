"""`hallq sim idcard --port LINK`: a simulated ID card reader on a pty; cards and faults from stdin."""

from __future__ import annotations

import argparse
import os
import sys
import threading

from devices.idcard.simulator import SAMPLE_CARDS, Faults, PtySamReader, SamSimulator
from hallq.runner import stop_on_signal

HELP = f"""commands (one per line on stdin):
  place NAME       put a card on the reader: {", ".join(SAMPLE_CARDS)}
  remove           lift the card
  lift-mid-read    the next read finds the card lifted halfway (SW3 41)
  bad-check N      the next N answers carry a wrong check byte (-1: all of them, 0: none)
  slow SECONDS     answers come this late (0: on time)
  silent on|off    answer nothing
  split on|off     answers come in two pieces
  noise on|off     line noise before every answer
  cards            list the sample cards
  status           what is on the reader, the faults, the commands seen"""


def _switch(word: str) -> bool:
    if word not in ("on", "off"):
        raise ValueError("say on or off")
    return word == "on"


def command(sim: SamSimulator, line: str) -> str:
    """Carry out one stdin command; the reply to print."""
    words = line.split()
    if not words:
        return ""
    verb, args = words[0], words[1:]
    f = sim.faults
    try:
        if verb == "help":
            return HELP
        if verb == "place" and len(args) == 1 and args[0] in SAMPLE_CARDS:
            card = SAMPLE_CARDS[args[0]]
            sim.place(card)
            return f"placed {args[0]}: {card.masked_id_number}, born {card.birth_date}, {card.sex}, {card.kind}"
        if verb == "place":
            return f"place what? one of {', '.join(SAMPLE_CARDS)}"
        if verb == "remove":
            sim.remove()
            return "lifted the card"
        if verb == "lift-mid-read":
            f.lift_during_read = True
            return "the next read-text lifts the card"
        if verb == "bad-check" and len(args) == 1:
            f.bad_check = int(args[0])
            return f"bad check byte on the next {f.bad_check} answers" if f.bad_check >= 0 else "bad check always"
        if verb == "slow" and len(args) == 1:
            f.slow_s = max(0.0, float(args[0]))
            return f"answers {f.slow_s:g} s late"
        if verb in ("silent", "split", "noise") and len(args) == 1:
            setattr(f, verb, _switch(args[0]))
            return f"{verb} {args[0]}"
        if verb == "cards":
            return "\n".join(f"{k}: {c.masked_id_number} born {c.birth_date} {c.sex} {c.nation or '-'} {c.kind}"
                             for k, c in SAMPLE_CARDS.items())
        if verb == "status":
            return (f"card: {'yes' if sim.has_card else 'none'}; faults: {f}; "
                    f"last commands: {' '.join(sim.commands[-6:]) or '-'}")
    except ValueError as e:
        return f"{verb}: {e}"
    return f"unknown command {line.strip()!r}\n{HELP}"


def _read_commands(sim: SamSimulator) -> None:
    for line in sys.stdin:
        reply = command(sim, line)
        if reply:
            print(reply, flush=True)


def run(rest: list[str]) -> int:
    p = argparse.ArgumentParser(prog="hallq sim idcard", formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="a GA 467 ID card reader (SAM module) on a pty", epilog=HELP)
    p.add_argument("--port", required=True, help="symlink to create for the pty (use as serial://LINK)")
    p.add_argument("--place", choices=sorted(SAMPLE_CARDS), help="start with this sample card on the reader")
    p.add_argument("--slow", type=float, default=0.0, metavar="SECONDS", help="answer this late")
    p.add_argument("--bad-check", type=int, default=0, metavar="N", help="wrong check byte on the first N answers")
    o = p.parse_args(rest)
    sim = SamSimulator("idcard", Faults(slow_s=o.slow, bad_check=o.bad_check))
    if o.place:
        sim.place(SAMPLE_CARDS[o.place])
    host = PtySamReader(sim, os.path.abspath(o.port)).open()
    print(f"simulated ID card reader on {host.port} (serial://{host.port}); "
          f"card: {o.place or 'none'}; type 'help' for commands", flush=True)
    done = stop_on_signal()
    threading.Thread(target=_read_commands, args=(sim,), name="idcard-stdin", daemon=True).start()
    done.wait()
    host.close()
    return 0
