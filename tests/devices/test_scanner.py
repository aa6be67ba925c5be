"""Scanners: key events -> scans (pure), the pipe and evdev readers, the camera path over images, the URL factory."""

from __future__ import annotations

import errno
import io
import os
import string
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import evdev
import numpy as np
import pytest
import qrcode
import zbar
from evdev import InputEvent
from evdev import ecodes as e
from PIL import Image, ImageFilter

from devices.scanner import Scan, ScannerError, open_scanner
from devices.scanner.camera import (
    CameraScanner,
    ImageFolderSource,
    ImageListSource,
    OpenCvSource,
    RepeatFilter,
    decode_frame,
)
from devices.scanner.decoder import KeyDecoder, KeyEvent
from devices.scanner.evdev_reader import EvdevScanner, InputEventPipeScanner
from devices.scanner.keys import keystrokes
from devices.scanner.records import EVENT_SIZE, pack_event, unpack_events
from devices.scanner.simcli import run as sim_run
from hallq.errors import UsageError

TOKEN = "MSB1.eyJhbGciOiJIUzI1NiJ"  # the head of a credential token, as a phone shows it
TICKET = "HQ1:test-hall:2026-11-23:A001:K7Q2"


# ---- helpers ---------------------------------------------------------------------------------------------------

def tuples(events: list[InputEvent]) -> list[KeyEvent]:
    return [(ev.timestamp(), ev.type, ev.code, ev.value) for ev in events]


def typed(text: str, t0: float = 1000.0, gap_s: float = 0.004) -> list[InputEvent]:
    """What a scanner sends for `text`: key events each followed by SYN_REPORT, key-downs `gap_s` apart."""
    out: list[InputEvent] = []
    t = t0
    for code, value in keystrokes(text):
        if value == 1:
            t += gap_s
        sec, usec = divmod(round(t * 1_000_000), 1_000_000)
        out += [InputEvent(sec, usec, e.EV_KEY, code, value), InputEvent(sec, usec, e.EV_SYN, e.SYN_REPORT, 0)]
    return out


def decode(events: list[InputEvent], timeout_s: float = 0.08) -> list[Scan]:
    d = KeyDecoder("test", timeout_s)
    return [scan for ev in tuples(events) for scan in d.feed(ev)]


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def qr_image(text: str = TICKET) -> Image.Image:
    return qrcode.make(text).get_image().convert("L")  # type: ignore[no-any-return]


def blank_image() -> Image.Image:
    return Image.new("L", (370, 370), 255)


# ---- pure decoder ----------------------------------------------------------------------------------------------

def test_recorded_sequence_with_both_shifts_msc_and_syn() -> None:
    # A recording of a scanner typing "Ab:_" + Enter, with the EV_MSC scan codes real keyboards send.
    def ev(ms: int, type_: int, code: int, value: int) -> InputEvent:
        return InputEvent(1700000000, ms * 1000, type_, code, value)

    rec = [
        ev(1, e.EV_MSC, e.MSC_SCAN, 0x700E1), ev(1, e.EV_KEY, e.KEY_LEFTSHIFT, 1), ev(1, e.EV_SYN, 0, 0),
        ev(2, e.EV_MSC, e.MSC_SCAN, 0x70004), ev(2, e.EV_KEY, e.KEY_A, 1), ev(2, e.EV_SYN, 0, 0),
        ev(3, e.EV_KEY, e.KEY_A, 0), ev(3, e.EV_KEY, e.KEY_LEFTSHIFT, 0), ev(3, e.EV_SYN, 0, 0),
        ev(4, e.EV_KEY, e.KEY_B, 1), ev(5, e.EV_KEY, e.KEY_B, 0),
        ev(6, e.EV_KEY, e.KEY_RIGHTSHIFT, 1), ev(7, e.EV_KEY, e.KEY_SEMICOLON, 1), ev(8, e.EV_KEY, e.KEY_SEMICOLON, 0),
        ev(9, e.EV_KEY, e.KEY_MINUS, 1), ev(10, e.EV_KEY, e.KEY_MINUS, 0), ev(11, e.EV_KEY, e.KEY_RIGHTSHIFT, 0),
        ev(12, e.EV_KEY, e.KEY_ENTER, 1), ev(13, e.EV_KEY, e.KEY_ENTER, 0), ev(13, e.EV_SYN, 0, 0),
    ]
    assert decode(rec) == [Scan("Ab:_", "test")]


