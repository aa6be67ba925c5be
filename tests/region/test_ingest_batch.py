"""The ingest's batch path without MQTT (real PostgreSQL): the guarded decode refuses what `hallq.api.decode` refuses,
batches in any order and redelivered give each row once and the same projection as the whole log at once, poisoned
events are dropped without stopping the ingest, and nothing is acknowledged before its commit."""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hallq.api import MAX_DEPTH, MESSAGE_MAX_BYTES, BadPayload, decode
from hallq.config.region import parse_region
from region import project, store
from region.ingest import Incoming, Ingest
from region.payload import decode_text, event_month
from region.pgtest import Postgres
from tests.display.poison import CALLED, corpus

ZONE = "Asia/Shanghai"
D = "2026-11-23"


def _same_as_decode(payload: bytes) -> None:
    try:
        want: Any = decode(payload)
    except BadPayload as e:
        with pytest.raises(BadPayload) as got:
            decode_text(payload)
        assert str(got.value) == str(e), f"{payload[:80]!r}: the reason differs"
        return
    except ValueError:          # hallq.api.decode lets a number over 4,300 digits escape as a plain ValueError
        with pytest.raises(BadPayload, match="number too long"):
            decode_text(payload)
        return
    value, text = decode_text(payload)
    assert value == want and text == payload.decode("utf-8"), f"{payload[:80]!r}: decoded differently"


def test_decode_refuses_what_the_api_refuses() -> None:
    extra = [
        b'{"a":"\\ud83d\\ude00"}',                                     # an escaped emoji: a valid pair
        b'{"a":"\\ud83d"}', b'{"a":"x\\uDFFFy"}', b'{"\\uDbff":1}',      # lone surrogates, any case
        b'{"a":"\\\\ud800"}',                                          # an escaped backslash, then text
        b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
        b'{"a":"' + b"{[" * 40 + b'"}',                                # brackets in a string: not nesting
        b'{"a":' + b"1" * 5000 + b"}",                                 # a number Python will not convert
        b'{"a":"' + b"x" * MESSAGE_MAX_BYTES + b'"}',                   # over the size limit
        b'{"a": "\xe4\xb8\xad\xe6\x96\x87",\n\t"b": [1, 2.5, null, true]}\r\n',
        b'{"a":NaN}', b'{"a":1}x', b'\xef\xbb\xbf{}',
    ]
    for payload in corpus(CALLED) + extra:
        _same_as_decode(payload)


_text = st.text(st.characters(categories=("Cs", "Lo", "Lu", "Nd", "Cc", "So", "Po", "Zs")), max_size=6)
_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text,
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
                     max_leaves=40)


@settings(max_examples=300, deadline=None)
@given(_json, st.booleans(), st.sampled_from([None, 1, "\t"]), st.binary(max_size=3), st.integers(0, 200))
def test_decode_agrees_on_generated_payloads(value: Any, ascii_only: bool, indent: Any, noise: bytes,
                                             at: int) -> None:
    """Lone surrogates escaped (ASCII-only dumps) or raw (encoded as such), nesting, noise spliced in."""
    payload = json.dumps(value, ensure_ascii=ascii_only, indent=indent).encode("utf-8", "surrogatepass")
    _same_as_decode(payload)
    _same_as_decode(payload[:at] + noise + payload[at:])      # and damaged


def test_event_month_is_the_utc_month_and_checks_the_fields() -> None:
    ev = {"type": "ticket.issued", "seq": 1, "log": "L", "at": "2026-12-01T07:59:59+08:00"}
    assert event_month(ev) == date(2026, 11, 1)                # the partition bounds are UTC
    assert event_month({**ev, "at": "2026-12-01T08:00:00+08:00"}) == date(2026, 12, 1)
    for bad in ({"seq": True}, {"seq": 0}, {"seq": "1"}, {"at": "2026-12-01T08:00:00"}, {"at": "yesterday"},
                {"log": None}, {"type": 1}, {"at": "9999-12-31T23:00:00+00:00"}, {"at": "0001-01-01T00:00:00+08:00"}):
        assert event_month({**ev, **bad}) is None, bad


def test_ticket_keys_leave_out_tickets_issued_in_the_run() -> None:
    evs: list[dict[str, Any]] = [
        {"type": "ticket.called", "ticket": "A001", "date": D},                 # before its issue in this run: read
        {"type": "ticket.issued", "ticket": "A001", "date": D, "service": "g"},
        {"type": "ticket.issued", "ticket": "A002", "date": D, "service": "g"},   # a new row: nothing to read
        {"type": "ticket.called", "ticket": "A002", "date": D},
        {"type": "ticket.issued", "ticket": "A003", "date": D},                   # no service: apply skips it
        {"type": "ticket.finished", "ticket": "A003", "date": D},
        {"type": "day.closed", "date": D, "no_show": ["A002", "A004"]},
        {"type": "day.closed", "date": D, "no_show": 5}]                         # not a list: no crash
    day = date.fromisoformat(D)
    assert project.ticket_keys(evs) == {(day, "A001"), (day, "A003"), (day, "A004")}


