"""The ID card at the kiosk: the presenter's card path, the kiosk's signed card token as the controller sees it,
and the headless kiosk against the real controller with the GA 467 reader simulator on a pty."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devices.idcard.card import IdCard
from devices.idcard.holder import holder_of
from devices.idcard.simulator import SAMPLE_CARDS, PtySamReader, SamSimulator
from hallq.broker import Mosquitto
from hallq.config import ConfigError, parse_config
from hallq.mqtt import CommandError
from hallq.msb.credentials import CredentialError, SignedTokenVerifier, green_channel, holder_key
from hallq.msb.replay import SqliteReplayStore
from hallq.msb.tokens import decode_unverified
from kiosk.idcard import CardTokens, IdCardSetupError, load_or_create_issuer_key, public_key_text
from kiosk.intents import (
    CardRead,
    CardRejected,
    ControllerChanged,
    IssueDone,
    IssueFailed,
    IssueTicket,
    PrintDone,
    PrintTicket,
    QueuesChanged,
    ReprintOpen,
    SayAgain,
    Tap,
)
from kiosk.presenter import KioskPresenter, Prompt, Screen
from tests.conftest import Hall, small_hall
from tests.kiosk.test_kiosk_runtime import HeadlessKiosk

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in the hall
KEY = b"k" * 32
ELDER = SAMPLE_CARDS["elder"]          # born 1948-03-15: 78 on the test day
ADULT = SAMPLE_CARDS["adult"]


def idcard_kiosk(tmp: Path, url: str, **extra: Any) -> dict[str, Any]:
    """A kiosk with an ID card reader at `url`, its holder key and issuer key files in `tmp`."""
    (tmp / "holder.key").write_text(KEY.hex())
    key, _ = load_or_create_issuer_key(tmp / "issuer.key")
    return {"id": "k1", "idcard": {"url": url, "holder_key_file": str(tmp / "holder.key"),
                                   "issuer_key_file": str(tmp / "issuer.key")},
            "credentials": {"issuer_public_keys": {"idcard-k1": public_key_text(key)},
                            "key_issuers": {"idcard-k1": "idcard"}}, **extra}


def presenter(tmp: Path, **extra: Any) -> KioskPresenter:
    cfg = parse_config(small_hall(kiosks=[idcard_kiosk(tmp, "sim://idcard", **extra)]))
    p = KioskPresenter(cfg, cfg.kiosks[0], T0)
    p.handle(ControllerChanged(True), T0)
    p.handle(QueuesChanged([{"id": "general", "waiting": 2, "est_wait_s": 300, "issuing": "open"}]), T0)
    return p


def test_config_requires_the_key_to_sign_for_idcard_only(tmp_path: Path) -> None:
    k = idcard_kiosk(tmp_path, "sim://idcard")
    k["credentials"]["key_issuers"] = {}
    with pytest.raises(ConfigError, match=r"key_issuers: \{idcard-k1: idcard\}"):
        parse_config(small_hall(kiosks=[k]))


def test_issuer_key_made_at_first_start_and_checked_against_the_config(tmp_path: Path) -> None:
    cfg = parse_config(small_hall(kiosks=[idcard_kiosk(tmp_path, "sim://idcard")]))
    (tmp_path / "issuer.key").unlink()           # a new key (first start, or after a rotation) ...
    with pytest.raises(IdCardSetupError, match="is not in|does not match") as e:
        CardTokens.for_kiosk(cfg, cfg.kiosks[0])
    made, _ = load_or_create_issuer_key(tmp_path / "issuer.key")
    assert public_key_text(made) in str(e.value), "the error says what to paste into the config"
    assert (tmp_path / "issuer.key").stat().st_mode & 0o077 == 0, "the issuer key is private to the kiosk user"


def test_card_token_verified_by_the_controllers_verifier_once_and_without_the_id_number(tmp_path: Path) -> None:
    cfg = parse_config(small_hall(kiosks=[idcard_kiosk(tmp_path, "sim://idcard")]))
    kiosk = cfg.kiosks[0]
    tokens = CardTokens.for_kiosk(cfg, kiosk)
    holder = holder_of(ELDER, KEY, date(2026, 11, 23), 70)
    token = tokens.mint(holder, T0)
    claims = decode_unverified(token).claims
    assert ELDER.id_number not in token and ELDER.id_number not in json.dumps(claims, ensure_ascii=False)
    assert (claims["iss"], claims["sub"], claims["idm"]) == ("idcard", holder.holder_key, "1501**********0248")
    assert 120 <= claims["exp"] - claims["iat"] <= 300
    with SqliteReplayStore(tmp_path / "used.sqlite3") as store:
        v = SignedTokenVerifier(kiosk.credentials, store)
        h = v.verify_credential(token, T0 + timedelta(seconds=5))
        assert (h.issuer, h.id_masked, h.birth_date) == ("idcard", "1501**********0248", date(1948, 3, 15))
        assert h.holder_key == holder_key("idcard", holder.holder_key), "one person, one holder key"
        assert green_channel(h, kiosk.credentials, date(2026, 11, 23)) == "age 78"
        with pytest.raises(CredentialError) as used:
            v.verify_credential(token, T0 + timedelta(seconds=6))
        assert used.value.code == "REPLAYED", "each token once"
        second = tokens.mint(holder, T0 + timedelta(seconds=7))
        assert v.verify_credential(second, T0 + timedelta(seconds=8)).holder_key == h.holder_key


def test_the_idcard_key_cannot_sign_for_another_issuer(tmp_path: Path) -> None:
    from hallq.msb.tokens import CREDENTIAL_PREFIX, mint

    cfg = parse_config(small_hall(kiosks=[idcard_kiosk(tmp_path, "sim://idcard")]))
    key, _ = load_or_create_issuer_key(tmp_path / "issuer.key")
    now = int(T0.timestamp())
    forged = mint(key, "idcard-k1", CREDENTIAL_PREFIX, {
        "iss": "mengsuban", "jti": "x1", "iat": now, "exp": now + 120, "sub": "s", "name": "某人",
        "idn": "150102194803150248", "flags": ["veteran"]})
    with SqliteReplayStore(tmp_path / "used.sqlite3") as store, pytest.raises(CredentialError) as e:
        SignedTokenVerifier(cfg.kiosks[0].credentials, store).verify_credential(forged, T0)
    assert e.value.code == "UNKNOWN_ISSUER"


def test_presenter_card_path_green_elder_masked_and_reprint(tmp_path: Path) -> None:
    p = presenter(tmp_path)
    home = p.view()
    assert [b.action for b in home.buttons].count("idcard") == 2, "刷身份证 on both halves of the home screen"
    holder = holder_of(ELDER, KEY, date(2026, 11, 23), 70)
    p.handle(CardRead(holder, "age 78"), T0)
    v = p.view()
    assert v.screen is Screen.SERVICES and v.elder
    assert v.texts()[:4] == ["请选择办理的业务", "张淑珍，您好", "身份证 1501**********0248",
                             "已为您开通绿色通道（年满78周岁）"]
    assert ELDER.id_number not in json.dumps(v.texts(), ensure_ascii=False)
    assert v.voice == Prompt("green") and v.speak, "长者 mode speaks by itself"
    assert any(b.action == "repeat" for b in v.buttons)
    assert p.handle(Tap("repeat"), T0) == [SayAgain()]
    [issue] = p.handle(Tap("service", "general"), T0)
    assert isinstance(issue, IssueTicket)
    assert (issue.priority, issue.credential, issue.card, issue.source) == ("green", None, holder, "idcard:k1")
    [again] = p.handle(IssueFailed("ALREADY_WAITING", "this person already holds ticket A001 for service"), T0)
    assert again == ReprintOpen("general", holder.holder_key, "this person already holds ticket A001 for service")
    ticket = {"number": "A001", "service": "general", "priority": "green", "status": "waiting",
              "issued_at": "2026-11-23T08:55:00+08:00", "ahead": 0, "est_wait_s": None}
    [printed] = p.handle(IssueDone(ticket, "c0de", reprint=True), T0)
    assert isinstance(printed, PrintTicket) and printed.ticket.number == "A001"
    p.handle(PrintDone(), T0)
    r = p.view()
    assert r.texts()[:3] == ["您的号码", "A001", "您已有该业务的号码，已为您重新打印"]
    assert r.voice == Prompt("reprinted", 0)
    # a second refusal after the reprint attempt is shown, not retried
    p.handle(CardRead(holder, "age 78"), T0)
    p.handle(Tap("service", "general"), T0)
    p.handle(IssueFailed("ALREADY_WAITING", ""), T0)
    assert p.handle(IssueFailed("ALREADY_WAITING", ""), T0) == [] and p.view().screen is Screen.ERROR


def test_presenter_refused_card_and_adult(tmp_path: Path) -> None:
    p = presenter(tmp_path, voice={"mode": "off"})
    from hallq.text.words import msg

    p.handle(CardRejected(msg("idcard_expired")), T0)
    assert p.view().screen is Screen.ERROR and "您的身份证已过有效期，请到导服台由工作人员办理" in p.view().texts()
    p.handle(Tap("home"), T0)
    p.handle(CardRead(holder_of(ADULT, KEY, date(2026, 11, 23), 70), None), T0)
    v = p.view()
    assert not v.elder and not v.speak and not any(b.action == "repeat" for b in v.buttons)
    [issue] = p.handle(Tap("service", "general"), T0)
    assert isinstance(issue, IssueTicket) and issue.priority == "normal"


def lift_and_place(sim: SamSimulator, card: IdCard, timeout_s: float = 10.0) -> None:
    """Lift the card and place it again once the kiosk has looked at the empty reader (as a hand would)."""
    sim.remove()
    seen = len(sim.commands)   # counted after the lift: a find-card from here on was answered "no card"
    assert sim.wait_for_command("find-card", seen, timeout_s), \
        f"the kiosk stopped polling the reader: no find-card within {timeout_s:g} s of the lift"
    sim.place(card)


@pytest.fixture
def card_hall(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[tuple[Hall, SamSimulator]]:
    sim = SamSimulator("e2e")
    pty = PtySamReader(sim, tmp_path / "ttyIDC").open()
    kiosk = idcard_kiosk(tmp_path, f"serial://{pty.port}?baud=115200",
                         printer={"url": f"sim://k1-printer?out={tmp_path / 'paper'}", "status_poll_s": 1},
                         voice={"mode": "off"})
    h = Hall(tmp_path, mosquitto, small_hall(mosquitto.port, data_dir=str(tmp_path / "data"), kiosks=[kiosk]))
    yield h, sim
    h.controller.kill()
    pty.close()


def test_headless_kiosk_reads_a_card_issues_green_once_and_reprints(card_hall: tuple[Hall, SamSimulator]) -> None:
    h, sim = card_hall
    h.start_controller()
    k = HeadlessKiosk(h)
    try:
        k.home_online()
        sim.place(ELDER)
        v = k.screen("services")
        assert "1501**********0248" in " ".join(v["texts"]) and "张淑珍，您好" in v["texts"]
        k.send(tap="service", arg="general")
        first = k.screen("result")
        assert "A001" in first["texts"]
        k.send(tap="home")
        k.screen("home")
        lift_and_place(sim, ELDER)                # the same card again
        k.screen("services")
        k.send(tap="service", arg="general")
        again = k.wait(lambda x: x["screen"] == "result" and "您已有该业务的号码，已为您重新打印" in x["texts"],
                       "the reprinted ticket")
        assert "A001" in again["texts"]
    finally:
        assert k.stop() == 0
    with h.client("check") as c:
        a1 = c.command("ticket", number="A001")["ticket"]
        with pytest.raises(CommandError) as unknown:
            c.command("ticket", number="A002")
    assert unknown.value.code == "UNKNOWN_TICKET", "the same card again gave no second ticket"
    assert (a1["priority"], a1["status"]) == ("green", "waiting")
    paper = sorted((h.tmp / "paper").glob("*.png"))
    assert len(paper) == 2, f"the ticket and its reprint: {paper}"
    log = k.log.read_text(errors="replace") + h.controller.log()
    assert ELDER.id_number not in log and ELDER.name not in log, "no clear ID number or name in any log"
    assert "already waits as A001; printed again" in log


def test_green_scan_screen_mentions_the_card_and_a_dead_reader_greys_its_button(tmp_path: Path) -> None:
    from kiosk.intents import ReaderChanged

    p = presenter(tmp_path)
    p.handle(Tap("green", "zh"), T0)
    assert p.view().texts()[-2:] == ["也可刷身份证取号", "返回"]
    p.handle(Tap("home"), T0)
    p.handle(ReaderChanged(False), T0)
    card = [b for b in p.view().buttons if b.action == "idcard"]
    assert len(card) == 2 and not any(b.enabled for b in card)
    assert card[1].note is not None and card[1].note.zh.startswith("身份证读卡器暂不可用")
    p.handle(ReaderChanged(True), T0)
    assert all(b.enabled for b in p.view().buttons if b.action == "idcard")
