"""`hallq region serve`'s HTTP side: the league's console (Starlette, Jinja2) — halls live, day / month / quarter
figures, the monthly ranking (also XLSX), 差评 work orders across halls and forwarding one to a hall (`wo_forward`).

Sign-in as CONTRACT §6 (the session and lockout pieces are the hall console's, hallq/webauth.py; passwords in
`data_dir/staff-secrets.json` as hallq/staffauth.py keeps them): `POST /api/session`, HttpOnly SameSite=Strict
cookie, 401 without a session before any CSRF check, 403 `CSRF` for a state-changing call without the token.
League roles: viewer (figures), supervisor (also forwards orders), admin (everything).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg
from jinja2 import Environment, FileSystemLoader, select_autoescape
from psycopg import sql
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from hallq.api import BadPayload, decode_object
from hallq.config.region import LEVEL_NAMES, RegionConfig
from hallq.staffauth import StaffSecrets
from hallq.webauth import LoginGuard, Session, Sessions, check_sign_in, sign_in_fields
from region.console import queries
from region.console.hub import Hub, HubError

HERE = Path(__file__).resolve().parent
COOKIE = "hallq_region_session"
LANG_COOKIE = "hallq_lang"
BODY_MAX = 16 * 1024
REF = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

WORDS: dict[str, dict[str, str]] = {
    "title": {"zh": "政务服务电子监察", "mn": "ᠲᠥᠷᠥ ᠶᠢᠨ ᠦᠢᠯᠡᠴᠢᠯᠡᠭᠡ ᠶᠢᠨ ᠬᠢᠨᠠᠯᠲᠠ"},
    "signin": {"zh": "登录", "mn": "ᠨᠡᠪᠲᠡᠷᠡᠬᠦ"}, "signout": {"zh": "退出", "mn": "ᠭᠠᠷᠬᠤ"},
    "staff": {"zh": "工号", "mn": "ᠠᠵᠢᠯᠲᠠᠨ ᠤ ᠳᠤᠭᠠᠷ"}, "password": {"zh": "密码", "mn": "ᠨᠢᠭᠤᠴᠠ ᠦᠭᠡ"},
    "halls": {"zh": "各大厅实时", "mn": "ᠲᠢᠩᠭᠢᠮ ᠦᠳ"}, "figures": {"zh": "统计", "mn": "ᠪᠦᠷᠢᠳᠭᠡᠯ"},
    "ranking": {"zh": "月度排名", "mn": "ᠰᠠᠷ᠎ᠠ ᠶᠢᠨ ᠡᠷᠡᠮᠪᠡ"}, "orders": {"zh": "差评工单", "mn": "ᠮᠠᠭᠤ ᠦᠨᠡᠯᠡᠭᠡ"},
    "online": {"zh": "在线", "mn": "ᠱᠤᠭᠤᠮ"}, "lost": {"zh": "失联", "mn": "ᠲᠠᠰᠤᠷᠠᠭᠰᠠᠨ"},
    "offline": {"zh": "离线", "mn": "ᠬᠠᠭᠠᠭᠰᠠᠨ"}, "unknown": {"zh": "未知", "mn": "ᠦᠯᠦ ᠮᠡᠳᠡᠭᠳᠡᠬᠦ"},
    "degraded": {"zh": "降级", "mn": "ᠪᠠᠭᠤᠷᠠᠭᠰᠠᠨ"},
    "windows_open": {"zh": "开放窗口", "mn": "ᠨᠡᠭᠡᠭᠡᠯᠲᠡᠳᠡᠢ ᠴᠤᠩᠬᠤ"}, "waiting": {"zh": "等候", "mn": "ᠬᠦᠯᠢᠶᠡᠵᠦ ᠪᠠᠢᠭ᠎ᠠ"},
    "longest": {"zh": "最长等候", "mn": "ᠬᠠᠮᠤᠭ ᠤᠷᠲᠤ"}, "alerts": {"zh": "未处理告警", "mn": "ᠰᠡᠷᠡᠮᠵᠢᠯᠡᠭᠦᠯᠬᠦ"},
    "link": {"zh": "链路", "mn": "ᠬᠣᠯᠪᠤᠭ᠎ᠠ"}, "day": {"zh": "日", "mn": "ᠡᠳᠦᠷ"}, "month": {"zh": "月", "mn": "ᠰᠠᠷ᠎ᠠ"},
    "quarter": {"zh": "季度", "mn": "ᠤᠯᠠᠷᠢᠯ"}, "issued": {"zh": "取号", "mn": "ᠳ᠋ᠤᠭᠠᠷ ᠠᠪᠤᠭᠰᠠᠨ"},
    "served": {"zh": "办结", "mn": "ᠳᠠᠭᠤᠰᠭᠠᠭᠰᠠᠨ"}, "good_rate": {"zh": "好评率", "mn": "ᠰᠠᠢᠨ ᠦᠨᠡᠯᠡᠭᠡ"},
    "bad": {"zh": "差评", "mn": "ᠮᠠᠭᠤ ᠦᠨᠡᠯᠡᠭᠡ"}, "rectified_rate": {"zh": "按期整改率", "mn": "ᠵᠠᠰᠠᠪᠤᠷᠢ"},
    "wait_mean": {"zh": "平均等候", "mn": "ᠳᠤᠮᠳᠠᠵᠢ ᠬᠦᠯᠢᠶᠡᠯᠭᠡ"}, "rank": {"zh": "名次", "mn": "ᠡᠷᠡᠮᠪᠡ"},
    "deadline": {"zh": "期限", "mn": "ᠪᠠᠢᠴᠠᠭᠠᠬᠤ ᠬᠤᠭᠤᠴᠠᠭ᠎ᠠ"}, "state": {"zh": "状态", "mn": "ᠪᠠᠢᠳᠠᠯ"},
    "forward": {"zh": "转办到大厅", "mn": "ᠳᠠᠮᠵᠢᠭᠤᠯᠬᠤ"}, "forwarded": {"zh": "盟级转办", "mn": "ᠠᠶᠢᠮᠠᠭ ᠠᠴᠠ"},
    "note": {"zh": "诉求内容", "mn": "ᠠᠭᠤᠯᠭ᠎ᠠ"}, "hall": {"zh": "大厅", "mn": "ᠲᠢᠩᠭᠢᠮ"},
    "ref": {"zh": "盟级编号", "mn": "ᠳ᠋ᠤᠭᠠᠷ"},
    "xlsx": {"zh": "导出 XLSX", "mn": "XLSX"}, "overdue": {"zh": "逾期", "mn": "ᠬᠣᠴᠣᠷᠠᠭᠰᠠᠨ"},
    "ticket": {"zh": "票号", "mn": "ᠳ᠋ᠤᠭᠠᠷ"}, "level": {"zh": "层级", "mn": "ᠳᠡᠰ"},
    "alert_list": {"zh": "各厅未处理告警", "mn": "ᠰᠡᠷᠡᠮᠵᠢᠯᠡᠭᠦᠯᠬᠦ"}, "kind": {"zh": "类别", "mn": "ᠲᠥᠷᠥᠯ"},
    "time": {"zh": "时间", "mn": "ᠴᠠᠭ"}, "message": {"zh": "内容", "mn": "ᠠᠭᠤᠯᠭ᠎ᠠ"},
}


def word(key: str, lang: str) -> str:
    w = WORDS.get(key) or {}
    return w.get(lang) or w.get("zh") or key


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _err(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class League:
    def __init__(self, cfg: RegionConfig, hub: Hub, secrets: StaffSecrets, *, https: bool,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg, self.hub, self.secrets, self.https, self.clock = cfg, hub, secrets, https, clock
        self.sessions = Sessions(cfg.console.idle_timeout_s)
        self.guard = LoginGuard()
        self.staff = {s.id: s for s in cfg.staff}
        self.hash_slots = asyncio.Semaphore(2)
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape())

    def staff_json(self, sid: str) -> dict[str, Any]:
        s = self.staff[sid]
        return {"id": s.id, "name": s.name, "roles": list(s.roles)}

    def require(self, request: Request) -> Session:
        s = self.sessions.get(request.cookies.get(COOKIE), self.clock())
        if s is None or s.staff not in self.staff:
            raise ApiError(401, "UNAUTHENTICATED", "sign in first")
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and not s.csrf_ok(request.headers.get("x-csrf-token")):
            raise ApiError(403, "CSRF", "missing or wrong X-CSRF-Token")
        return s

    async def body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        if len(raw) > BODY_MAX:
            raise ApiError(400, "BAD_REQUEST", f"the body is over {BODY_MAX} bytes")
        if not raw.strip():
            return {}
        try:
            return decode_object(raw, max_bytes=BODY_MAX)
        except BadPayload as e:
            raise ApiError(400, "BAD_REQUEST", f"the body must be a JSON object: {e}") from None

    async def db(self, fn: Callable[[psycopg.Connection[Any]], Any]) -> Any:
        def run() -> Any:
            try:
                with psycopg.connect(self.cfg.postgres, autocommit=True, connect_timeout=5) as conn:
                    # times read back in the region's zone (the pages show the halls' local times)
                    conn.execute(sql.SQL("SET TIME ZONE {}").format(sql.Literal(self.cfg.region.timezone)))
                    return fn(conn)
            except psycopg.errors.UndefinedTable:
                raise ApiError(503, "UNAVAILABLE", "the region's tables are not there yet: start hallq region "
                               "ingest first") from None
            except psycopg.OperationalError as e:
                raise ApiError(503, "UNAVAILABLE", f"PostgreSQL is not reachable: {str(e).strip()[:200]}") from None
        return await asyncio.to_thread(run)

    def lang(self, request: Request) -> str:
        v = request.cookies.get(LANG_COOKIE)
        return v if v in ("zh", "mn") else "zh"


def _date(v: str | None, what: str) -> date:
    if not v:
        return date.today()
    try:
        return date.fromisoformat(v if len(v) != 7 else v + "-01")
    except ValueError:
        raise ApiError(400, "BAD_REQUEST", f"{what}: give YYYY-MM-DD (or YYYY-MM)") from None


def build_app(lg: League) -> Starlette:
    cfg, hub = lg.cfg, lg.hub

    def api(fn: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            try:
                return await fn(request)
            except ApiError as e:
                return _err(e.status, e.code, e.message)
            except HubError as e:
                return _err(e.status, e.code, e.message)
        return wrapped

    async def session(request: Request) -> Response:
        if request.method == "POST":
            fields = sign_in_fields(await lg.body(request))
            if fields is None:
                raise ApiError(400, "BAD_REQUEST", "give 'staff' and 'password' as strings")
            staff, password = fields
            addr = request.client.host if request.client else "?"
            outcome, _ = await check_sign_in(lg.guard, lg.hash_slots, lg.secrets.check_password, lg.staff,
                                             lg.clock, staff, password, addr)
            if outcome == "locked":
                raise ApiError(429, "LOCKED_OUT", "too many failed sign-ins for this staff id; try again later")
            if outcome == "bad":
                raise ApiError(401, "BAD_CREDENTIALS", "wrong staff id or password")
            old = request.cookies.get(COOKIE)
            if old:
                lg.sessions.drop(old)
            s = lg.sessions.create(staff, lg.clock())
            resp = JSONResponse({"staff": lg.staff_json(staff), "csrf": s.csrf}, headers={"Cache-Control": "no-store"})
            resp.set_cookie(COOKIE, s.sid, httponly=True, samesite="strict", secure=lg.https, path="/")
            return resp
        s = lg.require(request)
        if request.method == "DELETE":
            lg.sessions.drop(s.sid)
            resp = JSONResponse({"ok": True})
            resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=lg.https)
            return resp
        return JSONResponse({"staff": lg.staff_json(s.staff), "csrf": s.csrf}, headers={"Cache-Control": "no-store"})

    async def halls(request: Request) -> Response:
        lg.require(request)
        live = hub.snapshot()
        waits = await lg.db(queries.longest_waits)
        out = []
        for h in cfg.halls:
            lv = live[h.id]
            oldest = waits.get(h.id)
            ref = datetime.fromisoformat(lv.at) if lv.at else None
            longest = round((ref - oldest).total_seconds()) if oldest and ref and ref > oldest else None
            out.append({"id": h.id, "name": h.name.model_dump(), "level": h.level, "parent": h.parent,
                        "status": lv.status, "link": {"1": "up", "0": "down"}.get(lv.bridge or "", "unknown"),
                        "windows_open": sum(1 for w in lv.windows.values() if w.get("status") not in ("closed", None)),
                        "waiting": sum(int(q.get("waiting") or 0) for q in lv.queues if isinstance(q, dict)),
                        "longest_wait_s": longest if lv.queues and any(q.get("waiting") for q in lv.queues) else None,
                        "alerts_open": lv.alerts_open, "at": lv.at})
        return JSONResponse({"halls": out, "connected": hub.connected.is_set()})

    def _period(request: Request) -> tuple[str, date, date]:
        kind = request.query_params.get("period", "day")
        if kind not in ("day", "month", "quarter"):
            raise ApiError(400, "BAD_REQUEST", "period: day, month or quarter")
        first, last = queries.period(kind, _date(request.query_params.get("date"), "date"))
        return kind, first, last

    async def figures(request: Request) -> Response:
        lg.require(request)
        kind, first, last = _period(request)
        rows = await lg.db(lambda c: queries.figures(c, cfg, first, last))
        if request.url.path.endswith(".xlsx"):
            return _xlsx(queries.xlsx(rows, f"{kind} {first.isoformat()}"), f"figures-{kind}-{first.isoformat()}.xlsx")
        return JSONResponse({"period": kind, "from": first.isoformat(), "to": last.isoformat(), "halls": rows})

    async def ranking(request: Request) -> Response:
        lg.require(request)
        month = _date(request.query_params.get("month"), "month").replace(day=1)
        rows = await lg.db(lambda c: queries.ranking(c, cfg, month))
        if request.url.path.endswith(".xlsx"):
            return _xlsx(queries.xlsx(rows, f"排名 {month:%Y-%m}"), f"ranking-{month:%Y-%m}.xlsx")
        return JSONResponse({"month": f"{month:%Y-%m}", "ranking": rows})

    async def workorders(request: Request) -> Response:
        lg.require(request)
        state = request.query_params.get("state", "open")
        if state not in ("open", "all"):
            raise ApiError(400, "BAD_REQUEST", "state: open or all")
        return JSONResponse({"orders": await lg.db(lambda c: queries.workorders(c, state))})

    async def alerts(request: Request) -> Response:
        lg.require(request)
        state = request.query_params.get("state", "open")
        if state not in ("open", "all"):
            raise ApiError(400, "BAD_REQUEST", "state: open or all")
        return JSONResponse({"alerts": await lg.db(lambda c: queries.alerts(c, state))})

    async def forward(request: Request) -> Response:
        s = lg.require(request)
        if not {"supervisor", "admin"} & set(lg.staff[s.staff].roles):
            raise ApiError(403, "FORBIDDEN", "forwarding a work order needs the supervisor role")
        body = await lg.body(request)
        hall = body.pop("hall", None)
        if not isinstance(hall, str) or cfg.hall(hall) is None:
            raise ApiError(404, "UNKNOWN_HALL", "'hall' must be a hall of this region")
        if not isinstance(body.get("ref"), str) or not REF.match(body["ref"]):
            raise ApiError(400, "BAD_REQUEST", "'ref' (the league's id of the complaint) is 1-64 of A-Z a-z 0-9 _ . -")
        allowed = {"ref", "date", "level", "note", "ticket", "service", "window", "channel", "deadline"}
        extra = set(body) - allowed
        if extra:
            raise ApiError(400, "BAD_REQUEST", f"unknown field(s): {', '.join(sorted(extra))}")
        result = await hub.command(hall, "wo_forward", by=s.staff, **body)
        return JSONResponse({"result": result})

    async def page(request: Request) -> Response:
        lang = lg.lang(request)
        html = lg.env.get_template("league.html").render(
            lang=lang, t=lambda k: word(k, lang), region=cfg.region,
            region_name=cfg.region.name.mn if lang == "mn" and cfg.region.name.mn else cfg.region.name.zh,
            words_json=json.dumps({k: word(k, lang) for k in WORDS}, ensure_ascii=False),
            levels_json=json.dumps({k: v.get(lang) or v["zh"] for k, v in LEVEL_NAMES.items()}, ensure_ascii=False))
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    async def set_lang(request: Request) -> Response:
        to = request.query_params.get("to")
        resp = RedirectResponse("/", status_code=303)
        if to in ("zh", "mn"):
            resp.set_cookie(LANG_COOKIE, to, samesite="strict", path="/", secure=lg.https)
        return resp

    return Starlette(routes=[
        Route("/", page), Route("/lang", set_lang),
        Route("/api/session", api(session), methods=["GET", "POST", "DELETE"]),
        Route("/api/halls", api(halls)), Route("/api/figures", api(figures)), Route("/api/figures.xlsx", api(figures)),
        Route("/api/ranking", api(ranking)), Route("/api/ranking.xlsx", api(ranking)),
        Route("/api/workorders", api(workorders)), Route("/api/alerts", api(alerts)),
        Route("/api/workorders/forward", api(forward), methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ])


def _xlsx(data: bytes, name: str) -> Response:
    return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
