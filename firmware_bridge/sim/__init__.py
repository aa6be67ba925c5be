"""Device simulators: hallbus evaluators, LED boards and legacy keypads on pseudo-terminals (tests, demo,
`hallq sim`)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from firmware_bridge.hallbus.messages import KIND
from firmware_bridge.sim.bus import Faults, SimBus
from firmware_bridge.sim.device import SimBitmapBoard, SimDevice, SimEvaluator, SimLed
from firmware_bridge.sim.keypad import KeypadFaults, SimKeypad, SimKeypadLink
from hallq.config import BusConfig, HallConfig

__all__ = ["DemoBuses", "Faults", "KeypadFaults", "SimBitmapBoard", "SimBus", "SimDevice", "SimEvaluator",
           "SimKeypad", "SimKeypadLink", "SimLed", "demo_bus", "devices_for"]


def devices_for(bus: BusConfig) -> list[SimDevice]:
    """A simulator for every hallbus device the bus config names (keypads: SimKeypadLink)."""
    out: list[SimDevice] = []
    for d in bus.devices:
        uid = bytes((0x48, 0x51, 0, 0, 0, 0, 0, d.address))
        if d.kind == "evaluator":
            out.append(SimEvaluator(d.address, uid=uid))
        elif d.kind == "hall_led" and d.size is not None:
            out.append(SimBitmapBoard(d.address, uid=uid, size=d.size))
        elif d.kind in ("led", "hall_led"):
            out.append(SimLed(d.address, uid=uid, kind=KIND.WINDOW_LED if d.kind == "led" else KIND.HALL_LED))
    return out


@dataclass
class DemoBuses:
    buses: dict[str, SimBus | SimKeypadLink] = field(default_factory=dict)

    @property
    def ports(self) -> dict[str, str]:
        return {bid: b.port for bid, b in self.buses.items()}

    def stop(self) -> None:
        for b in self.buses.values():
            b.close()


def demo_bus(cfg: HallConfig, workdir: Path | None = None) -> DemoBuses:
    """Start simulated devices for every configured hallbus bus, each on its own pty."""
    wd = workdir or Path(tempfile.mkdtemp(prefix="hallq-sim-"))
    out = DemoBuses()
    for bus in cfg.devices.buses:
        if bus.is_keypad:
            keypads = [SimKeypad(d.address, digits=d.digits) for d in bus.devices]
            out.buses[bus.id] = SimKeypadLink(keypads, bus.baud, link=wd / f"tty-{bus.id}").open()
        else:
            out.buses[bus.id] = SimBus(devices_for(bus), bus.baud, link=wd / f"tty-{bus.id}").open()
    return out