@pytest.mark.parametrize("text", [
    TOKEN,
    TICKET,
    "https://hallq.example/t/A-012_x?y=1&z=~",
    string.digits + string.ascii_letters + string.punctuation + " ",
])
def test_typed_text_round_trips(text: str) -> None:
    assert decode(typed(text + "\n")) == [Scan(text, "test")], f"expected {text!r} back from its keystrokes"


def test_token_is_24_characters_with_shifted_and_plain_keys() -> None:
    assert len(TOKEN) == 24
    shifts = [code for code, value in keystrokes(TOKEN) if code == e.KEY_LEFTSHIFT and value == 1]
    assert len(shifts) == sum(c.isupper() for c in TOKEN)


def test_caps_lock_toggles_letters_only() -> None:
    caps = [InputEvent(1, 0, e.EV_KEY, e.KEY_CAPSLOCK, 1), InputEvent(1, 0, e.EV_KEY, e.KEY_CAPSLOCK, 0)]
    # with Caps Lock on, "ab1." types as "AB1." and shift+a types "a"
    events = caps + typed("ab1.", t0=1.0) + typed("A", t0=1.05) + typed("\n", t0=1.06)
    assert decode(events) == [Scan("AB1.a", "test")]


def test_keypad_digits_and_keypad_enter() -> None:
    keys = [e.KEY_KP4, e.KEY_KP2, e.KEY_KPDOT, e.KEY_KP0, e.KEY_KPENTER]
    events = [InputEvent(5, i * 1000 + up, e.EV_KEY, k, 1 - up) for i, k in enumerate(keys) for up in (0, 1)]
    assert decode(events) == [Scan("42.0", "test")]


def test_tab_ends_a_scan_and_enter_alone_is_nothing() -> None:
    assert decode(typed("\n")) == []
    assert decode(typed("AB\tCD\t")) == [Scan("AB", "test"), Scan("CD", "test")]


def test_inter_key_timeout_ends_a_scan_at_the_next_key_down() -> None:
    events = typed("ABC", t0=10.0) + typed("DEF\n", t0=10.3)  # 0.29 s of silence between C and D
    assert decode(events, timeout_s=0.08) == [Scan("ABC", "test"), Scan("DEF", "test")]


def test_flush_if_idle_ends_a_scan_after_silence() -> None:
    d = KeyDecoder("test", 0.08)
    for ev in tuples(typed("XYZ", t0=20.0, gap_s=0.01)):
        assert d.feed(ev) == []
    last_down = 20.06  # six key-downs: shift and the letter for each of X, Y, Z
    assert d.idle_deadline_s() == pytest.approx(last_down + 0.08)
    assert d.flush_if_idle(last_down + 0.05) is None, "a scan must not end before the timeout"
    assert d.flush_if_idle(last_down + 0.2) == Scan("XYZ", "test")
    assert d.flush_if_idle(last_down + 0.5) is None and not d.pending


def test_autorepeat_is_not_typing() -> None:
    events = [InputEvent(1, 0, e.EV_KEY, e.KEY_A, 1)] + [InputEvent(1, 300_000 + i * 33_000, e.EV_KEY, e.KEY_A, 2)
                                                          for i in range(3)]
    events += [InputEvent(1, 400_000, e.EV_KEY, e.KEY_A, 0), InputEvent(1, 401_000, e.EV_KEY, e.KEY_ENTER, 1)]
    assert decode(events, timeout_s=2.0) == [Scan("a", "test")]


