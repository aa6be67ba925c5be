"""A simulated multi-drop bus: several simulated devices behind one serial endpoint (a pty).

A thread reads the master's bytes, decodes frames, lets the addressed device (or all, for a
broadcast) answer, and writes the reply after the turnaround delay. Faults on demand: dropped
replies, bit errors at a given rate (both directions), slow replies, and unplugging the port.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from firmware_bridge.hallbus.decoder import BITS_PER_CHAR, FrameDecoder, stall_timeout_s
from firmware_bridge.hallbus.frame import BROADCAST, Frame
from firmware_bridge.sim.device import SimDevice
from hallq.pty import PtyEndpoint


@dataclass
class Faults:
    drop_rate: float = 0.0        # probability a reply is not sent
    ber: float = 0.0              # bit error rate applied to every byte received and sent
    reply_delay_s: float = 0.002  # turnaround before a reply (contract: reply starts within 20 ms)
    wire_time: bool = False       # delay bytes by their time on the line at `baud`
    silent: frozenset[int] = frozenset()  # addresses that do not answer at all

    def corrupt(self, data: bytes, rng: random.Random) -> bytes:
        if self.ber <= 0:
            return data
        out = bytearray(data)
        for i in range(len(out)):
            for bit in range(8):
                if rng.random() < self.ber:
                    out[i] ^= 1 << bit
        return bytes(out)


class SimBus(PtyEndpoint):
    """Constructor stores settings; `open()` makes the pty (and `link` symlink) and starts the thread."""

    thread_name = "simbus"

    def __init__(self, devices: Iterable[SimDevice], baud: int = 9600, link: str | Path | None = None,
                 faults: Faults | None = None, seed: int = 1) -> None:
        super().__init__(link)
        self.devices = {d.address: d for d in devices}
        self.baud = baud
        self.faults = faults or Faults()
        self.rng = random.Random(seed)
        self.frames_seen = 0
        self.replies_sent = 0
        self._dec = FrameDecoder(stall_timeout_s(self.baud, 0.02))

    def unplug(self) -> None:
        self.close()

    def replug(self) -> None:
        self.open()

    def _line_time(self, n: int) -> float:
        return n * BITS_PER_CHAR / self.baud if self.faults.wire_time else 0.0

    def open(self) -> Self:
        self._dec = FrameDecoder(stall_timeout_s(self.baud, 0.02))   # a fresh line: nothing half-received
        return super().open()

    def _received(self, data: bytes) -> None:
        self._frames(self._dec.feed(self.faults.corrupt(data, self.rng), time.monotonic()))

    def _idle(self) -> None:
        self._frames(self._dec.feed(b"", time.monotonic()))    # a stalled partial frame is dropped

    def _frames(self, frames: list[Frame]) -> None:
        for f in frames:
            self.frames_seen += 1
            self._answer(f)

    def _answer(self, req: Frame) -> None:
        targets = list(self.devices.values()) if req.addr == BROADCAST else (
            [self.devices[req.addr]] if req.addr in self.devices else [])
        for dev in targets:
            if dev.address in self.faults.silent:
                continue
            reply = dev.handle(req)
            if reply is None or self.rng.random() < self.faults.drop_rate:
                continue
            wire = reply.encode()
            # the request's own bytes were on the line before the device could answer
            time.sleep(self._line_time(len(req.payload) + 8) + self.faults.reply_delay_s + self._line_time(len(wire)))
            if self._send(self.faults.corrupt(wire, self.rng)):
                self.replies_sent += 1
