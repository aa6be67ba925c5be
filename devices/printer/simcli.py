"""`hallq sim printer (--port LINK | --tcp PORT) --out DIR`: a simulated ticket printer for bench work and demos."""

from __future__ import annotations

import argparse
import os

from devices.printer.simulator import Faults, Job, PrinterSimulator, PtyPrinter, TcpPrinter
from hallq.runner import stop_on_signal


def run(rest: list[str]) -> int:
    p = argparse.ArgumentParser(prog="hallq sim printer",
                                description="an ESC/POS ticket printer that saves each cut ticket as a PNG")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="symlink to create for the pty (use as serial://LINK)")
    where.add_argument("--tcp", type=int, help="TCP port on 127.0.0.1 (0 = any free one; use as tcp://127.0.0.1:PORT)")
    p.add_argument("--out", required=True, help="directory for the tickets' PNGs")
    p.add_argument("--name", default="printer", help="name used in the PNG file names")
    p.add_argument("--width", type=int, default=576, help="paper width in dots (576 = 80 mm, 384 = 58 mm)")
    p.add_argument("--paper-out-after", type=int, metavar="N", help="the roll ends after N more tickets")
    p.add_argument("--near-end", action="store_true", help="report paper near end from the start")
    p.add_argument("--cover-open", action="store_true", help="start with the cover open")
    p.add_argument("--silent", action="store_true", help="never answer status queries")
    p.add_argument("--slow", type=float, metavar="BYTES_PER_S", help="take data no faster than this")
    o = p.parse_args(rest)

    def report(job: Job) -> None:
        where = job.error or f"saved {job.png}"
        print(f"ticket {job.index}: {len(job.data)} bytes, {where}", flush=True)

    faults = Faults(paper_near_end=o.near_end, cover_open=o.cover_open, silent=o.silent, bytes_per_s=o.slow,
                    paper_out_after=o.paper_out_after)
    sim = PrinterSimulator(o.name, width_dots=o.width, out_dir=o.out, faults=faults, on_job=report)
    host: PtyPrinter | TcpPrinter
    if o.port:
        host = PtyPrinter(sim, os.path.abspath(o.port)).open()
        print(f"simulated printer on {host.port} (serial://{host.port}); tickets to {o.out}; Ctrl-C to stop",
              flush=True)
    else:
        host = TcpPrinter(sim, port=o.tcp).open()
        print(f"simulated printer on tcp://127.0.0.1:{host.port}; tickets to {o.out}; Ctrl-C to stop", flush=True)
    done = stop_on_signal()
    done.wait()
    host.close()
    print(f"stopped after {len(sim.jobs)} tickets ({sim.dropped_bytes} bytes dropped while stopped)", flush=True)
    return 0