def test_unmappable_key_makes_the_scan_unreadable_not_partial() -> None:
    events = typed("AB", t0=1.0) + [InputEvent(1, 20_000, e.EV_KEY, e.KEY_F5, 1),
                                    InputEvent(1, 21_000, e.EV_KEY, e.KEY_F5, 0)] + typed("CD\nOK\n", t0=1.021)
    first, second = decode(events)
    assert first.payload == "" and not first.ok
    assert first.error is not None and "KEY_F5" in first.error and "US" in first.error
    assert second == Scan("OK", "test"), "the scan after an unreadable one must be clean"


def test_control_chord_makes_the_scan_unreadable() -> None:
    events = [InputEvent(1, 0, e.EV_KEY, e.KEY_LEFTCTRL, 1), InputEvent(1, 1000, e.EV_KEY, e.KEY_RIGHTBRACE, 1),
              InputEvent(1, 2000, e.EV_KEY, e.KEY_RIGHTBRACE, 0), InputEvent(1, 3000, e.EV_KEY, e.KEY_LEFTCTRL, 0)]
    (scan,) = decode(events + typed("01\n", t0=1.003))
    assert scan.error is not None and "KEY_LEFTCTRL+KEY_RIGHTBRACE" in scan.error


def test_scan_capped_at_4096_characters() -> None:
    d = KeyDecoder("test", 1.0)
    ok = [s for ev in tuples(typed("7" * 4096 + "\n", gap_s=0.0001)) for s in d.feed(ev)]
    assert ok == [Scan("7" * 4096, "test")]
    (long,) = [s for ev in tuples(typed("7" * 4097 + "\n", t0=2000.0, gap_s=0.0001)) for s in d.feed(ev)]
    assert long.payload == "" and long.error is not None and "too long" in long.error


def test_keystrokes_refuses_what_a_us_scanner_cannot_type() -> None:
    assert keystrokes("a:") == [(e.KEY_A, 1), (e.KEY_A, 0), (e.KEY_LEFTSHIFT, 1), (e.KEY_SEMICOLON, 1),
                                (e.KEY_SEMICOLON, 0), (e.KEY_LEFTSHIFT, 0)]
    with pytest.raises(ValueError, match=r"'é' at position 2 .*printable ASCII"):
        keystrokes("caé")


def test_records_pack_and_unpack() -> None:
    assert EVENT_SIZE == 24
    data = pack_event(12.5, e.EV_KEY, e.KEY_A, 1) + pack_event(12.75, e.EV_SYN, 0, 0)
    events, rest = unpack_events(data + data[:5])
    assert events == [(12.5, e.EV_KEY, e.KEY_A, 1), (12.75, e.EV_SYN, 0, 0)] and rest == data[:5]


# ---- pipe reader -----------------------------------------------------------------------------------------------

def records(text: str, t0: float = 100.0) -> bytes:
    return b"".join(pack_event(ev.timestamp(), ev.type, ev.code, ev.value) for ev in typed(text, t0=t0))


