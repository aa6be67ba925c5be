"""The real Kivy call screen in a real window (Xvfb in the test command), driven by the real controller."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from PIL import Image

from tests.conftest import REPO, Hall

pytestmark = pytest.mark.gui


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs an X display: scripts/test runs under xvfb-run")
def test_call_screen_shows_the_call(hall: Hall) -> None:
    hall.start_controller()
    shot = hall.tmp / "callscreen.png"
    env = dict(os.environ, HALLQ_SCREENSHOT=str(shot), HALLQ_SCREENSHOT_AFTER_S="6", KIVY_NO_ARGS="1")
    proc = subprocess.Popen([sys.executable, "-m", "hallq", "display", "--config", str(hall.config_path)],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=open(hall.tmp / "display.log", "ab"))  # noqa: SIM115
    try:
        with hall.client("staff") as c:
            time.sleep(2.5)
            c.command("issue", service="general")
            c.command("issue", service="tax")
            c.command("login", window="1", staff="S001")
            c.command("call", window="1")
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = (hall.tmp / "display.log").read_text(errors="replace")[-3000:]
    pngs = sorted(hall.tmp.glob("callscreen*.png"))
    assert pngs, f"no screenshot; display log:\n{log}"
    img = Image.open(pngs[-1])
    assert img.size[0] >= 1280
    texts = json.loads((hall.tmp / "callscreen.png.json").read_text())
    assert "请 A001 号到 1 号窗口办理" in texts, texts
    assert "税务 等候 1 人" in texts, texts
