"""蒙速办 credential and appointment tokens: signature, time, replay, check-in window, and no ID number leaks."""

from __future__ import annotations

import base64
import json
import logging
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, get_args

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hallq.config.kiosk import CredentialConfig
from hallq.msb.credentials import (
    CredentialError,
    ErrorCode,
    Holder,
    SignedTokenVerifier,
    Verifier,
    green_channel,
)
from hallq.msb.replay import MemoryReplayStore, SqliteReplayStore
from hallq.msb.tokens import APPOINTMENT_PREFIX, CREDENTIAL_PREFIX, b64url_encode, decode_unverified, mint
from kiosk import credentials_cli
from tests.conftest import REPO

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=CST)
IDN = "150102195001011234"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def pub(key: Ed25519PrivateKey) -> str:
    return b64url_encode(key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


CFG = CredentialConfig(issuer_public_keys={"msb-1": pub(KEY)})


def cred_claims(**over: Any) -> dict[str, Any]:
    iat = int(NOW.timestamp()) - 10
    c: dict[str, Any] = {"iss": "msb", "jti": "t-0001", "iat": iat, "exp": iat + 300, "sub": "p-7f3a9c",
                         "name": "张三", "idn": IDN, "birth": "1950-01-01", "flags": []}
    c.update(over)
    return c


def apt_claims(**over: Any) -> dict[str, Any]:
    c = cred_claims(jti="apt-42")
    del c["birth"], c["flags"]
    c.update(hall="demo-hall", service="general", slot_start="2026-11-23T09:15+08:00",
             slot_end="2026-11-23T09:45+08:00")
    c.update(over)
    return c


def cred(**over: Any) -> str:
    return mint(KEY, "msb-1", CREDENTIAL_PREFIX, cred_claims(**over))


def apt(**over: Any) -> str:
    return mint(KEY, "msb-1", APPOINTMENT_PREFIX, apt_claims(**over))


@pytest.fixture
def verifier() -> SignedTokenVerifier:
    v: Verifier = SignedTokenVerifier(CFG, MemoryReplayStore())       # the default satisfies the protocol
    assert isinstance(v, SignedTokenVerifier)
    return v


def refused(fn: Any, *args: Any) -> CredentialError:
    with pytest.raises(CredentialError) as ei:
        fn(*args)
    return ei.value


def assert_no_secret(err_or_obj: object, token: str = "") -> None:
    for text in (str(err_or_obj), repr(err_or_obj), getattr(err_or_obj, "log", "")):
        assert IDN not in text and IDN[:14] not in text, f"ID number leaked into {text!r}"
        if token:
            assert token not in text and token.split(".")[2] not in text, f"token leaked into {text!r}"


# -- the happy path ---------------------------------------------------------------------------------

def test_valid_credential_gives_holder_with_masked_id(verifier: SignedTokenVerifier) -> None:
    h = verifier.verify_credential(cred(), NOW)
    assert h.id_masked == "*" * 14 + "1234"
    assert h.name == "张三" and h.birth_date == date(1950, 1, 1) and h.issuer == "msb" and h.token_id == "t-0001"
    assert h.holder_key.startswith("msb:") and len(h.holder_key) == 28
    assert h.expires_at == datetime.fromtimestamp(cred_claims()["exp"], UTC)
    assert not hasattr(h, "idn") and IDN not in repr(h.__dict__)
    assert_no_secret(h)


def test_holder_key_is_stable_per_person_and_differs_between_people() -> None:
    v = SignedTokenVerifier(CFG, MemoryReplayStore())
    a = v.verify_credential(cred(jti="a1"), NOW)
    b = v.verify_credential(cred(jti="a2"), NOW)
    c = v.verify_credential(cred(jti="a3", sub="someone-else"), NOW)
    assert a.holder_key == b.holder_key != c.holder_key


def test_birth_falls_back_to_the_id_number(verifier: SignedTokenVerifier) -> None:
    c = cred_claims()
    del c["birth"]
    h = verifier.verify_credential(mint(KEY, "msb-1", CREDENTIAL_PREFIX, c), NOW)
    assert h.birth_date == date(1950, 1, 1)


def test_birth_unknown_when_neither_claim_nor_id_number_has_it(verifier: SignedTokenVerifier) -> None:
    c = cred_claims(idn="150102195013401234")
    del c["birth"]
    h = verifier.verify_credential(mint(KEY, "msb-1", CREDENTIAL_PREFIX, c), NOW)
    assert h.birth_date is None and green_channel(h, CFG, date(2026, 11, 23)) is None


def test_green_channel_by_age_and_by_flag(verifier: SignedTokenVerifier) -> None:
    old = verifier.verify_credential(cred(jti="g1"), NOW)
    assert green_channel(old, CFG, date(2026, 11, 23)) == "age 76"
    young = verifier.verify_credential(cred(jti="g2", birth="1990-06-01", flags=["veteran"]), NOW)
    assert green_channel(young, CFG, date(2026, 11, 23)) == "veteran"
    plain = verifier.verify_credential(cred(jti="g3", birth="1990-06-01", flags=["student"]), NOW)
    assert green_channel(plain, CFG, date(2026, 11, 23)) is None
    no_age_rule = CFG.model_copy(update={"green_channel_min_age": None, "green_channel_flags": []})
    assert green_channel(old, no_age_rule, date(2026, 11, 23)) is None


def test_green_channel_age_counts_the_birthday() -> None:
    h = Holder("msb:x", "x", "*" * 14 + "0000", date(1956, 11, 24), frozenset(), "msb", "t", NOW)
    assert green_channel(h, CFG, date(2026, 11, 23)) is None          # 69 until tomorrow
    assert green_channel(h, CFG, date(2026, 11, 24)) == "age 70"


# -- time ---------------------------------------------------------------------------------------------

def test_expired(verifier: SignedTokenVerifier) -> None:
    e = refused(verifier.verify_credential, cred(), NOW + timedelta(seconds=290 + CFG.clock_skew_s))
    assert e.code == "EXPIRED" and "刷新" in e.says.zh and e.says.mn


def test_within_clock_skew_after_exp_is_still_accepted(verifier: SignedTokenVerifier) -> None:
    assert verifier.verify_credential(cred(), NOW + timedelta(seconds=290 + CFG.clock_skew_s - 1)).token_id


def test_not_yet_valid(verifier: SignedTokenVerifier) -> None:
    iat = int(NOW.timestamp()) + CFG.clock_skew_s + 60
    assert refused(verifier.verify_credential, cred(iat=iat, exp=iat + 300), NOW).code == "NOT_YET_VALID"


def test_lifetime_above_max_age_is_refused(verifier: SignedTokenVerifier) -> None:
    iat = int(NOW.timestamp()) - 10
    e = refused(verifier.verify_credential, cred(iat=iat, exp=iat + CFG.max_age_s + 1), NOW)
    assert e.code == "EXPIRED" and "lifetime" in e.log


# -- forgery ------------------------------------------------------------------------------------------

def test_signed_by_another_key_is_forged(verifier: SignedTokenVerifier) -> None:
    token = mint(OTHER_KEY, "msb-1", CREDENTIAL_PREFIX, cred_claims())
    assert refused(verifier.verify_credential, token, NOW).code == "FORGED"


def test_payload_edited_after_signing_is_forged(verifier: SignedTokenVerifier) -> None:
    prefix_header, claims64, sig = cred().rsplit(".", 2)
    edited = dict(cred_claims(), flags=["veteran"])
    token = f"{prefix_header}.{b64url_encode(json.dumps(edited).encode())}.{sig}"
    assert refused(verifier.verify_credential, token, NOW).code == "FORGED"


def test_alg_none_is_refused(verifier: SignedTokenVerifier) -> None:
    header = b64url_encode(json.dumps({"alg": "none", "kid": "msb-1", "typ": "JWT"}).encode())
    body = b64url_encode(json.dumps(cred_claims()).encode())
    for token in (f"MSB1.{header}.{body}.", f"MSB1.{header}.{body}.{b64url_encode(b'x' * 64)}"):
        assert refused(verifier.verify_credential, token, NOW).code in ("FORGED", "MALFORMED")


def test_other_algorithms_are_refused(verifier: SignedTokenVerifier) -> None:
    good = cred()
    _, claims64, sig = good.removeprefix("MSB1.").split(".")
    for alg in ("HS256", "RS256", "ES256", "eddsa", None):
        header = b64url_encode(json.dumps({"alg": alg, "kid": "msb-1"}).encode())
        assert refused(verifier.verify_credential, f"MSB1.{header}.{claims64}.{sig}", NOW).code == "FORGED"


def test_unknown_kid(verifier: SignedTokenVerifier) -> None:
    e = refused(verifier.verify_credential, mint(KEY, "msb-9", CREDENTIAL_PREFIX, cred_claims()), NOW)
    assert e.code == "UNKNOWN_ISSUER" and "msb-9" in e.log and "msb-1" in e.log


def test_key_bound_to_an_issuer_refuses_other_iss() -> None:
    v = SignedTokenVerifier(CFG.model_copy(update={"key_issuers": {"msb-1": "msb"}}), MemoryReplayStore())
    assert v.verify_credential(cred(), NOW).issuer == "msb"
    assert refused(v.verify_credential, cred(iss="other", jti="x2"), NOW).code == "UNKNOWN_ISSUER"


def test_config_refuses_a_key_that_is_not_ed25519() -> None:
    with pytest.raises(ValidationError, match="'bad'.*base64url Ed25519"):
        CredentialConfig(issuer_public_keys={"bad": "not-a-key"})
    with pytest.raises(ValidationError):
        CredentialConfig(issuer_public_keys={"short": pub(KEY)[:-2]})


# -- replay -------------------------------------------------------------------------------------------

def test_same_token_twice_is_replayed(verifier: SignedTokenVerifier) -> None:
    token = cred()
    verifier.verify_credential(token, NOW)
    e = refused(verifier.verify_credential, token, NOW + timedelta(seconds=5))
    assert e.code == "REPLAYED" and "t-0001" in e.log
    assert_no_secret(e, token)


def test_refused_scan_does_not_use_up_the_token(verifier: SignedTokenVerifier) -> None:
    token = apt()
    assert refused(verifier.verify_appointment, token, NOW - timedelta(hours=1), "demo-hall").code in (
        "NOT_YET_VALID", "TOO_EARLY")
    assert verifier.verify_appointment(token, NOW, "demo-hall").appointment_id == "apt-42"


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteReplayStore]:
    s = SqliteReplayStore(tmp_path / "replay.db").open()
    yield s
    s.close()


