"""A USB printer through pyusb: bulk OUT for jobs, bulk IN for status answers."""

from __future__ import annotations

import contextlib
from typing import Any

from devices.printer.base import PrinterError


class UsbTransport:
    """Finds VID:PID, detaches the kernel's usblp driver if it holds the interface, claims it."""

    def __init__(self, name: str, vid: int, pid: int, *, interface: int = 0, out_ep: int | None = None,
                 in_ep: int | None = None, timeout_s: float = 10.0) -> None:
        self.name, self.vid, self.pid, self.interface = name, vid, pid, interface
        self.out_ep, self.in_ep, self.timeout_s = out_ep, in_ep, timeout_s
        self._dev: Any = None
        self._out: Any = None
        self._in: Any = None
        self._detached = False
        self._rx = bytearray()  # the rest of a packet longer than asked for

    @property
    def answers_status(self) -> bool:
        return self._dev is None or self._in is not None  # a printer without bulk IN cannot answer

    def describe(self) -> str:
        return f"printer {self.name} (usb {self.vid:04x}:{self.pid:04x})"

    def open(self) -> None:
        import usb.core
        import usb.util

        ids = f"{self.vid:04x}:{self.pid:04x}"
        try:
            dev = usb.core.find(idVendor=self.vid, idProduct=self.pid)
        except usb.core.NoBackendError as e:
            raise PrinterError(f"{self.describe()}: libusb is not installed — install it "
                               "(apt install libusb-1.0-0)") from e
        if dev is None:
            raise PrinterError(f"{self.describe()}: no USB device {ids} — check the cable and power, and that "
                               f"`lsusb` lists {ids}; if it shows other ids, put those in the printer url")
        try:
            with contextlib.suppress(NotImplementedError):
                if dev.is_kernel_driver_active(self.interface):
                    dev.detach_kernel_driver(self.interface)
                    self._detached = True
            try:
                cfg = dev.get_active_configuration()
            except usb.core.USBError:
                dev.set_configuration()
                cfg = dev.get_active_configuration()
            intf = cfg[(self.interface, 0)]
            self._out = self._endpoint(intf, self.out_ep, usb.util.ENDPOINT_OUT)
            self._in = self._endpoint(intf, self.in_ep, usb.util.ENDPOINT_IN)
            if self._out is None:
                raise PrinterError(f"{self.describe()}: interface {self.interface} has no bulk OUT endpoint "
                                   "— give ?interface=N&out=0x01 from `lsusb -v`")
            usb.util.claim_interface(dev, self.interface)
        except usb.core.USBError as e:
            hint = ("add a udev rule giving this user access to the device" if e.errno == 13
                    else "unplug and replug the printer")
            raise PrinterError(f"{self.describe()}: cannot claim interface {self.interface} ({e}) — {hint}") from e
        except (KeyError, IndexError) as e:
            raise PrinterError(f"{self.describe()}: no interface {self.interface} — check ?interface= "
                               "against `lsusb -v`") from e
        self._dev = dev

    @staticmethod
    def _endpoint(intf: Any, address: int | None, direction: int) -> Any:
        import usb.util

        def match(ep: Any) -> bool:
            if address is not None:
                return bool(ep.bEndpointAddress == address)
            return bool(usb.util.endpoint_direction(ep.bEndpointAddress) == direction
                        and usb.util.endpoint_type(ep.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK)

        return usb.util.find_descriptor(intf, custom_match=match)

    def close(self) -> None:
        import usb.util

        dev, self._dev = self._dev, None
        if dev is None:
            return
        with contextlib.suppress(Exception):
            usb.util.release_interface(dev, self.interface)
        if self._detached:
            with contextlib.suppress(Exception):
                dev.attach_kernel_driver(self.interface)
            self._detached = False
        usb.util.dispose_resources(dev)

    def write(self, data: bytes) -> None:
        import usb.core

        if self._dev is None:
            raise PrinterError(f"{self.describe()}: not open — call open() first")
        try:
            self._out.write(data, int(self.timeout_s * 1000))
        except usb.core.USBTimeoutError as e:
            raise PrinterError(f"{self.describe()}: the printer stopped taking data for {self.timeout_s:g} s "
                               "— check paper and cover") from e
        except usb.core.USBError as e:
            raise PrinterError(f"{self.describe()}: write failed ({e}) — check the USB cable") from e

    def read(self, n: int, timeout_s: float) -> bytes:

        if self._dev is None:
            raise PrinterError(f"{self.describe()}: not open — call open() first")
        if self._in is None:
            return b""
        if not self._rx:
            self._rx += self._read_packet(n, timeout_s)
        out = bytes(self._rx[:n])
        del self._rx[:n]
        return out

    def _read_packet(self, n: int, timeout_s: float) -> bytes:
        import usb.core

        try:
            # pyusb reads whole packets and takes 0 ms as "wait forever"
            data = self._in.read(max(n, self._in.wMaxPacketSize), max(1, int(timeout_s * 1000)))
        except usb.core.USBTimeoutError:
            return b""
        except usb.core.USBError as e:
            raise PrinterError(f"{self.describe()}: read failed ({e}) — check the USB cable") from e
        return bytes(data)
