"""The 好差评 record of an evaluation: levels, pf, assessNumber, field_map, verdicts, upstream.answer and back-off."""

from __future__ import annotations

import random
from typing import Any

import pytest

from controller.upstream import (
    FIELDS,
    RETRY_4XX,
    Ruling,
    UpstreamRecordError,
    Verdict,
    backoff_s,
    check_field_map,
    from_gbt39046,
    pf_for,
    record_for,
    satisfaction_for,
    to_gbt39046,
    verdict,
)
from controller.upstream_http import Answer
from hallq.config import ConfigError, HallConfig, parse_config
from hallq.config.upstream import AnswerConfig
from tests.conftest import small_hall

UPSTREAM = {"url": "http://127.0.0.1:9/api", "area_code": "150102", "dept_code": "11150102MB0000000X",
            "task_codes": {"general": "000123001000", "tax": "000456002000"},
            "dept_codes": {"tax": "11150102TAX000000X"}}


def cfg(**upstream: Any) -> HallConfig:
    return parse_config(small_hall(upstream={**UPSTREAM, **upstream}))


def evaluation(**kw: Any) -> dict[str, Any]:
    ev = {"type": "evaluation.recorded", "seq": 57, "at": "2026-11-23T10:02:11+08:00", "ticket": "A012",
          "date": "2026-11-23", "window": "3", "staff": "S001", "service": "general", "level": 5,
          "channel": "evaluator", "reasons": [], "supplementary": False}
    ev.update(kw)
    return ev


def test_the_whole_record_of_an_evaluation_at_the_window() -> None:
    ev = evaluation(level=2, reasons=["r1", "r3"], comment="等了很久", at="2026-11-23T02:02:11+00:00")
    assert record_for(ev, cfg()) == {
        "projectNo": "test-hall-20261123-A012",
        "taskCode": "000123001000",
        "deptCode": "11150102MB0000000X",        # general has no deptCode of its own: the hall's
        "areaCode": "150102",
        "proManager": "张三",
        "pf": "5",
        "satisfaction": "2",
        "evalDetail": "r1,r3",
        "writingEvaluation": "等了很久",
        "assessTime": "2026-11-23 10:02:11",     # UTC in the event, hall-local on the wire
        "assessNumber": "1",
        "userName": "",
        "certKeyGOV": "",
        "idempotencyKey": "hallq:test-hall:2026-11-23:A012",
    }


def test_a_supplementary_rating_by_the_ticket_qr() -> None:
    rec = record_for(evaluation(service="tax", ticket="S004", channel="qr", supplementary=True, staff="S002"), cfg())
    assert (rec["pf"], rec["assessNumber"], rec["taskCode"], rec["deptCode"], rec["proManager"]) == (
        "3", "2", "000456002000", "11150102TAX000000X", "李四")


@pytest.mark.parametrize(("staff", "manager"), [("S003", "王芳"), ("S999", "S999"), (None, "")])
def test_pro_manager_is_the_staff_name_else_the_id_else_empty(staff: str | None, manager: str) -> None:
    assert record_for(evaluation(staff=staff), cfg())["proManager"] == manager


def test_identity_is_never_invented_even_when_the_event_carries_more() -> None:
    rec = record_for(evaluation(rater="RID1.c2VhbGVk", flags=["too_fast"], user="x", id_number="150102199001011234"),
                     cfg())
    assert rec["userName"] == "" and rec["certKeyGOV"] == ""
    assert "RID1" not in str(rec) and "150102199001011234" not in str(rec), "a sealed identity is never sent"
    assert set(rec) == set(FIELDS)


@pytest.mark.parametrize(("level", "code", "gbt", "name"), [
    (5, "5", 1, "非常满意"), (4, "4", 2, "满意"), (3, "3", 3, "基本满意"),
    (2, "2", 4, "不满意"), (1, "1", 5, "非常不满意"),
])
def test_satisfaction_table(level: int, code: str, gbt: int, name: str) -> None:
    assert satisfaction_for(level) == code, f"level {level} ({name}) should be sent as {code}"
    assert record_for(evaluation(level=level), cfg())["satisfaction"] == code
    assert to_gbt39046(level) == gbt, f"{name} is {gbt} in GB/T 39046"
    assert from_gbt39046(gbt) == level


@pytest.mark.parametrize("bad", [0, 6, -1])
def test_levels_outside_1_to_5_are_refused_both_ways(bad: int) -> None:
    with pytest.raises(UpstreamRecordError, match="1–5"):
        satisfaction_for(bad)
    with pytest.raises(UpstreamRecordError, match="1–5"):
        from_gbt39046(bad)
    with pytest.raises(UpstreamRecordError, match="seq 57"):
        record_for(evaluation(level=bad), cfg())


