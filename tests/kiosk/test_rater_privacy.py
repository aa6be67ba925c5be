"""Real-name rating without exposing the rater: a 蒙速办 code at the kiosk seals the holder's identity for
the hall's privacy key; the controller's files never hold it in clear; revealing it is logged."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.retention import unwrap
from devices.printer.simulator import PrinterSimulator, PtyPrinter
from hallq.broker import Mosquitto
from hallq.msb.tokens import CREDENTIAL_PREFIX, mint
from hallq.sealed import SealError, load_private_key, open_sealed
from tests.conftest import REPO, Hall, small_hall
from tests.kiosk.test_kiosk_gui import _public
from tests.kiosk.test_kiosk_runtime import HeadlessKiosk

KEY = Ed25519PrivateKey.generate()
IDN = "150102195001011234"


@pytest.fixture
def private_hall(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[tuple[Hall, Path]]:
    keyfile = tmp_path / "privacy.pem"
    out = subprocess.run([sys.executable, "-m", "hallq", "rater", "new-key", str(keyfile)], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    public = out.stdout.strip().split()[-1]
    sim = PrinterSimulator("priv-printer")
    host = PtyPrinter(sim, link=tmp_path / "ttyP").open()
    kiosk = {"id": "k1", "printer": {"url": f"serial://{tmp_path / 'ttyP'}"},
             "credentials": {"issuer_public_keys": {"msb-test": _public(KEY)}}}
    h = Hall(tmp_path, mosquitto, small_hall(mosquitto.port, data_dir=str(tmp_path / "data"), kiosks=[kiosk],
                                             evaluation={"rater_public_key": public}))
    yield h, keyfile
    h.controller.kill()
    host.close()


def test_identity_sealed_at_rest_and_access_logged(private_hall: tuple[Hall, Path]) -> None:
    h, keyfile = private_hall
    now = int(time.time())
    token = mint(KEY, "msb-test", CREDENTIAL_PREFIX, {"iss": "mengsuban", "jti": "p-1", "iat": now, "exp": now + 300,
                                                       "sub": "holder-7", "name": "其木格", "idn": IDN,
                                                       "birth": "1990-05-01", "flags": []})
    with h.client("staff", (h.cfg.topic("controller", "status"), h.cfg.topic("event", "#"))) as c:
        h.start_controller(c)
        k = HeadlessKiosk(h)
        try:
            k.wait(lambda v: "系统连接中，请稍候" not in v["texts"], "online")
            k.send(scan=token)
            k.screen("services")
            k.send(tap="service", arg="general")
            assert k.screen("result")["texts"][1] == "A001"
        finally:
            assert k.stop() == 0
        issued = c.wait_for(h.cfg.topic("event", "ticket.issued"), lambda b: b["ticket"] == "A001")
        assert "rater" not in issued and "holder" not in issued, "no citizen identifier leaves in an event"
        c.command("login", window="1", staff="S001")
        c.command("call", window="1")
        c.command("finish", window="1")
        c.command("rate", ticket="A001", level=1, window="1")
        rated = c.wait_for(h.cfg.topic("event", "evaluation.recorded"), lambda b: b["ticket"] == "A001")
        assert "rater" not in rated
        logged = _logged_rater(h.tmp / "data", "A001")
        day = date.fromisoformat(issued["date"])
        assert logged.startswith(f"RIDD1.{day.isoformat()}."), "the log keeps it wrapped with the day's key"
        with pytest.raises(SealError):
            open_sealed(load_private_key(str(keyfile)), logged)      # the privacy key alone does not open it
        sealed = unwrap((h.tmp / "data" / "privacy" / f"{day.isoformat()}.key").read_bytes(), logged)
        assert sealed.startswith("RID1.") and open_sealed(load_private_key(str(keyfile)), sealed)["idn"] == IDN
        with pytest.raises(SealError):
            open_sealed(load_private_key(str(keyfile)), sealed[:-4] + "AAAA")
        out = subprocess.run([sys.executable, "-m", "hallq", "rater", "reveal", "--config", str(h.config_path),
                              "--key", str(keyfile), "--ticket", "A001", "--by", "M01",
                              "--reason", "差评回访 WO-A001"], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "其木格" in out.stdout and "1234" in out.stdout and IDN not in out.stdout, out.stdout
        accessed = c.wait_for(h.cfg.topic("event", "identity.accessed"), lambda b: b["ticket"] == "A001")
        assert (accessed["by"], accessed["reason"]) == ("M01", "差评回访 WO-A001")
        missing = subprocess.run([sys.executable, "-m", "hallq", "rater", "reveal", "--config", str(h.config_path),
                                  "--key", str(keyfile), "--ticket", "A002", "--by", "M01", "--reason", "x"],
                                 cwd=REPO, capture_output=True, text=True, timeout=60)
        assert missing.returncode != 0 and "UNKNOWN_TICKET" in missing.stderr
    h.controller.stop()
    for f in (h.tmp / "data").rglob("*"):
        if f.is_file():
            raw = f.read_bytes()
            assert IDN.encode() not in raw and "其木格".encode() not in raw, f"identity in clear text in {f}"


def _logged_rater(data: Path, number: str) -> str:
    """The sealed rater the log keeps with the ticket's issue (read from the event log itself)."""
    with contextlib.closing(sqlite3.connect(data / "hallq.sqlite3")) as db:
        for (body,) in db.execute("SELECT body FROM events WHERE type = 'ticket.issued' ORDER BY seq"):
            ev = json.loads(body)
            if ev.get("ticket") == number and ev.get("rater"):
                return str(ev["rater"])
    raise AssertionError(f"no sealed rater logged for {number}")
