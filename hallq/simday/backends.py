"""Where a simulated day runs: the real controller over MQTT on a stepped clock, or the pure engine in-process.

Both have the shape of `HallLink`: set the time, send a command, report a device status, and hand
back the events the controller published.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import yaml

from controller.engine import Engine
from controller.service import ControllerService
from hallq.broker import Mosquitto
from hallq.config import HallConfig, parse_config
from hallq.mqtt import BlockingClient

Reply = tuple[bool, dict[str, Any]]     # (ok, result or error)


class HallLink(Protocol):
    def open(self) -> None: ...
    def close(self) -> None: ...
    def at(self, t: datetime) -> None: ...
    def command(self, name: str, **args: Any) -> Reply: ...
    def device(self, device: str, status: dict[str, Any]) -> None: ...
    def tick(self) -> None: ...
    def events(self) -> list[dict[str, Any]]: ...


class SteppedClock:
    """The controller's injected clock: time stands still until the simulator moves it on."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a stepped clock needs a UTC offset")
        self.t = start

    def now(self) -> datetime:
        return self.t


class EngineHall:
    """The pure engine, in-process: the reference for the old-way baseline and for quick estimator work."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = parse_config(cfg)
        self.engine = Engine(self.cfg)
        self.now: datetime | None = None
        self._events: list[dict[str, Any]] = []

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def at(self, t: datetime) -> None:
        self.now = t

    def command(self, name: str, **args: Any) -> Reply:
        assert self.now is not None, "set the time with at() before the first command"
        out = self.engine.handle(name, args, self.now)
        self._events += out.events
        return (True, out.reply["result"]) if out.ok else (False, out.reply["error"])

    def device(self, device: str, status: dict[str, Any]) -> None:
        assert self.now is not None
        paper = status.get("paper")
        st = {"out": "paper_out", "near_end": "paper_near_end"}.get(str(paper), str(status.get("state")))
        self._events += self.engine.device_status(device, st, self.now)

    def tick(self) -> None:
        assert self.now is not None
        self._events += self.engine.tick(self.now)

    def events(self) -> list[dict[str, Any]]:
        return list(self._events)


class MqttHall:
    """The real controller (`ControllerService`, the same class `hallq controller` runs) on a private mosquitto,
    its clock stepped by the simulator; every command goes over MQTT as CONTRACT §3 says.

    `speed` > 0 paces the day: simulated time runs at most `speed` times faster than the wall clock.
    """

    def __init__(self, cfg: dict[str, Any], workdir: Path | None = None, speed: float = 0.0,
                 timeout_s: float = 30.0) -> None:
        self.raw = cfg
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="hallq-simday-"))
        self.speed = speed
        self.timeout_s = timeout_s
        self.broker: Mosquitto | None = None
        self.cfg: HallConfig | None = None
        self.clock: SteppedClock | None = None
        self.client: BlockingClient | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._pace: tuple[float, datetime] | None = None
        self.commands = 0

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    def open(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.broker = Mosquitto(workdir=self.workdir / "broker").start()
        raw = {**self.raw, "mqtt": {"host": "127.0.0.1", "port": self.broker.port}}
        text = yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)
        (self.workdir / "hall.yaml").write_text(text, encoding="utf-8")
        self.cfg = parse_config(raw, str(self.workdir / "hall.yaml"))
        self.client = BlockingClient(self.cfg, "simday", (self.cfg.topic("event", "#"),
                                                          self.cfg.topic("controller", "status")))
        self.client.connect()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run_controller, args=(text,), name="simday-controller",
                                        daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("simday: the controller thread did not start")
        self.client.wait_for(self.cfg.topic("controller", "status"), lambda b: b.get("state") == "online",
                             timeout_s=self.timeout_s)

    def _run_controller(self, text: str) -> None:
        assert self.cfg is not None
        # the clock must exist before the controller reads it; at() sets the first real time
        self.clock = self.clock or SteppedClock(datetime.now().astimezone())
        service = ControllerService(self.cfg, self.data_dir, self.clock, text)

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._started.set()
            await service.run(self._stop)

        asyncio.run(main())

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(20)
        if self.client is not None:
            self.client.close()
        if self.broker is not None:
            self.broker.stop()

    def at(self, t: datetime) -> None:
        if self.speed > 0:
            if self._pace is None:
                self._pace = (time.monotonic(), t)
            due = self._pace[0] + (t - self._pace[1]).total_seconds() / self.speed
            left = due - time.monotonic()
            if left > 0:
                time.sleep(left)
        if self.clock is None:
            self.clock = SteppedClock(t)
        self.clock.t = t

    def command(self, name: str, **args: Any) -> Reply:
        assert self.client is not None, "open() first"
        self.commands += 1
        reply = self.client.request(name, timeout_s=self.timeout_s, **args)
        return (True, dict(reply.get("result") or {})) if reply.get("ok") else (False, dict(reply.get("error") or {}))

    def device(self, device: str, status: dict[str, Any]) -> None:
        assert self.client is not None and self.cfg is not None
        self.client.publish(self.cfg.topic("device", device, "status"), status, retain=True)

    def tick(self) -> None:
        """Let the controller see the time: any command runs its time-caused checks first (a query here)."""
        assert self.client is not None
        self.client.request("ticket", timeout_s=self.timeout_s, number="TICK")

    def events(self) -> list[dict[str, Any]]:
        """Every event published on hallq/{hall}/event/#, in seq order (waits until the stream is quiet)."""
        assert self.client is not None and self.cfg is not None
        last, quiet = -1, 0
        while quiet < 3:
            n = len(self.client.received)
            quiet = quiet + 1 if n == last else 0
            last = n
            time.sleep(0.1)
        prefix = self.cfg.topic("event", "")
        evs = {}
        for m in list(self.client.received):
            if m.topic.startswith(prefix):
                body = m.json()
                evs[body["seq"]] = body
        return [evs[k] for k in sorted(evs)]

