"""The web console's HTTP side (CONTRACT §6) as a Starlette application: sessions, the staff API, live streams
(server-sent events from the controller's retained state and events), the pages, and the citizen's ticket page.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from console import manager as mg
from console.follow import console_config, newest_config, unfollowable
from console.hub import ConsoleError, Hub
from console.printing import DeskPrinter, ticket_data
from console.words import error_text, table, ui
from hallq.api import BadPayload, decode_object
from hallq.config import ConfigError, HallConfig, StaffConfig, parse_config_text
from hallq.staffauth import StaffSecrets
from hallq.text.words import WORDS, Lang
from hallq.ticketqr import TicketRef, parse_ref
from hallq.webauth import LoginGuard, Session, Sessions, check_sign_in, sign_in_fields

log = logging.getLogger("hallq.console")

HERE = Path(__file__).resolve().parent
COOKIE = "hallq_session"
LANG_COOKIE = "hallq_lang"
BODY_MAX = 16 * 1024
HEARTBEAT_S = 15.0
MONGOLIAN_FONT = Path("/usr/share/fonts/truetype/noto/NotoSansMongolian-Regular.ttf")   # fonts-noto-core
CITIZEN_FAILS, CITIZEN_WINDOW_S = 20, 600.0
LEVELS_MN = {5: "ᠮᠠᠰᠢ ᠰᠡᠳᠭᠢᠯ ᠬᠠᠩᠭᠤᠨ᠎ᠠ", 4: "ᠰᠡᠳᠭᠢᠯ ᠬᠠᠩᠭᠤᠨ᠎ᠠ", 3: "ᠳᠤᠮᠳᠠ",
             2: "ᠰᠡᠳᠭᠢᠯ ᠬᠠᠩᠭᠤᠨ ᠦᠭᠡᠢ", 1: "ᠣᠭᠲᠣ ᠰᠡᠳᠭᠢᠯ ᠬᠠᠩᠭᠤᠨ ᠦᠭᠡᠢ"}
LEVELS_ZH = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}

# window commands of §6 and the body keys each takes (window, actor and staff are the console's to set)
WINDOW_ARGS: dict[str, frozenset[str]] = {
    "login": frozenset(), "logout": frozenset(), "call": frozenset(), "recall": frozenset(), "skip": frozenset(),
    "finish": frozenset(), "transfer": frozenset({"service"}), "pause": frozenset({"reason"}),
    "resume": frozenset({"reason"}), "hold": frozenset({"note"}), "callback": frozenset({"number", "date"}),
    "call_number": frozenset({"number", "date"}),
}
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")


def _err(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers={"Cache-Control": "no-store"})


class Console:
    """Everything the routes share: config, hub, the secrets store, sessions and lockouts."""

    def __init__(self, cfg: HallConfig, hub: Hub, secrets: StaffSecrets, *, https: bool,
                 clock: Callable[[], float] = time.monotonic, data_dir: Path | None = None,
                 config_sha: str | None = None) -> None:
        self.cfg, self.hub, self.secrets, self.https, self.clock = cfg, hub, secrets, https, clock
        self.started = cfg                  # console-only settings keep these values (console/follow.py)
        self.config_sha = config_sha        # SHA-256 of the configuration text the console runs, when known
        self.unfollowed: str | None = None  # the controller's configuration this console cannot take (warned once)
        self.follow_lock = asyncio.Lock()
        self.data_dir = data_dir if data_dir is not None else Path(cfg.data_dir)
        self.sessions = Sessions(cfg.console.idle_timeout_s)
        self.printer = DeskPrinter(cfg, cfg.console.printer) if cfg.console.printer is not None else None
        self.guard = LoginGuard()
        self.hash_slots = asyncio.Semaphore(2)     # scrypt is 16 MiB and ~50 ms: at most two at once
        self.citizen_fails: dict[str, list[float]] = {}
        self.staff = {s.id: s for s in cfg.staff}
        hub.on_alert_ack.append(self.guard.unlock)
        hub.on_status.append(self.follow_controller)
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))

    # -- the controller's configuration (hallq reload) ----------------------------------------------
    async def follow_controller(self) -> None:
        """Run on the configuration the controller runs when it is not the one this console runs: read from
        the controller's log (its newest `configs` row) whenever the controller announces itself."""
        async with self.follow_lock:
            found = await asyncio.to_thread(newest_config, self.data_dir)
            if found is None or found[0] in (self.config_sha, self.unfollowed):
                return
            sha, text = found
            try:
                new = parse_config_text(text, f"the controller's configuration {sha[:16]}")
                stuck = unfollowable(self.started, new)
            except ConfigError as e:
                stuck = [str(e)]
            if stuck:
                self.unfollowed = sha
                log.warning("console: the controller runs another configuration (sha256 %s) that this console "
                            "cannot take while it runs (%s): restart the console", sha[:16], "; ".join(stuck))
                return
            self.adopt(console_config(self.started, new), sha)

    def adopt(self, cfg: HallConfig, sha: str | None) -> None:
        """Run on `cfg` from now on. Sessions stay; those of staff no longer in it end at their next request."""
        gone = sorted(set(self.staff) - {s.id for s in cfg.staff})
        old_printer = self.cfg.console.printer
        self.cfg, self.config_sha, self.unfollowed = cfg, sha, None
        self.staff = {s.id: s for s in cfg.staff}
        self.sessions.idle_timeout_s = cfg.console.idle_timeout_s
        if cfg.console.printer != old_printer:
            self.printer = DeskPrinter(cfg, cfg.console.printer) if cfg.console.printer is not None else None
        self.hub.set_config(cfg)
        log.info("console: runs the controller's configuration now (sha256 %s)%s", (sha or "?")[:16],
                 f"; sessions of {', '.join(gone)} end (no longer staff)" if gone else "")

    # -- helpers ---------------------------------------------------------------------------------
    def staff_json(self, s: StaffConfig) -> dict[str, Any]:
        return {"id": s.id, "name": s.name, "roles": list(s.roles), "windows": list(s.windows)}

    def session_of(self, request: Request) -> Session | None:
        s = self.sessions.get(request.cookies.get(COOKIE), self.clock())
        if s is not None and s.staff not in self.staff:
            self.sessions.drop(s.sid)
            return None
        return s

    def me(self, s: Session) -> StaffConfig:
        """The signed-in staff member as configured now; 401 when a reload removed them meanwhile."""
        me = self.staff.get(s.staff)
        if me is None:
            self.sessions.drop(s.sid)
            raise ConsoleError(401, "UNAUTHENTICATED", "sign in first (POST /api/session)")
        return me

    def require(self, request: Request) -> Session:
        """401 without a valid session; then 403 CSRF for a state change without the session's token."""
        s = self.session_of(request)
        if s is None:
            raise ConsoleError(401, "UNAUTHENTICATED", "sign in first (POST /api/session)")
        if request.method in STATE_CHANGING and not s.csrf_ok(request.headers.get("x-csrf-token")):
            raise ConsoleError(403, "CSRF", "missing or wrong X-CSRF-Token header for this session")
        return s

    def lang(self, request: Request) -> Lang:
        return "mn" if request.cookies.get(LANG_COOKIE) == "mn" else "zh"

    async def body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw.strip():
            return {}
        if len(raw) > BODY_MAX:
            raise ConsoleError(400, "BAD_REQUEST", f"the body is over {BODY_MAX} bytes")
        try:
            return decode_object(raw, max_bytes=BODY_MAX)
        except BadPayload as e:
            raise ConsoleError(400, "BAD_REQUEST", f"the body must be a JSON object: {e}") from None

    def render(self, name: str, request: Request, status: int = 200, **ctx: Any) -> HTMLResponse:
        lang = self.lang(request)
        html = self.env.get_template(name).render(
            lang=lang, t=lambda key, **kw: ui(key, lang, **kw), cfg=self.cfg, words_json=json.dumps(table(lang)),
            hall_name=self.cfg.hall.name.mn if lang == "mn" and self.cfg.hall.name.mn else self.cfg.hall.name.zh,
            path=request.url.path, **ctx)
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    def services_json(self, lang: Lang) -> list[dict[str, str]]:
        return [{"id": s.id, "name": s.name.mn if lang == "mn" and s.name.mn else s.name.zh,
                 "zh": s.name.zh, "mn": s.name.mn, "prefix": s.prefix} for s in self.cfg.services]

    # -- citizen ---------------------------------------------------------------------------------
    def citizen_blocked(self, addr: str) -> bool:
        now = self.clock()
        q = [t for t in self.citizen_fails.get(addr, []) if now - t < CITIZEN_WINDOW_S]
        if q:
            self.citizen_fails[addr] = q
        else:
            self.citizen_fails.pop(addr, None)
        return len(q) >= CITIZEN_FAILS

    def citizen_failed(self, addr: str) -> None:
        if len(self.citizen_fails) > 20000:
            self.citizen_fails.clear()
        self.citizen_fails.setdefault(addr, []).append(self.clock())

    def ref_of(self, q: str | None) -> TicketRef | None:
        ref = parse_ref(q or "")
        if ref is None or ref.hall != self.cfg.hall.id or ref.code is None:
            return None
        return ref

    async def citizen_ticket(self, request: Request) -> tuple[TicketRef, dict[str, Any]]:
        """The ticket a citizen's `q` names; ConsoleError 404 (nothing told) or 429 for anything else."""
        addr = request.client.host if request.client else "?"
        if self.citizen_blocked(addr):
            raise ConsoleError(429, "LOCKED_OUT", "too many wrong ticket codes from this address; try later")
        ref = self.ref_of(request.query_params.get("q"))
        if ref is None:
            self.citizen_failed(addr)
            raise ConsoleError(404, "NOT_FOUND", "no such ticket")
        try:
            t = (await self.hub.command("ticket", number=ref.number, date=ref.day.isoformat(), code=ref.code))["ticket"]
        except ConsoleError as e:
            if e.status in (400, 403, 404):
                self.citizen_failed(addr)
                raise ConsoleError(404, "NOT_FOUND", "no such ticket") from None
            raise
        return ref, t

    def citizen_json(self, t: dict[str, Any]) -> dict[str, Any]:
        keep = ("number", "status", "ahead", "est_wait_s", "window", "date", "service", "rated", "priority")
        out = {k: t.get(k) for k in keep}
        answer = t.get("answer") or self.hub.answers.get((str(t.get("date")), str(t.get("number"))))
        if answer:
            out["answer"] = answer      # the 差评's feedback (wo_feedback's note): 反馈评价人
        return out


