"""The hall manager's side of the console (role manager): the live hall board, the alert inbox with 督办 marks,
差评 work orders worked through the `wo_*` commands, report downloads for any period and the configuration view.
"""

from __future__ import annotations

import asyncio
import difflib
import os
import re
import sys
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from console.follow import log_rows
from console.hub import ConsoleError
from hallq.periods import PERIODS, period_range
from hallq.workdays import is_workday

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
ORDER_ID = re.compile(r"^WO-(\d{4}-\d{2}-\d{2})-([A-Za-z0-9]{1,16})$")
OPEN_ORDER_STATES = ("pending", "rectifying", "appealed")
# console action -> (command, body keys it takes, keys it requires)
ORDER_ACTIONS: dict[str, tuple[str, frozenset[str], frozenset[str]]] = {
    "verify": ("wo_verify", frozenset({"note", "complex"}), frozenset({"note"})),
    "feedback": ("wo_feedback", frozenset({"note"}), frozenset({"note"})),
    "revisit": ("wo_revisit", frozenset({"note", "satisfied"}), frozenset({"note", "satisfied"})),
    "appeal": ("wo_appeal", frozenset({"note", "reason"}), frozenset({"reason"})),
    "decide": ("wo_decide", frozenset({"note", "uphold"}), frozenset({"note", "uphold"})),
}
REPORT_FORMATS = {"json": "application/json", "csv": "text/csv; charset=utf-8",
                  "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "png": "image/png"}
REPORT_TIMEOUT_S = 600.0
MAX_REPORT_DAYS = 400


def working_days_left(today: date, deadline: date) -> int:
    """Working days from tomorrow up to the deadline (0 on the deadline itself; negative: days overdue)."""
    if deadline >= today:
        return sum(is_workday(today + timedelta(days=i)) for i in range(1, (deadline - today).days + 1))
    return -sum(is_workday(deadline + timedelta(days=i)) for i in range(1, (today - deadline).days + 1))


def mark_order(o: dict[str, Any], today: date) -> dict[str, Any]:
    """An order with `overdue` (open past its deadline) and `days_left` (working days to its deadline)."""
    try:
        deadline = date.fromisoformat(str(o.get("deadline")))
    except ValueError:
        return o
    open_ = o.get("state") in OPEN_ORDER_STATES
    return {**o, "days_left": working_days_left(today, deadline) if open_ else None,
            "overdue": bool(open_ and today > deadline)}


def mark_alert(a: dict[str, Any], now: datetime, after_s: float) -> dict[str, Any]:
    """An alert with `age_s` and `escalated` (督办: still open after `supervision.escalate_after_s`)."""
    try:
        age = (now - datetime.fromisoformat(str(a.get("at")))).total_seconds()
    except (ValueError, TypeError):
        return {**a, "age_s": None, "escalated": False}
    return {**a, "age_s": round(age), "escalated": a.get("state") == "open" and age >= after_s}


def config_history(data_dir: Path, limit: int = 50) -> list[dict[str, Any]]:
    """The configurations the controller ran with (the `configs` table of the log: when, SHA-256 and what changed
    against the one before), newest first; read-only."""
    rows = log_rows(data_dir, "SELECT n, at, sha, text FROM configs ORDER BY n DESC LIMIT ?", (limit + 1,))
    out = []
    for i, (n, at, sha, text) in enumerate(rows[:limit]):
        before = rows[i + 1][3] if i + 1 < len(rows) else None
        diff = None if before is None else "\n".join(difflib.unified_diff(
            before.splitlines(), text.splitlines(), "before", "after", lineterm="", n=1))
        out.append({"n": n, "at": at, "sha": sha, "diff": diff})
    return out


async def run_report(data_dir: Path, first: date, last: date, fmt: str) -> bytes:
    """`hallq report --from --to` in a child process (its memory is returned when it ends); the file's bytes."""
    with tempfile.TemporaryDirectory(prefix="hallq-report-") as tmp:
        out = Path(tmp) / f"report.{fmt}"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hallq", "report", "--data", str(data_dir), "--from", first.isoformat(), "--to",
            last.isoformat(), "--format", fmt, "--out", str(out), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, start_new_session=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"))
        try:
            _, err = await asyncio.wait_for(proc.communicate(), REPORT_TIMEOUT_S)
        except (TimeoutError, asyncio.CancelledError):
            proc.kill()
            await proc.wait()
            raise ConsoleError(504, "TIMEOUT", "the report took too long") from None
        if proc.returncode != 0 or not out.exists():
            lines = err.decode(errors="replace").strip().splitlines()
            raise ConsoleError(409, "REPORT_FAILED", lines[-1] if lines else "the report could not be made")
        return out.read_bytes()


def report_period(q: Any, today: date) -> tuple[date, date]:
    """The period a report request names: `from` and `to`, or `period` (day/week/month/quarter) around `date`."""
    try:
        if q.get("from") or q.get("to"):
            first = date.fromisoformat(q.get("from") or q.get("to"))
            last = date.fromisoformat(q.get("to") or q.get("from"))
        else:
            period = q.get("period", "day")
            if period not in PERIODS:
                raise ConsoleError(400, "BAD_REQUEST", f"period is one of {', '.join(PERIODS)}")
            first, last = period_range(period, date.fromisoformat(q.get("date") or today.isoformat()))
    except ValueError:
        raise ConsoleError(400, "BAD_REQUEST", "dates are YYYY-MM-DD") from None
    if last < first:
        raise ConsoleError(400, "BAD_REQUEST", "'to' is before 'from'")
    if (last - first).days >= MAX_REPORT_DAYS:
        raise ConsoleError(400, "BAD_REQUEST", f"a report covers at most {MAX_REPORT_DAYS} days")
    return first, last


def report_response(data: bytes, fmt: str, first: date, last: date, hall: str) -> Response:
    name = f"hallq-{hall}-{first.isoformat()}" + ("" if first == last else f"_{last.isoformat()}") + f".{fmt}"
    return Response(data, media_type=REPORT_FORMATS[fmt], headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


def order_body(action: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The `wo_*` command and its arguments for a console action on an order; ConsoleError 400/403/404."""
    spec = ORDER_ACTIONS.get(action)
    if spec is None:
        raise ConsoleError(404, "NOT_FOUND", f"no work order action {action!r} (known: {', '.join(ORDER_ACTIONS)})")
    name, allowed, needed = spec
    if {"by", "actor", "order"} & set(body):
        raise ConsoleError(403, "FORBIDDEN", "who acts comes from the session and the order from the address")
    extra = set(body) - allowed
    if extra:
        raise ConsoleError(400, "BAD_REQUEST", f"{action} takes {', '.join(sorted(allowed))}, not "
                           f"{', '.join(sorted(extra))}")
    for k in needed:
        v = body.get(k)
        if v is None or (isinstance(v, str) and not v.strip()):
            raise ConsoleError(400, "BAD_REQUEST", f"{action} needs '{k}'")
    for k in ("complex", "satisfied", "uphold"):
        if k in body and not isinstance(body[k], bool):
            raise ConsoleError(400, "BAD_REQUEST", f"'{k}' is true or false")
    for k in ("note", "reason"):
        if k in body and not isinstance(body[k], str):
            raise ConsoleError(400, "BAD_REQUEST", f"'{k}' is text")
    return name, {k: (v.strip() if isinstance(v, str) else v) for k, v in body.items()}


def config_view(cfg: Any) -> dict[str, Any]:
    """Services, windows, staff (no secrets) and devices as the configuration names them."""
    return {
        "hall": {"id": cfg.hall.id, "name": cfg.hall.name.zh, "timezone": cfg.hall.timezone},
        "services": [{"id": s.id, "prefix": s.prefix, "zh": s.name.zh, "mn": s.name.mn} for s in cfg.services],
        "windows": [{"id": w.id, "services": list(w.services)} for w in cfg.windows],
        "staff": [{"id": s.id, "name": s.name, "windows": list(s.windows), "roles": list(s.roles)} for s in cfg.staff],
        "devices": [{"id": d.id or f"{b.id}-{d.address}", "bus": b.id, "address": d.address, "kind": d.kind,
                     "window": d.window} for b in cfg.devices.buses for d in b.devices],
    }


def json_no_store(obj: Any) -> JSONResponse:
    return JSONResponse(obj, headers={"Cache-Control": "no-store"})


def today_of(cfg: Any) -> date:
    return datetime.now(cfg.zone).date()


def query(request: Request) -> Any:
    return request.query_params
