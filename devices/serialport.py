"""A serial port under a device driver's transport (ID card reader, printer): pyserial opened from a device path
or a pyserial URL, written, closed; every failure is the driver's own error, naming the device and what to check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import serial


class SerialPort:
    """One port, opened with the pyserial settings given here (`baudrate`, `timeout`, `write_timeout`, `rtscts`…).
    `what` starts every message (the transport's describe()); `error` is the driver's exception class."""

    def __init__(self, url: str, what: str, error: type[Exception], **settings: Any) -> None:
        self.url, self.what, self.error, self.settings = url, what, error, settings
        self.ser: serial.Serial | None = None

    def open(self) -> None:
        import serial

        try:
            ser = serial.serial_for_url(self.url, do_not_open=True, **self.settings)
            ser.open()
        except (serial.SerialException, OSError, ValueError) as e:
            raise self.error(f"{self.what}: cannot open the port ({e}) — check the cable, that the path exists "
                             "(ls /dev/serial/by-id/) and that this user may use it (dialout group)") from e
        self.ser = ser

    def close(self) -> None:
        if self.ser is not None:
            self.ser.close()
            self.ser = None

    def opened(self) -> serial.Serial:
        """The open port (hold on to it for the whole call: another thread may close the port meanwhile)."""
        if self.ser is None:
            raise self.error(f"{self.what}: not open — call open() first")
        return self.ser

    def write(self, data: bytes, *, stalled: str | None = None) -> None:
        """Send `data` and wait until it has left; a write timeout says `stalled` when given (what to check when
        the device stops taking data), else it is a failed write like any other."""
        import serial

        ser = self.opened()
        try:
            ser.write(data)
            ser.flush()
        except serial.SerialTimeoutException as e:
            if stalled is None:
                raise self.error(f"{self.what}: write failed ({e}) — check the cable") from e
            raise self.error(f"{self.what}: {stalled}") from e
        except (serial.SerialException, OSError) as e:
            raise self.error(f"{self.what}: write failed ({e}) — check the cable") from e
