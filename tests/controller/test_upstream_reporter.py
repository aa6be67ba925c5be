"""The 好差评 outbox against the fake platform: once each, in order, through outages, 5xx, 4xx and timeouts —
with verdicts by HTTP status and, for platforms that always answer HTTP 200, by the code in the body."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from controller.platform_fake import FakePlatform
from controller.store import EventStore
from controller.upstream import idempotency_key, record_for
from controller.upstream_reporter import OUTBOX_NAME, UpstreamReporter
from hallq.clock import ScaledClock
from hallq.config import HallConfig, parse_config
from tests.conftest import small_hall

DAY = "2026-11-23"
CLOCK = ScaledClock(datetime.fromisoformat("2026-11-23T10:00:00+08:00"))


# upstream.answer for the fake platform in body style (HTTP 200, {"code": "0"|"1001"|"500"|"400"|…, "msg": …})
BODY_ANSWER = {"code_field": "code", "ok": ["0"], "duplicate": ["1001"], "retry": ["500", "503"]}
ANSWER_OF_STYLE: dict[str, dict[str, Any]] = {"status": {}, "body": {"answer": BODY_ANSWER}}
BOTH_STYLES = pytest.mark.parametrize("platform", ["status", "body"], indirect=True)


def hall_cfg(url: str | None, **upstream: Any) -> HallConfig:
    up = {"url": url, "timeout_s": 2.0, "backoff_min_s": 0.01, "backoff_max_s": 0.05, "area_code": "150102",
          "dept_code": "D0", "task_codes": {"general": "T-general", "tax": "T-tax"}, **upstream}
    return parse_config(small_hall(upstream=up))


def evaluation(n: int, **kw: Any) -> dict[str, Any]:
    ev = {"type": "evaluation.recorded", "at": f"{DAY}T10:{n % 60:02d}:00+08:00", "ticket": f"A{n:03d}",
          "date": DAY, "window": "1", "staff": "S001", "service": "general", "level": 5 - n % 5,
          "channel": "evaluator", "reasons": [], "supplementary": False}
    ev.update(kw)
    return ev


def noise(n: int) -> dict[str, Any]:
    return {"type": "ticket.called", "at": f"{DAY}T09:{n % 60:02d}:00+08:00", "ticket": f"A{n:03d}", "date": DAY,
            "service": "general", "window": "1", "recall": 0}


def append(store: EventStore, *events: dict[str, Any]) -> list[dict[str, Any]]:
    """Write events as the controller would; returns them with their seq."""
    return [ev for done in store.append([([ev], None) for ev in events]) for ev in done]


def cfg_for(platform: FakePlatform, **upstream: Any) -> HallConfig:
    """The hall config that reads `platform`'s answers in its answer style."""
    return hall_cfg(platform.url, **ANSWER_OF_STYLE[platform.answer_style], **upstream)


@pytest.fixture
def platform(request: pytest.FixtureRequest) -> Iterator[FakePlatform]:
    """The fake platform in status style, or in the style given by `BOTH_STYLES` / indirect parametrize."""
    p = FakePlatform(answer_style=getattr(request, "param", "status")).start()
    yield p
    p.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    s = EventStore(tmp_path / "data").open()
    yield s
    s.close()


def reporter(cfg: HallConfig, store: EventStore) -> UpstreamReporter:
    return UpstreamReporter(cfg, store.data_dir, CLOCK, rng=random.Random(1), poll_s=0.01)


def run_until(rep: UpstreamReporter, done: Callable[[], bool], what: str, during: Callable[[], None] | None = None,
              timeout_s: float = 20.0) -> dict[str, Any]:
    """Run the reporter until `done()`; `during()` is called once it runs. Returns its status after it stopped."""

    async def main() -> dict[str, Any]:
        stop = asyncio.Event()
        task = asyncio.create_task(rep.run(stop))
        await asyncio.sleep(0)
        if during is not None:
            during()
        deadline = time.monotonic() + timeout_s
        while not done():
            if task.done():
                task.result()
                raise AssertionError(f"reporter stopped before {what}")
            if time.monotonic() > deadline:
                stop.set()
                await task
                raise AssertionError(f"expected {what} within {timeout_s} s; reporter status: {rep.status()}")
            await asyncio.sleep(0.01)
        stop.set()
        await task   # a record in flight is settled before run() returns
        return rep.status()

    return asyncio.run(main())


def outcomes(store: EventStore) -> list[tuple[int, str, str, int | None, int]]:
    with sqlite3.connect(store.data_dir / OUTBOX_NAME) as db:
        return [(int(s), str(t), str(o), st, int(a)) for s, t, o, st, a in
                db.execute("SELECT seq, ticket, outcome, status, attempts FROM outcomes ORDER BY seq")]


