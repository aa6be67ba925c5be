"""The 导服台's ticket printer: a ticket issued at the reception desk is printed on the desk's ESC/POS printer
when `console.printer` is configured, with the kiosk's encoder and transports (devices/printer/)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from devices.printer.base import PrinterError
from devices.printer.driver import TicketPrinter
from devices.printer.escpos import PROFILES, render_ticket_bytes
from devices.printer.ticket import TicketData
from hallq.config import HallConfig
from hallq.config.kiosk import PrinterConfig
from hallq.ticketqr import TicketRef

log = logging.getLogger("hallq.console")


def ticket_data(cfg: HallConfig, t: dict[str, Any], code: str | None, lookup_url: str) -> TicketData:
    """What goes on the desk's paper for a ticket the controller issued (the kiosk prints the same fields)."""
    s = cfg.service(str(t.get("service")))
    local = datetime.fromisoformat(t["issued_at"]).astimezone(cfg.zone)
    ref = TicketRef(cfg.hall.id, local.date(), str(t["number"]), code or None).text()
    est = t.get("est_wait_s")
    area = s.area if s is not None else None
    wait_min = None if est is None else max(1, round(est / 60))
    return TicketData(cfg.hall.name.zh, cfg.hall.name.mn, str(t["number"]),
                      s.name.zh if s else str(t.get("service")), s.name.mn if s else "",
                      int(t.get("ahead") or 0), wait_min, f"{local:%Y-%m-%d %H:%M}",
                      f"{lookup_url}?q={ref}" if lookup_url else ref,
                      **({"area_zh": area.zh, "area_mn": area.mn} if area else {}))


class DeskPrinter:
    """One print job at a time, in a worker thread (the printer's I/O never blocks the console's loop)."""

    def __init__(self, cfg: HallConfig, printer: PrinterConfig) -> None:
        self.cfg, self.printer = cfg, printer
        self.profile = PROFILES[printer.profile if printer.native_chinese else f"{printer.profile}-raster"]
        self._lock = asyncio.Lock()

    async def print_ticket(self, data: TicketData) -> str | None:
        """Print; None when done, else why not (the ticket stays valid: reprint or write the number down)."""
        async with self._lock:
            try:
                await asyncio.to_thread(self._print, render_ticket_bytes(data, self.profile))
            except (PrinterError, OSError, ValueError) as e:
                log.warning("console: reception printer: ticket %s not printed: %s", data.number, e)
                return str(e)
        return None

    def _print(self, data: bytes) -> None:
        p = TicketPrinter(self.printer, "reception")
        p.open()
        try:
            p.print_job(data)
        finally:
            p.close()