def test_replay_is_remembered_after_reopening_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "kiosk" / "replay.db"
    token = cred()
    with SqliteReplayStore(path) as store:
        SignedTokenVerifier(CFG, store).verify_credential(token, NOW)
    with SqliteReplayStore(path) as store:
        assert refused(SignedTokenVerifier(CFG, store).verify_credential, token, NOW).code == "REPLAYED"


def test_used_token_stays_used_after_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "replay.db"
    code = ("import os, signal, sys\n"
            "from datetime import datetime, timezone\n"
            "from hallq.msb.replay import SqliteReplayStore\n"
            f"s = SqliteReplayStore({str(path)!r}).open()\n"
            "assert s.seen_or_add('msb:msb:t-9', datetime(2099, 1, 1, tzinfo=timezone.utc)) is False\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"helper should die by SIGKILL after recording: {proc.stderr}"
    with SqliteReplayStore(path) as store:
        assert store.seen_or_add("msb:msb:t-9", NOW) is True


def test_sqlite_store_is_wal_full_and_prunes(sqlite_store: SqliteReplayStore) -> None:
    db = sqlite_store._conn()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2           # FULL
    assert sqlite_store.seen_or_add("a", NOW) is False
    assert sqlite_store.seen_or_add("a", NOW) is True
    sqlite_store.seen_or_add("b", NOW + timedelta(hours=1))
    assert sqlite_store.prune(NOW + timedelta(minutes=1)) == 1 and len(sqlite_store) == 1


def test_sqlite_store_used_before_open_says_so(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not open"):
        SqliteReplayStore(tmp_path / "r.db").seen_or_add("a", NOW)


def test_verifier_prunes_old_ids_but_keeps_live_ones() -> None:
    store = MemoryReplayStore()
    v = SignedTokenVerifier(CFG, store)
    v.verify_credential(cred(jti="old"), NOW)
    later = NOW + timedelta(days=2)
    iat = int(later.timestamp())
    v.verify_credential(cred(jti="new", iat=iat, exp=iat + 300), later)
    assert len(store) == 1


# -- malformed ----------------------------------------------------------------------------------------

def _segments(claims: Any, header: Any = None) -> str:
    h = header if header is not None else {"alg": "EdDSA", "kid": "msb-1", "typ": "JWT"}
    si = b64url_encode(json.dumps(h).encode()) + "." + b64url_encode(json.dumps(claims).encode())
    return "MSB1." + si + "." + b64url_encode(KEY.sign(si.encode()))


MALFORMED_CASES = {
    "empty": "",
    "prefix only": "MSB1.",
    "two parts": "MSB1.abc.def",
    "four parts": "MSB1.a.b.c.d",
    "bad base64": "MSB1.@@@.###.$$$",
    "padding": "MSB1." + ".".join(p + "==" for p in cred().removeprefix("MSB1.").split(".")),
    "truncated": cred()[:-10],
    "cut in the claims": cred()[:60],
    "non-JSON claims": "MSB1." + b64url_encode(b'{"alg":"EdDSA"}') + "." + b64url_encode(b"hello") + ".AAAA",
    "claims not an object": _segments([1, 2, 3]),
    "missing idn": _segments({k: v for k, v in cred_claims().items() if k != "idn"}),
    "missing exp": _segments({k: v for k, v in cred_claims().items() if k != "exp"}),
    "exp is text": _segments(cred_claims(exp="tomorrow")),
    "exp is float": _segments(cred_claims(exp=1.5e9)),
    "exp is bool": _segments(cred_claims(exp=True)),
    "exp is huge": _segments(cred_claims(exp=10**400)),
    "iat after exp": _segments(cred_claims(exp=cred_claims()["iat"] - 1)),
    "idn too short": _segments(cred_claims(idn="1234")),
    "idn full-width digits": _segments(cred_claims(idn="１５０１０２１９５００１０１１２３４")),
    "name is a list": _segments(cred_claims(name=["张", "三"])),
    "name with newline": _segments(cred_claims(name="张\n三")),
    "flags not a list": _segments(cred_claims(flags="veteran")),
    "flag not text": _segments(cred_claims(flags=[1])),
    "birth not a date": _segments(cred_claims(birth="1950-02-30")),
    "duplicate key": "MSB1." + b64url_encode(b'{"alg":"EdDSA","alg":"none","kid":"msb-1"}') + ".e30.AAAA",
    "NaN": "MSB1." + b64url_encode(b'{"alg":NaN}') + ".e30.AA",
    "huge": "MSB1." + "A" * 100_000,
    "appointment given as credential": apt(),
    "header is a string": _segments(cred_claims(), header="EdDSA"),
    "kid not text": _segments(cred_claims(), header={"alg": "EdDSA", "kid": 7}),
    "typ not JWT": _segments(cred_claims(), header={"alg": "EdDSA", "kid": "msb-1", "typ": "JOSE+JSON"}),
    # the same bytes spelled with non-zero padding bits: one token must have one spelling
    "non-canonical base64": cred()[:-1] + {"A": "B", "Q": "R", "g": "h", "w": "x"}.get(cred()[-1], "B"),
    "crit header": _segments(cred_claims(), header={"alg": "EdDSA", "kid": "msb-1", "crit": ["x"]}),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_CASES))
def test_malformed_is_refused_as_malformed(case: str, verifier: SignedTokenVerifier) -> None:
    token = MALFORMED_CASES[case]
    e = refused(verifier.verify_credential, token, NOW)
    assert e.code == "MALFORMED", f"{case}: expected MALFORMED, got {e.code} ({e.log})"
    assert e.says.zh and e.says.mn
    assert_no_secret(e)
    assert len(e.log) < 400, f"{case}: log line should be short, is {len(e.log)} chars"


def test_non_text_payload_is_malformed(verifier: SignedTokenVerifier) -> None:
    assert refused(verifier.verify_credential, b"MSB1.x", NOW).code == "MALFORMED"


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=2000), st.text(max_size=300).map(lambda s: "MSB1." + s),
                 st.binary(max_size=600).map(lambda b: "MSB1." + base64.urlsafe_b64encode(b).decode()),
                 st.lists(st.binary(max_size=200), min_size=3, max_size=3).map(
                     lambda p: "MSB1." + ".".join(b64url_encode(x) for x in p))))
