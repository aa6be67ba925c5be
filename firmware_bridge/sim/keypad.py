"""Simulated legacy caller keypads (docs/keypad.md) on a pty: the device side of the dialogue.

A keypad keeps pressed keys in a queue (16 deep) and presents the oldest in every answer until the
host echoes it; the press counter and the queue live in EEPROM, so a reset only blanks the display
(and the next IDLE says so). Faults: bit errors, dropped answers, slow answers, lost echoes, reset.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from firmware_bridge.keypad.codec import KeypadDecoder, KeypadFrame
from firmware_bridge.keypad.messages import FUNC, KeyPress, idle, valid
from firmware_bridge.sim.bus import Faults
from hallq.pty import PtyEndpoint

QUEUE_SIZE = 16


@dataclass
class KeypadFaults(Faults):
    lose_echoes: int = 0          # the next N echoes from the host are lost on the line (no answer)


@dataclass
class SimKeypad:
    address: int
    digits: int = 3
    display: str = ""                 # what the 3-digit display shows ("" = blank)
    fresh: bool = True                # display blank since power-up, until the host sends one
    counter: int = 0                  # the last press number given (1..255, wraps)
    queue: deque[KeyPress] = field(default_factory=lambda: deque(maxlen=QUEUE_SIZE))
    displayed: list[str] = field(default_factory=list)
    presented: dict[int, int] = field(default_factory=dict)   # press number -> times presented
    echoed: list[int] = field(default_factory=list)           # press numbers acknowledged, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def press(self, code: int) -> KeyPress:
        with self.lock:
            self.counter = self.counter % 255 + 1
            kp = KeyPress(self.counter, code)
            self.queue.append(kp)
            return kp

    def reset(self) -> None:
        """Power cycle: the display goes blank; the queue and the press counter survive (EEPROM)."""
        with self.lock:
            self.display, self.fresh = "", True

    def head(self) -> KeypadFrame:
        if self.queue:
            kp = self.queue[0]
            self.presented[kp.press] = self.presented.get(kp.press, 0) + 1
            return kp.frame(self.address)
        return idle(self.address, self.fresh)

    def handle(self, f: KeypadFrame) -> KeypadFrame | None:
        """Answer one host frame addressed to this keypad; None = not a frame it answers."""
        with self.lock:
            if not valid(f, "host") and not (f.func == FUNC.KEY and valid(f, "keypad")):
                return None
            if f.func == FUNC.DISPLAY:
                self.display, self.fresh = f.data.decode("ascii"), False
                self.displayed.append(self.display)
                return f
            if f.func == FUNC.KEY and self.queue and self.queue[0].frame(self.address) == f:
                self.echoed.append(self.queue.popleft().press)
            return self.head()


class SimKeypadLink(PtyEndpoint):
    """Keypads behind one serial endpoint (a pty). Constructor stores settings; `open()` starts it."""

    thread_name = "simkeypad"

    def __init__(self, keypads: Iterable[SimKeypad], baud: int = 9600, link: str | Path | None = None,
                 faults: KeypadFaults | None = None, seed: int = 1) -> None:
        super().__init__(link)
        self.keypads = {k.address: k for k in keypads}
        self.baud = baud
        self.faults = faults or KeypadFaults()
        self.rng = random.Random(seed)
        self.echoes_lost = 0
        self._dec = KeypadDecoder()

    def open(self) -> Self:
        self._dec = KeypadDecoder()      # a fresh line: nothing half-received
        return super().open()

    def _received(self, data: bytes) -> None:
        for f in self._dec.feed(self.faults.corrupt(data, self.rng)):
            self._answer(f)

    def _answer(self, f: KeypadFrame) -> None:
        k = self.keypads.get(f.addr)
        if k is None or k.address in self.faults.silent:
            return
        if f.func == FUNC.KEY and self.faults.lose_echoes > 0:
            self.faults.lose_echoes -= 1
            self.echoes_lost += 1
            return
        reply = k.handle(f)
        if reply is None or self.rng.random() < self.faults.drop_rate:
            return
        wire = reply.encode()
        line = (len(f.encode()) + len(wire)) * 10 / self.baud if self.faults.wire_time else 0.0
        time.sleep(line + self.faults.reply_delay_s)
        self._send(self.faults.corrupt(wire, self.rng))
