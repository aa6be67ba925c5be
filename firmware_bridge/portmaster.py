"""The life cycle every serial bus master shares: its thread, opening the port (retried while it is
missing), an idle wait that output wakes at once, and marking every device offline when the port fails.
"""

from __future__ import annotations

import contextlib
import logging
import termios
import threading
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import serial

from firmware_bridge.schedule import OFFLINE_RETRY_S
from hallq.config import BusConfig

log = logging.getLogger("hallq.bridge.master")

MISSES_OFFLINE = 3



class _Dev(Protocol):
    id: str
    online: bool | None
    misses: int
    identified: bool


D = TypeVar("D", bound=_Dev)


class PortMaster(Generic[D]):
    """Constructor stores settings; `start()` opens the port and runs the bus thread."""

    def __init__(self, bus: BusConfig, on_status: Callable[[D], None], open_port: Callable[[], Any] | None) -> None:
        self.bus = bus
        self.on_status = on_status
        self.devices: dict[int, D] = {}
        self._open_port = open_port or self._default_open
        self.port: Any = None
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._kick = threading.Event()            # set when there is output: wakes an idle bus at once
        self._thread: threading.Thread | None = None
        self.stats = {"requests": 0, "retries": 0, "timeouts": 0, "bad_replies": 0, "port_errors": 0}

    # -- what a protocol's master provides ----------------------------------------------------------
    def _pick(self) -> D | None:
        raise NotImplementedError

    def _serve(self, d: D) -> None:
        raise NotImplementedError

    def _idle(self) -> None:
        """Nothing is due: wait for output (or the next poll)."""
        self._kick.wait(min(self.bus.poll_interval_ms / 1000, OFFLINE_RETRY_S))
        self._kick.clear()

    def _port_opened(self) -> None:
        """Reset receive state after (re)opening the port."""

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"bus-{self.bus.id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(5)
        self._close_port()

    def _default_open(self) -> Any:
        port = serial.serial_for_url(self.bus.port, baudrate=self.bus.baud, timeout=0, write_timeout=1,
                                     do_not_open=True)
        port.open()
        if self.bus.rs485:
            try:
                from serial.rs485 import RS485Settings

                port.rs485_mode = RS485Settings()
            except (ValueError, OSError, AttributeError) as e:
                log.warning("bus %s (%s): RS-485 mode not available (%s); continuing without it",
                            self.bus.id, self.bus.port, e)
        return port

    def _close_port(self) -> None:
        if self.port is not None:
            with contextlib.suppress(OSError, serial.SerialException):
                self.port.close()
            self.port = None

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.port is None:
                try:
                    self.port = self._open_port()
                    self._port_opened()
                    log.info("bus %s: port %s open", self.bus.id, self.bus.port)
                except (OSError, serial.SerialException, termios.error) as e:
                    self.stats["port_errors"] += 1
                    self._all_offline(f"port {self.bus.port} unavailable: {e}")
                    self._stop.wait(OFFLINE_RETRY_S)
                    continue
            try:
                self._turn()
            except (OSError, serial.SerialException, termios.error) as e:
                log.warning("bus %s: port %s failed (%s) — is the USB adapter unplugged? retrying",
                            self.bus.id, self.bus.port, e)
                self.stats["port_errors"] += 1
                self._close_port()
                self._all_offline(f"port {self.bus.port} failed: {e}")
            except Exception:   # noqa: BLE001 (a bug must not end the bus thread: log it, go on)
                log.exception("bus %s: a turn of the bus thread failed; continuing", self.bus.id)
                self._stop.wait(0.1)

    def _turn(self) -> None:
        """One turn of the bus thread (the port is open): serve the device that is due, or wait."""
        dev = self._pick()
        if dev is None:
            self._idle()
            return
        self._serve(dev)

    def _all_offline(self, why: str) -> None:
        for d in self.devices.values():
            d.identified = False
            if d.online is not False:
                d.online = False
                d.misses = MISSES_OFFLINE
                log.warning("device %s offline: %s", d.id, why)
                self.on_status(d)

    def _missed(self, d: D, what: str) -> None:
        """A request got no valid answer: the third miss in a row makes the device offline."""
        self.stats["timeouts"] += 1
        d.misses += 1
        if d.misses >= MISSES_OFFLINE and d.online is not False:
            d.online, d.identified = False, False
            log.warning("device %s (bus %s, %s) missed %d polls: offline", d.id, self.bus.id, what, d.misses)
            self.on_status(d)

    def _seen(self, d: D) -> None:
        d.misses = 0
        if d.online is not True and d.identified:
            d.online = True
            self.on_status(d)
