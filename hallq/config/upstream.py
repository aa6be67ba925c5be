"""Config section `upstream`: the region's 好差评 platform, where every evaluation is reported."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