def keys(events: list[dict[str, Any]]) -> list[str]:
    return [idempotency_key("test-hall", ev["date"], ev["ticket"]) for ev in events]


@BOTH_STYLES
def test_every_evaluation_exactly_once_in_order_with_the_record_of_the_mapping(
        platform: FakePlatform, store: EventStore) -> None:
    cfg = cfg_for(platform)
    written = append(store, *[e for n in range(1, 13) for e in (noise(n), evaluation(n))])
    evals = [e for e in written if e["type"] == "evaluation.recorded"]
    later: list[dict[str, Any]] = []

    def live() -> None:   # appended while it runs: picked up from the log's tail
        later.extend(append(store, evaluation(13), noise(14), evaluation(14, supplementary=True, channel="qr")))

    status = run_until(reporter(cfg, store), lambda: len(platform.records()) >= 14, "14 records", during=live)
    evals += [e for e in later if e["type"] == "evaluation.recorded"]
    assert platform.keys() == keys(evals), "the platform should get each evaluation once, in log order"
    assert [r["record"] for r in platform.records()] == [record_for(e, cfg) for e in evals]
    assert all(r["record"]["idempotencyKey"] == r["key"] for r in platform.records()), "header and body key agree"
    assert [k for k, _ in platform.answers] == keys(evals), "nothing was posted twice"
    assert status["pending"] == 0 and status["last_sent_seq"] == evals[-1]["seq"] and status["sent"] == 14
    assert status["state"] == "idle" and status["rejected"] == 0
    assert [o[:3] for o in outcomes(store)] == [(e["seq"], e["ticket"], "sent") for e in evals]


def test_platform_down_for_a_while_then_up_delivers_everything(platform: FakePlatform, store: EventStore) -> None:
    platform.stop()
    evals = append(store, *[evaluation(n) for n in range(1, 6)])
    rep = reporter(hall_cfg(platform.url), store)
    seen: dict[str, Any] = {}

    def retried_a_few_times() -> bool:
        r = rep.status()["retrying"]
        if r is not None and r["attempts"] >= 4:
            seen.update(rep.status())
            platform.start()
            return True
        return False

    # one run: down until several retries happened, then up until all five are in
    status = run_until(rep, lambda: (bool(seen) or retried_a_few_times()) and len(platform.records()) >= 5,
                       "5 records after the outage")
    assert "connection refused" in seen["last_error"] and seen["pending"] == 5 and seen["state"] == "retrying"
    assert seen["retrying"]["ticket"] == "A001"
    assert platform.keys() == keys(evals)
    assert status["pending"] == 0 and status["retrying"] is None


@BOTH_STYLES
def test_5xx_is_retried_until_taken(platform: FakePlatform, store: EventStore) -> None:
    platform.fail_with(500, times=2)
    evals = append(store, evaluation(1), evaluation(2))
    run_until(reporter(cfg_for(platform), store), lambda: len(platform.records()) >= 2, "2 records")
    platform.fail_with(503, times=1)
    evals += append(store, evaluation(3))
    run_until(reporter(cfg_for(platform), store), lambda: len(platform.records()) >= 3, "3 records")
    k1, k2, k3 = keys(evals)
    assert platform.answers == [(k1, 500), (k1, 500), (k1, 200), (k2, 200), (k3, 503), (k3, 200)]
    assert [(o[1], o[2], o[4]) for o in outcomes(store)] == [("A001", "sent", 3), ("A002", "sent", 1),
                                                             ("A003", "sent", 2)]


