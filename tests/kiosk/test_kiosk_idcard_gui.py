"""The real Kivy kiosk (Xvfb) with the GA 467 reader simulator on a pty, against the real controller:
an elderly citizen's card gives a green ticket in 长者 mode with only the masked number on screen; the
same card again reprints that open ticket instead of issuing a second one. Screenshots go to docs/img
with HALLQ_UPDATE_DOCS=1.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from devices.idcard.simulator import SAMPLE_CARDS, PtySamReader, SamSimulator
from hallq.broker import Mosquitto
from hallq.mqtt import CommandError
from tests.conftest import REPO, Hall, small_hall
from tests.kiosk.test_kiosk_gui import _qr, _run_kiosk
from tests.kiosk.test_kiosk_idcard import idcard_kiosk, lift_and_place

pytestmark = pytest.mark.gui
DOCS = REPO / "docs" / "img"
ELDER = SAMPLE_CARDS["elder"]


@pytest.fixture
def card_hall(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[tuple[Hall, SamSimulator]]:
    sim = SamSimulator("gui")
    pty = PtySamReader(sim, tmp_path / "ttyIDC").open()
    kiosk = idcard_kiosk(tmp_path, f"serial://{pty.port}?baud=115200",
                         printer={"url": f"sim://gui-printer?out={tmp_path / 'paper'}", "status_poll_s": 1})
    cfg = small_hall(mosquitto.port, data_dir=str(tmp_path / "data"), kiosks=[kiosk])
    cfg["windows"][0]["area"] = {"zh": "二楼B区", "mn": "ᠬᠣᠶᠠᠷ ᠳᠠᠪᠬᠤᠷ B"}
    cfg["windows"][2]["area"] = {"zh": "二楼B区", "mn": "ᠬᠣᠶᠠᠷ ᠳᠠᠪᠬᠤᠷ B"}
    h = Hall(tmp_path, mosquitto, cfg)
    yield h, sim
    h.controller.kill()
    pty.close()


class Hand:
    """The citizen's hand: waits for the kiosk's marks on a FIFO and does the next action at each.

    The FIFO's read end is open, and a write end held, from before the kiosk starts until it has exited: the kiosk's
    mark never waits for a reader, and no read sees end-of-file between two marks (a reader opening the FIFO afresh
    for each mark can take the end of one mark's write for the next mark, and the kiosk then waits at that next
    mark for a reader that never comes). Closing the held end once the kiosk has exited ends the reading: a mark
    the kiosk never wrote is reported, not waited for."""

    def __init__(self, fifo: Path, actions: list[tuple[str, Callable[[], None]]]) -> None:
        os.mkfifo(fifo)
        self.fifo, self.actions = fifo, actions
        self.marks: list[str] = []                # the screens the kiosk showed at its marks
        self.errors: list[BaseException] = []
        self._read = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        self._held = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.set_blocking(self._read, True)
        self._thread = threading.Thread(target=self._run, name="hand", daemon=True)

    def __enter__(self) -> Hand:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self._held)                      # the kiosk has exited: no writer is left
        self._thread.join(15)
        assert not self._thread.is_alive(), f"the hand is still busy 15 s after the kiosk exited (marks {self.marks})"
        if self.errors:
            raise AssertionError(f"the hand failed after marks {self.marks}: {self.errors[0]}") from self.errors[0]

    def _run(self) -> None:
        pending = b""
        try:
            for name, act in self.actions:
                while b"\n" not in pending:
                    got = os.read(self._read, 4096)
                    if not got:
                        raise AssertionError(f"the kiosk exited without its mark for {name!r}")
                    pending += got
                line, pending = pending.split(b"\n", 1)
                self.marks.append(line.decode())
                act()
        except BaseException as e:   # reported by the test, not lost in the thread
            self.errors.append(e)
        finally:
            os.close(self._read)     # a later mark fails at once in the kiosk instead of waiting


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs an X display: scripts/test runs under xvfb-run")
def test_elderly_card_green_ticket_then_reprint(card_hall: tuple[Hall, SamSimulator]) -> None:
    h, sim = card_hall
    h.start_controller()
    shots = h.tmp / "shots"
    fifo = h.tmp / "marks.fifo"
    steps: list[dict[str, Any]] = [
        {"wait": "home"}, {"sleep": 1.0}, {"shot": str(shots / "home.png")},
        {"tap": "idcard", "arg": "zh"}, {"wait": "scan"}, {"shot": str(shots / "place.png")},
        {"mark": str(fifo)}, {"wait": "services"}, {"sleep": 0.5}, {"shot": str(shots / "services.png")},
        {"dump": str(shots / "services.json")},
        {"tap": "service", "arg": "general"}, {"wait": "result"}, {"shot": str(shots / "result.png")},
        {"dump": str(shots / "result.json")},
        {"tap": "home"}, {"wait": "home"}, {"mark": str(fifo)},
        {"wait": "services"}, {"tap": "service", "arg": "general"}, {"wait": "result"},
        {"shot": str(shots / "reprint.png")}, {"dump": str(shots / "reprint.json")},
        {"quit": True},
    ]
    with Hand(fifo, [("place", lambda: sim.place(ELDER)), ("again", lambda: lift_and_place(sim, ELDER))]) as hand:
        log = _run_kiosk(h, steps)
    assert hand.marks == ["scan", "home"], f"the card goes on at the scan screen, again at home: {hand.marks}"

    services = json.loads((shots / "services.json").read_text())
    assert "张淑珍，您好" in services["texts"] and "身份证 1501**********0248" in services["texts"], services
    assert "已为您开通绿色通道（年满78周岁）" in services["texts"] and "再听一遍" in services["texts"], services
    result = json.loads((shots / "result.json").read_text())
    assert result["texts"][:2] == ["您的号码", "A001"] and "办理地点：二楼B区" in result["texts"], result
    reprint = json.loads((shots / "reprint.json").read_text())
    assert reprint["texts"][:3] == ["您的号码", "A001", "您已有该业务的号码，已为您重新打印"], reprint
    everything = json.dumps([services, result, reprint], ensure_ascii=False) + log + h.controller.log()
    assert ELDER.id_number not in everything, "the clear ID number never leaves the reader's thread"

    with h.client("check") as c:
        a1 = c.command("ticket", number="A001")["ticket"]
        with pytest.raises(CommandError) as none:
            c.command("ticket", number="A002")
    assert (a1["priority"], a1["status"], none.value.code) == ("green", "waiting", "UNKNOWN_TICKET")

    paper = sorted((h.tmp / "paper").glob("*.png"))
    assert len(paper) == 2, f"the ticket and its reprint, not a second ticket: {paper}"
    first, again = _qr(paper[0]), _qr(paper[1])
    assert len(first) == 1 and ":A001:" in first[0] and first == again, (first, again)
    for name in ("place", "services", "result", "reprint"):
        img = Image.open(shots / f"{name}.png")
        assert img.size == (1920, 1080), (name, img.size)
        assert len(img.convert("L").resize((96, 54)).getcolors(4096) or []) > 8, f"{name} looks blank"
    if os.environ.get("HALLQ_UPDATE_DOCS"):
        DOCS.mkdir(parents=True, exist_ok=True)
        for name in ("home", "place", "services", "result", "reprint"):
            shutil.copy(shots / f"{name}.png", DOCS / f"kiosk-idcard-{name}.png")
        shutil.copy(paper[0], DOCS / "kiosk-idcard-ticket.png")


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs an X display: scripts/test runs under xvfb-run")
def test_demo_visitor_places_a_card_on_the_in_process_simulator(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """The demo's visitor: `{"card": "adult"}` on sim://idcard inside the kiosk process, a normal ticket."""
    kiosk = idcard_kiosk(tmp_path, "sim://idcard", voice={"mode": "off"},
                         printer={"url": f"sim://demo-printer?out={tmp_path / 'paper'}", "status_poll_s": 1})
    h = Hall(tmp_path, mosquitto, small_hall(mosquitto.port, data_dir=str(tmp_path / "data"), kiosks=[kiosk]))
    try:
        h.start_controller()
        shots = h.tmp / "shots"
        shots.mkdir()
        _run_kiosk(h, [{"wait": "home"}, {"card": "adult"}, {"wait": "services"}, {"dump": str(shots / "s.json")},
                       {"tap": "service", "arg": "tax"}, {"wait": "result"}, {"tap": "home"}, {"card": "remove"},
                       {"wait": "home"}, {"quit": True}])
        texts = json.loads((shots / "s.json").read_text())["texts"]
        assert "巴特尔，您好" in texts and "身份证 1525**********0310" in texts[:4], texts
        with h.client("check") as c:
            s1 = c.command("ticket", number="S001")["ticket"]
        assert s1["priority"] == "normal", "an adult's card gives a real-name ticket, not green"
    finally:
        h.controller.kill()
