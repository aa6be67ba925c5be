"""Shared fixtures: a real mosquitto on a free port, hall configs, and the controller as a process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from hallq.broker import Mosquitto
from hallq.config import HallConfig, parse_config
from hallq.mqtt import BlockingClient

REPO = Path(__file__).resolve().parents[1]

# Every process a test starts inherits this mark; at the end of the run none may be left (tests leave nothing
# running). The mark survives re-parenting, so orphans of a killed parent are found too.
# This file is imported twice in a run (as pytest's conftest and as `tests.conftest` by test modules): both
# imports must use one mark, or the processes started after the second would carry a mark the hook never looks for.
_MARK = os.environ.get("HALLQ_TEST_RUN", "")
if not _MARK.startswith(f"{os.getpid()}-"):
    _MARK = f"{os.getpid()}-{os.urandom(4).hex()}"
    os.environ["HALLQ_TEST_RUN"] = _MARK
RUN_MARK = f"HALLQ_TEST_RUN={_MARK}"


def _marked_processes() -> list[tuple[int, str]]:
    mark = RUN_MARK.encode()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().split(b") ", 1)[1][:1]
        except OSError:
            continue
        entries = env.split(b"\0")
        if mark in entries and state != b"Z":
            test = next((e.split(b"=", 1)[1].decode(errors="replace") for e in entries
                         if e.startswith(b"PYTEST_CURRENT_TEST=")), "?")
            out.append((int(entry), f"{cmd}  [started by {test}]"))
    return out


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a test left a child process running (and kill it, so the machine stays clean)."""
    import time
    deadline = time.monotonic() + 10
    left = _marked_processes()
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = _marked_processes()
    if not left:
        return
    for pid, _cmd in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    lines = "\n".join(f"  pid {pid}: {cmd[:160]}{cmd[cmd.rfind('  [started by'):]}" for pid, cmd in left)
    sys.stderr.write(f"\nhallq tests: {len(left)} process(es) were left running by the tests (killed now):\n{lines}\n")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def small_hall(port: int = 1883, **extra: Any) -> dict[str, Any]:
    """A 3-window hall: window 1 takes general+tax, 2 takes tax, 3 takes general."""
    cfg: dict[str, Any] = {
        "hall": {"id": "test-hall", "name": {"zh": "测试政务服务中心", "mn": "ᠲᠤᠷᠰᠢᠯᠲᠠ"}, "timezone": "Asia/Shanghai"},
        "mqtt": {"host": "127.0.0.1", "port": port},
        "data_dir": "./var",
        "services": [
            {"id": "general", "prefix": "A", "name": {"zh": "综合受理", "mn": "ᠶᠡᠷᠦᠩᠬᠡᠢ"}},
            {"id": "tax", "prefix": "S", "name": {"zh": "税务", "mn": "ᠲᠠᠲᠠᠪᠤᠷᠢ"}},
        ],
        "windows": [
            {"id": "1", "services": ["general", "tax"]},
            {"id": "2", "services": ["tax"]},
            {"id": "3", "services": ["general"]},
        ],
        "staff": [
            {"id": "S001", "name": "张三", "windows": ["1", "3"]},
            {"id": "S002", "name": "李四", "windows": ["2", "1"]},
            {"id": "S003", "name": "王芳", "windows": ["3"]},
        ],
        "rules": {"recall_limit": 2},
    }
    cfg.update(extra)
    return cfg