# -- batches into PostgreSQL ----------------------------------------------------------------------------------------
def _ev(seq: int, typ: str, hhmm: str, **kw: Any) -> dict[str, Any]:
    return {"type": typ, "seq": seq, "log": "seg-1", "at": f"{D}T{hhmm}:00+08:00", **kw}


LOG = [_ev(1, "ticket.issued", "09:00", ticket="A001", date=D, service="g", priority="normal"),
       _ev(2, "ticket.issued", "09:01", ticket="A002", date=D, service="g", priority="green", note="a\\b\t\"c\" 中文"),
       _ev(3, "ticket.called", "09:10", ticket="A001", date=D, service="g", window="1", staff="S1", recall=0),
       _ev(4, "ticket.called", "09:11", ticket="A001", date=D, service="g", window="1", staff="S1", recall=1),
       _ev(5, "ticket.transferred", "09:20", ticket="A001", date=D, service="t", window="1"),
       _ev(6, "evaluation.recorded", "09:21", ticket="A001", date=D, window="1", level=2, channel="evaluator"),
       _ev(7, "alert.raised", "09:21", id="A1-x", kind="bad_review", message="差评 😀"),
       _ev(8, "alert.acknowledged", "09:30", alert="A1-x", note="ok"),
       _ev(9, "ticket.issued", "09:40", ticket="A003", date=D, service="g"),
       _ev(10, "day.closed", "23:59", date=D, no_show=["A002"]),
       _ev(11, "workorder.opened", "10:00", order="WO-R-x1", ticket="A001", date=D, service="t", level=1,
           deadline="2026-11-30", source="region", forwarded={"ref": "x1", "channel": "12345", "note": "n"}),
       _ev(12, "workorder.changed", "11:00", order="WO-R-x1", action="wo_verify", to="rectifying", note="v"),
       _ev(13, "workorder.changed", "12:00", order="WO-R-x1", action="wo_feedback", to="fed_back", note="f")]


def _msg(hall: str, ev: dict[str, Any], mid: int = 1, **dumps: Any) -> Incoming:
    return Incoming(mid, 1, f"hallq/{hall}/event/{ev['type']}", json.dumps(ev, **dumps).encode())


def _ingest(pg: Postgres, halls: list[str]) -> Ingest:
    cfg = parse_region({"region": {"id": "r", "name": {"zh": "r"}, "timezone": ZONE},
                        "mqtt": {"host": "127.0.0.1", "port": 1}, "postgres": pg.dsn,
                        "halls": [{"id": h, "name": {"zh": h}, "level": "gacha"} for h in halls]}, "REGION.yaml")
    ing = Ingest(cfg, None)
    ing._db()
    return ing


def _rows(db: psycopg.Connection[Any], table: str, cols: tuple[str, ...], hall: str) -> dict[Any, dict[str, Any]]:
    names = ", ".join(f'"{c}"' for c in cols)
    out = {}
    for r in db.execute(f"SELECT {names} FROM {table} WHERE hall = %s", (hall,)).fetchall():  # noqa: S608
        row = dict(zip(cols, r, strict=True))
        out[tuple(r[:3]) if table == "hallq_tickets" else (r[0], r[1])] = row
    return out


def test_batches_in_any_order_and_redelivered_give_each_row_once(pg: Postgres) -> None:
    ing = _ingest(pg, ["b1", "b2"])
    pretty: dict[str, Any] = {"indent": "\t", "ensure_ascii": True}   # whitespace and escapes for COPY to carry
    batches = [[_msg("b1", e, **pretty) for e in LOG[2:6]] + [_msg("b2", e) for e in LOG[:7]],
               [_msg("b1", e) for e in LOG[:2]] + [_msg("b2", e) for e in LOG[4:9]],       # b2 5..7 again
               [_msg("b1", e) for e in LOG[4:]] + [_msg("b2", e) for e in LOG[9:]],        # b1 5, 6 again
               [_msg("b1", e) for e in LOG] + [_msg("b2", e) for e in LOG]]                # all of it again
    for batch in batches:
        ing.commit(batch)
    assert ing.stats.projected == 2 * len(LOG), "each event projected once"
    ch = project.Changes()
    for hall in ("b1", "b2"):
        project.apply(hall, ZoneInfo(ZONE), LOG, ch)
    with psycopg.connect(pg.dsn, autocommit=True) as db:
        for hall in ("b1", "b2"):
            got = db.execute("SELECT seq, body FROM hallq_events WHERE hall = %s ORDER BY seq", (hall,)).fetchall()
            assert got == [(e["seq"], e) for e in LOG], f"{hall}: every event once, as published"
            assert db.execute("SELECT log, seq FROM hallq_ingest_state WHERE hall = %s", (hall,)).fetchone() == \
                ("seg-1", len(LOG))
            want_tickets = {k[1:]: v for k, v in ch.tickets.items() if k[0] == hall}
            assert {k[1:]: v for k, v in _rows(db, "hallq_tickets", project.TICKET_COLS, hall).items()} == \
                {k: v for k, v in want_tickets.items()}, f"{hall}: tickets as the whole log projected at once"
            alerts = _rows(db, "hallq_alerts", project.ALERT_COLS, hall)
            assert alerts == {k: v for k, v in ch.alerts.items() if k[0] == hall}
            orders = _rows(db, "hallq_workorders", project.ORDER_COLS, hall)
            assert orders == {k: v for k, v in ch.orders.items() if k[0] == hall}
        assert store.rollups(db) == 2
        assert db.execute("SELECT count(*) FROM hallq_rollup_dirty").fetchone() == (0,)
        assert db.execute("SELECT hall, issued, no_show, bad, alerts_raised, alerts_acknowledged FROM "
                          "hallq_rollup_day WHERE dim = 'hall' ORDER BY hall").fetchall() == \
            [("b1", 3, 1, 1, 1, 1), ("b2", 3, 1, 1, 1, 1)]


