"""Camera scanning: frames from a FrameSource decoded by zbar in a worker thread, repeats of a held code dropped."""

from __future__ import annotations

import io
import queue
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import zbar
from PIL import Image

from devices.scanner.model import MAX_SCAN_CHARS, Scan, ScannerError

Frame = npt.NDArray[np.uint8]


class FrameSource(Protocol):
    """Grayscale frames (2-D uint8 arrays); read_frame() returns None when no frame is ready."""

    def open(self) -> None: ...

    def read_frame(self) -> Frame | None: ...

    def close(self) -> None: ...


def scan_from_code(data: bytes, source: str) -> Scan:
    """A decoded symbol as a Scan: printable ASCII is a payload, anything else is unreadable."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return Scan("", source, f"this code is not readable: it holds non-ASCII data ({data[:16].hex(' ')}…) — "
                                "the kiosk reads hallq ticket and credential codes only")
    if not text.isprintable():
        return Scan("", source, "this code is not readable: it holds control characters — "
                                "the kiosk reads hallq ticket and credential codes only")
    if len(text) > MAX_SCAN_CHARS:
        return Scan("", source, f"this code is not readable: too long ({len(text)} characters, "
                                f"at most {MAX_SCAN_CHARS})")
    return Scan(text, source)


class RepeatFilter:
    """Says whether a code is new: a code seen again within `window_s` of its last sighting is a repeat."""

    def __init__(self, window_s: float = 3.0) -> None:
        self.window_s = window_s
        self._last_seen: dict[bytes, float] = {}

    def is_new(self, code: bytes, now_s: float) -> bool:
        last = self._last_seen.get(code)
        self._last_seen[code] = now_s
        if len(self._last_seen) > 64:
            self._last_seen = {c: t for c, t in self._last_seen.items() if now_s - t <= self.window_s}
        return last is None or now_s - last > self.window_s


def decode_frame(scanner: Any, frame: Frame, source: str) -> list[bytes]:
    """The data of every symbol zbar finds in a 2-D uint8 frame (made C-contiguous, which zbar-py needs)."""
    if frame.ndim != 2 or frame.dtype != np.uint8:
        raise ScannerError(f"{source}: frame of shape {frame.shape} and type {frame.dtype} — frame sources must "
                           "give 2-D uint8 grayscale arrays")
    return [symbol.data for symbol in scanner.scan(np.ascontiguousarray(frame))]


class CameraScanner:
    """A Scanner over a camera: a worker thread grabs and decodes frames; read() takes the results."""

    def __init__(self, source: FrameSource, *, name: str | None = None, repeat_window_s: float = 3.0,
                 idle_s: float = 0.02, clock: Callable[[], float] = time.monotonic) -> None:
        self.source = source
        self.name = name or str(getattr(source, "name", "camera"))
        self.repeat_window_s = repeat_window_s
        self.idle_s = idle_s
        self._clock = clock
        self._results: queue.Queue[Scan | ScannerError] = queue.Queue()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None

    def open(self) -> None:
        if self._worker is not None:
            return
        self.source.open()
        self._results = queue.Queue()
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, args=(self._stop, self._results),
                                        name=f"scanner {self.name}", daemon=True)
        self._worker.start()

    def read(self, timeout_s: float) -> Scan | None:
        """The next new code, waiting at most `timeout_s`; raises ScannerError if the camera failed."""
        if self._worker is None:
            raise ScannerError(f"scanner {self.name} is not open — call open() before read()")
        try:
            item = self._results.get(timeout=max(timeout_s, 0.0))
        except queue.Empty:
            return None
        if isinstance(item, ScannerError):
            raise item
        return item

    def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is None:
            return
        self._stop.set()
        worker.join()
        self.source.close()

    def _run(self, stop: threading.Event, results: queue.Queue[Scan | ScannerError]) -> None:
        scanner = zbar.Scanner()  # zbar scanners are not shared between threads
        repeats = RepeatFilter(self.repeat_window_s)
        while not stop.is_set():
            try:
                frame = self.source.read_frame()
                if frame is None:
                    stop.wait(self.idle_s)
                    continue
                codes = decode_frame(scanner, frame, self.name)
            except ScannerError as e:
                results.put(e)
                return
            except Exception as e:  # a dead worker must still be reported through read()
                results.put(ScannerError(f"scanner {self.name}: {type(e).__name__}: {e} — close() and open() "
                                         "the scanner again; if it persists, check the camera"))
                return
            now = self._clock()
            for code in codes:
                if repeats.is_new(code, now):
                    results.put(scan_from_code(code, self.name))


class OpenCvSource:
    """A V4L2 camera (index or /dev/video path) through OpenCV, converted to grayscale."""

    def __init__(self, device: int | str, *, max_failed_reads: int = 50) -> None:
        self.device = device
        self.name = f"camera /dev/video{device}" if isinstance(device, int) else f"camera {device}"
        self.max_failed_reads = max_failed_reads
        self._capture: Any = None
        self._failed_reads = 0

    def open(self) -> None:
        import cv2  # only kiosks with a camera pay for loading OpenCV

        capture = cv2.VideoCapture(self.device)
        if not capture.isOpened():
            capture.release()
            raise ScannerError(f"{self.name} cannot be opened — is it connected? (ls /dev/video*)")
        self._capture, self._failed_reads = capture, 0

    def read_frame(self) -> Frame | None:
        import cv2

        if self._capture is None:
            raise ScannerError(f"{self.name} is not open — call open() first")
        ok, frame = self._capture.read()
        if not ok or frame is None:
            self._failed_reads += 1
            if self._failed_reads >= self.max_failed_reads:
                raise ScannerError(f"{self.name} stopped giving frames — is it still connected? (ls /dev/video*)")
            return None
        self._failed_reads = 0
        gray: Frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        return gray

    def close(self) -> None:
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.release()


ImageLike = str | Path | bytes | Image.Image | npt.NDArray[Any]  # a file, PNG/JPEG bytes, a PIL image or an array


def to_gray(image: ImageLike) -> Frame:
    """An image given as path, PNG/JPEG bytes, PIL image or array, as a 2-D uint8 grayscale frame."""
    if isinstance(image, np.ndarray):
        pil = Image.fromarray(image)
    elif isinstance(image, bytes):
        pil = Image.open(io.BytesIO(image))
    elif isinstance(image, str | Path):
        pil = Image.open(image)
    else:
        pil = image
    return np.asarray(pil.convert("L"), dtype=np.uint8)


class ImageListSource:
    """The camera simulator: serves images as frames, then None; it can fail like an unplugged camera.

    `loop` starts over after the last image; `interval_s` paces frames like a camera's frame rate;
    `disconnect_after` makes read_frame() raise ScannerError after that many frames.
    """

    def __init__(self, images: Sequence[ImageLike], *, loop: bool = False, interval_s: float = 0.0,
                 disconnect_after: int | None = None, name: str = "camera sim") -> None:
        self.images = images
        self.loop = loop
        self.interval_s = interval_s
        self.disconnect_after = disconnect_after
        self.name = name
        self.frames_served = 0
        self._frames: list[Frame] = []
        self._next = 0
        self._open = False

    def open(self) -> None:
        self._frames = [to_gray(image) for image in self._load()]
        self._next, self.frames_served, self._open = 0, 0, True

    def _load(self) -> Sequence[ImageLike]:
        return self.images

    def read_frame(self) -> Frame | None:
        if not self._open:
            raise ScannerError(f"{self.name} is not open — call open() first")
        if self.disconnect_after is not None and self.frames_served >= self.disconnect_after:
            raise ScannerError(f"{self.name} disconnected (simulated) — is it still connected? (ls /dev/video*)")
        if self._next >= len(self._frames):
            if not (self.loop and self._frames):
                return None
            self._next = 0
        if self.interval_s:
            time.sleep(self.interval_s)
        frame = self._frames[self._next]
        self._next += 1
        self.frames_served += 1
        return frame

    def close(self) -> None:
        self._open = False


class ImageFolderSource(ImageListSource):
    """The camera simulator over the PNG/JPEG files of a folder, in name order, read at open()."""

    EXTENSIONS = (".png", ".jpg", ".jpeg")

    def __init__(self, folder: str, *, loop: bool = False, interval_s: float = 0.0,
                 disconnect_after: int | None = None) -> None:
        super().__init__([], loop=loop, interval_s=interval_s, disconnect_after=disconnect_after,
                         name=f"images {folder}")
        self.folder = folder

    def _load(self) -> Sequence[ImageLike]:
        folder = Path(self.folder)
        if not folder.is_dir():
            raise ScannerError(f"{self.name}: no such folder — create it and put PNG or JPEG images of codes in it")
        return [p for p in sorted(folder.iterdir()) if p.suffix.lower() in self.EXTENSIONS]
