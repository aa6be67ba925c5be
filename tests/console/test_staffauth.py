"""hallq/staffauth.py and `hallq staff passwd|pin`: hashes in their own 0600 file, re-read when changed."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hallq.staffauth import FILE_NAME, StaffSecrets
from tests.conftest import REPO, small_hall


def test_set_and_check(tmp_path: Path) -> None:
    s = StaffSecrets(tmp_path)
    assert not s.has_password("S001")
    s.set_password("S001", "correct horse")
    s.set_pin("S001", "4321")
    assert s.has_password("S001") and s.check_password("S001", "correct horse")
    assert not s.check_password("S001", "wrong horse")
    assert s.check_pin("S001", "4321") and not s.check_pin("S001", "1234")
    assert not s.check_password("S999", "correct horse")
    raw = (tmp_path / FILE_NAME).read_text()
    assert "correct horse" not in raw and "4321" not in raw and "scrypt$" in raw
    assert stat.S_IMODE(os.stat(tmp_path / FILE_NAME).st_mode) == 0o600


@pytest.mark.parametrize("pin", ["123", "123456789", "12a4", "", "١٢٣٤"])
def test_pin_is_4_to_8_digits(tmp_path: Path, pin: str) -> None:
    with pytest.raises(ValueError):
        StaffSecrets(tmp_path).set_pin("S001", pin)


def test_unknown_id_costs_the_same(tmp_path: Path) -> None:
    s = StaffSecrets(tmp_path)
    s.set_password("S001", "correct horse")

    def cost(staff: str) -> float:
        t = time.perf_counter()
        for _ in range(5):
            s.check_password(staff, "guess-guess")
        return time.perf_counter() - t

    known, unknown = cost("S001"), cost("NOBODY")
    assert 0.5 < unknown / known < 2.0, (known, unknown)


def test_another_process_change_is_seen(tmp_path: Path) -> None:
    reader, writer = StaffSecrets(tmp_path), StaffSecrets(tmp_path)
    writer.set_password("S001", "first password")
    assert reader.check_password("S001", "first password")
    writer.set_password("S001", "second password")
    assert reader.check_password("S001", "second password")
    assert not reader.check_password("S001", "first password")


def _cli(tmp_path: Path, what: str, staff: str, stdin: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "hall.yaml"
    cfg.write_text(yaml.safe_dump(small_hall(), allow_unicode=True), encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "hallq", "staff", what, "--config", str(cfg), "--data",
                           str(tmp_path / "data"), staff], input=stdin, text=True, capture_output=True, cwd=REPO,
                          timeout=60)


def test_cli_sets_password_and_pin(tmp_path: Path) -> None:
    assert _cli(tmp_path, "passwd", "S001", "a long password\n").returncode == 0
    assert _cli(tmp_path, "pin", "S001", "246810\n").returncode == 0
    s = StaffSecrets(tmp_path / "data")
    assert s.check_password("S001", "a long password") and s.check_pin("S001", "246810")


@pytest.mark.parametrize(("what", "staff", "stdin", "says"), [
    ("passwd", "NOBODY", "a long password\n", "unknown staff id 'NOBODY'"),
    ("pin", "S001", "12\n", "4 to 8 digits"),
    ("passwd", "S001", "short\n", "8 to 256 characters"),
    ("passwd", "S001", "", "no password on standard input"),
])
def test_cli_refusals_exit_2_in_one_line(tmp_path: Path, what: str, staff: str, stdin: str, says: str) -> None:
    r = _cli(tmp_path, what, staff, stdin)
    assert r.returncode == 2
    assert says in r.stderr and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
