"""The controller in a secure hall (CONTRACT §5) over a real mosquitto started from the configuration
`hallq secure init` generated: every principal on its own topics, FORBIDDEN by role and scope, green tickets
only with a code the controller verifies once, replies only under the sender's own reply topic."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hallq.mqtt import CommandError
from hallq.msb.tokens import CREDENTIAL_PREFIX, b64url_encode, mint
from tests.conftest import ControllerProc, small_hall
from tests.secure_hall import SecureHall, secure_hall

KEY = Ed25519PrivateKey.generate()


def _public(key: Ed25519PrivateKey) -> str:
    return b64url_encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def _token(jti: str, birth: str = "1950-01-01") -> str:
    now = int(time.time())
    return mint(KEY, "msb-test", CREDENTIAL_PREFIX, {
        "iss": "mengsuban", "jti": jti, "iat": now - 5, "exp": now + 300, "sub": f"holder-{jti}", "name": "巴特尔",
        "idn": "150102195001011234", "birth": birth, "flags": []})


@pytest.fixture(scope="module")
def hall(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureHall]:
    tmp = tmp_path_factory.mktemp("secure-api")
    base = small_hall()
    base["windows"].append({"id": "4", "services": ["general"]})
    base["staff"] += [{"id": "S004", "name": "赵六", "windows": ["4"]},
                      {"id": "S005", "name": "导服台", "windows": ["1"], "roles": ["reception"]}]
    base["kiosks"] = [{"id": "kiosk-1", "credentials": {"issuer_public_keys": {"msb-test": _public(KEY)}}}]
    with secure_hall(tmp, base) as h:
        proc = ControllerProc(h.config_path, tmp / "data", tmp / "controller.log",
                              ("--credentials", str(h.credentials("controller")))).start()
        try:
            with h.client("display-1", subscribe=(h.cfg.topic("controller", "status"),)) as c:
                c.wait_for(h.cfg.topic("controller", "status"), lambda b: b.get("state") == "online", timeout_s=30)
            h.proc = proc  # type: ignore[attr-defined]
            yield h
        finally:
            proc.stop()


def _code(h: SecureHall, principal: str, command: str, **args: Any) -> str:
    with h.client(principal) as c:
        try:
            c.command(command, **args)
        except CommandError as e:
            return e.code
    return "OK"


def test_roles_and_scopes(hall: SecureHall) -> None:
    with hall.client("kiosk-1", subscribe=(hall.cfg.topic("event", "#"),)) as kiosk:
        ticket = kiosk.command("issue", service="general")["ticket"]
        ev = kiosk.wait_for(hall.cfg.topic("event", "ticket.issued"), lambda b: b["ticket"] == ticket["number"])
        assert ev["principal"] == "kiosk-1" and "holder" not in ev
    assert _code(hall, "kiosk-1", "call", window="1") == "FORBIDDEN"
    assert _code(hall, "display-1", "issue", service="general") == "FORBIDDEN"
    assert _code(hall, "display-1", "ticket", number=ticket["number"]) == "OK"
    assert _code(hall, "eval-4", "call", window="1") == "FORBIDDEN"          # a device of window 4
    assert _code(hall, "console-1", "call", window="1") == "FORBIDDEN"       # no actor
    assert _code(hall, "console-1", "call", window="1", actor="S999") == "FORBIDDEN"
    assert _code(hall, "console-1", "login", window="2", staff="S001", actor="S001") == "FORBIDDEN"  # not his window
    assert _code(hall, "console-1", "login", window="1", staff="S002", actor="S001") == "FORBIDDEN"  # not himself
    assert _code(hall, "console-1", "login", window="1", staff="S001", actor="S001") == "OK"
    assert _code(hall, "console-1", "rate", ticket=ticket["number"], level=5, actor="S001") == "FORBIDDEN"
    assert _code(hall, "console-1", "issue", service="general", priority="green", actor="S001") == "FORBIDDEN"
    assert _code(hall, "console-1", "issue", service="general", priority="green", reason="老人", actor="S005") == "OK"


def test_device_login_needs_pin_in_a_secure_hall(hall: SecureHall) -> None:
    assert _code(hall, "eval-4", "login", window="4", staff="S004") == "BAD_CREDENTIALS"
    assert _code(hall, "eval-4", "login", window="4", staff="S004", pin="0000") == "BAD_CREDENTIALS"
    log = hall.proc.log()  # type: ignore[attr-defined]
    assert "0000" not in log


def test_green_from_a_kiosk_only_with_a_verified_code_once(hall: SecureHall) -> None:
    assert _code(hall, "kiosk-1", "issue", service="general", priority="green") == "FORBIDDEN"
    assert _code(hall, "kiosk-1", "issue", service="general", priority="green",
                 credential=_token("young", birth="1990-01-01")) == "FORBIDDEN"   # verified, not green-eligible
    token = _token("elder-1")
    assert _code(hall, "kiosk-1", "issue", service="general", priority="green", credential=token) == "OK"
    assert _code(hall, "kiosk-1", "issue", service="general", priority="green", credential=token) == "FORBIDDEN"
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert _code(hall, "kiosk-1", "issue", service="general", priority="green", credential=forged) == "FORBIDDEN"


def test_replies_only_under_the_senders_reply_topic(hall: SecureHall) -> None:
    spy_topic = hall.cfg.topic("reply", "#")
    with hall.client("display-1", subscribe=(spy_topic,)) as spy, hall.client("kiosk-1") as kiosk:
        kiosk.publish(kiosk.topics.cmd("issue"), {"id": "steal-1", "reply_to": spy.reply_topic,
                                                  "service": "general"})
        kiosk.publish(kiosk.topics.cmd("issue"), {"id": "tab-1", "reply_to": kiosk.reply_topic + "\tx",
                                                  "service": "general"})
        # the same id from another principal is another command; a valid command after the bad ones is answered
        a = kiosk.request("ticket", cmd_id="same-id", number="A001")
        with hall.client("display-1") as display:
            b = display.request("ticket", cmd_id="same-id", number="A001")
        assert a["ok"] and b["ok"]
        time.sleep(0.3)   # nothing is expected: give a stray reply the chance to show up
        stolen = [m.json().get("id") for m in spy.received]
        assert "steal-1" not in stolen and "tab-1" not in stolen, stolen
    log = hall.proc.log()  # type: ignore[attr-defined]
    assert "reply_to refused" in log


def test_open_form_commands_are_ignored(hall: SecureHall) -> None:
    with hall.client("kiosk-1") as kiosk:
        kiosk.publish(hall.cfg.topic("cmd", "issue"), {"id": "v1-1", "reply_to": kiosk.reply_topic,
                                                       "service": "general"})
        with pytest.raises(TimeoutError):
            _wait_reply(kiosk, "v1-1")


def _wait_reply(client: Any, cid: str) -> None:
    import queue
    q = client._replies.setdefault(cid, queue.Queue())
    try:
        q.get(timeout=1.0)
    except queue.Empty:
        raise TimeoutError from None


def test_the_controller_warns_that_an_open_hall_is_open(tmp_path: Path, mosquitto: Any) -> None:
    from tests.conftest import Hall
    h = Hall(tmp_path, mosquitto, small_hall(mosquitto.port))
    h.start_controller()
    try:
        assert "the hall is OPEN" in h.controller.log()
    finally:
        h.controller.stop()
