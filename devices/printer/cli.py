"""`hallq print-test`: an installer's test print — a sample ticket A001 on a kiosk's printer or to a file."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from devices.printer.base import PrinterError
from devices.printer.driver import TicketPrinter
from devices.printer.escpos import PROFILES, render_ticket_bytes
from devices.printer.ticket import TicketData
from hallq.config import HallConfig
from hallq.errors import UsageError
from hallq.ticketqr import TicketRef


def sample_ticket(cfg: HallConfig) -> TicketData:
    s = cfg.services[0]
    return TicketData(cfg.hall.name.zh, cfg.hall.name.mn, f"{s.prefix}001", s.name.zh, s.name.mn, 5, 12,
                      "2026-11-23 09:00", TicketRef(cfg.hall.id, date(2026, 11, 23), f"{s.prefix}001", "TEST").text())


def print_test(args: argparse.Namespace) -> int:
    cfg: HallConfig = args.cfg
    profile = PROFILES["80mm"]
    k = None
    if args.kiosk:
        k = cfg.kiosk(args.kiosk)
        if k is None:
            known = ", ".join(x.id for x in cfg.kiosks) or "none configured"
            raise UsageError(f"{args.config}: unknown kiosk {args.kiosk!r} (known: {known})")
        profile = PROFILES[k.printer.profile if k.printer.native_chinese else f"{k.printer.profile}-raster"]
    ticket = sample_ticket(cfg)
    data = render_ticket_bytes(ticket, profile)
    if args.out:
        Path(args.out).write_bytes(data)
        print(f"wrote {len(data)} bytes of ESC/POS ({profile.name}) to {args.out}")
        return 0
    if k is None:
        raise UsageError("name a kiosk (--kiosk ID) to print on its printer, or give --out FILE")
    try:
        printer = TicketPrinter(k.printer, k.id)
        printer.open()
        try:
            status = printer.print_job(data, what=f"test ticket {ticket.number}")
        finally:
            printer.close()
    except PrinterError as e:
        sys.stderr.write(f"hallq print-test: {e}\n")
        return 1
    print(f"sent {len(data)} bytes of ESC/POS ({profile.name}) to {printer.describe()}; "
          f"status {status.state}: {status.detail}")
    sim = getattr(printer.transport, "simulator", None)
    if sim is not None and sim.jobs:
        job = sim.jobs[-1]
        print(f"the simulator printed it to {job.png}" if job.png else
              "the simulator printed it in memory; add ?out=DIR to the sim:// url to keep a PNG")
    return 0
