"""Keyboard-wedge scanners: the evdev driver (grabbed /dev/input device) and a raw input_event pipe reader."""

from __future__ import annotations

import contextlib
import errno
import os
import select
import stat
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import evdev

from devices.scanner.decoder import KeyDecoder, KeyEvent
from devices.scanner.model import Scan, ScannerError
from devices.scanner.records import unpack_events

# A missed wake-up would spin; waking this much after the idle deadline avoids it.
_IDLE_SLACK_S = 0.001


class _KeyEventReader:
    """The read loop both readers share: wait on an fd, feed events to a KeyDecoder, end scans after silence.

    Event timestamps come from the writer's clock; silence is measured by our own `clock` since the
    last event arrived, so the two clocks never have to agree.
    """

    def __init__(self, source: str, inter_key_timeout_ms: int, clock: Callable[[], float]) -> None:
        self.source = source
        self.inter_key_timeout_ms = inter_key_timeout_ms
        self._decoder = KeyDecoder(source, inter_key_timeout_ms / 1000)
        self._clock = clock
        self._ready: deque[Scan] = deque()
        self._last_event_ts = 0.0
        self._last_event_at = 0.0

    def _fileno(self) -> int | None:
        raise NotImplementedError

    def _read_events(self) -> list[KeyEvent]:
        """The events available now (an empty list if none); raises ScannerError when the input is gone."""
        raise NotImplementedError

    def _reset(self) -> None:
        self._decoder = KeyDecoder(self.source, self.inter_key_timeout_ms / 1000)
        self._ready.clear()

    def read(self, timeout_s: float) -> Scan | None:
        """The next complete scan, waiting at most `timeout_s`; None if none completed in that time."""
        deadline = self._clock() + timeout_s
        while True:
            if self._ready:
                return self._ready.popleft()
            fd = self._fileno()
            if fd is None:
                raise ScannerError(f"scanner {self.source} is not open — call open() before read()")
            now = self._clock()
            idle_deadline = self._decoder.idle_deadline_s()
            event_now = self._last_event_ts + (now - self._last_event_at)
            if idle_deadline is not None:
                scan = self._decoder.flush_if_idle(event_now)
                if scan is not None:
                    return scan
            wait = deadline - now
            if wait <= 0:
                return None
            if idle_deadline is not None:
                wait = min(wait, idle_deadline - event_now + _IDLE_SLACK_S)
            readable, _, _ = select.select([fd], [], [], max(wait, 0.0))
            if readable:
                self._pump()

    def _pump(self) -> None:
        events = self._read_events()
        if events:
            self._last_event_at = self._clock()
            self._last_event_ts = events[-1][0]
        for event in events:
            self._ready.extend(self._decoder.feed(event))


class EvdevScanner(_KeyEventReader):
    """A USB HID scanner in keyboard mode, read from its /dev/input event device and grabbed exclusively."""

    def __init__(self, path: str, inter_key_timeout_ms: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(path, inter_key_timeout_ms, clock)
        self.path = path
        self._device: Any = None

    def open(self) -> None:
        if self._device is not None:
            return
        self._reset()
        try:
            device = evdev.InputDevice(self.path)
        except FileNotFoundError:
            raise ScannerError(f"scanner {self.path}: no such device — is the scanner plugged in? "
                               "(ls -l /dev/input/by-id/)") from None
        except PermissionError:
            raise ScannerError(f"scanner {self.path}: permission denied — add the kiosk user to the 'input' group "
                               "or install a udev rule for the scanner") from None
        try:
            device.grab()  # the scanner's keystrokes must not reach the kiosk UI
        except OSError as e:
            device.close()
            raise ScannerError(f"scanner {self.path}: cannot take it exclusively ({e.strerror}) — another program "
                               "holds it; is a second kiosk process running?") from None
        self._device = device

    def close(self) -> None:
        device, self._device = self._device, None
        if device is None:
            return
        with contextlib.suppress(OSError):  # an unplugged device cannot be ungrabbed, only closed
            device.ungrab()
        device.close()

    def _fileno(self) -> int | None:
        return None if self._device is None else int(self._device.fd)

    def _read_events(self) -> list[KeyEvent]:
        try:
            return [(e.timestamp(), e.type, e.code, e.value) for e in self._device.read()]
        except BlockingIOError:
            return []
        except OSError as e:
            self.close()
            if e.errno == errno.ENODEV:
                raise ScannerError(f"scanner {self.path} disappeared (unplugged?) — plug it back in; it is "
                                   "reopened on the next open()") from None
            raise ScannerError(f"scanner {self.path}: read failed ({e.strerror}) — replug the scanner; it is "
                               "reopened on the next open()") from None


class InputEventPipeScanner(_KeyEventReader):
    """Packed input_event records from a FIFO, file or already-open fd: the simulated keyboard scanner.

    A FIFO is opened read-write so a writer coming and going never ends the input; a file or fd
    ending raises ScannerError once its scans are read. An fd is duplicated, so the caller keeps its own.
    """

    def __init__(self, path: str | int, inter_key_timeout_ms: int = 80, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(f"pipe {path}", inter_key_timeout_ms, clock)
        self.path = path
        self._fd: int | None = None
        self._partial = b""
        self._ended = False

    def open(self) -> None:
        if self._fd is not None:
            return
        self._reset()
        self._partial, self._ended = b"", False
        if isinstance(self.path, int):
            fd = os.dup(self.path)
        else:
            try:
                is_fifo = stat.S_ISFIFO(os.stat(self.path).st_mode)
                fd = os.open(self.path, (os.O_RDWR if is_fifo else os.O_RDONLY) | os.O_NONBLOCK)
            except OSError as e:
                raise ScannerError(f"scanner {self.source}: cannot open ({e.strerror}) — create it with "
                                   f"`mkfifo {self.path}` or start `hallq sim scanner --fifo {self.path}`") from None
        os.set_blocking(fd, False)
        self._fd = fd

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def _fileno(self) -> int | None:
        return self._fd

    def read(self, timeout_s: float) -> Scan | None:
        if self._ended and not self._ready:
            raise ScannerError(f"scanner {self.source}: the input ended (the writer closed it) — close() and "
                               "open() a new pipe")
        return super().read(timeout_s)

    def _read_events(self) -> list[KeyEvent]:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return []
        if not data:
            self._ended = True
            last = self._decoder.finish()
            if last is not None:
                self._ready.append(last)
            if not self._ready:
                raise ScannerError(f"scanner {self.source}: the input ended (the writer closed it) — close() "
                                   "and open() a new pipe")
            return []
        events, self._partial = unpack_events(self._partial + data)
        return events
