"""A full disk is loud (CONTRACT §3.1): the controller's data directory on a small tmpfs that is filled up
under it. Commands answer UNAVAILABLE (not executed, not remembered), the status says degraded, and once
space returns the same command id is executed, the `storage` alert is logged and the log verifies."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, Hall, small_hall


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.decode().strip()}): needs root")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(path: Path) -> None:
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def test_full_disk_answers_unavailable_then_recovers(tmp_path: Path, mosquitto: Any, small_disk: Path) -> None:
    h = Hall(tmp_path, mosquitto, small_hall(mosquitto.port))
    h.data_dir = small_disk / "data"
    h.controller.data_dir = h.data_dir
    status = h.cfg.topic("controller", "status")
    with h.client("disk", (status, h.cfg.topic("event", "#"))) as c:
        h.start_controller(c)
        c.command("issue", service="general")
        filler = small_disk / "filler"
        _fill(filler)
        codes = []
        for i in range(400):   # the WAL reuses its space for a while; sooner or later a write needs a new page
            reply = c.request("issue", cmd_id=f"full-{i}", service="general")
            codes.append(reply["ok"] or reply["error"]["code"])
            if reply.get("ok") is False:
                break
        assert codes[-1] == "UNAVAILABLE", codes[-5:]
        failed_id = f"full-{len(codes) - 1}"
        c.wait_for(status, lambda b: b.get("state") == "degraded" and "cannot be written" in b.get("reason", ""))
        again = c.request("issue", cmd_id=failed_id, service="general")
        assert again["ok"] is False and again["error"]["code"] == "UNAVAILABLE"   # not remembered
        filler.unlink()
        ok = c.request("issue", cmd_id=failed_id, service="general")
        assert ok["ok"], ok
        c.wait_for(status, lambda b: b.get("state") == "online")
        c.wait_for(h.cfg.topic("event", "alert.raised"), lambda b: b.get("kind") == "storage")
        assert c.request("issue", cmd_id=failed_id, service="general") == ok   # now remembered
    assert h.controller.stop() == 0
    log = h.controller.log()
    assert "Traceback" not in log, log[-3000:]
    verify = subprocess.run([sys.executable, "-m", "hallq", "audit", "verify", "--data", str(h.data_dir)],
                            cwd=REPO, capture_output=True, text=True, env=dict(os.environ))
    assert verify.returncode == 0, verify.stdout + verify.stderr