class Pipe:
    """An os.pipe() whose writer end can be closed early without the fixture closing a reused fd number later."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        self.w_open = True

    def close_writer(self) -> None:
        if self.w_open:
            self.w_open = False
            os.close(self.w)


@pytest.fixture
def pipe() -> Iterator[Pipe]:
    p = Pipe()
    yield p
    p.close_writer()
    os.close(p.r)


def test_pipe_reader_end_to_end(pipe: Pipe) -> None:
    r, w = pipe.r, pipe.w
    data = records(TOKEN + "\n") + records(TICKET + "\n", t0=200.0)
    cut = len(data) // 2 + 7  # split mid-record: the reader must keep the partial record

    def writer() -> None:
        os.write(w, data[:cut])
        time.sleep(0.02)
        os.write(w, data[cut:])
        pipe.close_writer()

    scanner = InputEventPipeScanner(r, 80)
    scanner.open()
    threading.Thread(target=writer, daemon=True).start()
    assert scanner.read(5.0) == Scan(TOKEN, f"pipe {r}")
    assert scanner.read(5.0) == Scan(TICKET, f"pipe {r}")
    with pytest.raises(ScannerError, match="input ended"):
        scanner.read(5.0)
    scanner.close()


def test_pipe_reader_ends_a_scan_on_silence_and_times_out(pipe: Pipe) -> None:
    r, w = pipe.r, pipe.w
    scanner = InputEventPipeScanner(r, 30)
    scanner.open()
    t = time.monotonic()
    assert scanner.read(0.05) is None
    assert time.monotonic() - t < 1.0
    os.write(w, records("NOENTER"))
    assert scanner.read(5.0) == Scan("NOENTER", f"pipe {r}"), "silence after the last key must end the scan"
    scanner.close()
    with pytest.raises(ScannerError, match="not open"):
        scanner.read(0.01)


def test_pipe_reader_names_a_missing_fifo(tmp_path: Path) -> None:
    with pytest.raises(ScannerError, match=r"pipe .*missing\.fifo.*mkfifo"):
        InputEventPipeScanner(str(tmp_path / "missing.fifo")).open()


def test_sim_cli_creates_the_fifo_and_types_into_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "scanner.fifo"
    rc: list[int] = []
    t = threading.Thread(target=lambda: rc.append(sim_run(["--fifo", str(fifo), "--type", TOKEN, "--gap-ms", "0"])))
    t.start()
    deadline = time.monotonic() + 5
    while not fifo.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    scanner = InputEventPipeScanner(str(fifo), 80)
    scanner.open()
    assert scanner.read(5.0) == Scan(TOKEN, f"pipe {fifo}")
    t.join(5)
    assert rc == [0]
    assert sim_run(["--fifo", str(fifo), "--type", "X1", "--no-enter", "--gap-ms", "1"]) == 0
    assert scanner.read(5.0) == Scan("X1", f"pipe {fifo}")
    scanner.close()
    assert "typed 24 characters" in capsys.readouterr().out
    with pytest.raises(UsageError, match="position 0"):
        sim_run(["--fifo", str(fifo), "--type", "号"])


# ---- evdev driver, over a fake input device --------------------------------------------------------------------

class FakeInputDevice:
    """Stands in for evdev.InputDevice: a pipe fd for select, queued events, and an unplug switch."""

    instances: list[FakeInputDevice] = []

    def __init__(self, path: str) -> None:
        self.path = path
        self._r, self._w = os.pipe()
        self.fd = self._r
        self.events: list[InputEvent] = []
        self.grabbed = False
        self.unplugged = False
        FakeInputDevice.instances.append(self)

    def push(self, events: list[InputEvent]) -> None:
        self.events += events
        os.write(self._w, b"!")

    def read(self) -> Iterator[InputEvent]:
        if self.unplugged:
            raise OSError(errno.ENODEV, "No such device")
        os.read(self._r, 4096)
        events, self.events = self.events, []
        yield from events

    def grab(self) -> None:
        self.grabbed = True

    def ungrab(self) -> None:
        if self.unplugged:
            raise OSError(errno.ENODEV, "No such device")
        self.grabbed = False

    def close(self) -> None:
        os.close(self._r)
        os.close(self._w)


def test_evdev_scanner_grabs_reads_and_survives_unplug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evdev, "InputDevice", FakeInputDevice)
    FakeInputDevice.instances = []
    path = "/dev/input/by-id/usb-Honeywell_Scanner-event-kbd"
    scanner = EvdevScanner(path, 80)
    assert FakeInputDevice.instances == [], "the constructor must not open the device"
    scanner.open()
    dev = FakeInputDevice.instances[0]
    assert dev.grabbed, "the scanner must be grabbed so its keys do not reach the kiosk UI"
    dev.push(typed(TOKEN + "\n"))
    assert scanner.read(5.0) == Scan(TOKEN, path)
    dev.unplugged = True
    os.write(dev._w, b"!")
    with pytest.raises(ScannerError, match=f"scanner {path} disappeared .*plug it back in"):
        scanner.read(5.0)
    scanner.open()
    again = FakeInputDevice.instances[1]
    again.push(typed("AGAIN\n"))
    assert scanner.read(5.0) == Scan("AGAIN", path)
    scanner.close()
    assert not again.grabbed


def test_evdev_scanner_names_a_missing_device(tmp_path: Path) -> None:
    with pytest.raises(ScannerError, match=r"no-such-scanner: no such device — is the scanner plugged in"):
        EvdevScanner(str(tmp_path / "no-such-scanner"), 80).open()


# ---- camera path -----------------------------------------------------------------------------------------------

def read_all(scanner: CameraScanner, source: ImageListSource, frames: int) -> list[Scan]:
    """Every scan until the source has served `frames` frames and the worker has gone idle."""
    out: list[Scan] = []
    deadline = time.monotonic() + 10
    quiet = 0  # the last frame served may still be in zbar: wait for three quiet reads after it
    while time.monotonic() < deadline:
        scan = scanner.read(0.1)
        if scan is not None:
            out.append(scan)
        elif source.frames_served >= frames:
            quiet += 1
            if quiet >= 3:
                return out
    raise AssertionError(f"the source served {source.frames_served} of {frames} frames in 10 s")


def test_qr_held_for_five_frames_is_reported_once() -> None:
    source = ImageListSource([png(qr_image())] * 5)
    scanner = CameraScanner(source)
    scanner.open()
    try:
        assert read_all(scanner, source, 5) == [Scan(TICKET, "camera sim")]
    finally:
        scanner.close()


def test_code_shown_again_after_three_seconds_is_reported_again() -> None:
    times = iter([0.0, 1.0, 2.0, 5.5])
    source = ImageListSource([qr_image()] * 4)
    scanner = CameraScanner(source, clock=lambda: next(times))
    scanner.open()
    try:
        assert read_all(scanner, source, 4) == [Scan(TICKET, "camera sim")] * 2
    finally:
        scanner.close()
    f = RepeatFilter(3.0)
    assert [f.is_new(b"x", t) for t in (0.0, 2.9, 5.8, 9.0)] == [True, False, False, True]


class ViewSource:
    """A frame source handing out a non-contiguous view, as a crop or stride of a camera buffer would be."""

    name = "view sim"

    def __init__(self, frame: np.ndarray[Any, np.dtype[np.uint8]]) -> None:
        self.frame: np.ndarray[Any, np.dtype[np.uint8]] | None = frame

    def open(self) -> None:
        pass

    def read_frame(self) -> np.ndarray[Any, np.dtype[np.uint8]] | None:
        frame, self.frame = self.frame, None
        return frame

    def close(self) -> None:
        pass


def test_non_contiguous_frame_still_decodes() -> None:
    gray = np.asarray(qr_image(), dtype=np.uint8)
    wide = np.full((gray.shape[0], gray.shape[1] * 2), 255, dtype=np.uint8)
    wide[:, ::2] = gray
    view = wide[:, ::2]
    assert not view.flags.c_contiguous and zbar.Scanner().scan(view) == [], "zbar-py alone misses strided views"
    assert decode_frame(zbar.Scanner(), view, "t") == [TICKET.encode()]
    scanner = CameraScanner(ViewSource(view))
    scanner.open()
    try:
        assert scanner.read(5.0) == Scan(TICKET, "view sim")
    finally:
        scanner.close()


def test_blank_and_blurred_frames_find_nothing() -> None:
    blurred = qr_image().filter(ImageFilter.GaussianBlur(8))
    source = ImageListSource([png(blank_image()), blurred])
    scanner = CameraScanner(source)
    scanner.open()
    try:
        assert read_all(scanner, source, 2) == []
    finally:
        scanner.close()


def test_non_ascii_code_is_reported_unreadable() -> None:
    source = ImageListSource([qrcode.make("Prüfung").get_image()])
    scanner = CameraScanner(source)
    scanner.open()
    try:
        scan = scanner.read(5.0)
    finally:
        scanner.close()
    assert scan is not None and scan.payload == ""
    assert scan.error is not None and scan.error.startswith("this code is not readable: ")


def test_simulated_camera_disconnect_reaches_read() -> None:
    scanner = CameraScanner(ImageListSource([qr_image()], loop=True, disconnect_after=3))
    scanner.open()
    try:
        assert scanner.read(5.0) == Scan(TICKET, "camera sim")
        with pytest.raises(ScannerError, match="disconnected"):
            scanner.read(5.0)
    finally:
        scanner.close()


def test_colour_frame_is_refused_with_a_clear_error() -> None:
    scanner = CameraScanner(ViewSource(np.zeros((4, 4, 3), dtype=np.uint8)))
    scanner.open()
    try:
        with pytest.raises(ScannerError, match="2-D uint8 grayscale"):
            scanner.read(5.0)
    finally:
        scanner.close()


def test_image_folder_source(tmp_path: Path) -> None:
    qr_image().save(tmp_path / "01-ticket.png")
    blank_image().convert("RGB").save(tmp_path / "02-blank.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    source = ImageFolderSource(str(tmp_path))
    scanner = CameraScanner(source)
    scanner.open()
    try:
        assert read_all(scanner, source, 2) == [Scan(TICKET, f"images {tmp_path}")]
    finally:
        scanner.close()
    with pytest.raises(ScannerError, match="no such folder"):
        ImageFolderSource(str(tmp_path / "nope")).open()


def test_opencv_source_over_a_video_file(tmp_path: Path) -> None:
    import cv2

    clip = tmp_path / "held-ticket.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (370, 370))
    bgr = cv2.cvtColor(np.asarray(qr_image(), dtype=np.uint8), cv2.COLOR_GRAY2BGR)
    for _ in range(4):
        writer.write(bgr)
    writer.release()
    scanner = CameraScanner(OpenCvSource(str(clip), max_failed_reads=3))
    scanner.open()
    try:
        assert scanner.read(5.0) == Scan(TICKET, f"camera {clip}")
        with pytest.raises(ScannerError, match="stopped giving frames"):
            scanner.read(5.0)  # the clip ends: to OpenCV that looks like an unplugged camera
    finally:
        scanner.close()


def test_missing_camera_is_named() -> None:
    with pytest.raises(ScannerError, match=r"camera /dev/video97 cannot be opened — is it connected\? "):
        OpenCvSource("/dev/video97").open()
    assert OpenCvSource(3).name == "camera /dev/video3"


# ---- factory ---------------------------------------------------------------------------------------------------

def test_factory_picks_by_url_without_opening() -> None:
    ev = open_scanner("evdev:///dev/input/by-id/usb-Scanner-event-kbd", 120)
    assert isinstance(ev, EvdevScanner) and ev.path == "/dev/input/by-id/usb-Scanner-event-kbd"
    assert ev.inter_key_timeout_ms == 120
    p = open_scanner("pipe:///tmp/hallq-scanner.fifo")
    assert isinstance(p, InputEventPipeScanner) and p.path == "/tmp/hallq-scanner.fifo"
    assert p.inter_key_timeout_ms == 80
    for url, device in [("camera://0", 0), ("camera:///dev/video0", "/dev/video0")]:
        cam = open_scanner(url)
        assert isinstance(cam, CameraScanner) and isinstance(cam.source, OpenCvSource)
        assert cam.source.device == device, url
    img = open_scanner("images:///srv/codes")
    assert isinstance(img, CameraScanner) and isinstance(img.source, ImageFolderSource)
    assert img.source.folder == "/srv/codes"
    assert open_scanner("none://") is None


def test_factory_refuses_unknown_schemes_in_one_line() -> None:
    with pytest.raises(ValueError, match=r"unknown scheme 'usb' \(known: evdev://, pipe://, camera://, images://, "
                                         r"none://\)") as exc:
        open_scanner("usb://0c2e:0b61")
    assert "\n" not in str(exc.value)
    with pytest.raises(ValueError, match="names no device"):
        open_scanner("evdev://")
