"""Code scanners at the kiosk: keyboard-wedge (evdev), simulated (pipe), camera and image-folder, picked by URL."""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlparse

from devices.scanner.model import Scan, ScannerError

__all__ = ["SCHEMES", "Scan", "Scanner", "ScannerError", "open_scanner"]

SCHEMES = ("evdev", "pipe", "camera", "images", "none")


class Scanner(Protocol):
    def open(self) -> None: ...

    def read(self, timeout_s: float) -> Scan | None: ...

    def close(self) -> None: ...


def open_scanner(url: str, inter_key_timeout_ms: int = 80) -> Scanner | None:
    """The scanner a URL names, constructed but not opened; None for none://.

    evdev:///dev/input/by-id/… (keyboard-mode scanner), pipe:///path/to/fifo (simulated one),
    camera://0 or camera:///dev/video0, images:///dir (camera simulator), none://.
    """
    u = urlparse(url)
    where = u.netloc + u.path
    if u.scheme == "none":
        return None
    if u.scheme not in SCHEMES:
        known = ", ".join(f"{s}://" for s in SCHEMES)
        raise ValueError(f"scanner URL {url!r}: unknown scheme {u.scheme!r} (known: {known})")
    if not where:
        raise ValueError(f"scanner URL {url!r} names no device — e.g. evdev:///dev/input/by-id/usb-…-event-kbd, "
                         "pipe:///tmp/scanner.fifo, camera://0, images:///srv/codes")
    if u.scheme == "evdev":
        from devices.scanner.evdev_reader import EvdevScanner

        return EvdevScanner(where, inter_key_timeout_ms)
    if u.scheme == "pipe":
        from devices.scanner.evdev_reader import InputEventPipeScanner

        return InputEventPipeScanner(where, inter_key_timeout_ms)
    from devices.scanner.camera import CameraScanner, ImageFolderSource, OpenCvSource

    if u.scheme == "images":
        return CameraScanner(ImageFolderSource(where))
    return CameraScanner(OpenCvSource(int(where) if where.isdigit() else where))
