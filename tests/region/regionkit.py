"""Helpers of the region tests: a private PostgreSQL per module, a secure regional broker from
`hallq region secure-init`, hall brokers with the bridge section of hallq/secure/bridge.py, processes in their own
process groups."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hallq.broker import Mosquitto, free_port
from hallq.config import parse_config
from hallq.secure.bridge import bridge_section
from region.pgtest import Postgres

ROOT = Path(__file__).resolve().parents[2]
HALLQ = [sys.executable, "-m", "hallq"]


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    p = Postgres().init().start()     # under /tmp itself: pytest's own temp folders are closed to `postgres`
    try:
        yield p
    finally:
        p.stop()
        shutil.rmtree(p.workdir, ignore_errors=True)


def region_yaml(path: Path, pg: Postgres, port: int, halls: list[str], **extra: Any) -> Path:
    doc = {"region": {"id": "xm", "name": {"zh": "锡林郭勒盟", "mn": "ᠰᠢᠯᠢ ᠶᠢᠨ ᠭᠣᠣᠯ"}},
           "mqtt": {"host": "127.0.0.1", "port": port}, "postgres": pg.dsn,
           "halls": [{"id": h, "name": {"zh": f"{h} 便民服务站", "mn": "ᠲᠥᠪ"}, "level": "gacha"} for h in halls],
           **extra}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def hall_broker(workdir: Path, hall: str, region_port: int, credentials: Path, secure: bool = False) -> Mosquitto:
    """A hall's mosquitto (anonymous, persistent) with its bridge section to the region."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    raw: dict[str, Any] = {"hall": {"id": hall, "name": {"zh": hall}}, "services": [{"id": "g", "prefix": "A",
                           "name": {"zh": "综合"}}], "windows": [{"id": "1", "services": ["g"]}],
                           "region": {"host": "127.0.0.1", "port": region_port, "credentials": str(credentials)}}
    if secure:
        raw["security"] = {"mode": "secure", "principals": [{"id": "region", "role": "region"}]}
    cfg = parse_config(raw)
    conf = workdir / "mosquitto.conf"
    conf.write_text("\n".join([
        "user root", f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence true",
        f"persistence_location {workdir}/", "autosave_interval 1", "set_tcp_nodelay true",
        f"log_dest file {workdir}/mosquitto.log", "log_type error", "log_type warning", "log_type notice",
    ]) + "\n" + bridge_section(cfg, workdir), encoding="utf-8")
    return Mosquitto.from_conf(conf, port)


class Proc:
    """A child in its own process group, its output in a file."""

    def __init__(self, argv: list[str], log: Path, stdout: bool = False) -> None:
        self.log = log
        self.argv = argv
        self._out = open(log, "ab")  # noqa: SIM115
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE if stdout else self._out, stderr=self._out,
                                  start_new_session=True, cwd=ROOT, env=env)

    def line(self, timeout_s: float) -> str:
        """The child's next stdout line (blocking with a deadline through a reader thread)."""
        import queue
        import threading
        q: queue.Queue[str] = queue.Queue()
        assert self.p.stdout is not None
        out = self.p.stdout
        threading.Thread(target=lambda: q.put(out.readline().decode()), daemon=True).start()
        try:
            return q.get(timeout=timeout_s)
        except queue.Empty:
            raise TimeoutError(f"{self.argv[:4]}: no output line within {timeout_s:g} s") from None

    def signal(self, sig: int) -> None:
        if self.p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.p.pid, sig)

    def stop(self, timeout_s: float = 20) -> None:
        self.signal(signal.SIGTERM)
        try:
            self.p.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.p.wait()
        self._out.close()

    def kill9(self) -> None:
        self.signal(signal.SIGKILL)
        self.p.wait()