@pytest.mark.parametrize(("channel", "supplementary", "overrides", "pf"), [
    ("evaluator", False, None, "5"),             # the window's button box: 政务大厅其他终端
    ("evaluator", False, {"evaluator": "4"}, "4"),  # a hall whose window evaluators are tablets
    ("tablet", False, None, "4"),
    ("qr", True, None, "3"),
    ("pc", True, None, "1"), ("mobile", True, None, "2"), ("phone", True, None, "6"), ("sms", True, None, "7"),
    ("6", True, None, "6"),                      # a code passes through
    ("kiosk-x", False, None, "5"),               # unknown, on the prompt: a hall terminal
    ("", True, None, "3"),                       # unknown, supplementary: the engine's default, the QR
])
def test_pf_table(channel: str, supplementary: bool, overrides: dict[str, str] | None, pf: str) -> None:
    assert pf_for(channel, supplementary, overrides) == pf
    rec = record_for(evaluation(channel=channel, supplementary=supplementary), cfg(), overrides)
    assert rec["pf"] == pf and rec["assessNumber"] == ("2" if supplementary else "1")


def test_field_map_renames_and_keeps_the_order() -> None:
    rec = record_for(evaluation(), cfg(field_map={"projectNo": "bjbh", "satisfaction": "myd"}))
    keys = list(rec)
    assert keys[0] == "bjbh" and keys[6] == "myd"
    assert "projectNo" not in rec and rec["bjbh"] == "test-hall-20261123-A012" and rec["myd"] == "5"


def test_field_map_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match=r"upstream\.field_map: unknown field\(s\) projectNO"):
        check_field_map({"projectNO": "x"})
    with pytest.raises(ValueError, match="upstream.field_map: two fields would both be sent as pf"):
        check_field_map({"satisfaction": "pf"})


def test_the_record_is_stable_so_a_resend_is_the_same_bytes() -> None:
    assert record_for(evaluation(), cfg()) == record_for(evaluation(), cfg())
    other_day = record_for(evaluation(date="2026-11-24"), cfg())
    assert other_day["idempotencyKey"] != record_for(evaluation(), cfg())["idempotencyKey"]


def test_an_event_missing_what_a_record_needs_is_named() -> None:
    ev = evaluation()
    del ev["service"]
    with pytest.raises(UpstreamRecordError, match="evaluation.recorded seq 57 lacks service"):
        record_for(ev, cfg())
    with pytest.raises(UpstreamRecordError, match="not ISO 8601"):
        record_for(evaluation(at="yesterday"), cfg())
    with pytest.raises(UpstreamRecordError, match="not evaluation.recorded"):
        record_for(evaluation(type="ticket.called"), cfg())


@pytest.mark.parametrize(("status", "expected"), [
    (200, Verdict.SENT), (201, Verdict.SENT), (204, Verdict.SENT),
    (409, Verdict.DUPLICATE),
    (400, Verdict.REJECTED), (413, Verdict.REJECTED), (422, Verdict.REJECTED),
    (500, Verdict.RETRY), (502, Verdict.RETRY), (503, Verdict.RETRY), (302, Verdict.RETRY),
    *[(s, Verdict.RETRY) for s in sorted(RETRY_4XX)],
])
def test_verdict_table(status: int, expected: Verdict) -> None:
    assert verdict(Answer(status, "")).verdict is expected
    assert verdict(Answer(status, '{"code": "0"}'), AnswerConfig()).verdict is expected, "no code_field: status only"


# A platform that answers HTTP 200 with the verdict in the body.
BODY = AnswerConfig(code_field="code", ok=["0", "200"], duplicate=["1001"], retry=["500", "503"])


@pytest.mark.parametrize(("status", "text", "expected", "code", "message"), [
    (200, '{"code": "0", "msg": "成功"}', Verdict.SENT, "0", "成功"),
    (200, '{"code": 200}', Verdict.SENT, "200", ""),                         # a number: its decimal text
    (200, '{"code": 0.0}', Verdict.SENT, "0", ""),
    (201, '{"code": "1001", "msg": "重复提交"}', Verdict.DUPLICATE, "1001", "重复提交"),
    (200, '{"code": "500", "msg": "系统繁忙"}', Verdict.RETRY, "500", "系统繁忙"),
    (200, '{"code": "400", "msg": "参数错误"}', Verdict.REJECTED, "400", "参数错误"),
    (200, '{"code": "0 ", "msg": "?"}', Verdict.REJECTED, "0 ", "?"),           # compared as text, exactly
    (200, '{"code": "E7", "msg": {"zh": "未知"}}', Verdict.REJECTED, "E7", '{"zh": "未知"}'),
    # non-2xx keep the HTTP status rules, whatever the body says
    (500, '{"code": "0", "msg": "成功"}', Verdict.RETRY, None, "成功"),
    (400, '{"code": "0"}', Verdict.REJECTED, None, ""),
    (409, "already", Verdict.DUPLICATE, None, ""),
    (401, '{"code": "1001"}', Verdict.RETRY, None, ""),
])
def test_verdict_of_body_answers(status: int, text: str, expected: Verdict, code: str | None, message: str) -> None:
    ruling = verdict(Answer(status, text), BODY)
    assert (ruling.verdict, ruling.code, ruling.message, ruling.problem) == (expected, code, message, "")


