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
from hallq.broker import Mosquitto, free_port
from hallq.config import HallConfig, load_config, parse_config
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


RECEPTION_STAFF = "R001"


def secure_config(raw: dict[str, Any], devices: list[str]) -> dict[str, Any]:
    """`raw` made secure (CONTRACT §5) for the day simulator's own principals:

    - `simday-kiosk` (kiosk): citizens take tickets; its `ticket` query lets the controller see the time;
    - `simday-desk` (console acting for reception staff R001, added here): green-channel tickets, which a
      kiosk gives only for a scanned 蒙速办 code;
    - `desk-N` (device of window N): the window's staff log in, call, serve, and their evaluator rates;
    - the scenario's device statuses: `{kiosk}-printer` as kiosk `{kiosk}`, any other device as
      `simday-bridge` (bridge), listed under devices.mqtt so that the broker lets it write them.
    Device logins take the staff id alone (`device_login: id`): the day measures queue policy, not sign-in."""
    out = {**raw, "staff": [*raw.get("staff", []), {"id": RECEPTION_STAFF, "name": "导服台",
                                                    "windows": [raw["windows"][0]["id"]], "roles": ["reception"]}]}
    principals: list[dict[str, Any]] = [
        {"id": "simday-kiosk", "role": "kiosk"}, {"id": "simday-bridge", "role": "bridge"},
        {"id": "simday-desk", "role": "console", "staff_roles": ["reception"]}]
    principals += [{"id": f"desk-{w['id']}", "role": "device", "window": w["id"]} for w in raw["windows"]]
    kiosks = sorted({d.removesuffix("-printer") for d in devices if d.endswith("-printer")})
    principals += [{"id": k, "role": "kiosk"} for k in kiosks]
    others = [d for d in devices if not d.endswith("-printer")]
    out["devices"] = {"mqtt": [{"id": d, "kind": "evaluator", "window": raw["windows"][0]["id"]} for d in others]}
    out["security"] = {"mode": "secure", "device_login": "id", "principals": principals}
    return out


class MqttHall:
    """The real controller (`ControllerService`, the same class `hallq controller` runs) on a private mosquitto,
    its clock stepped by the simulator; every command goes over MQTT as CONTRACT §3 says.

    `speed` > 0 paces the day: simulated time runs at most `speed` times faster than the wall clock.
    `secure`: the hall runs locked (mosquitto from `hallq.secure.generate`'s config, the controller and the
    simulator's parts each with their own principal, see `secure_config`); `devices` are the device ids
    whose status the day reports.
    """

    def __init__(self, cfg: dict[str, Any], workdir: Path | None = None, speed: float = 0.0,
                 timeout_s: float = 30.0, secure: bool = False, devices: list[str] | None = None) -> None:
        self.raw = secure_config(cfg, devices or []) if secure else cfg
        self.secure = secure
        self.desks: dict[str, BlockingClient] = {}
        self.reception: BlockingClient | None = None
        self.device_clients: dict[str, BlockingClient] = {}
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
        """Broker, clients and the controller; what was started is stopped again when opening fails."""
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        raw = {**self.raw, "mqtt": {"host": "127.0.0.1", "port": port}}
        text = yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)
        (self.workdir / "hall.yaml").write_text(text, encoding="utf-8")
        self.cfg = parse_config(raw, str(self.workdir / "hall.yaml"))
        as_ = self._open_broker(port)
        self.controller_cfg = as_("controller")
        self.client = BlockingClient(as_("simday-kiosk"), "simday", (self.cfg.topic("event", "#"),
                                                                     self.cfg.topic("controller", "status")))
        self.client.connect()
        if self.secure:
            self.desks = {w.id: BlockingClient(as_(f"desk-{w.id}"), f"simday-w{w.id}") for w in self.cfg.windows}
            self.reception = BlockingClient(as_("simday-desk"), "simday-desk")
            for c in [*self.desks.values(), self.reception]:
                c.connect()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run_controller, args=(text,), name="simday-controller",
                                        daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("simday: the controller thread did not start")
        self.client.wait_for(self.cfg.topic("controller", "status"), lambda b: b.get("state") == "online",
                             timeout_s=self.timeout_s)

    def _open_broker(self, port: int) -> Any:
        """Start mosquitto (from the generated secure config in a secure hall); returns principal -> its config."""
        assert self.cfg is not None
        if not self.secure:
            self.broker = Mosquitto(port=port, workdir=self.workdir / "broker").start()
            cfg = self.cfg
            return lambda _principal: cfg
        from hallq.secure import generate

        full = load_config(self.workdir / "hall.yaml")
        layout = generate(full, self.workdir / "secure")
        self.broker = Mosquitto.from_conf(layout.conf, port).start()
        return lambda principal: full.with_credentials(str(layout.credentials(principal)))

    def _run_controller(self, text: str) -> None:
        assert self.cfg is not None
        # the clock must exist before the controller reads it; at() sets the first real time
        self.clock = self.clock or SteppedClock(datetime.now().astimezone())
        service = ControllerService(self.controller_cfg, self.data_dir, self.clock, text)

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
        for c in [*([self.client] if self.client else []), *self.desks.values(), *self.device_clients.values(),
                  *([self.reception] if self.reception else [])]:
            c.close()
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
        client = self.client
        if self.secure:
            if name == "issue" and args.get("priority") == "green" and self.reception is not None:
                client, args = self.reception, {**args, "actor": RECEPTION_STAFF}
            elif str(args.get("window")) in self.desks:
                client = self.desks[str(args["window"])]
        reply = client.request(name, timeout_s=self.timeout_s, **args)
        return (True, dict(reply.get("result") or {})) if reply.get("ok") else (False, dict(reply.get("error") or {}))

    def device(self, device: str, status: dict[str, Any]) -> None:
        assert self.client is not None and self.cfg is not None
        client = self.client
        if self.secure:     # a device's status comes from the principal that may write it (secure_config)
            who = device.removesuffix("-printer") if device.endswith("-printer") else "simday-bridge"
            if who not in self.device_clients:
                full = load_config(self.workdir / "hall.yaml")
                self.device_clients[who] = BlockingClient(
                    full.with_credentials(str(self.workdir / "secure" / "credentials" / f"{who}.yaml")), who)
                self.device_clients[who].connect()
            client = self.device_clients[who]
        client.publish(self.cfg.topic("device", device, "status"), status, retain=True)

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