def build_app(con: Console) -> Starlette:
    hub = con.hub

    def api(fn: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            try:
                return await fn(request)
            except ConsoleError as e:
                return _err(e.status, e.code, e.message)
        return wrapped

    # -- sessions --------------------------------------------------------------------------------
    async def session_post(request: Request) -> Response:
        fields = sign_in_fields(await con.body(request))
        if fields is None:
            raise ConsoleError(400, "BAD_REQUEST", "give 'staff' (the staff id) and 'password' as strings")
        staff, password = fields
        addr = request.client.host if request.client else "?"
        outcome, locked_now = await check_sign_in(con.guard, con.hash_slots, con.secrets.check_password, con.staff,
                                                  con.clock, staff, password, addr)
        if outcome == "locked":
            raise ConsoleError(429, "LOCKED_OUT", "too many failed sign-ins for this staff id; try again later")
        if outcome == "bad":
            if locked_now:
                asyncio.get_running_loop().create_task(raise_lockout_alert(staff))
            raise ConsoleError(401, "BAD_CREDENTIALS", "wrong staff id or password")
        old = request.cookies.get(COOKIE)
        if old:
            con.sessions.drop(old)
        me = con.staff.get(staff)
        if me is None:      # a reload removed them while their password was checked
            raise ConsoleError(401, "BAD_CREDENTIALS", "wrong staff id or password")
        s = con.sessions.create(staff, con.clock())
        log.info("console: %s signed in from %s", staff, addr)
        resp = JSONResponse({"staff": con.staff_json(me), "csrf": s.csrf},
                            headers={"Cache-Control": "no-store"})
        resp.set_cookie(COOKIE, s.sid, httponly=True, samesite="strict", secure=con.https, path="/")
        return resp

    async def raise_lockout_alert(staff: str) -> None:
        """Ask the controller to log alert `login_failures` naming the staff id (command `alert_raise`)."""
        message = f"20 failed console sign-ins for staff id {staff} within 10 minutes; sign-in locked for 10 minutes"
        try:
            r = await hub.command("alert_raise", kind="login_failures", staff=staff, message=message)
            alert = r.get("alert") or {}
            if isinstance(alert, dict) and alert.get("id"):
                hub.lockout_alerts[str(alert["id"])] = staff
            log.warning("console: %s — alert login_failures raised", message)
        except ConsoleError as e:
            log.warning("console: %s — and the controller did not take alert_raise (%s: %s)", message, e.code,
                        e.message)

    async def session_get(request: Request) -> Response:
        s = con.require(request)
        return JSONResponse({"staff": con.staff_json(con.me(s)), "csrf": s.csrf},
                            headers={"Cache-Control": "no-store"})

    async def session_delete(request: Request) -> Response:
        s = con.require(request)
        con.sessions.drop(s.sid)
        resp = JSONResponse({"ok": True})
        resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=con.https)
        return resp

    async def session(request: Request) -> Response:
        if request.method == "POST":
            return await session_post(request)
        if request.method == "DELETE":
            return await session_delete(request)
        return await session_get(request)

    # -- hall, windows, tickets, alerts ----------------------------------------------------------
    async def hall(request: Request) -> Response:
        con.require(request)
        if not hub.link.connected.is_set() and not await hub.wait_up(5.0):
            raise ConsoleError(503, "UNAVAILABLE", "the console has no connection to the hall's broker")
        return JSONResponse(hub.hall())

    async def window_command(request: Request) -> Response:
        s = con.require(request)
        w, command = request.path_params["w"], request.path_params["command"]
        allowed = WINDOW_ARGS.get(command)
        if allowed is None:
            raise ConsoleError(404, "NOT_FOUND", f"no window command {command!r} (known: {', '.join(WINDOW_ARGS)})")
        body = await con.body(request)
        if "window" in body or "actor" in body or ("staff" in body and body["staff"] != s.staff):
            raise ConsoleError(403, "FORBIDDEN", "the window comes from the address and the actor and staff from "
                               "the session: the body may not name them")
        body.pop("staff", None)
        extra = set(body) - allowed
        if extra:
            raise ConsoleError(400, "BAD_REQUEST", f"{command} takes no {', '.join(sorted(extra))}")
        me = con.me(s)
        if w not in me.windows:
            raise ConsoleError(403, "FORBIDDEN", f"staff {s.staff} does not work at window {w}")
        if command == "login":
            body["staff"] = s.staff
        result = await hub.command(command, window=w, actor=s.staff, **body)
        return JSONResponse({"result": result})

    async def window_view(request: Request) -> Response:
        """The window client's view of one window: state, waiting count, held and waiting lists, last rating."""
        s = con.require(request)
        w = request.path_params["w"]
        wc = con.cfg.window(w)
        if wc is None:
            raise ConsoleError(404, "UNKNOWN_WINDOW", f"no window {w!r}")
        if w not in con.me(s).windows:
            raise ConsoleError(403, "FORBIDDEN", f"staff {s.staff} does not work at window {w}")
        services = set(wc.services)
        state = hub.windows.get(w) or {"id": w, "status": "closed", "staff": None, "ticket": None}
        waiting = sum(int(q.get("waiting") or 0) for q in hub.queues if q.get("id") in services)
        rating = hub.last_rating.get(w)
        if rating is not None and rating.get("ticket") != state.get("ticket"):
            rating = rating if state.get("status") in ("idle", "rating") else None
        now = datetime.now(con.cfg.zone)
        return JSONResponse({"window": state, "waiting": waiting, "services": list(wc.services),
                             "held": hub.book.listing("held", services, con.cfg, now),
                             "queue": hub.book.listing("waiting", services, con.cfg, now),
                             "rating": rating, "called_at": hub.last_called_at.get(w)})

    async def tickets(request: Request) -> Response:
        s = con.require(request)
        me = con.me(s)
        if request.method == "GET":
            status = request.query_params.get("status", "waiting")
            if status not in ("waiting", "held"):
                raise ConsoleError(400, "BAD_REQUEST", "status is waiting or held")
            return JSONResponse({"tickets": hub.book.listing(status, None, con.cfg, datetime.now(con.cfg.zone))})
        body = await con.body(request)
        extra = set(body) - {"service", "priority", "reason"}
        if extra:
            raise ConsoleError(400 if not ({"actor", "staff", "window"} & extra) else 403,
                               "BAD_REQUEST" if not ({"actor", "staff", "window"} & extra) else "FORBIDDEN",
                               f"an issue takes service, priority and reason, not {', '.join(sorted(extra))}")
        priority = body.get("priority", "normal")
        if priority in ("green", "appointment") and not {"reception", "manager"} & set(me.roles):
            raise ConsoleError(403, "FORBIDDEN", "a green ticket is issued by the reception desk (role reception)")
        args = {k: body[k] for k in ("service", "priority", "reason") if k in body}
        result = await hub.command("issue", actor=s.staff, source="reception", **args)
        t = result.get("ticket") or {}
        code = result.get("code")
        out = {"ticket": t, "code": code}
        if code and t.get("number") and t.get("date"):
            out["ref"] = f"HQ1:{con.cfg.hall.id}:{t['date']}:{t['number']}:{code}"
        printer = con.printer
        if printer is not None and t.get("number") and t.get("issued_at"):
            problem = await printer.print_ticket(ticket_data(con.cfg, t, code, con.cfg.console.lookup_url))
            out["printed"] = problem is None
            if problem is not None:
                out["print_error"] = problem   # the ticket stays valid: the page shows the number to write down
        return JSONResponse(out)

    async def ticket_cancel(request: Request) -> Response:
        s = con.require(request)
        body = await con.body(request)
        extra = set(body) - {"reason", "date"}
        if extra:
            raise ConsoleError(400, "BAD_REQUEST", f"cancel takes reason and date, not {', '.join(sorted(extra))}")
        if not {"reception", "manager"} & set(con.me(s).roles):
            raise ConsoleError(403, "FORBIDDEN", "cancelling a ticket needs role reception or manager")
        result = await hub.command("cancel", number=request.path_params["number"], actor=s.staff, **body)
        return JSONResponse({"result": result, "ticket": result.get("ticket")})

    def manager(s: Session) -> None:
        if "manager" not in con.me(s).roles:
            raise ConsoleError(403, "FORBIDDEN", "this is for role manager")

    async def alerts(request: Request) -> Response:
        s = con.require(request)
        manager(s)
        q = request.query_params
        state = q.get("state", "open")
        if state not in ("open", "acknowledged", "all"):
            raise ConsoleError(400, "BAD_REQUEST", "state is open, acknowledged or all")
        args: dict[str, Any] = {"state": state}
        if q.get("since"):
            args["since"] = q["since"]
        elif state != "open":      # the controller pages from the oldest: the inbox shows the last week
            args["since"] = (mg.today_of(con.cfg) - timedelta(days=7)).isoformat()
        if q.get("limit"):
            if not q["limit"].isdigit():
                raise ConsoleError(400, "BAD_REQUEST", "limit is a number")
            args["limit"] = int(q["limit"])
        r = await hub.command("alerts", actor=s.staff, **args)
        now = datetime.now(con.cfg.zone)
        after = con.cfg.supervision.escalate_after_s
        marked = [mg.mark_alert(a, now, after) for a in r.get("alerts", []) if isinstance(a, dict)]
        return JSONResponse({"alerts": marked, "total": r.get("total"), "more": r.get("more"),
                             "escalate_after_s": after}, headers={"Cache-Control": "no-store"})

    async def board(request: Request) -> Response:
        s = con.require(request)
        manager(s)
        if not hub.link.connected.is_set() and not await hub.wait_up(5.0):
            raise ConsoleError(503, "UNAVAILABLE", "the console has no connection to the hall's broker")
        return mg.json_no_store({**hub.board(), "now": datetime.now(con.cfg.zone).isoformat(),
                                 "escalate_after_s": con.cfg.supervision.escalate_after_s})

    async def workorders(request: Request) -> Response:
        s = con.require(request)
        manager(s)
        q = request.query_params
        args: dict[str, Any] = {"limit": 1000}
        if q.get("state"):
            args["state"] = q["state"]
        # the controller pages from the oldest: by default the orders of the last 90 days
        args["since"] = q.get("since") or (mg.today_of(con.cfg) - timedelta(days=90)).isoformat()
        r = await hub.command("workorders", actor=s.staff, **args)
        today = mg.today_of(con.cfg)
        orders = [mg.mark_order(o, today) for o in r.get("orders", []) if isinstance(o, dict)]
        for o in orders:
            o["staff_name"] = con.staff[o["staff"]].name if o.get("staff") in con.staff else None
        orders.reverse()        # newest first
        return mg.json_no_store({"orders": orders, "total": r.get("total"), "more": r.get("more")})

    async def find_order(s: Session, oid: str) -> dict[str, Any]:
        m = mg.ORDER_ID.match(oid)
        if m is None:
            raise ConsoleError(404, "UNKNOWN_ORDER", f"no work order {oid!r}")
        r = await hub.command("workorders", actor=s.staff, since=m.group(1), limit=1000)
        for o in r.get("orders", []):
            if isinstance(o, dict) and o.get("id") == oid:
                return mg.mark_order(o, mg.today_of(con.cfg))
        raise ConsoleError(404, "UNKNOWN_ORDER", f"no work order {oid!r}")

    async def workorder(request: Request) -> Response:
        s = con.require(request)
        manager(s)
        o = await find_order(s, request.path_params["id"])
        o["rating"] = hub.ratings.get((str(o.get("date")), str(o.get("ticket"))))
        o["staff_name"] = con.staff[o["staff"]].name if o.get("staff") in con.staff else None
        return mg.json_no_store({"order": o})

    async def workorder_action(request: Request) -> Response:
        s = con.require(request)
        manager(s)
        body = await con.body(request)
        name, args = mg.order_body(request.path_params["action"], body)
        oid = request.path_params["id"]
        if mg.ORDER_ID.match(oid) is None:
            raise ConsoleError(404, "UNKNOWN_ORDER", f"no work order {oid!r}")
        r = await hub.command(name, order=oid, by=s.staff, actor=s.staff, **args)
        o = r.get("order")
        return mg.json_no_store({"order": mg.mark_order(o, mg.today_of(con.cfg)) if isinstance(o, dict) else o})

    async def reports(request: Request) -> Response:
        s = con.require(request)
        manager(s)
        q = request.query_params
        fmt = q.get("format", "json")
        if fmt not in mg.REPORT_FORMATS:
            raise ConsoleError(400, "BAD_REQUEST", f"format is one of {', '.join(mg.REPORT_FORMATS)}")
        first, last = mg.report_period(q, mg.today_of(con.cfg))
        data = await mg.run_report(con.data_dir, first, last, fmt)
        return mg.report_response(data, fmt, first, last, con.cfg.hall.id)

    async def revisits(request: Request) -> Response:
        """The monthly 回访 sample: GET shows it (null before it is drawn), POST draws it (once: again, the same)."""
        s = con.require(request)
        manager(s)
        month = request.path_params["month"]
        if mg.MONTH.match(month) is None:
            raise ConsoleError(400, "BAD_REQUEST", "the month is YYYY-MM")
        args: dict[str, Any] = {"month": month, "by": s.staff}
        if request.method == "GET":
            args["peek"] = True
        r = await hub.command("revisit_sample", actor=s.staff, **args)
        return mg.json_no_store({"sample": r.get("sample")})

    async def revisit_record(request: Request) -> Response:
        s = con.require(request)
        manager(s)
        body = await con.body(request)
        extra = set(body) - {"satisfied", "note"}
        if extra or not isinstance(body.get("satisfied"), bool) or not isinstance(body.get("note", ""), str):
            raise ConsoleError(400, "BAD_REQUEST", "a 回访 result is {satisfied: true|false, note?: text}")
        p = request.path_params
        args = {"ticket": p["number"], "date": p["date"], "satisfied": body["satisfied"], "by": s.staff}
        if str(body.get("note", "")).strip():
            args["note"] = str(body["note"]).strip()
        r = await hub.command("revisit_record", actor=s.staff, **args)
        return mg.json_no_store({"sample": r.get("sample")})

    async def config_api(request: Request) -> Response:
        s = con.require(request)
        manager(s)
        history = await asyncio.to_thread(mg.config_history, con.data_dir)
        try:   # citizens' personal data per service day (docs/privacy.md); the page shows the rest without it
            privacy: dict[str, Any] | None = await hub.command("retention", actor=s.staff)
        except ConsoleError as e:
            privacy = {"error": e.code}
        return mg.json_no_store({"config": mg.config_view(con.cfg), "history": history, "privacy": privacy})

    async def alert_ack(request: Request) -> Response:
        s = con.require(request)
        manager(s)
        body = await con.body(request)
        note = body.get("note")
        if not isinstance(note, str) or not note.strip() or set(body) - {"note"}:
            raise ConsoleError(400, "BAD_REQUEST", "acknowledging an alert takes a 'note' (what was done)")
        r = await hub.command("alert_ack", alert=request.path_params["id"], note=note, actor=s.staff)
        return JSONResponse({"alert": r.get("alert")})

    async def stream(request: Request) -> Response:
        s = con.require(request)
        q = hub.listen()

        async def gen() -> AsyncIterator[str]:
            try:
                yield _sse({"kind": "hall", "hall": hub.hall(), "link": hub.link.connected.is_set()})
                while True:
                    try:
                        item: dict[str, Any] | None = await asyncio.wait_for(q.get(), HEARTBEAT_S)
                    except TimeoutError:
                        item = None
                    if s.staff not in con.staff:    # a reload removed them: the page loads again, to sign-in
                        yield _sse({"kind": "config"})
                        return
                    yield ": ping\n\n" if item is None else _sse(item)
            finally:
                hub.unlisten(q)
        return _event_stream(gen())

    async def api_unknown(request: Request) -> Response:
        con.require(request)
        raise ConsoleError(404, "NOT_FOUND", f"no API {request.url.path}")

    # -- citizen ---------------------------------------------------------------------------------
    async def api_t(request: Request) -> Response:
        _, t = await con.citizen_ticket(request)
        return JSONResponse({"ticket": con.citizen_json(t)}, headers={"Cache-Control": "no-store"})

    async def t_page(request: Request) -> Response:
        try:
            ref, t = await con.citizen_ticket(request)
        except ConsoleError as e:
            return con.render("notfound.html", request, status=e.status if e.status in (404, 429) else 503,
                              code=e.code, words=WORDS)
        svc = con.cfg.service(str(t.get("service")))
        return con.render("ticket.html", request, ticket=con.citizen_json(t), ref=ref.text(), words=WORDS,
                          service=svc, levels=[(lv, LEVELS_ZH[lv], LEVELS_MN[lv]) for lv in (5, 4, 3, 2, 1)],
                          reasons=con.cfg.evaluation.bad_reasons)

    async def t_stream(request: Request) -> Response:
        ref, first = await con.citizen_ticket(request)
        q = hub.listen()

        async def gen() -> AsyncIterator[str]:
            last = con.citizen_json(first)
            try:
                yield _sse({"ticket": last})
                while True:
                    try:
                        item = await asyncio.wait_for(q.get(), HEARTBEAT_S)
                    except TimeoutError:
                        yield ": ping\n\n"
                        continue
                    if not _concerns(item, ref.number):
                        continue
                    await asyncio.sleep(0.05)          # coalesce a burst (finish + call, state + event)
                    while not q.empty():
                        q.get_nowait()
                    try:
                        t = (await hub.command("ticket", number=ref.number, date=ref.day.isoformat(),
                                               code=ref.code))["ticket"]
                    except ConsoleError:
                        continue
                    now = con.citizen_json(t)
                    if now != last:
                        last = now
                        yield _sse({"ticket": now})
            finally:
                hub.unlisten(q)
        return _event_stream(gen())

    async def t_rate(request: Request) -> Response:
        body = await con.body(request)
        q = body.get("q")
        if not isinstance(q, str):
            raise ConsoleError(404, "NOT_FOUND", "no such ticket")
        request.scope["query_string"] = ("q=" + quote(q, safe="")).encode("ascii")
        ref, _ = await con.citizen_ticket(Request(request.scope))
        level = body.get("level")
        if not isinstance(level, int) or isinstance(level, bool) or level not in LEVELS_ZH:
            raise ConsoleError(400, "BAD_REQUEST", "level is 1 to 5")
        args: dict[str, Any] = {"ticket": ref.number, "date": ref.day.isoformat(), "level": level, "channel": "qr",
                                "code": ref.code}
        reasons = body.get("reasons") or []
        if not isinstance(reasons, list):
            raise ConsoleError(400, "BAD_REQUEST", "reasons is a list")
        reasons = [r for r in reasons if r in con.cfg.evaluation.bad_reasons]
        if reasons and level <= 2:
            args["reasons"] = reasons
        comment = body.get("comment")
        if isinstance(comment, str) and comment.strip():
            args["comment"] = comment.strip()[:500]
        if _from_hall(request, con.cfg.evaluation.hall_networks):
            args["origin"] = "hall"   # anti-fraud: a page rating from the hall's own LAN right after service
        r = await hub.command("rate", **args)
        return JSONResponse({"evaluation": r.get("evaluation")})

    # -- pages -----------------------------------------------------------------------------------
    async def index(request: Request) -> Response:
        s = con.session_of(request)
        if s is None:
            return RedirectResponse("/signin", 303)
        roles = set(con.me(s).roles)
        if "manager" in roles:
            return RedirectResponse("/hall", 303)
        return RedirectResponse("/reception" if "window" not in roles and roles & {"reception", "manager"}
                                else "/window", 303)

    async def signin_page(request: Request) -> Response:
        return con.render("signin.html", request)

    def staff_page(name: str) -> Callable[[Request], Awaitable[Response]]:
        async def page(request: Request) -> Response:
            s = con.session_of(request)
            if s is None:
                return RedirectResponse("/signin", 303)
            me = con.me(s)
            return con.render(name, request, me=me, services=con.services_json(con.lang(request)),
                              params=dict(request.path_params))
        return page

    async def set_lang(request: Request) -> Response:
        to = request.query_params.get("to")
        nxt = request.query_params.get("next") or "/"
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = "/"
        resp = RedirectResponse(nxt, 303)
        if to in ("zh", "mn"):
            resp.set_cookie(LANG_COOKIE, to, max_age=365 * 86400, samesite="strict", secure=con.https, path="/")
        return resp

    async def font(request: Request) -> Response:
        if not MONGOLIAN_FONT.is_file():
            return Response(status_code=404)
        return FileResponse(MONGOLIAN_FONT, media_type="font/ttf", headers={"Cache-Control": "max-age=86400"})

    routes = [
        Route("/", index),
        Route("/font/mongolian.ttf", font),
        Route("/signin", signin_page),
        Route("/window", staff_page("window.html")),
        Route("/reception", staff_page("reception.html")),
        Route("/hall", staff_page("hall.html")),
        Route("/alerts", staff_page("alerts.html")),
        Route("/orders", staff_page("orders.html")),
        Route("/orders/{id}", staff_page("order.html")),
        Route("/reports", staff_page("reports.html")),
        Route("/config", staff_page("config.html")),
        Route("/lang", set_lang),
        Route("/t", t_page),
        Route("/t/stream", api(t_stream)),
        Route("/t/rate", api(t_rate), methods=["POST"]),
        Route("/api/session", api(session), methods=["GET", "POST", "DELETE"]),
        Route("/api/hall", api(hall)),
        Route("/api/stream", api(stream)),
        Route("/api/windows/{w}", api(window_view)),
        Route("/api/windows/{w}/{command}", api(window_command), methods=["POST"]),
        Route("/api/tickets", api(tickets), methods=["GET", "POST"]),
        Route("/api/tickets/{number}/cancel", api(ticket_cancel), methods=["POST"]),
        Route("/api/alerts", api(alerts)),
        Route("/api/alerts/{id}/ack", api(alert_ack), methods=["POST"]),
        Route("/api/board", api(board)),
        Route("/api/workorders", api(workorders)),
        Route("/api/workorders/{id}", api(workorder)),
        Route("/api/workorders/{id}/{action}", api(workorder_action), methods=["POST"]),
        Route("/api/reports", api(reports)),
        Route("/api/config", api(config_api)),
        Route("/api/revisits/{month}", api(revisits), methods=["GET", "POST"]),
        Route("/api/revisits/{month}/{date}/{number}", api(revisit_record), methods=["POST"]),
        Route("/api/t", api(api_t)),
        Route("/api/{rest:path}", api(api_unknown), methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.console = con
    return app


def _concerns(item: dict[str, Any], number: str) -> bool:
    kind = item.get("kind")
    if kind in ("queues", "link"):
        return True
    if kind == "event":
        ev = cast(dict[str, Any], item.get("event") or {})
        if ev.get("type") == "workorder.changed":        # the answer to a 差评 (反馈评价人)
            return str(ev.get("order", "")).endswith("-" + number)
        return bool(ev.get("ticket") == number or str(ev.get("type", "")).startswith("ticket."))
    return False


def _sse(obj: Any) -> str:
    return "data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n\n"


def _event_stream(gen: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(gen, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


__all__ = ["Console", "build_app", "error_text"]


def _from_hall(request: Request, networks: list[str]) -> bool:
    """Whether the request comes from one of the hall's own networks (`evaluation.hall_networks`, CIDR)."""
    import ipaddress
    host = request.client.host if request.client else None
    if not host or not networks:
        return False
    try:
        addr = ipaddress.ip_address(host)
        return any(addr in ipaddress.ip_network(n, strict=False) for n in networks)
    except ValueError:
        return False
