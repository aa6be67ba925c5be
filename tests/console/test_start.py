"""`hallq console` start-up refusals: one clear line and exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from hallq.webauth import is_loopback, parse_listen
from tests.conftest import REPO, small_hall


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "hall.yaml"
    cfg.write_text(yaml.safe_dump(small_hall(1), allow_unicode=True), encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "hallq", "console", "--config", str(cfg), "--data",
                           str(tmp_path / "data"), *args], capture_output=True, text=True, cwd=REPO, timeout=60)


def test_non_loopback_without_certificate(tmp_path: Path) -> None:
    r = _run(tmp_path, "--listen", "0.0.0.0:18443")
    assert r.returncode == 2
    assert "needs HTTPS" in r.stderr and "console.cert" in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0


def test_bad_listen(tmp_path: Path) -> None:
    r = _run(tmp_path, "--listen", "nonsense")
    assert r.returncode == 2 and "HOST:PORT" in r.stderr and "Traceback" not in r.stderr


def test_loopback_rules() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")
    assert parse_listen("[::1]:8080") == ("::1", 8080)