@pytest.mark.parametrize(("text", "what"), [
    ("<html>502 Bad Gateway</html>", "it is not a JSON object"),
    ("", "(it is not a JSON object) — body: (empty)"),
    ('["0"]', "it is not a JSON object"),
    ('{"msg": "ok"}', "missing, null or not a single value"),
    ('{"code": null}', "missing, null or not a single value"),
    ('{"code": {"value": "0"}}', "missing, null or not a single value"),
])
def test_a_2xx_without_a_code_is_retried_never_sent(text: str, what: str) -> None:
    ruling = verdict(Answer(200, text), BODY)
    assert ruling.verdict is Verdict.RETRY and ruling.code is None
    assert ruling.problem.startswith("the platform answered HTTP 200 but its body has no `code`")
    assert what in ruling.problem and "check upstream.answer.code_field" in ruling.problem


def test_nested_paths_for_code_and_message() -> None:
    rules = AnswerConfig(code_field="result.code", message_field="result.errors.0", ok=["0"])
    answer = '{"result": {"code": 1, "errors": ["证件号格式错误", "x"]}}'
    assert verdict(Answer(200, answer), rules) == Ruling(Verdict.REJECTED, "1", "证件号格式错误")
    assert verdict(Answer(200, '{"result": {"code": "0"}}'), rules).verdict is Verdict.SENT
    flat = verdict(Answer(200, '{"result.code": "0"}'), rules)
    assert flat.verdict is Verdict.RETRY and "no `result.code`" in flat.problem


@pytest.mark.parametrize(("text", "expected"), [
    ('{"success": true, "msg": "ok"}', Verdict.SENT),
    ('{"success": false, "msg": "参数错误"}', Verdict.REJECTED),
    ('{"success": "true"}', Verdict.SENT),      # true and "true" are the same code
])
def test_booleans_compare_as_true_and_false(text: str, expected: Verdict) -> None:
    rules = parse_config(small_hall(upstream={"answer": {"code_field": "success", "ok": [True]}})).upstream.answer
    assert rules.ok == ["true"]
    assert verdict(Answer(200, text), rules).verdict is expected


def test_answer_config_defaults_to_the_http_status_alone() -> None:
    rules = cfg().upstream.answer
    assert rules.code_field is None and rules.ok == ["0", "200"] and rules.message_field == "msg"
    assert verdict(Answer(200, '{"code": "500", "msg": "系统繁忙"}'), rules) == Ruling(Verdict.SENT, None, "系统繁忙")


def test_answer_codes_in_yaml_may_be_numbers() -> None:
    rules = cfg(answer={"code_field": "code", "ok": [0], "duplicate": [1001], "retry": ["500", 503]}).upstream.answer
    assert (rules.ok, rules.duplicate, rules.retry) == (["0"], ["1001"], ["500", "503"])


@pytest.mark.parametrize(("answer", "key", "problem"), [
    ({"code_field": "code", "duplicate": ["0"]}, "upstream.answer", "code '0' is in both ok and duplicate"),
    ({"code_field": "code", "ok": ["0"], "duplicate": [1001], "retry": ["1001"]}, "upstream.answer",
     "code '1001' is in both duplicate and retry — a code means one thing: keep it in one list"),
    ({"code_field": "code", "ok": [], "retry": ["500"]}, "upstream.answer", "ok is empty"),
    ({"code_field": "result..code"}, "upstream.answer.code_field", "dotted path like result.code"),
    ({"message_field": ""}, "upstream.answer.message_field", "dotted path"),
    ({"ok": [["0"]]}, "upstream.answer.ok", "['0'] is not a code"),
    ({"ok": "0"}, "upstream.answer.ok", "valid list"),
    ({"code": "code"}, "upstream.answer.code", "unknown key"),
])
def test_answer_config_errors_name_the_key(answer: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        cfg(answer=answer)
    assert err.value.key == key and problem in err.value.problem, str(err.value)


def test_backoff_doubles_from_min_to_max_with_jitter_between_half_and_all() -> None:
    assert [backoff_s(n, 1.0, 300.0, 1.0 - 1e-12) for n in (1, 2, 3, 4, 9, 10, 100)] == pytest.approx(
        [1, 2, 4, 8, 256, 300, 300])
    assert backoff_s(3, 1.0, 300.0, 0.0) == 2.0
    rng = random.Random(7)
    for n in range(1, 30):
        d = backoff_s(n, 0.5, 60.0, rng.random())
        base = min(60.0, 0.5 * 2 ** (n - 1))
        assert base / 2 <= d <= base
