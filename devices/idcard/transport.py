"""Byte transports to an ID card reader's SAM module: pyserial (a USB-serial port or any pyserial URL) and sim."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Protocol

from devices.idcard.errors import ReaderError
from devices.serialport import SerialPort

if TYPE_CHECKING:
    from devices.idcard.simulator import SamSimulator


class Transport(Protocol):
    def open(self) -> None: ...

    def close(self) -> None: ...

    def write(self, data: bytes) -> None: ...

    def read(self, n: int, timeout_s: float) -> bytes:
        """Up to n bytes as soon as any arrive; b"" when none do within timeout_s."""
        ...

    def discard_input(self) -> None:
        """Drop whatever arrived unasked (a late answer to an earlier try)."""
        ...

    def describe(self) -> str:
        """'ID card reader NAME (how it is reached)', the start of every message about it."""
        ...


class _Base:
    def __init__(self, name: str, where: str) -> None:
        self.name, self.where = name, where

    def describe(self) -> str:
        return f"ID card reader {self.name} ({self.where})"

    def _closed(self) -> ReaderError:
        return ReaderError(f"{self.describe()}: not open — call open() first")


class SerialTransport(_Base):
    """pyserial: a device path (`/dev/ttyUSB0`, `/dev/serial/by-id/…`) or a pyserial URL (socket://, loop://)."""

    def __init__(self, name: str, port: str, baud: int = 115200) -> None:
        super().__init__(name, f"serial {port} {baud} baud")
        self.port, self.baud = port, baud
        self._port = SerialPort(port, self.describe(), ReaderError, baudrate=baud, timeout=0, write_timeout=2.0)

    def open(self) -> None:
        self._port.open()

    def close(self) -> None:
        self._port.close()

    def write(self, data: bytes) -> None:
        self._port.write(data)

    def read(self, n: int, timeout_s: float) -> bytes:
        import serial

        ser = self._port.opened()
        try:
            ser.timeout = max(0.0, timeout_s)
            first = bytes(ser.read(1))
            if not first:
                return b""
            waiting = min(ser.in_waiting, n - 1)
            return first + (bytes(ser.read(waiting)) if waiting > 0 else b"")
        except (serial.SerialException, OSError) as e:
            raise ReaderError(f"{self.describe()}: read failed ({e}) — check the cable (unplugged?)") from e

    def discard_input(self) -> None:
        import serial

        ser = self._port.ser
        if ser is not None:
            try:
                ser.reset_input_buffer()
            except (serial.SerialException, OSError) as e:
                raise ReaderError(f"{self.describe()}: the port failed ({e}) — check the cable") from e


class SimTransport(_Base):
    """An in-process SAM simulator found by name (sim://NAME); its answers arrive as late as its faults say."""

    def __init__(self, name: str, sim_name: str) -> None:
        super().__init__(name, f"sim {sim_name}")
        self.sim_name = sim_name
        self.simulator: SamSimulator | None = None
        self._pending: list[tuple[float, bytes]] = []   # (monotonic time it arrives, bytes)
        self._cond = threading.Condition()
        self._busy_until = 0.0
        self._open = False

    def open(self) -> None:
        from devices.idcard.simulator import simulator_named

        self.simulator = simulator_named(self.sim_name)
        self._pending.clear()
        self._open = True

    def close(self) -> None:
        self._open = False

    def write(self, data: bytes) -> None:
        if self.simulator is None or not self._open:
            raise self._closed()
        now = time.monotonic()
        with self._cond:
            start = max(now, self._busy_until)   # a module answers one command after the other
            for delay_s, chunk in self.simulator.feed(data):
                self._pending.append((start + delay_s, chunk))
                self._busy_until = start + delay_s
            self._cond.notify_all()

    def read(self, n: int, timeout_s: float) -> bytes:
        if not self._open:
            raise self._closed()
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._cond:
            while True:
                now = time.monotonic()
                if self._pending and self._pending[0][0] <= now:
                    _, chunk = self._pending.pop(0)
                    if len(chunk) > n:
                        self._pending.insert(0, (now, chunk[n:]))
                    return chunk[:n]
                if now >= deadline:
                    return b""
                due = self._pending[0][0] if self._pending else deadline
                self._cond.wait(min(due, deadline) - now)

    def discard_input(self) -> None:
        now = time.monotonic()
        with self._cond:
            self._pending = [p for p in self._pending if p[0] > now]
