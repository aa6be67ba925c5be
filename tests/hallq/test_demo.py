"""`hallq demo` runs the whole hall: broker, controller, bridge with simulated devices, a living hall.

Secure by default (every part with its own principal and credentials, staff logging in with PINs);
`--open` runs the v1 way.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def _demo(*flags: str, duration: int = 30) -> tuple[str, Path, dict[str, int]]:
    res = subprocess.run([sys.executable, "-m", "hallq", "demo", "--duration", str(duration), "--no-gui", *flags],
                         cwd=REPO, capture_output=True, text=True, timeout=240, start_new_session=True)
    assert res.returncode == 0, res.stderr[-3000:]
    m = re.search(r"stopped\. issued (\d+), called (\d+), finished (\d+), rated (\d+)", res.stdout)
    assert m, res.stdout
    counts = dict(zip(("issued", "called", "finished", "rated"), map(int, m.groups()), strict=True))
    logdir = re.search(r"logs and data in (\S+)", res.stdout)
    assert logdir, res.stdout
    return res.stdout, Path(logdir.group(1)), counts


def _events(work: Path) -> list[dict[str, object]]:
    db = sqlite3.connect(work / "data" / "hallq.sqlite3")
    try:
        return [dict(json.loads(body), type=typ) for typ, body in db.execute("SELECT type, body FROM events")]
    finally:
        db.close()


def test_demo_runs_a_living_hall_secure_by_default() -> None:
    out, work, n = _demo(duration=50)   # room for the first ratings on a loaded 2-core machine
    assert "secure" in out
    assert n["issued"] >= 2 and n["called"] >= 1 and n["rated"] >= 1, out
    assert "identified" in (work / "bridge.log").read_text(), "the bridge identified the simulated devices"
    conf = (work / "secure" / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf
    assert sorted(p.name for p in (work / "secure" / "credentials").iterdir())[:2] == ["bridge.yaml", "console.yaml"]
    events = _events(work)
    logins = [e for e in events if e["type"] == "window.login"]
    assert logins and all(str(e.get("principal", "")).startswith("desk-") for e in logins), logins
    assert {e.get("principal") for e in events if e["type"] == "ticket.issued"} <= {"livinghall-kiosk",
                                                                                     "livinghall-desk"}
    assert any(e["type"] == "evaluation.recorded" for e in events)
    pins = re.search(r"PINs \(evaluator login\) (.*?);", out)
    assert pins, out
    for pin in re.findall(r"\b\d{4}\b", pins.group(1)):
        for log in work.glob("*.log"):
            assert f'"pin": "{pin}"' not in log.read_text(errors="replace"), f"a PIN in {log}"
    assert "the hall is OPEN" not in (work / "controller.log").read_text()


def test_demo_open_runs_the_v1_way() -> None:
    out, work, n = _demo("--open", duration=20)
    assert ", open;" in out and not (work / "secure").exists()
    assert n["issued"] >= 2 and n["called"] >= 1, out
    assert all("principal" not in e for e in _events(work))
    assert "the hall is OPEN" in (work / "controller.log").read_text()
