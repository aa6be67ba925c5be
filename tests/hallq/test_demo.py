"""`hallq demo` runs the whole hall: broker, controller, bridge with simulated devices, a living hall."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_demo_runs_a_living_hall() -> None:
    res = subprocess.run([sys.executable, "-m", "hallq", "demo", "--duration", "25", "--no-gui"], cwd=REPO,
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    m = re.search(r"stopped\. issued (\d+), called (\d+), finished (\d+)", res.stdout)
    assert m, res.stdout
    issued, called, _finished = map(int, m.groups())
    assert issued >= 2 and called >= 1, res.stdout
    logdir = re.search(r"logs and data in (\S+)", res.stdout)
    assert logdir
    text = Path(logdir.group(1), "bridge.log").read_text()
    assert "identified" in text, "the bridge identified the simulated devices"
