"""A simulated multi-drop bus: several simulated devices behind one serial endpoint (a pty).

A thread reads the master's bytes, decodes frames, lets the addressed device (or all, for a
broadcast) answer, and writes the reply after the turnaround delay. Faults on demand: dropped
replies, bit errors at a given rate (both directions), slow replies, and unplugging the port.
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

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

    def unplug(self) -> None:
        self.close()

    def replug(self) -> None:
        self.open()

    def _line_time(self, n: int) -> float:
        return n * BITS_PER_CHAR / self.baud if self.faults.wire_time else 0.0

    def _serve(self) -> None:
        fd = self.master_fd
        assert fd is not None
        dec = FrameDecoder(stall_timeout_s(self.baud, 0.02))
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([fd], [], [], 0.05)
            except (OSError, ValueError):
                return
            now = time.monotonic()
            if not r:
                frames = dec.feed(b"", now)
            else:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    time.sleep(0.05)  # nobody has the port open
                    continue
                frames = dec.feed(self.faults.corrupt(data, self.rng), now)
            for f in frames:
                self.frames_seen += 1
                self._answer(fd, f)

    def _answer(self, fd: int, req: Frame) -> None:
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
            with contextlib.suppress(OSError):
                os.write(fd, self.faults.corrupt(wire, self.rng))
                self.replies_sent += 1
