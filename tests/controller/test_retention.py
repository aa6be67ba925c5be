"""Citizens' personal data kept only as long as needed (controller/retention.py): day keys, the holder hash and
the sealed identity bound to them, `identity.purged` once a day is past `evaluation.identity_keep_days` with no
open 差评 work order, and what a purge leaves (nothing that opens or links) in live state, replay and archive."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from controller.authz import CredentialCheck, Sender
from controller.engine import Engine
from controller.retention import MemoryDayKeys, holder_hash, unwrap, wrap, wrapped_day
from hallq.config import ConfigError, parse_config
from hallq.sealed import new_private_key_pem, open_sealed, seal
from tests.conftest import small_hall

TZ = ZoneInfo("Asia/Shanghai")
MON = datetime(2026, 8, 3, 9, 0, tzinfo=TZ)   # a Monday
KEEP = 90
PEM, PUBLIC = new_private_key_pem()


def _private() -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    return load_pem_private_key(PEM, None)


def sealed(name: str = "其木格", idn: str = "150102195001011234") -> str:
    return seal(PUBLIC, {"name": name, "idn": idn, "iss": "mengsuban"})


def citizen(holder: str, rater: str | None = None) -> Sender:
    return Sender(credential=CredentialCheck(True, "", holder=holder, rater=rater))


class Hall:
    def __init__(self, compact: bool = True) -> None:
        self.cfg = parse_config(small_hall(evaluation={"identity_keep_days": KEEP}))
        self.engine = Engine(self.cfg, b"s" * 32, compact=compact)
        self.log: list[dict[str, Any]] = []

    def run(self, name: str, at: datetime, sender: Sender | None = None, **args: Any) -> dict[str, Any]:
        out = self.engine.handle(name, args, at, sender)
        self.log += out.events
        return out.reply

    def ok(self, name: str, at: datetime, sender: Sender | None = None, **args: Any) -> dict[str, Any]:
        r = self.run(name, at, sender, **args)
        assert r["ok"], f"{name} {args}: {r}"
        return dict(r["result"])

    def err(self, name: str, at: datetime, sender: Sender | None = None, **args: Any) -> tuple[str, str]:
        r = self.run(name, at, sender, **args)
        assert not r["ok"], f"{name} {args} was expected to fail: {r}"
        return r["error"]["code"], r["error"]["message"]

    def purge(self, at: datetime) -> list[dict[str, Any]]:
        evs = self.engine.purge_due(at, self.engine.keys.days())
        for ev in evs:
            self.engine.keys.destroy(date.fromisoformat(ev["date"]))
        self.log += evs
        return evs

    def served_and_rated(self, at: datetime, level: int, who: Sender) -> str:
        number = str(self.ok("issue", at, who, service="general")["ticket"]["number"])
        self.ok("login", at + timedelta(seconds=1), window="1", staff="S001")
        self.ok("call", at + timedelta(seconds=2), window="1")
        self.ok("finish", at + timedelta(seconds=60), window="1")
        self.ok("rate", at + timedelta(seconds=70), ticket=number, level=level, window="1")
        return number


# -- the pure part -----------------------------------------------------------------------------------------
def test_wrap_opens_only_with_its_day_key() -> None:
    keys = MemoryDayKeys()
    day = date(2026, 8, 3)
    text = sealed()
    wrapped = wrap(keys.key_for(day), day, text)
    assert wrapped.startswith("RIDD1.2026-08-03.") and wrapped_day(wrapped) == day
    assert wrapped == wrap(keys.key_for(day), day, text), "deterministic: replay and snapshot hold the same text"
    assert unwrap(keys.key_for(day), wrapped) == text
    other = date(2026, 8, 4)
    with pytest.raises(ValueError, match="does not open"):
        unwrap(keys.key_for(other), wrapped)
    with pytest.raises(ValueError, match="does not open"):       # the day in the text is authenticated too
        unwrap(keys.key_for(day), wrapped.replace("2026-08-03", "2026-08-04"))
    assert wrapped_day(text) is None


def test_holder_hash_links_within_a_day_only() -> None:
    keys = MemoryDayKeys()
    d1, d2 = date(2026, 8, 3), date(2026, 8, 4)
    a = holder_hash(b"s" * 32, keys.key_for(d1), "msb:abc")
    assert a == holder_hash(b"s" * 32, keys.key_for(d1), "msb:abc") and a.startswith("hk2:")
    assert a != holder_hash(b"s" * 32, keys.key_for(d2), "msb:abc"), "two days of one person do not link"
    assert a != holder_hash(b"t" * 32, keys.key_for(d1), "msb:abc"), "the day key alone (a backup) links nobody"


def test_keep_days_has_a_floor() -> None:
    with pytest.raises(ConfigError, match="identity_keep_days"):
        parse_config(small_hall(evaluation={"identity_keep_days": 7}))
    assert parse_config(small_hall()).evaluation.identity_keep_days == 90


# -- the engine ------------------------------------------------------------------------------------------
def test_identity_kept_then_purged_and_gone_from_state_and_replay() -> None:
    h = Hall()
    who = citizen("msb:abc", sealed())
    number = h.served_and_rated(MON, 5, who)
    issued = next(e for e in h.log if e["type"] == "ticket.issued")
    assert issued["holder"].startswith("hk2:") and issued["rater"].startswith("RIDD1.2026-08-03.")
    h.ok("issue", MON + timedelta(minutes=6), who, service="general")   # served: a new ticket is fine
    assert h.err("issue", MON + timedelta(minutes=7), who, service="general")[0] == "ALREADY_WAITING"
    got = h.ok("rater_access", MON + timedelta(days=30), ticket=number, date="2026-08-03", by="M01", reason="回访")
    assert open_sealed(_private(), got["rater"])["name"] == "其木格"
    # kept through the last day of keeping, purged the day after
    assert h.purge(MON + timedelta(days=KEEP)) == []
    day_after = MON + timedelta(days=KEEP + 1)
    (ev,) = h.purge(day_after)
    assert (ev["type"], ev["date"], ev["identities"], ev["unwrapped"], ev["kept_days"]) == \
        ("identity.purged", "2026-08-03", 2, 0, KEEP)
    assert h.engine.keys.get(date(2026, 8, 3)) is None
    code, msg = h.err("rater_access", day_after, ticket=number, date="2026-08-03", by="M01", reason="回访")
    assert code == "PURGED" and "purged on 2026-11-02" in msg
    t = h.engine.state.ticket(date(2026, 8, 3), number)
    assert t is not None and t.holder is None and t.rater is None, "nothing of the citizen stays in memory"
    assert h.purge(day_after + timedelta(days=1)) == [], "a day is purged once"
    # a replay of the log ends where the live engine is
    again = Engine(h.cfg, b"s" * 32)
    for e in h.log:
        again.apply(e)
    assert again.state.purged == h.engine.state.purged == {date(2026, 8, 3): date(2026, 11, 2)}
    assert again.state.ticket(date(2026, 8, 3), number).rater is None   # type: ignore[union-attr]
    assert again.state.archive == h.engine.state.archive


def test_an_open_bad_rating_order_holds_its_day() -> None:
    h = Hall()
    number = h.served_and_rated(MON, 1, citizen("msb:abc", sealed()))
    h.served_and_rated(MON + timedelta(days=1), 5, citizen("msb:def", sealed("巴特尔")))
    order = next(e for e in h.log if e["type"] == "workorder.opened")["order"]
    late = MON + timedelta(days=KEEP + 5)
    (ev,) = h.purge(late)
    assert ev["date"] == "2026-08-04", "the other day goes; the day with an open 差评 order stays"
    plan = h.engine.retention(late, h.engine.keys.days())
    assert plan["held"] == {date(2026, 8, 3): [order]} and plan["due"] == []
    status = h.ok("retention", late)
    assert status == {"kept_days": KEEP, "days": 1, "oldest": "2026-08-03", "due": [],
                      "held": [{"date": "2026-08-03", "orders": [order]}], "purged_days": 1,
                      "purged": [{"date": "2026-08-04", "on": "2026-11-06"}]}
    got = h.ok("rater_access", late, ticket=number, date="2026-08-03", by="M01", reason="差评回访")
    assert open_sealed(_private(), got["rater"])["idn"].endswith("1234"), "回访 of the 差评 can still reach the rater"
    for name, extra in (("wo_verify", {}), ("wo_feedback", {}), ("wo_revisit", {"satisfied": True})):
        h.ok(name, late + timedelta(minutes=1), order=order, by="M01", note="ok", **extra)
    (ev,) = h.purge(late + timedelta(hours=1))
    assert ev["date"] == "2026-08-03"


def test_days_sealed_before_day_keys_are_counted_as_unwrapped() -> None:
    h = Hall(compact=False)
    # an event an older controller wrote: hk1 holder, RID1 identity not wrapped
    h.engine.apply({"type": "ticket.issued", "at": MON.isoformat(), "ticket": "A001", "date": "2026-08-03",
                    "service": "general", "window": None, "priority": "normal", "source": "k1",
                    "holder": "hk1:" + "0" * 32, "rater": "RID1.abc", "seq": 1})
    got = h.ok("rater_access", MON + timedelta(days=1), ticket="A001", date="2026-08-03", by="M01", reason="x")
    assert got["rater"] == "RID1.abc", "an old identity is handed out as it was sealed"
    (ev,) = h.purge(MON + timedelta(days=KEEP + 1))
    assert (ev["identities"], ev["unwrapped"]) == (1, 1)
    assert h.engine.state.tickets[(date(2026, 8, 3), "A001")].rater is None