def test_arbitrary_text_only_ever_raises_credential_error(text: str) -> None:
    v = SignedTokenVerifier(CFG, MemoryReplayStore())
    with pytest.raises(CredentialError):
        v.verify_credential(text, NOW)
    with pytest.raises(CredentialError):
        v.verify_appointment(text.replace("MSB1.", "APT1.", 1), NOW, "demo-hall")


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(sorted(cred_claims()) + ["hall", "slot_start", "x"]), json_values, max_size=12))
def test_signed_claims_of_any_shape_only_ever_raise_credential_error(claims: dict[str, Any]) -> None:
    merged = {**cred_claims(), **claims}
    token = _segments(merged)
    v = SignedTokenVerifier(CFG, MemoryReplayStore())
    try:
        h = v.verify_credential(token, NOW)
    except CredentialError as e:
        assert_no_secret(e, token)
    else:
        assert isinstance(h, Holder)


# -- appointments -------------------------------------------------------------------------------------

def test_appointment_in_its_window(verifier: SignedTokenVerifier) -> None:
    a = verifier.verify_appointment(apt(), NOW, "demo-hall")
    assert (a.hall, a.service, a.appointment_id) == ("demo-hall", "general", "apt-42")
    assert a.slot_start == datetime(2026, 11, 23, 9, 15, tzinfo=CST)
    assert a.slot_end - a.slot_start == timedelta(minutes=30)
    assert a.holder.id_masked.endswith("1234") and IDN not in repr(a)