@BOTH_STYLES
def test_a_400_is_recorded_as_rejected_logged_and_not_retried(
        platform: FakePlatform, store: EventStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "hallq.upstream")
    platform.validate = lambda rec: "taskCode 000 不存在" if rec["projectNo"].endswith("A002") else None
    evals = append(store, evaluation(1), evaluation(2), evaluation(3))
    rep = reporter(cfg_for(platform), store)
    status = run_until(rep, lambda: rep.status()["cursor"] == evals[-1]["seq"], "the cursor past A003")
    k1, k2, k3 = keys(evals)
    assert platform.keys() == [k1, k3]
    assert platform.answers == [(k1, 200), (k2, 400), (k3, 200)], "a refused record is posted once"
    assert status["rejected"] == 1 and status["sent"] == 2 and "A002" in status["last_error"]
    assert "refused ticket A002 of 2026-11-23" in caplog.text and "taskCode 000 不存在" in caplog.text
    rep.open()
    [row] = rep.rejected()
    rep.close()
    if platform.answer_style == "body":   # HTTP 200 all the same: the code in the body refused it
        assert (row["status"], json.loads(row["answer"])) == (200, {"code": "400", "msg": "taskCode 000 不存在"})
        assert "HTTP 200, code '400': taskCode 000 不存在" in status["last_error"]
        assert "if code '400' does not mean a refusal, list it in upstream.answer.ok" in caplog.text
    else:
        assert row["status"] == 400 and "HTTP 400: taskCode 000 不存在" in status["last_error"]
    assert (row["ticket"], row["outcome"]) == ("A002", "rejected")
    assert "taskCode 000 不存在" in row["answer"] and '"projectNo":"test-hall-20261123-A002"' in row["record"]
    # a restart does not post it again
    evals += append(store, evaluation(4))
    run_until(reporter(cfg_for(platform), store), lambda: len(platform.records()) >= 3, "A004")
    assert [k for k, _ in platform.answers].count(k2) == 1


@BOTH_STYLES
def test_outbox_lost_resends_and_the_platform_keeps_each_once(platform: FakePlatform, store: EventStore) -> None:
    evals = append(store, *[evaluation(n) for n in range(1, 4)])
    run_until(reporter(cfg_for(platform), store), lambda: len(platform.records()) >= 3, "3 records")
    for suffix in ("", "-wal", "-shm"):
        (store.data_dir / (OUTBOX_NAME + suffix)).unlink(missing_ok=True)
    rep = reporter(cfg_for(platform), store)
    status = run_until(rep, lambda: rep.status()["cursor"] == evals[-1]["seq"], "the cursor at the end again")
    assert platform.keys() == keys(evals)
    assert [s for _, s in platform.answers] == [200, 200, 200, 409, 409, 409]   # body style: "1001"
    assert [o[2] for o in outcomes(store)] == ["duplicate"] * 3 and status["sent"] == 3


@BOTH_STYLES
def test_told_to_fail_then_recovered_each_once_and_none_counted_sent_while_failing(
        platform: FakePlatform, store: EventStore) -> None:
    platform.fail_with(500)   # body style: HTTP 200 {"code": "500", …}
    evals = append(store, *[evaluation(n) for n in range(1, 4)])
    rep = reporter(cfg_for(platform), store)
    failing: dict[str, Any] = {}

    def failed_a_while_then_recovered() -> bool:
        r = rep.status()["retrying"]
        if not failing and r is not None and r["attempts"] >= 4:
            failing.update(rep.status(), outcomes=outcomes(store), kept=platform.keys())
            platform.fail_with(None)
        return bool(failing) and rep.status()["cursor"] == evals[-1]["seq"]

    status = run_until(rep, failed_a_while_then_recovered, "all three after the failing period")
    assert (failing["sent"], failing["cursor"], failing["pending"], failing["outcomes"], failing["kept"]) == (
        0, 0, 3, [], []), "nothing may count as sent while the platform fails"
    said = "HTTP 200, code '500': fake platform told to fail" if platform.answer_style == "body" else "HTTP 500"
    assert said in failing["last_error"] and failing["retrying"]["ticket"] == "A001"
    k1, k2, k3 = keys(evals)
    assert platform.keys() == [k1, k2, k3], "each evaluation on the platform once, in order"
    tries = len(platform.answers) - 2
    assert tries >= 5 and platform.answers == [(k1, 500)] * (tries - 1) + [(k1, 200), (k2, 200), (k3, 200)]
    assert [(o[1], o[2], o[3]) for o in outcomes(store)] == [("A001", "sent", 200), ("A002", "sent", 200),
                                                             ("A003", "sent", 200)]
    assert outcomes(store)[0][4] == tries and (status["sent"], status["rejected"]) == (3, 0)


@pytest.mark.parametrize("platform", ["body"], indirect=True)
def test_a_2xx_without_the_code_holds_the_queue_until_code_field_is_fixed(
        platform: FakePlatform, store: EventStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "hallq.upstream")
    evals = append(store, evaluation(1))
    rep = reporter(hall_cfg(platform.url, answer={**BODY_ANSWER, "code_field": "result.code"}), store)
    status = run_until(rep, lambda: (rep.status()["retrying"] or {}).get("attempts", 0) >= 3, "3 attempts")
    assert (status["sent"], status["cursor"], outcomes(store)) == (0, 0, []), "never counted as sent"
    assert "the platform answered HTTP 200 but its body has no `result.code`" in status["last_error"]
    assert "check upstream.answer.code_field" in caplog.text
    # fixed: the platform kept the record at the first attempt, so the resend is a repeat ("1001")
    fixed = reporter(cfg_for(platform), store)
    run_until(fixed, lambda: fixed.status()["cursor"] == evals[-1]["seq"], "A001 settled")
    assert platform.keys() == keys(evals) and [o[2] for o in outcomes(store)] == ["duplicate"]