def edit_config(path: Path, change: Callable[[dict[str, Any]], None]) -> str:
    """Edit a hall's YAML file as an installer would (`change` edits the parsed mapping); the new text's SHA-256,
    as the parts that reload it log it."""
    from hallq.config import config_sha

    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(raw)
    text = yaml.safe_dump(raw, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return config_sha(text)


@pytest.fixture
def secure_hall(tmp_path: Path) -> Iterator[Any]:
    """A secure hall with its broker running (tests/secure_hall.py: principals kiosk-1, bridge-1, display-1,
    console-1, eval-4, region-1; `.client(P)`, `.credentials(P)`, `.config_path`, `.layout`, `.broker`)."""
    from tests.secure_hall import secure_hall as make

    with make(tmp_path / "secure-hall") as h:
        yield h


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(workdir=tmp_path / "broker").start()
    yield broker
    broker.stop()


class FixedClock:
    """A clock that stands still at `at` (set `at` to move it)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


class ControllerProc:
    """`python -m hallq controller` as a child process, killable with SIGKILL."""

    def __init__(self, config_path: Path, data_dir: Path, log_path: Path, extra: tuple[str, ...] = ()) -> None:
        self.config_path, self.data_dir, self.log_path, self.extra = config_path, data_dir, log_path, extra
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ControllerProc:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hallq", "controller", "--config", str(self.config_path),
             "--data", str(self.data_dir), *self.extra],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=open(self.log_path, "ab"))  # noqa: SIM115
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(15)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Hall:
    """A running test hall: config, broker, controller process and a client."""

    def __init__(self, tmp: Path, broker: Mosquitto, cfg_dict: dict[str, Any]) -> None:
        self.tmp = tmp
        self.broker = broker
        self.cfg_dict = cfg_dict
        self.config_path = tmp / "hall.yaml"
        self.config_path.write_text(yaml.safe_dump(cfg_dict, allow_unicode=True), encoding="utf-8")
        self.cfg: HallConfig = parse_config(cfg_dict)
        self.data_dir = tmp / "data"
        self.controller = ControllerProc(self.config_path, self.data_dir, tmp / "controller.log")

    def client(self, name: str = "test", subscribe: tuple[str, ...] = ()) -> BlockingClient:
        return BlockingClient(self.cfg, name, subscribe)

    def start_controller(self, client: BlockingClient | None = None) -> None:
        """Start the controller and wait until it announces itself online."""
        own = client is None
        c = client or self.client("waiter", (self.cfg.topic("controller", "status"),))
        if own:
            c.connect()
        t0 = datetime.now(UTC) - timedelta(milliseconds=5)
        self.controller.start()

        def fresh_online(b: Any) -> bool:
            return b.get("state") == "online" and datetime.fromisoformat(b["at"]) >= t0

        try:
            c.wait_for(self.cfg.topic("controller", "status"), fresh_online, timeout_s=30)
        except TimeoutError:
            raise AssertionError("controller did not come online; its log:\n" + self.controller.log()) from None
        finally:
            if own:
                c.close()


@pytest.fixture
def halls() -> Iterator[list[Hall]]:
    """Halls a test makes itself (append them): their controllers are killed when it ends, passed or failed."""
    made: list[Hall] = []
    yield made
    for h in made:
        h.controller.kill()


@pytest.fixture
def hall(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Hall]:
    h = Hall(tmp_path, mosquitto, small_hall(mosquitto.port))
    yield h
    h.controller.kill()


class BridgeRunner:
    """`hallq bridge` as a child process of a test hall (mixed into the e2e test halls)."""

    hall: Hall
    tmp: Path
    bridge: subprocess.Popen[bytes] | None = None

    def start_bridge(self) -> None:
        self.bridge = subprocess.Popen(
            [sys.executable, "-m", "hallq", "bridge", "--config", str(self.hall.config_path), "--data",
             str(self.tmp / "bridge")], cwd=REPO, env=dict(os.environ, PYTHONUNBUFFERED="1"),
            stdout=subprocess.DEVNULL, stderr=open(self.tmp / "bridge.log", "ab"))  # noqa: SIM115

    def stop_bridge(self, sig: int = signal.SIGTERM) -> None:
        if self.bridge and self.bridge.poll() is None:
            self.bridge.send_signal(sig)
            self.bridge.wait(15)

    def log(self) -> str:
        return (self.tmp / "bridge.log").read_text(errors="replace")[-4000:]
