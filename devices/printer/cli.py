"""`hallq print-test`: an installer's test print — a sample ticket A001 on a kiosk's printer or to a file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlparse

from devices.printer.escpos import PROFILES, TicketData, render_ticket_bytes
from hallq.cli import UsageError
from hallq.config import HallConfig


def sample_ticket(cfg: HallConfig) -> TicketData:
    s = cfg.services[0]
    return TicketData(cfg.hall.name.zh, cfg.hall.name.mn, f"{s.prefix}001", s.name.zh, s.name.mn, 5, 12,
                      "2026-11-23 09:00", f"HQ1:{cfg.hall.id}:2026-11-23:{s.prefix}001:TEST")


def print_test(args: argparse.Namespace) -> int:
    cfg: HallConfig = args.cfg
    profile = PROFILES["80mm"]
    url = None
    if args.kiosk:
        k = cfg.kiosk(args.kiosk)
        if k is None:
            known = ", ".join(x.id for x in cfg.kiosks) or "none configured"
            raise UsageError(f"{args.config}: unknown kiosk {args.kiosk!r} (known: {known})")
        profile = PROFILES[k.printer.profile if k.printer.native_chinese else f"{k.printer.profile}-raster"]
        url = k.printer.url
    data = render_ticket_bytes(sample_ticket(cfg), profile)
    if args.out:
        Path(args.out).write_bytes(data)
        print(f"wrote {len(data)} bytes of ESC/POS ({profile.name}) to {args.out}")
        return 0
    if url is None:
        raise UsageError("name a kiosk (--kiosk ID) to print on its printer, or give --out FILE")
    u = urlparse(url)
    if u.scheme == "file":
        Path(u.path).write_bytes(data)
    elif u.scheme in ("serial", "") and u.path:
        with open(u.path, "wb") as f:
            f.write(data)
    elif u.scheme == "tcp":
        import socket

        with socket.create_connection((u.hostname or "127.0.0.1", u.port or 9100), timeout=5) as sock:
            sock.sendall(data)
    else:
        sys.stderr.write(f"hallq print-test: printer {url} of kiosk {args.kiosk}: this build prints to file://, "
                         "serial device paths and tcp:// printers; use --out FILE for the bytes\n")
        return 2
    print(f"sent {len(data)} bytes to printer {url} of kiosk {args.kiosk}")
    return 0