def _apt_at(now: datetime, **over: Any) -> str:
    iat = int(now.timestamp()) - 5
    return apt(iat=iat, exp=iat + 300, **over)


def test_appointment_too_early_says_when(verifier: SignedTokenVerifier) -> None:
    now = datetime(2026, 11, 23, 8, 44, tzinfo=CST)                  # opens 08:45 (30 min before 09:15)
    e = refused(verifier.verify_appointment, _apt_at(now), now, "demo-hall")
    assert e.code == "TOO_EARLY" and "08:45" in e.says.zh
    assert verifier.verify_appointment(_apt_at(now + timedelta(minutes=1)), now + timedelta(minutes=1), "demo-hall")


def test_appointment_too_late(verifier: SignedTokenVerifier) -> None:
    now = datetime(2026, 11, 23, 9, 31, tzinfo=CST)                  # closed 09:30 (15 min after 09:15)
    assert refused(verifier.verify_appointment, _apt_at(now), now, "demo-hall").code == "TOO_LATE"


def test_appointment_window_uses_config() -> None:
    cfg = CFG.model_copy(update={"appointment_early_min": 5, "appointment_late_min": 0})
    v = SignedTokenVerifier(cfg, MemoryReplayStore())
    now = datetime(2026, 11, 23, 9, 9, tzinfo=CST)
    assert refused(v.verify_appointment, _apt_at(now), now, "demo-hall").code == "TOO_EARLY"


