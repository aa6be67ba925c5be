"""The master of a legacy keypad bus (`protocol: legacy-keypad`): polls, key presses handed to the
bridge as device events, echoes once they were executed, and the number display.

Exactly once: a press is executed by `on_event` (which persists its command id before publishing);
the echo is sent only when that is done. A press presented again after its echo was lost equals the
last one executed and is echoed again, never executed again; after a bridge restart the in-flight
store gives it the same command id, so the controller's idempotency makes it count once.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from firmware_bridge.hallbus.messages import DeviceEvent, IdentifyReply
from firmware_bridge.keypad.codec import KeypadDecoder, KeypadFrame
from firmware_bridge.keypad.keymap import key_event
from firmware_bridge.keypad.messages import FUNC, IDLE_FRESH, KeyPress, display, key_press, poll, valid
from firmware_bridge.keypad.pinentry import Local, PinEntry
from firmware_bridge.portmaster import PortMaster
from firmware_bridge.schedule import pick_event, pick_weighted
from hallq.config import BusConfig, DeviceConfig

log = logging.getLogger("hallq.bridge.keypad")


@dataclass
class Keypad:
    cfg: DeviceConfig
    id: str
    key_map: dict[int, str]
    online: bool | None = None
    identified: bool = False                  # answered since (re)connecting; then the display is resent
    misses: int = 0
    last_poll: float = 0.0
    digits: str = ""                          # what the display should show
    display_out: str | None = None            # DISPLAY to send
    inflight: KeypadFrame | None = None       # the KEY being executed
    future: concurrent.futures.Future[Any] | None = None
    done: KeypadFrame | None = None           # the last KEY executed (or acknowledged without effect)
    echo_due: bool = False
    info: IdentifyReply | None = None         # legacy keypads do not identify themselves
    duplicates: int = 0                       # KEYs presented again after their echo was lost
    overlay: str | None = None                # PIN entry or a refused login, shown instead of the digits
    pin: PinEntry | None = None               # PIN entry (halls with device_login: pin), in memory only

    def shown(self) -> str:
        return self.overlay if self.overlay is not None else self.digits

    @property
    def kind(self) -> str:
        return "keypad"

    def output_rank(self) -> int | None:
        if self.display_out is not None:
            return 0
        if self.echo_due or (self.future is not None and self.future.done()):
            return 1
        return None

    def hot(self, now: float) -> bool:
        return False

    def executing(self) -> bool:
        return self.future is not None and not self.future.done()

    def weighted_busy(self) -> tuple[bool, bool]:
        return self.inflight is not None, self.display_out is not None or self.echo_due


class KeypadMaster(PortMaster[Keypad]):
    def __init__(self, bus: BusConfig, on_event: Callable[[Keypad, DeviceEvent], concurrent.futures.Future[Any]],
                 on_status: Callable[[Keypad], None], open_port: Callable[[], Any] | None = None,
                 pin_login: bool = False) -> None:
        super().__init__(bus, on_status, open_port)
        self.on_event = on_event
        self.devices = {d.address: Keypad(d, bus.device_id(d), bus.key_map_of(d),
                                          pin=PinEntry(d.digits) if pin_login else None) for d in bus.devices}
        self.decoder = KeypadDecoder()
        self.timeout_s = bus.reply_timeout_ms / 1000

    # -- outbox (called from the asyncio side) --------------------------------------------------
    def show_digits(self, address: int, digits: str) -> None:
        with self.lock:
            k = self.devices[address]
            k.digits = digits[-k.cfg.digits:].rjust(k.cfg.digits)
            if k.overlay is None:
                k.display_out = k.digits
        self._kick.set()

    def show_overlay(self, address: int, text: str | None) -> None:
        """Show `text` instead of the window's digits until the next key (None: the digits again)."""
        with self.lock:
            k = self.devices[address]
            k.overlay = text[-k.cfg.digits:].rjust(k.cfg.digits) if text is not None else None
            k.display_out = k.shown()
        self._kick.set()

    # -- the bus thread ------------------------------------------------------------------------
    def _port_opened(self) -> None:
        self.decoder = KeypadDecoder()

    def _pick(self) -> Keypad | None:
        now = time.monotonic()
        with self.lock:
            if self.bus.schedule == "weighted":
                return pick_weighted(self.devices.values(), now, self.bus.poll_interval_ms / 1000)
            return pick_event(self.devices.values(), now, self.bus.poll_interval_ms / 1000,
                              self.bus.output_poll_ms / 1000, True)

    def _serve(self, k: Keypad) -> None:
        k.last_poll = time.monotonic()
        if k.future is not None and k.future.done():
            assert k.inflight is not None
            k.done, k.inflight, k.future, k.echo_due = k.inflight, None, None, True
        with self.lock:
            out = k.display_out
        if out is not None and k.identified:
            frame = display(k.cfg.address, out)
            if self._request(k, frame, lambda f: f == frame) is not None:
                with self.lock:
                    if k.display_out == out:
                        k.display_out = None
            return
        if k.echo_due and k.done is not None:
            k.echo_due = False          # if the echo is lost, the keypad presents the press again
            self._present(k, self._request(k, k.done, self._is_head))
            return
        self._present(k, self._request(k, poll(k.cfg.address), self._is_head))

    @staticmethod
    def _is_head(f: KeypadFrame) -> bool:
        return f.func in (FUNC.KEY, FUNC.IDLE)

    def _present(self, k: Keypad, f: KeypadFrame | None) -> None:
        """The keypad's answer to a POLL or an echo: its oldest press, or IDLE."""
        if f is None:
            return
        if not k.identified:
            k.identified = True
            self._seen(k)
            if k.shown():
                k.display_out = k.shown()
        if f.func == FUNC.IDLE:
            if f.data[0] & IDLE_FRESH and k.shown():
                k.display_out = k.shown()          # it restarted: its display is blank
            return
        press = key_press(f)
        if press is None:
            self.stats["bad_replies"] += 1
            return
        if k.inflight is not None:
            if f != k.inflight:
                log.warning("keypad %s presented press %d while press %d is being executed; waiting for that "
                            "first", k.id, f.data[0], k.inflight.data[0])
            return
        if f == k.done:
            k.duplicates += 1
            k.echo_due = True                      # our echo was lost: echo again, do not execute again
            return
        ev = self._key(k, press)
        if isinstance(ev, Local):
            k.done, k.echo_due = f, True           # typed into the PIN entry: echoed at once, nothing sent
            return
        if isinstance(ev, str):
            log.warning("keypad %s (bus %s address %d): %s — acknowledged without effect; add it to "
                        "devices.buses[].key_map", k.id, self.bus.id, k.cfg.address, ev)
            k.done, k.echo_due = f, True
            return
        k.inflight, k.future = f, self.on_event(k, ev)
        k.future.add_done_callback(lambda _f: self._kick.set())

    def _key(self, k: Keypad, press: KeyPress) -> DeviceEvent | Local | str:
        """The event of a key press; in a PIN-login hall, PIN entry first (firmware_bridge/keypad/pinentry.py)."""
        action = k.key_map.get(press.code)
        with self.lock:
            if k.overlay is not None:          # any key clears a shown refusal or an entry in progress
                k.overlay, k.display_out = None, k.digits
        if k.pin is not None and action is not None:
            step = k.pin.key(action, press.press, time.monotonic())
            if isinstance(step, Local):
                with self.lock:
                    k.overlay = step.display
                    k.display_out = k.shown()
                return step
            if isinstance(step, str):
                log.info("keypad %s: %s — acknowledged without effect", k.id, step)
                return Local(None)
            if step is not None:
                return step
        return key_event(press, k.key_map)

    def _request(self, k: Keypad, frame: KeypadFrame, accept: Callable[[KeypadFrame], bool]) -> KeypadFrame | None:
        """Send a host frame and wait for the keypad's answer; retried as is. None = no valid answer."""
        wire = frame.encode()
        for attempt in range(self.bus.retries + 1):
            if attempt:
                self.stats["retries"] += 1
            self.stats["requests"] += 1
            got = self._exchange(wire, k.cfg.address, accept)
            if got is not None:
                k.misses = 0
                self._seen(k)
                return got
        self._missed(k, f"keypad address {k.cfg.address}")
        return None

    def _exchange(self, wire: bytes, addr: int, accept: Callable[[KeypadFrame], bool]) -> KeypadFrame | None:
        port = self.port
        port.reset_input_buffer()
        self.decoder = KeypadDecoder()
        port.write(wire)
        port.flush()
        deadline = time.monotonic() + self.timeout_s + len(wire) * 10 / self.bus.baud
        while time.monotonic() < deadline:
            data = port.read(256)
            if not data:
                time.sleep(0.0005)
                continue
            for f in self.decoder.feed(data):
                if f.addr == addr and (valid(f, "keypad") or valid(f, "host")) and accept(f):
                    return f
                self.stats["bad_replies"] += 1
        return None