def test_poisoned_events_are_dropped_and_the_ingest_goes_on(pg: Postgres) -> None:
    ing = _ingest(pg, ["p1"])
    first = _ev(1, "ticket.issued", "09:00", ticket="A001", date=D, service="g")
    poison = [
        Incoming(2, 1, "hallq/p1/event/x", b'{"type":"ticket.issued","seq":2,"log":"seg-1","n":' + b"9" * 5000 + b"}"),
        _msg("p1", {**first, "seq": True}),
        _msg("p1", {**first, "seq": 2, "at": "9999-12-31T23:30:00-08:00"}),
        _msg("p1", {**first, "seq": 2, "service": "x\u0000"}),
    ]
    closed = _ev(2, "day.closed", "23:59", date=D, no_show=5)     # `no_show` not a list: stored, not projected
    early = {**_ev(3, "ticket.issued", "00:30", ticket="A002", date="2025-03-01", service="g"),
             "at": "2025-03-01T00:30:00+08:00"}                     # February in UTC: a partition made on demand
    ing.commit([_msg("p1", first), *poison, _msg("p1", closed), _msg("p1", early)])
    assert ing.drops.dropped == len(poison)
    with psycopg.connect(pg.dsn, autocommit=True) as db:
        assert db.execute("SELECT seq, tableoid::regclass::text FROM hallq_events WHERE hall = 'p1' ORDER BY seq"
                          ).fetchall() == [(1, "hallq_events_2026_11"), (2, "hallq_events_2026_11"),
                                           (3, "hallq_events_2025_02")]
        assert db.execute("SELECT seq FROM hallq_ingest_state WHERE hall = 'p1'").fetchone() == (3,)
        assert db.execute("SELECT day, number FROM hallq_tickets WHERE hall = 'p1' ORDER BY day").fetchall() == \
            [(date(2025, 3, 1), "A002"), (date(2026, 11, 23), "A001")]


class _Client:
    def __init__(self, ing: Ingest) -> None:
        self.ing = ing
        self.acked: list[tuple[int, int]] = []
        self.rows_when_acked: list[int] = []

    def ack(self, mid: int, qos: int) -> None:
        self.acked.append((mid, qos))
        with psycopg.connect(self.ing.cfg.postgres, autocommit=True) as db:   # what another session sees
            n = db.execute("SELECT count(*) FROM hallq_events WHERE hall = 'k1'").fetchone()
            assert n is not None
            self.rows_when_acked.append(int(n[0]))


def test_acknowledged_only_after_the_commit(pg: Postgres, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    ing = _ingest(pg, ["k1"])
    client = _Client(ing)
    ing.client = client  # type: ignore[assignment]
    real = Ingest.commit
    fails = [psycopg.OperationalError("server closed the connection unexpectedly")]

    def commit(self: Ingest, batch: list[Incoming]) -> None:
        if fails:
            raise fails.pop()           # PostgreSQL lost: kept unacknowledged and retried
        real(self, batch)
    monkeypatch.setattr(Ingest, "commit", commit)
    evs = [_ev(s, "ticket.issued", "09:00", ticket=f"A{s:03d}", date=D, service="g") for s in (1, 2, 3)]
    batch = [_msg("k1", e, mid=10 + e["seq"]) for e in evs] + [Incoming(20, 0, "hallq/k1/event/x", b"{}")]
    ing._commit_with_retry(batch, threading.Event())
    assert client.acked == [(11, 1), (12, 1), (13, 1)], "QoS 1 messages acknowledged once each, QoS 0 never"
    assert client.rows_when_acked == [3, 3, 3], "each acknowledgement after its rows were committed"