def test_appointment_wrong_hall(verifier: SignedTokenVerifier) -> None:
    e = refused(verifier.verify_appointment, apt(), NOW, "other-hall")
    assert e.code == "WRONG_HALL" and "demo-hall" in e.log and "other-hall" in e.log


def test_appointment_checked_in_twice(verifier: SignedTokenVerifier) -> None:
    verifier.verify_appointment(apt(), NOW, "demo-hall")
    e = refused(verifier.verify_appointment, _apt_at(NOW + timedelta(minutes=2)), NOW + timedelta(minutes=2),
                "demo-hall")
    assert e.code == "REPLAYED" and "已签到" in e.says.zh and "apt-42" in e.log


def test_credential_and_appointment_ids_do_not_collide(verifier: SignedTokenVerifier) -> None:
    verifier.verify_credential(cred(jti="same"), NOW)
    assert verifier.verify_appointment(apt(jti="same"), NOW, "demo-hall").appointment_id == "same"


def test_credential_given_as_appointment_is_malformed(verifier: SignedTokenVerifier) -> None:
    assert refused(verifier.verify_appointment, cred(), NOW, "demo-hall").code == "MALFORMED"


def test_appointment_slot_end_before_start_is_malformed(verifier: SignedTokenVerifier) -> None:
    token = apt(slot_start="2026-11-23T09:45+08:00", slot_end="2026-11-23T09:15+08:00")
    assert refused(verifier.verify_appointment, token, NOW, "demo-hall").code == "MALFORMED"


def test_naive_now_is_a_programming_error(verifier: SignedTokenVerifier) -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        verifier.verify_credential(cred(), NOW.replace(tzinfo=None))


