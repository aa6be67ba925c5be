"""补充评价: the small mobile page behind the ticket's QR code, served by the controller process.

`GET /t?q=HQ1:{hall}:{date}:{number}:{code}` shows the ticket and, once it was served and not yet rated,
the five levels (a 差评 asks the reason); `POST /rate` records the rating through the controller's own
MQTT API (`rate`, channel `qr`). The per-ticket code printed on the paper proves the citizen holds it;
a wrong code shows nothing about the ticket. Plain asyncio streams: a page or two per visitor.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import logging
import time
from collections import defaultdict, deque
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

from controller.engine import ticket_code
from controller.model import LEVEL_NAMES
from hallq.config import HallConfig
from hallq.mqtt import CommandClient, CommandError, MqttLink, new_command_id
from hallq.ticketqr import parse_ref

log = logging.getLogger("hallq.web")

MAX_BODY = 8192
FAILS_ALLOWED, FAILS_WINDOW_S = 20, 600.0      # wrong codes per address before it must wait
LEVEL_MN = {5: "ᠮᠠᠰᠢ ᠰᠡᠳᠭᠢᠯ ᠬᠠᠩᠭᠤᠨ᠎ᠠ", 4: "ᠰᠡᠳᠭᠢᠯ ᠬᠠᠩᠭᠤᠨ᠎ᠠ", 3: "ᠳᠤᠮᠳᠠ",
            2: "ᠰᠡᠳᠭᠢᠯ ᠬᠠᠩᠭᠤᠨ ᠦᠭᠡᠢ", 1: "ᠣᠭᠲᠣ ᠰᠡᠳᠭᠢᠯ ᠬᠠᠩᠭᠤᠨ ᠦᠭᠡᠢ"}
ERRORS_ZH = {
    "ALREADY_RATED": "这次服务已经评价过了，感谢您的参与。",
    "RATING_CLOSED": "补充评价期限已过，无法再评价。",
    "NOT_SERVED": "这张号票还没有办理完成，办结后再来评价。",
    "UNKNOWN_TICKET": "查不到这张号票，请核对号票上的二维码。",
    "TIMEOUT": "系统繁忙，请稍后再试。",
}


class RatingPage:
    def __init__(self, cfg: HallConfig, secret: bytes) -> None:
        self.cfg, self.secret = cfg, secret
        self.link = MqttLink(cfg, f"hallq-web-{cfg.hall.id}")
        self.client = CommandClient(self.link, "web")
        self._fails: dict[str, deque[float]] = defaultdict(deque)
        self._server: asyncio.AbstractServer | None = None

    async def run(self, stop: asyncio.Event) -> None:
        e = self.cfg.evaluation
        if e.web_port is None:
            return
        self.link.subscribe(self.client.reply_topic)
        await self.link.start()
        pump = asyncio.create_task(self._pump())
        self._server = await asyncio.start_server(self._serve, e.web_host, e.web_port)
        log.info("补充评价 page on http://%s:%d/t", e.web_host, e.web_port)
        try:
            await stop.wait()
        finally:
            self._server.close()
            await self._server.wait_closed()
            pump.cancel()
            await self.link.stop()

    async def _pump(self) -> None:
        while True:
            self.client.deliver(await self.link.messages.get())

    # -- HTTP -------------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = str((writer.get_extra_info("peername") or ("?",))[0])
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = (lines[0].split(" ") + ["", "", ""])[:3]
            headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
            length = int(headers.get("content-length") or 0)
            if length > MAX_BODY:
                status, page = 413, _page("内容太长", "<p>请求太大。</p>")
            else:
                body = (await asyncio.wait_for(reader.readexactly(length), 10)).decode("utf-8", "replace") \
                    if length else ""
                status, page = await self.route(method, target, body, peer)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError, UnicodeError):
            status, page = 400, _page("请求有误", "<p>请求格式有误，请重新扫码。</p>")
        data = page.encode("utf-8")
        reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 413: "Too Large",
                  429: "Too Many Requests"}.get(status, "OK")
        writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n"
                     f"Content-Length: {len(data)}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n"
                     .encode("latin-1") + data)
        try:
            await writer.drain()
        finally:
            writer.close()

    async def route(self, method: str, target: str, body: str, peer: str) -> tuple[int, str]:
        url = urlsplit(target)
        form = parse_qs(body if method == "POST" else url.query)
        if url.path not in ("/t", "/rate") or method not in ("GET", "POST"):
            return 404, _page("找不到页面", "<p>请扫描号票上的二维码。</p>")
        if self._blocked(peer):
            return 429, _page("请稍后再试", "<p>尝试次数过多，请十分钟后再试。</p>")
        ref = self._ticket_ref((form.get("q") or [""])[0])
        if ref is None:
            self._fail(peer)
            return 403, _page("二维码无效", "<p>二维码无效或已损坏，请核对号票。</p>")
        day, number = ref
        try:  # the page asks the controller over MQTT: wait for our link (it connects at start and after outages)
            await asyncio.wait_for(self.link.connected.wait(), 5)
        except TimeoutError:
            return 200, _page("补充评价", f"<p>{ERRORS_ZH['TIMEOUT']}</p>")
        if method == "POST" and url.path == "/rate":
            return await self._rate(day, number, form)
        return await self._show(day, number, (form.get("q") or [""])[0])

    def _ticket_ref(self, q: str) -> tuple[date, str] | None:
        """Day and number of a ticket QR of this hall whose code is right; None for anything else."""
        ref = parse_ref(q)
        if ref is None or ref.hall != self.cfg.hall.id or ref.code is None:
            return None
        if not hmac.compare_digest(ticket_code(self.secret, ref.day, ref.number), ref.code):
            return None
        return ref.day, ref.number

    def _blocked(self, peer: str) -> bool:
        q, now = self._fails[peer], time.monotonic()
        while q and now - q[0] > FAILS_WINDOW_S:
            q.popleft()
        return len(q) >= FAILS_ALLOWED

    def _fail(self, peer: str) -> None:
        self._fails[peer].append(time.monotonic())

    async def _show(self, day: date, number: str, q: str) -> tuple[int, str]:
        try:
            t = (await self.client.call("ticket", number=number, date=day.isoformat()))["ticket"]
        except CommandError as e:
            return 200, _page("补充评价", f"<p>{html.escape(ERRORS_ZH.get(e.code, e.message))}</p>")
        head = f"<p class=num>{html.escape(number)}</p>"
        if t.get("status") != "finished":
            return 200, _page("补充评价", head + f"<p>{ERRORS_ZH['NOT_SERVED']}</p>")
        levels = "".join(
            f"<label class=lv><input type=radio name=level value={lv} required> {LEVEL_NAMES[lv]} "
            f"<span class=mn>{LEVEL_MN[lv]}</span></label>" for lv in (5, 4, 3, 2, 1))
        reasons = "".join(f"<label><input type=checkbox name=reasons value='{html.escape(r)}'> {html.escape(r)}"
                          "</label>" for r in self.cfg.evaluation.bad_reasons)
        form = (f"<form method=post action=/rate><input type=hidden name=q value='{html.escape(q)}'>{levels}"
                f"<fieldset><legend>如不满意，请选择原因</legend>{reasons}</fieldset>"
                "<textarea name=comment maxlength=500 placeholder='其他意见（选填）'></textarea>"
                "<button type=submit>提交评价 <span class=mn>ᠦᠨᠡᠯᠡᠭᠡ ᠥᠭᠬᠦ</span></button></form>")
        return 200, _page("补充评价", head + form)

    async def _rate(self, day: date, number: str, form: dict[str, list[str]]) -> tuple[int, str]:
        try:
            level = int((form.get("level") or ["0"])[0])
        except ValueError:
            level = 0
        if level not in LEVEL_NAMES:
            return 400, _page("补充评价", "<p>请选择一个满意程度。</p>")
        args: dict[str, Any] = {"ticket": number, "date": day.isoformat(), "level": level, "channel": "qr"}
        reasons = [r for r in form.get("reasons", []) if r in self.cfg.evaluation.bad_reasons]
        if reasons and level <= 2:
            args["reasons"] = reasons
        comment = (form.get("comment") or [""])[0].strip()[:500]
        if comment:
            args["comment"] = comment
        try:
            await self.client.call("rate", cmd_id=new_command_id("web"), **args)
        except CommandError as e:
            return 200, _page("补充评价", f"<p>{html.escape(ERRORS_ZH.get(e.code, e.message))}</p>")
        log.info("补充评价 recorded for ticket %s of %s (level %d)", number, day, level)
        thanks = "感谢您的评价！" + ("我们会在规定时间内核实整改并回复您。" if level <= 2 else "")
        return 200, _page("感谢评价", f"<p class=num>{html.escape(number)}</p><p>{thanks}</p>"
                                      "<p class=mn>ᠪᠠᠶᠠᠷᠯᠠᠯ᠎ᠠ</p>")


def _page(title: str, content: str) -> str:
    return ("<!doctype html><html lang=zh><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width,initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>"
            "body{font-family:'Noto Sans CJK SC',sans-serif;margin:1em;font-size:18px}"
            ".mn{font-family:'Noto Sans Mongolian';writing-mode:vertical-lr;display:inline-block;max-height:6em}"
            ".num{font-size:3em;font-weight:bold;margin:.2em 0}label{display:block;padding:.4em 0}"
            "textarea{width:100%;height:4em}button{font-size:1.2em;padding:.5em 2em}"
            f"</style></head><body><h1>{html.escape(title)}</h1>{content}</body></html>")
