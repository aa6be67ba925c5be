"""A private PostgreSQL (Debian's postgresql 15) in a temporary folder on a free port, for the tests and the bench:
`initdb` as the `postgres` account when run by root, the server in its own process group."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from hallq.broker import free_port

BIN = Path("/usr/lib/postgresql/15/bin")


class PostgresError(RuntimeError):
    pass


class Postgres:
    def __init__(self, workdir: Path | None = None, port: int | None = None) -> None:
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="hallq-pg-"))
        self.data = self.workdir / "data"
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._as_postgres = os.geteuid() == 0

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} dbname=postgres user=hallq connect_timeout=5"

    def _cmd(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if self._as_postgres else argv

    def init(self) -> Postgres:
        if not (BIN / "initdb").exists():
            raise PostgresError("PostgreSQL 15 is not installed: apt-get install -y postgresql (scripts/setup)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.workdir, "postgres", "postgres")
        os.chmod(self.workdir, 0o700)
        r = subprocess.run(self._cmd([str(BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "hallq",
                                      "-E", "UTF8", "--no-sync"]), capture_output=True, text=True)
        if r.returncode != 0:
            raise PostgresError(f"initdb failed: {r.stderr.strip() or r.stdout.strip()}")
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as f:
            f.write("fsync = on\nsynchronous_commit = on\nshared_buffers = 128MB\nmax_connections = 50\n")
        return self

    def start(self, timeout_s: float = 30.0) -> Postgres:
        log = open(self.workdir / "postgres.log", "ab")  # noqa: SIM115 (the child owns it)
        self.proc = subprocess.Popen(
            self._cmd([str(BIN / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.workdir),
                       "-c", "listen_addresses=127.0.0.1"]),
            stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PostgresError(f"postgres exited at start; see {self.workdir / 'postgres.log'}")
            try:
                with psycopg.connect(self.dsn, connect_timeout=1):
                    return self
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise PostgresError(f"postgres did not accept connections within {timeout_s:g} s")

    def stop(self) -> None:
        """A fast shutdown (SIGINT), then the whole process group."""
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            with _suppress():
                os.killpg(p.pid, signal.SIGINT)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                with _suppress():
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.proc = None

    def kill(self) -> None:
        """kill -9 of the postmaster's whole group: a crash; the next start recovers from the WAL. Returns once
        no process of the group is left (a backend still holding the shared memory would stop the next start)."""
        p = self.proc
        if p is not None:
            with _suppress():
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.killpg(p.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
        self.proc = None


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, et: object, _e: object, _tb: object) -> bool:
        return et is not None and isinstance(_e, ProcessLookupError | PermissionError)
