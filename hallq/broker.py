"""A private mosquitto broker on a free loopback port, for `hallq demo` and the tests."""

from __future__ import annotations

import getpass
import shutil
import signal
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
        self.conf: Path | None = None       # a given mosquitto.conf (from_conf); None = write our own
        self.host = "127.0.0.1"

    @classmethod
    def from_conf(cls, conf: Path, port: int, host: str = "127.0.0.1") -> Mosquitto:
        """The broker of a given mosquitto.conf (e.g. `hallq secure init`'s), which listens on host:port;
        its stderr goes to `mosquitto.stderr` beside the conf."""
        m = cls(port=port, workdir=Path(conf).parent)
        m.conf, m.host = Path(conf), host
        return m

    def reload(self) -> None:
        """SIGHUP: mosquitto reads its password and ACL files again."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGHUP)

    def start(self, timeout_s: float = 10.0) -> Mosquitto:
        exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
        if exe is None:
            raise BrokerError("mosquitto is not installed: run scripts/setup (or apt-get install mosquitto)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.conf is not None:
            return self._run(exe, self.conf, self.workdir / "mosquitto.stderr", timeout_s)
        conf = self.workdir / "mosquitto.conf"
        # started as root, mosquitto drops to user "mosquitto", which cannot write our persistence folder
        lines = [f"user {getpass.getuser()}", f"listener {self.port} 127.0.0.1", "allow_anonymous true",
                 "max_queued_messages 100000", "set_tcp_nodelay true",
                 "log_dest stderr", "log_type error", "log_type warning"]
        if self.persistent:
            lines += ["persistence true", f"persistence_location {self.workdir}/", "autosave_interval 1"]
        conf.write_text("\n".join(lines) + "\n")
        return self._run(exe, conf, self.workdir / "mosquitto.log", timeout_s)

    def _run(self, exe: str, conf: Path, log: Path, timeout_s: float) -> Mosquitto:
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, start_new_session=True,
                                     stderr=open(log, "ab"))  # noqa: SIM115 (the child owns it)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrokerError(f"mosquitto exited at start (code {self.proc.returncode}); see {log}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise BrokerError(f"mosquitto did not listen on {self.host}:{self.port} within {timeout_s:g} s")

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
