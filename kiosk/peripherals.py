"""The kiosk's printer and scanner, each driven from its own worker thread and reporting as intents.

The printer polls its status (DLE EOT) between jobs and publishes it as the device status of CONTRACT
§3.5 (`{kiosk}-printer`), so the controller raises paper alerts; the scanner's codes are routed
(credential, appointment, our ticket, unknown) and verified before the presenter sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from devices.printer.base import PrinterError
from devices.printer.driver import PrintFailed as PrinterJobFailed
from devices.printer.driver import TicketPrinter
from devices.printer.escpos import PROFILES, render_ticket_bytes
from devices.printer.status import PrinterStatus, StatusWatcher
from devices.printer.ticket import TicketData
from devices.printer.transport import transport_for_url
from devices.scanner import Scan, Scanner, ScannerError, open_scanner
from hallq.clock import Clock
from hallq.config import HallConfig, KioskConfig
from hallq.mqtt import MqttLink, topics_for
from hallq.msb.credentials import CredentialError, SignedTokenVerifier, green_channel
from hallq.msb.replay import SqliteReplayStore
from hallq.text.words import Msg, msg
from kiosk.intents import (
    AppointmentRead,
    CredentialRead,
    Intent,
    PrintDone,
    PrinterChanged,
    PrintFailed,
    PrintProgress,
    ScanRejected,
    TicketRead,
)
from kiosk.payload import classify

log = logging.getLogger("hallq.kiosk")
T = TypeVar("T")

PAPER = {"paper_out": "out", "paper_near_end": "near_end"}
REASONS = {  # why the green channel was granted, as the citizen reads it
    "veteran": Msg("军人", "ᠴᠡᠷᠢᠭ"), "firefighter": Msg("消防救援人员", "ᠭᠠᠯ ᠣᠨᠴᠠ ᠪᠠᠢᠳᠠᠯ"),
    "medical": Msg("医护人员", "ᠡᠮᠨᠡᠯᠭᠡ"), "disability": Msg("残疾人", "ᠦᠮᠦᠳᠡᠯ ᠭᠡᠮᠲᠡᠢ"),
    "pregnant": Msg("孕妇", "ᠵᠢᠷᠦᠮᠡᠰᠦᠨ"),
}


class _Worker:
    """One thread for one device: its calls never overlap on the wire."""

    def __init__(self, name: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class KioskPrinter:
    def __init__(self, cfg: HallConfig, kiosk: KioskConfig, data_dir: Path, post: Callable[[Intent], None],
                 link: MqttLink, principal: str | None = None) -> None:
        self.cfg, self.kiosk, self.post, self.link = cfg, kiosk, post, link
        # a secure hall lets a kiosk write only device/{P}/status (CONTRACT §5.2): its printer is P there
        self.device_id = principal or f"{kiosk.id}-printer"
        pc = kiosk.printer
        self.profile = PROFILES[pc.profile if pc.native_chinese else f"{pc.profile}-raster"]
        # a simulated printer's paper goes to the kiosk's data directory, as wide as the profile
        self.printer = TicketPrinter(pc, kiosk.id, transport_for_url(
            pc.url, name=kiosk.id, sim_out_dir=str(data_dir / "printer"), sim_width_dots=self.profile.width_dots))
        self.watcher = StatusWatcher()
        self.worker = _Worker(self.device_id)
        self.opened = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._poll_forever())

    def stop(self) -> None:
        if self._task:
            self._task.cancel()
        self.worker.shutdown()
        if self.opened:
            self.printer.close()

    def _ensure_open(self) -> None:
        if not self.opened:
            self.printer.open()
            self.opened = True

    def _status(self) -> PrinterStatus:
        try:
            self._ensure_open()
            return self.printer.status()
        except PrinterError as e:
            self._drop()
            return PrinterStatus("offline", str(e))

    def _drop(self) -> None:
        if self.opened:
            self.opened = False
            with contextlib.suppress(PrinterError):
                self.printer.close()

    async def _poll_forever(self) -> None:
        while True:
            self._note(await self.worker.run(self._status))
            await asyncio.sleep(self.kiosk.printer.status_poll_s)

    def _note(self, status: PrinterStatus) -> None:
        change = self.watcher.feed(status)
        if change is None:
            return
        new = change.new
        level = logging.INFO if new.state in ("ok", "unknown") else logging.WARNING
        log.log(level, "kiosk %s: %s is %s (%s)", self.kiosk.id, self.printer.describe(), new.state, new.detail)
        body = {"state": "offline" if new.state == "offline" else "online", "kind": "printer",
                "kiosk": self.kiosk.id, "paper": PAPER.get(new.state, "ok" if new.state == "ok" else "unknown"),
                "printer": new.state, "detail": new.detail}
        self.link.publish(topics_for(self.cfg).device(self.device_id, "status"), body, retain=True)
        self.post(PrinterChanged(new.state))

    async def print_ticket(self, ticket: TicketData) -> None:
        """Encode and print one ticket; the presenter hears PrintProgress, then PrintDone or PrintFailed."""
        try:
            data = await self.worker.run(render_ticket_bytes, ticket, self.profile)
            status = await self.worker.run(self._print, data, ticket.number)
        except PrinterJobFailed as e:
            log.error("kiosk %s: %s", self.kiosk.id, e)
            self.post(PrintFailed(e.state, str(e)))
            self._note(PrinterStatus(e.state, f"ticket {ticket.number} did not print"))
            return
        except PrinterError as e:
            log.error("kiosk %s: %s — ticket %s kept, reprint from the kiosk", self.kiosk.id, e, ticket.number)
            self.post(PrintFailed("offline", str(e)))
            return
        self._note(status)
        self.post(PrintDone())

    def _print(self, data: bytes, number: str) -> PrinterStatus:
        try:
            self._ensure_open()
            return self.printer.print_job(data, lambda f: self.post(PrintProgress(f)), what=f"ticket {number}")
        except PrinterJobFailed:
            raise
        except PrinterError:
            self._drop()
            raise


class KioskScanner:
    """Reads codes in a worker thread; routes and verifies them; reopens a scanner that was unplugged."""

    def __init__(self, cfg: HallConfig, kiosk: KioskConfig, data_dir: Path, post: Callable[[Intent], None],
                 clock: Clock) -> None:
        self.cfg, self.kiosk, self.post, self.clock = cfg, kiosk, post, clock
        self.scanner: Scanner | None = open_scanner(kiosk.scanner.url, kiosk.scanner.inter_key_timeout_ms)
        self.replay = SqliteReplayStore(data_dir / "used-codes.sqlite3")
        self.verifier = SignedTokenVerifier(kiosk.credentials, self.replay, cfg.evaluation.rater_public_key)
        self.worker = _Worker(f"{kiosk.id}-scanner")
        self._stop = threading.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.replay.path.parent.mkdir(parents=True, exist_ok=True)
        self.replay.open()
        if self.scanner is not None:
            self._task = asyncio.get_running_loop().create_task(self._read_forever())

    def stop(self) -> None:
        self._stop.set()
        if self._task:
            self._task.cancel()
        self.worker.shutdown()
        self.replay.close()

    async def _read_forever(self) -> None:
        assert self.scanner is not None
        scanner, opened, last_error = self.scanner, False, ""
        while not self._stop.is_set():
            try:
                if not opened:
                    await self.worker.run(scanner.open)
                    opened, last_error = True, ""
                    log.info("kiosk %s: scanner %s ready", self.kiosk.id, self.kiosk.scanner.url)
                scan = await self.worker.run(scanner.read, 0.5)
            except ScannerError as e:
                if str(e) != last_error:  # said once, not every 5 s while it stays unplugged
                    log.warning("kiosk %s: %s; trying again every 5 s", self.kiosk.id, e)
                last_error = str(e)
                if opened:
                    await self.worker.run(scanner.close)
                opened = False
                await asyncio.sleep(5.0)
                continue
            if scan is not None:  # verification writes the used-code store (fsync): off the loop
                self.post(await self.worker.run(self.route, scan))

    def route(self, scan: Scan) -> Intent:
        """A scan as the presenter's intent: verified holder, appointment, our ticket, or a refusal."""
        if not scan.ok:
            log.info("kiosk %s: unreadable scan from %s: %s", self.kiosk.id, scan.source, scan.error)
            return ScanRejected(msg("not_recognised"))
        routed = classify(scan.payload)
        now = self.clock.now()
        try:
            if routed.kind == "credential":
                holder = self.verifier.verify_credential(routed.text, now)
                reason = green_channel(holder, self.kiosk.credentials, now.astimezone(self.cfg.zone).date())
                log.info("kiosk %s: credential of %s verified%s", self.kiosk.id, holder.holder_key,
                         f", green channel ({reason})" if reason else "")
                return CredentialRead(holder.holder_key, holder.name, _reason_text(reason), holder.sealed,
                                      routed.text)
            if routed.kind == "appointment":
                appt = self.verifier.verify_appointment(routed.text, now, self.cfg.hall.id)
                log.info("kiosk %s: appointment %s for %s checked in", self.kiosk.id, appt.appointment_id,
                         appt.service)
                return AppointmentRead(appt.holder.holder_key, appt.holder.name, appt.service, appt.holder.sealed,
                                       routed.text)
        except CredentialError as e:
            log.info("kiosk %s: code refused: %s", self.kiosk.id, e.log)
            return ScanRejected(e.says)
        if routed.kind == "ticket" and routed.ticket is not None:
            return TicketRead(routed.ticket.hall, routed.ticket.day, routed.ticket.number)
        log.info("kiosk %s: code not recognised: %s", self.kiosk.id, routed.reason)
        return ScanRejected(msg("not_recognised"))


def _reason_text(reason: str | None) -> Msg | None:
    """'age 72' -> 年满72周岁; a flag -> its name in both languages."""
    if reason is None:
        return None
    if reason.startswith("age "):
        return Msg(f"年满{reason[4:]}周岁", f"{reason[4:]} ᠨᠠᠰᠤ")
    return REASONS.get(reason, Msg(reason, reason))