def test_appointment_slot_without_offset_is_malformed(verifier: SignedTokenVerifier) -> None:
    token = apt(slot_start="2026-11-23T09:15", slot_end="2026-11-23T09:45")
    assert refused(verifier.verify_appointment, token, NOW, "demo-hall").code == "MALFORMED"


# -- what may leave the verifier ------------------------------------------------------------------------

def test_no_id_number_in_holder_errors_or_logs(verifier: SignedTokenVerifier, caplog: pytest.LogCaptureFixture) -> None:
    token = cred()
    h = verifier.verify_credential(token, NOW)
    e = refused(verifier.verify_credential, token, NOW)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("test").info("holder %s %r error %s %r %s", h, h, e, e, e.log)
    assert IDN not in caplog.text and token not in caplog.text
    assert_no_secret(h)
    assert_no_secret(e, token)
    assert "张三" not in repr(h), "the name is personal data too: shown on screen, not logged via repr"


def test_every_code_has_both_languages() -> None:
    for code in get_args(ErrorCode):
        zh, mn = CredentialError(code, "test").says.zh, CredentialError(code, "test").says.mn
        assert zh and mn, code
        assert all(0x1800 <= ord(ch) <= 0x18AF or ch in " \u202f" for ch in mn), f"{code}: mn must be Unicode Mongolian"


def test_tokens_are_ascii_and_fit_a_qr() -> None:
    typical = (cred(), apt())
    # long name, every flag, 22-character ids (16 random bytes), a long hall and service id
    long = (cred(name="阿拉坦其其格·巴特尔", flags=["veteran", "disability", "firefighter", "medical", "pregnant"],
                 jti="x" * 22, sub="p" * 22),
            apt(name="阿拉坦其其格·巴特尔", jti="a" * 22, sub="p" * 22, hall="xilinhot-city-hall",
                service="real-estate"))
    for token, limit in [(t, 480) for t in typical] + [(t, 560) for t in long]:
        assert token.isascii() and len(token) <= limit, f"token of {len(token)} chars, expected at most {limit}"
    assert decode_unverified(typical[0]).header == {"alg": "EdDSA", "kid": "msb-1", "typ": "JWT"}
    with pytest.raises(ValueError, match="QR budget"):
        cred(name="阿" * 64)


def test_mint_refuses_an_unknown_prefix() -> None:
    with pytest.raises(ValueError, match="prefix"):
        mint(KEY, "msb-1", "XYZ1.", cred_claims())


# -- hallq sim token ----------------------------------------------------------------------------------

def test_cli_new_key_then_token_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "issuer.pem"
    assert credentials_cli.run(["--new-key", str(key), "--kid", "demo-1"]) == 0
    out = capsys.readouterr().out
    public = out.split("public key: ")[1].split()[0]
    assert f"demo-1: {public}" in out and "issuer_public_keys:" in out
    assert credentials_cli.run(["--new-key", str(key)]) == 2                      # never overwritten
    assert "already exists" in capsys.readouterr().err

    cfg = CredentialConfig(issuer_public_keys={"demo-1": public})
    assert credentials_cli.run(["--key", str(key), "--kid", "demo-1", "--flag", "veteran",
                                "--now", NOW.isoformat()]) == 0
    token = capsys.readouterr().out.strip()
    h = SignedTokenVerifier(cfg, MemoryReplayStore()).verify_credential(token, NOW)
    assert h.flags == {"veteran"} and h.birth_date == date(1950, 1, 1)

    assert credentials_cli.run(["--key", str(key), "--kid", "demo-1", "--appointment", "--hall", "demo-hall",
                                "--service", "tax", "--slot-start", "2026-11-23T09:15+08:00",
                                "--now", NOW.isoformat()]) == 0
    a = SignedTokenVerifier(cfg, MemoryReplayStore()).verify_appointment(capsys.readouterr().out.strip(), NOW,
                                                                        "demo-hall")
    assert a.service == "tax" and a.slot_end == datetime(2026, 11, 23, 9, 45, tzinfo=CST)


def test_cli_user_mistakes_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "junk.pem").write_text("junk")
    for argv, needle in ((["--kid", "k"], "--key FILE"),
                         (["--key", str(tmp_path / "junk.pem"), "--kid", "k"], "not an unencrypted PEM"),
                         (["--key", str(tmp_path / "none.pem"), "--kid", "k"], "cannot read key"),
                         (["--bogus"], "unrecognized arguments")):
        assert credentials_cli.run(argv) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1, err
