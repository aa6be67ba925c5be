"""好差评 reporting, the pure part: an `evaluation.recorded` event → the record the region's platform takes.

No I/O and no clock: `record_for(event, cfg)` is a function of the event and the configuration, so a
record re-sent after a crash is byte for byte the one sent before; `verdict(answer, rules)` is a function
of the platform's answer and `upstream.answer`. The outbox that sends the records is
`controller/upstream_reporter.py`; the tables here are documented in docs/upstream.md.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from controller.upstream_http import Answer
from hallq.config import HallConfig
from hallq.config.upstream import AnswerConfig, code_text

EVALUATION = "evaluation.recorded"

# The fields of one record, in the order they are sent (national-style interface names).
FIELDS = ("projectNo", "taskCode", "deptCode", "areaCode", "proManager", "pf", "satisfaction", "evalDetail",
          "writingEvaluation", "assessTime", "assessNumber", "userName", "certKeyGOV", "idempotencyKey")

# pf, the channel of the rating: 1 PC, 2 mobile, 3 二维码, 4 政务大厅平板电脑, 5 政务大厅其他终端, 6 电话, 7 短信.
# hallq's window evaluator is a button box (其他终端); a hall whose evaluators are tablets maps it to "4".
PF_CODES: Mapping[str, str] = {
    "pc": "1", "web": "1",
    "mobile": "2", "app": "2",
    "qr": "3",
    "tablet": "4",
    "evaluator": "5", "terminal": "5",
    "phone": "6",
    "sms": "7",
}
PF_ON_SITE = "5"        # an unknown channel at the window: the catch-all hall terminal
PF_SUPPLEMENTARY = "3"  # an unknown channel after the prompt: the engine's own default there is the ticket QR

# Satisfaction. hallq and the national-style interfaces share one scale; GB/T 39046-2020 codes it in reverse.
#   hallq level / interface `satisfaction`   GB/T 39046 code   name
#   5                                        1                 非常满意
#   4                                        2                 满意
#   3                                        3                 基本满意
#   2                                        4                 不满意      (差评)
#   1                                        5                 非常不满意  (差评)
SATISFACTION_NAMES = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}

ASSESS_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"   # "yyyy-MM-dd HH:mm:ss", hall-local time, as these interfaces take it


class UpstreamRecordError(ValueError):
    """An event that cannot become a record; the message names the event and the missing piece."""


def satisfaction_for(level: int) -> str:
    """hallq level (5 非常满意 … 1 非常不满意) → the interface's `satisfaction` code (the same scale)."""
    if level not in SATISFACTION_NAMES:
        raise UpstreamRecordError(f"satisfaction level {level!r} is not 1–5 (5 非常满意 … 1 非常不满意)")
    return str(level)


def to_gbt39046(level: int) -> int:
    """hallq level → GB/T 39046-2020 code (1 非常满意 … 5 非常不满意), for platforms that use the standard's coding."""
    satisfaction_for(level)
    return 6 - level


def from_gbt39046(code: int) -> int:
    """GB/T 39046-2020 code (1 非常满意 … 5 非常不满意) → hallq level."""
    if code not in SATISFACTION_NAMES:
        raise UpstreamRecordError(f"GB/T 39046 satisfaction code {code!r} is not 1–5 (1 非常满意 … 5 非常不满意)")
    return 6 - code


def pf_for(channel: str, supplementary: bool, overrides: Mapping[str, str] | None = None) -> str:
    """The `pf` code of a hallq channel name; a code "1"–"7" given as the channel passes through."""
    table = {**PF_CODES, **(overrides or {})}
    if channel in table:
        return table[channel]
    if channel in {"1", "2", "3", "4", "5", "6", "7"}:
        return channel
    return PF_SUPPLEMENTARY if supplementary else PF_ON_SITE


def project_no(hall_id: str, day: str, ticket: str) -> str:
    """办件编号 of a hall visit: hall id + business day + ticket number (a number is issued once a day)."""
    return f"{hall_id}-{day.replace('-', '')}-{ticket}"


def idempotency_key(hall_id: str, day: str, ticket: str) -> str:
    """One key per evaluation (a ticket is rated once): the platform keeps the first record with a key."""
    return f"hallq:{hall_id}:{day}:{ticket}"