def test_a_slow_platform_times_out_and_the_retry_is_kept_once(platform: FakePlatform, store: EventStore) -> None:
    platform.delay_s = 0.3
    evals = append(store, evaluation(1))
    rep = reporter(hall_cfg(platform.url, timeout_s=0.05), store)
    errors: list[str] = []

    def timed_out_then_fast() -> bool:
        err = rep.status()["last_error"]
        if err and not errors:
            errors.append(err)
            platform.delay_s = 0.0
        return bool(rep.status()["cursor"] == evals[-1]["seq"])

    run_until(rep, timed_out_then_fast, "A001 settled")
    assert "no answer within 0.05 s (upstream.timeout_s)" in errors[0]
    assert platform.keys() == keys(evals)
    assert outcomes(store)[0][2] == "duplicate", "the first, timed-out attempt was kept by the platform"


def test_a_token_the_platform_refuses_holds_the_queue_instead_of_rejecting(store: EventStore) -> None:
    platform = FakePlatform(token="s3cret").start()
    try:
        append(store, evaluation(1))
        rep = reporter(hall_cfg(platform.url, token="wrong"), store)
        status = run_until(rep, lambda: (rep.status()["retrying"] or {}).get("attempts", 0) >= 3, "3 attempts")
        assert platform.keys() == [] and status["rejected"] == 0 and "check upstream.token" in status["last_error"]
        run_until(reporter(hall_cfg(platform.url, token="s3cret"), store), lambda: len(platform.keys()) == 1, "A001")
    finally:
        platform.stop()


def test_field_map_is_what_goes_on_the_wire(platform: FakePlatform, store: EventStore) -> None:
    append(store, evaluation(1, level=1, reasons=["r2"], comment="态度差"))
    cfg = hall_cfg(platform.url, field_map={"satisfaction": "myd", "writingEvaluation": "pjnr"})
    run_until(reporter(cfg, store), lambda: len(platform.records()) == 1, "one record")
    rec = platform.records()[0]["record"]
    assert (rec["myd"], rec["pjnr"], rec["evalDetail"]) == ("1", "态度差", "r2") and "satisfaction" not in rec


def test_an_unmappable_event_is_kept_as_such_and_the_rest_goes_on(platform: FakePlatform, store: EventStore) -> None:
    bad = evaluation(1)
    del bad["service"]
    evals = append(store, bad, evaluation(2))
    rep = reporter(hall_cfg(platform.url), store)
    status = run_until(rep, lambda: rep.status()["cursor"] == evals[-1]["seq"], "cursor past A002")
    assert platform.keys() == keys(evals[1:]) and status["rejected"] == 1
    assert [(o[1], o[2]) for o in outcomes(store)] == [("A001", "unmappable"), ("A002", "sent")]


def test_waits_for_an_event_log_that_does_not_exist_yet(platform: FakePlatform, tmp_path: Path) -> None:
    data = tmp_path / "later"
    rep = UpstreamReporter(hall_cfg(platform.url), data, CLOCK, poll_s=0.01)
    states: list[str] = []

    def log_appears() -> bool:
        if not states and rep.status()["state"] == "waiting_for_log":
            states.append("waiting_for_log")
            s = EventStore(data).open()
            append(s, evaluation(1))
            s.close()
        return len(platform.keys()) == 1

    run_until(rep, log_appears, "A001 once the log exists")
    assert states == ["waiting_for_log"]


def test_without_url_reporting_is_off(store: EventStore) -> None:
    append(store, evaluation(1))
    rep = reporter(hall_cfg(None), store)
    status = run_until(rep, lambda: True, "nothing")
    assert status["state"] == "off" and not (store.data_dir / OUTBOX_NAME).exists()


def test_bad_settings_are_refused_at_construction(store: EventStore) -> None:
    with pytest.raises(ValueError, match="upstream.url 'ftp://x/y' must look like https://host/path"):
        reporter(hall_cfg("ftp://x/y"), store)
    with pytest.raises(ValueError, match="upstream.backoff_max_s"):
        reporter(hall_cfg("http://127.0.0.1:9/", backoff_min_s=5, backoff_max_s=1), store)
    with pytest.raises(ValueError, match="upstream.field_map"):
        reporter(hall_cfg("http://127.0.0.1:9/", field_map={"nope": "x"}), store)
