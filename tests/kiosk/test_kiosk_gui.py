"""The real Kivy kiosk in a real window (Xvfb), driven by touch events, against the real controller.

A full visit in Chinese and one in Mongolian (language → service → print → result), a 蒙速办 code typed
by a simulated HID scanner into the kiosk's FIFO granting the green channel; screenshots are saved and
the printed paper is read back with zbar.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zbar
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from hallq.broker import Mosquitto
from hallq.msb.credentials import mask_id
from hallq.msb.tokens import CREDENTIAL_PREFIX, b64url_encode, mint
from tests.conftest import REPO, Hall, small_hall

pytestmark = pytest.mark.gui
DOCS = REPO / "docs" / "img"
KEY = Ed25519PrivateKey.generate()


def _public(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return b64url_encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


@pytest.fixture
def kiosk_hall(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Hall]:
    kiosk = {"id": "k1", "printer": {"url": f"sim://gui-printer?out={tmp_path / 'paper'}", "status_poll_s": 1},
             "scanner": {"url": f"pipe://{tmp_path / 'scanner.fifo'}"},
             "credentials": {"issuer_public_keys": {"msb-test": _public(KEY)}}}
    h = Hall(tmp_path, mosquitto, small_hall(mosquitto.port, data_dir=str(tmp_path / "data"), kiosks=[kiosk]))
    yield h
    h.controller.kill()


def _run_kiosk(h: Hall, steps: list[dict[str, Any]], timeout_s: float = 150, extra: tuple[str, ...] = ()) -> str:
    script = h.tmp / "autopilot.json"
    script.write_text(json.dumps(steps, ensure_ascii=False), encoding="utf-8")
    env = dict(os.environ, KIVY_NO_ARGS="1")
    log = h.tmp / "kiosk.log"
    with open(log, "ab") as err:
        proc = subprocess.Popen([sys.executable, "-m", "hallq", "kiosk", "--config", str(h.config_path),
                                 "--kiosk", "k1", *extra, "--autopilot", str(script)], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        try:
            code: int | None = proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            code = None
        finally:   # the kiosk and anything it started (aplay, espeak-ng)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log.read_text(errors="replace")
    assert code is not None, f"kiosk still running after {timeout_s:g} s, killed (stuck?); log:\n{text[-4000:]}"
    assert code == 0, f"kiosk exited {code}; log:\n{text[-4000:]}"
    assert "autopilot failed" not in text, text[-4000:]
    return text


def _qr(path: Path) -> list[str]:
    arr = np.ascontiguousarray(np.asarray(Image.open(path).convert("L"), dtype=np.uint8))
    return [s.data.decode("ascii") for s in zbar.Scanner().scan(arr)]


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs an X display: scripts/test runs under xvfb-run")
def test_full_visits_by_touch(kiosk_hall: Hall) -> None:
    h = kiosk_hall
    h.start_controller()
    shots = h.tmp / "shots"
    now = int(datetime.now(UTC).timestamp())
    token = mint(KEY, "msb-test", CREDENTIAL_PREFIX, {
        "iss": "mengsuban", "jti": "t-1", "iat": now - 5, "exp": now + 300, "sub": "holder-42", "name": "巴特尔",
        "idn": "150102195001011234", "birth": "1950-01-01", "flags": []})
    steps: list[dict[str, Any]] = [
        {"wait": "home"}, {"sleep": 1.5}, {"shot": str(shots / "home.png")},
        {"tap": "lang", "arg": "zh"}, {"wait": "services"}, {"sleep": 0.5}, {"shot": str(shots / "services-zh.png")},
        {"tap": "service", "arg": "general"}, {"wait": "result"}, {"shot": str(shots / "result-zh.png")},
        {"dump": str(shots / "result-zh.json")},
        {"tap": "home"}, {"wait": "home"},
        {"tap": "elder", "arg": "zh"}, {"wait": "services"}, {"shot": str(shots / "elder.png")},
        {"tap": "home"}, {"wait": "home"},
        {"tap": "lang", "arg": "mn"}, {"wait": "services"}, {"shot": str(shots / "services-mn.png")},
        {"dump": str(shots / "services-mn.json")},
        {"tap": "service", "arg": "tax"}, {"wait": "result"}, {"shot": str(shots / "result-mn.png")},
        {"tap": "home"}, {"wait": "home"},
        {"tap": "green", "arg": "zh"}, {"wait": "scan"}, {"shot": str(shots / "green-scan.png")},
        {"type_fifo": str(h.tmp / "scanner.fifo"), "text": token}, {"wait": "services"},
        {"dump": str(shots / "green-services.json")}, {"shot": str(shots / "green-services.png")},
        {"tap": "service", "arg": "general"}, {"wait": "result"},
        {"tap": "home"}, {"wait": "home"},
        {"tap": "scan", "arg": "zh"}, {"wait": "scan"},
        {"type_fifo": str(h.tmp / "scanner.fifo"), "text": token}, {"wait": "error"},
        {"dump": str(shots / "replayed.json")},
        {"quit": True},
    ]
    log = _run_kiosk(h, steps)

    result = json.loads((shots / "result-zh.json").read_text())
    assert result["texts"][:4] == ["您的号码", "A001", "前面还有 0 人", "等待时间以叫号为准"], result
    mn = json.loads((shots / "services-mn.json").read_text())
    assert "ᠠᠵᠢᠯ ᠬᠡᠷᠡᠭ ᠢ᠋ᠶ᠋ᠡᠨ ᠰᠣᠩᠭᠣᠨ᠎ᠠ ᠤᠤ" in mn["texts"] and "ᠲᠠᠲᠠᠪᠤᠷᠢ" in mn["texts"], mn
    green = json.loads((shots / "green-services.json").read_text())
    assert "巴特尔，您好" in green["texts"] and any(t.startswith("已为您开通绿色通道（年满") for t in green["texts"])
    replayed = json.loads((shots / "replayed.json").read_text())
    assert any("已使用" in t or "已经使用" in t or "重复" in t for t in replayed["texts"]), replayed
    assert "150102195001011234" not in log and mask_id("150102195001011234") not in log
    # nor its last 4 digits on their own (inside a longer number or a hash, as in the config's SHA-256, they are not)
    assert not re.search(r"(?<![0-9A-Za-z])1234(?![0-9A-Za-z])", log), "the ID's last 4 digits are in the log"

    with h.client("check") as c:
        a1 = c.command("ticket", number="A001")["ticket"]
        s1 = c.command("ticket", number="S001")["ticket"]
        a2 = c.command("ticket", number="A002")["ticket"]
    assert (a1["status"], s1["status"], a2["priority"]) == ("waiting", "waiting", "green")

    paper = sorted((h.tmp / "paper").glob("*.png"))
    assert len(paper) == 3, paper
    payloads = _qr(paper[0])
    assert len(payloads) == 1 and "HQ1:test-hall:" in payloads[0] and ":A001:" in payloads[0], payloads
    assert not payloads[0].endswith(":-"), "the controller's ticket code must be on the ticket"

    for name in ("home", "services-zh", "result-zh", "services-mn", "green-scan"):
        img = Image.open(shots / f"{name}.png")
        assert img.size == (1920, 1080), (name, img.size)
        assert len(img.convert("L").resize((96, 54)).getcolors(4096) or []) > 8, f"{name} looks blank"
    if os.environ.get("HALLQ_UPDATE_DOCS"):
        DOCS.mkdir(parents=True, exist_ok=True)
        for name in ("home", "services-zh", "result-zh", "services-mn", "result-mn", "green-services", "elder"):
            shutil.copy(shots / f"{name}.png", DOCS / f"kiosk-{name}.png")
        shutil.copy(paper[0], DOCS / "kiosk-ticket.png")