def check_field_map(field_map: Mapping[str, str]) -> None:
    """Raise ValueError naming `upstream.field_map` when it renames an unknown field or two fields to one name."""
    unknown = sorted(set(field_map) - set(FIELDS))
    if unknown:
        raise ValueError(f"upstream.field_map: unknown field(s) {', '.join(unknown)} (known: {', '.join(FIELDS)})")
    names = [field_map.get(f, f) for f in FIELDS]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ValueError(f"upstream.field_map: two fields would both be sent as {', '.join(clashes)} — "
                         "give each field its own name")


def rename(record: Mapping[str, Any], field_map: Mapping[str, str]) -> dict[str, Any]:
    """The record with the platform's field names (`upstream.field_map`: national name → platform name)."""
    return {field_map.get(k, k): v for k, v in record.items()}


def _assess_time(at: str, cfg: HallConfig) -> str:
    t = datetime.fromisoformat(at)
    if t.tzinfo is None:
        t = t.replace(tzinfo=cfg.zone)
    return t.astimezone(cfg.zone).strftime(ASSESS_TIME_FORMAT)


def national_record(event: Mapping[str, Any], cfg: HallConfig,
                    pf_overrides: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The record under the national field names (before `field_map`)."""
    seq = event.get("seq", "?")
    if event.get("type") != EVALUATION:
        raise UpstreamRecordError(f"event seq {seq} is {event.get('type')!r}, not {EVALUATION}")
    missing = [k for k in ("at", "ticket", "date", "service", "level") if event.get(k) in (None, "")]
    if missing:
        raise UpstreamRecordError(f"{EVALUATION} seq {seq} lacks {', '.join(missing)}: it cannot be reported")
    up = cfg.upstream
    hall, day, ticket, service = cfg.hall.id, str(event["date"]), str(event["ticket"]), str(event["service"])
    staff_id = event.get("staff")
    staff = next((s for s in cfg.staff if s.id == staff_id), None)
    supplementary = bool(event.get("supplementary", False))
    try:
        assess_time = _assess_time(str(event["at"]), cfg)
    except ValueError:
        raise UpstreamRecordError(f"{EVALUATION} seq {seq}: time {event['at']!r} is not ISO 8601") from None
    try:
        satisfaction = satisfaction_for(int(event["level"]))
    except (TypeError, ValueError) as e:
        raise UpstreamRecordError(f"{EVALUATION} seq {seq}: {e}") from None
    return {
        "projectNo": project_no(hall, day, ticket),
        "taskCode": up.task_codes.get(service, ""),
        "deptCode": up.dept_codes.get(service, up.dept_code),
        "areaCode": up.area_code,
        "proManager": staff.name if staff is not None else (str(staff_id) if staff_id else ""),
        "pf": pf_for(str(event.get("channel") or ""), supplementary, pf_overrides),
        "satisfaction": satisfaction,
        "evalDetail": ",".join(str(r) for r in event.get("reasons") or []),
        "writingEvaluation": str(event.get("comment") or ""),
        "assessTime": assess_time,
        "assessNumber": "2" if supplementary else "1",
        # the rater's identity is never invented: hallq's events do not carry it
        "userName": "",
        "certKeyGOV": "",
        "idempotencyKey": idempotency_key(hall, day, ticket),
    }


def record_for(event: Mapping[str, Any], cfg: HallConfig,
               pf_overrides: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The body of the POST for one `evaluation.recorded` event, with `upstream.field_map` applied.

    `pf_overrides` (channel name → pf code) defaults to `upstream.pf_codes` when the config has it.
    Raises UpstreamRecordError for an event that lacks what a record needs.
    """
    if pf_overrides is None:
        pf_overrides = getattr(cfg.upstream, "pf_codes", None)
    return rename(national_record(event, cfg, pf_overrides), cfg.upstream.field_map)


class Verdict(enum.Enum):
    """What the platform's answer means for one record."""

    SENT = "sent"              # 2xx (and, with upstream.answer.code_field, a code in `ok`): taken
    DUPLICATE = "duplicate"    # 409, or a code in `duplicate`: the platform already has this idempotency key
    RETRY = "retry"            # 5xx, 3xx, 4xx about the link, a code in `retry`, or a 2xx body that cannot be read
    REJECTED = "rejected"      # any other 4xx or code: this record is refused; kept locally, not re-sent


# 4xx answers about the hall's access or the platform's load, not about the record: rejecting records for
# them would turn an expired token or a rate limit into a pile of refused evaluations, so they are retried.
RETRY_4XX = frozenset({401, 403, 404, 407, 408, 425, 429})
MESSAGE_MAX = 300


@dataclass(frozen=True)
class Ruling:
    """The verdict on one answer, with what the platform said, for logs and status."""

    verdict: Verdict
    code: str | None = None    # the platform's code at upstream.answer.code_field (None: judged by HTTP status)
    message: str = ""          # the platform's message at upstream.answer.message_field, "" when it has none
    problem: str = ""          # why a 2xx answer could not be judged (verdict RETRY), naming the key to check


def status_verdict(status: int) -> Verdict:
    """The verdict of an HTTP status alone."""
    if 200 <= status < 300:
        return Verdict.SENT
    if status == 409:
        return Verdict.DUPLICATE
    if 400 <= status < 500 and status not in RETRY_4XX:
        return Verdict.REJECTED
    return Verdict.RETRY


def code_verdict(code: str, rules: AnswerConfig) -> Verdict:
    """The verdict of the platform's code: `ok`, `duplicate`, `retry`, anything else rejected."""
    if code in rules.ok:
        return Verdict.SENT
    if code in rules.duplicate:
        return Verdict.DUPLICATE
    if code in rules.retry:
        return Verdict.RETRY
    return Verdict.REJECTED


def json_object(text: str) -> dict[str, Any] | None:
    """The answer's body as a JSON object, None when it is not one."""
    try:
        body = json.loads(text)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def dig(body: Any, path: str) -> Any:
    """The value at a dotted path ("result.code"; a number steps into an array); None when it is not there."""
    node = body
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def message_of(body: dict[str, Any] | None, path: str | None) -> str:
    """The platform's message at `path`, one line, at most MESSAGE_MAX characters; "" when there is none."""
    if body is None or path is None:
        return ""
    value = dig(body, path)
    if value is None:
        return ""
    text = code_text(value)
    if text is None:
        text = json.dumps(value, ensure_ascii=False)
    return " ".join(text.split())[:MESSAGE_MAX]


def verdict(answer: Answer, rules: AnswerConfig | None = None) -> Ruling:
    """What the platform's answer means for the record sent (no I/O).

    Without `rules.code_field` the HTTP status decides, as `status_verdict`. With it, a non-2xx still
    goes by its status; a 2xx goes by the code at `code_field` — and a 2xx whose body has no such code is
    never counted as taken: it is retried, with a problem that names upstream.answer.code_field.
    """
    rules = rules or AnswerConfig()
    body = json_object(answer.text)
    message = message_of(body, rules.message_field)
    if rules.code_field is None or not 200 <= answer.status < 300:
        return Ruling(status_verdict(answer.status), message=message)
    code = code_text(dig(body, rules.code_field))
    if code is None:
        shown = " ".join(answer.text.split())[:200] or "(empty)"
        what = "it is not a JSON object" if body is None else "missing, null or not a single value"
        return Ruling(Verdict.RETRY, message=message, problem=(
            f"the platform answered HTTP {answer.status} but its body has no `{rules.code_field}` ({what}) — "
            f"body: {shown} — check upstream.answer.code_field; not counted as sent"))
    return Ruling(code_verdict(code, rules), code=code, message=message)


def backoff_s(attempt: int, min_s: float, max_s: float, jitter: float) -> float:
    """Delay after failed attempt `attempt` (1, 2, …): min_s doubling up to max_s, times 0.5 + jitter/2.

    `jitter` is a number in [0, 1) from the caller's RNG, so that halls cut off together do not all
    come back in the same second.
    """
    base = min(max_s, min_s * 2.0 ** min(attempt - 1, 60))
    return base * (0.5 + jitter / 2)
