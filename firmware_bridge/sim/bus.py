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


class SimWire:
    """The devices' side of the line without a pty or a clock: fed the master's bytes and the time, it returns
    each reply with its delay after that time (turnaround, and line time with `wire_time`). SimBus puts it on
    a pty; unit tests drive it in-process with a fake clock."""

    def __init__(self, devices: Iterable[SimDevice], baud: int = 9600, faults: Faults | None = None, seed: int = 1,
                 stall_s: float | None = None) -> None:
        self.devices = {d.address: d for d in devices}
        self.baud = baud
        self.faults = faults or Faults()
        self.rng = random.Random(seed)
        self.frames_seen = 0
        self.stall_s = stall_timeout_s(baud, 0.02) if stall_s is None else stall_s
        self.decoder = FrameDecoder(self.stall_s)

    def reset_line(self) -> None:
        """A fresh line: nothing half-received."""
        self.decoder = FrameDecoder(self.stall_s)

    def line_time(self, n: int) -> float:
        return n * BITS_PER_CHAR / self.baud if self.faults.wire_time else 0.0

    def receive(self, data: bytes, now: float) -> list[tuple[float, bytes]]:
        """The master's bytes (empty: only time passed); the replies they cause, as (delay, bytes)."""
        out: list[tuple[float, bytes]] = []
        for f in self.decoder.feed(self.faults.corrupt(data, self.rng), now):
            self.frames_seen += 1
            out += self.answer(f)
        return out

    def answer(self, req: Frame) -> list[tuple[float, bytes]]:
        targets = list(self.devices.values()) if req.addr == BROADCAST else (
            [self.devices[req.addr]] if req.addr in self.devices else [])
        out: list[tuple[float, bytes]] = []
        for dev in targets:
            if dev.address in self.faults.silent:
                continue
            reply = dev.handle(req)
            if reply is None or self.rng.random() < self.faults.drop_rate:
                continue
            wire = reply.encode()
            # the request's own bytes were on the line before the device could answer
            delay = self.line_time(len(req.payload) + 8) + self.faults.reply_delay_s + self.line_time(len(wire))
            out.append((delay, self.faults.corrupt(wire, self.rng)))
        return out


class SimBus(PtyEndpoint):
    """Constructor stores settings; `open()` makes the pty (and `link` symlink) and starts the thread."""

    thread_name = "simbus"

    def __init__(self, devices: Iterable[SimDevice], baud: int = 9600, link: str | Path | None = None,
                 faults: Faults | None = None, seed: int = 1) -> None:
        super().__init__(link)
        self.wire = SimWire(devices, baud, faults, seed)
        self.devices = self.wire.devices
        self.baud = baud
        self.rng = self.wire.rng
        self.replies_sent = 0

    @property
    def faults(self) -> Faults:
        return self.wire.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self.wire.faults = faults

    @property
    def frames_seen(self) -> int:
        return self.wire.frames_seen

    def unplug(self) -> None:
        self.close()

    def replug(self) -> None:
        self.open()

    def open(self) -> Self:
        self.wire.reset_line()
        return super().open()

    def _received(self, data: bytes) -> None:
        self._replies(self.wire.receive(data, time.monotonic()))

    def _idle(self) -> None:
        self._replies(self.wire.receive(b"", time.monotonic()))    # a stalled partial frame is dropped

    def _replies(self, replies: list[tuple[float, bytes]]) -> None:
        for delay, wire in replies:
            time.sleep(delay)
            if self._send(wire):
                self.replies_sent += 1
