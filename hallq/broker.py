"""A private mosquitto broker on a free loopback port, for `hallq demo` and the tests."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class BrokerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto:
    """mosquitto as a child process. `start()` returns once it accepts connections.

    The port stays the same across `stop()`/`start()`, so tests can restart the broker
    under running clients; persistence keeps sessions and retained messages across it.
    """

    def __init__(self, port: int | None = None, workdir: Path | None = None, persistent: bool = True) -> None:
        self.port = port or free_port()
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="hallq-mosquitto-"))
        self.persistent = persistent
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> Mosquitto:
        exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
        if exe is None:
            raise BrokerError("mosquitto is not installed: run scripts/setup (or apt-get install mosquitto)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        # started as root, mosquitto drops to user "mosquitto", which cannot write our persistence folder
        lines = [f"user {getpass.getuser()}", f"listener {self.port} 127.0.0.1", "allow_anonymous true",
                 "max_queued_messages 100000", "set_tcp_nodelay true",
                 "log_dest stderr", "log_type error", "log_type warning"]
        if self.persistent:
            lines += ["persistence true", f"persistence_location {self.workdir}/", "autosave_interval 1"]
        conf.write_text("\n".join(lines) + "\n")
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=open(self.workdir / "mosquitto.log", "ab"))  # noqa: SIM115 (the child owns it)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrokerError(f"mosquitto exited at start (code {self.proc.returncode}); "
                                  f"see {self.workdir / 'mosquitto.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise BrokerError(f"mosquitto did not listen on 127.0.0.1:{self.port} within {timeout_s:g} s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
