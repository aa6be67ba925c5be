"""Config section `upstream`: the region's 好差评 platform, where every evaluation is reported."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_DOTTED_PATH = re.compile(r"^[^.\s]+(\.[^.\s]+)*$")


def code_text(value: Any) -> str | None:
    """A platform's code as the text it is compared by: JSON true/false → "true"/"false", 0 → "0",
    200.0 → "200", a string as it is; None for null, objects and arrays (they are not a code)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    return None


class AnswerConfig(_Strict):
    """How to read a platform that answers HTTP 200 with the verdict in the JSON body (`{"code": "500", …}`).

    Absent `code_field` (the default) = the verdict is the HTTP status alone. Codes are compared as text.
    """

    code_field: str | None = None               # dotted path into the JSON body, e.g. "code", "result.code"
    ok: list[str] = ["0", "200"]                # codes meaning "taken"
    duplicate: list[str] = []                   # codes meaning "already have it" (taken before)
    retry: list[str] = []                       # codes meaning "try again later" (busy, maintenance)
    message_field: str | None = "msg"           # dotted path of the platform's message, for logs and status

    @field_validator("code_field", "message_field")
    @classmethod
    def _dotted_path(cls, v: str | None) -> str | None:
        if v is not None and not _DOTTED_PATH.match(v):
            raise ValueError("must be a field name or a dotted path like result.code")
        return v

    @field_validator("ok", "duplicate", "retry", mode="before")
    @classmethod
    def _codes_as_text(cls, v: Any) -> Any:
        if not isinstance(v, list):
            return v   # pydantic names the wrong type
        texts = [code_text(c) for c in v]
        bad = [c for c, t in zip(v, texts, strict=True) if t is None]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a code: give text, a number or true/false")
        return texts

    @model_validator(mode="after")
    def _one_meaning_per_code(self) -> AnswerConfig:
        lists = {"ok": self.ok, "duplicate": self.duplicate, "retry": self.retry}
        names = list(lists)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                both = sorted(set(lists[a]) & set(lists[b]))
                if both:
                    raise ValueError(f"code {both[0]!r} is in both {a} and {b} — a code means one thing: "
                                     "keep it in one list")
        if self.code_field is not None and not self.ok:
            raise ValueError("ok is empty, so no answer would count as delivered — list the codes that mean "
                             'success, e.g. ok: ["0"]')
        return self


class UpstreamConfig(_Strict):
    """Absent `url` = no reporting (the local log still keeps every evaluation)."""

    url: str | None = None                      # HTTP(S) endpoint that takes one evaluation record per POST
    token: str | None = None                    # sent as `Authorization: Bearer …` when set
    timeout_s: float = Field(default=10.0, gt=0)
    area_code: str = ""                         # areaCode of the hall (行政区划代码)
    dept_code: str = ""                         # deptCode default; per service below
    task_codes: dict[str, str] = {}             # service id -> taskCode (事项编码)
    dept_codes: dict[str, str] = {}             # service id -> deptCode
    field_map: dict[str, str] = {}              # national field name -> the platform's name, where it differs
    pf_codes: dict[str, str] = {}               # channel -> pf code where the hall differs (e.g. evaluator: "4")
    backoff_min_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=300.0, gt=0)
    answer: AnswerConfig = AnswerConfig()       # a platform that answers HTTP 200 with the verdict in the body
