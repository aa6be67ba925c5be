"""A fake 好差评 platform for tests and the demo: keeps records by Idempotency-Key and misbehaves on demand.

In a test: `FakePlatform().start()`, then `.stop()` (down: connection refused) and `.start()` again on the
same port, `.fail_with(503, times=3)`, `.delay_s = 2.0` (slow), `.validate = lambda record: "why" or None`
(400 for the records it objects to), `.records()` (what it kept, in arrival order).
`FakePlatform(answer_style="body")` answers like many government platforms: always HTTP 200, the verdict in
the body — {"code": "0"} taken, "1001" a repeat, and the status it would have sent otherwise as the code
("500" told to fail with 500, "400" a validation refusal, "401" a bad token).

As a process: `python -m controller.platform_fake --port 8090 --store FILE`; records are appended to
FILE (JSON lines) and reloaded on start, so stopping and restarting the process is an outage that loses
nothing; `--answer-style body` answers in body style. `GET /_fake/records` lists them; `POST /_fake/control
{"fail_status": 503, "fail_times": 3, "delay_s": 1.5, "answer_style": "body"}` makes it misbehave
(`fail_status: null` ends it).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, cast

Validator = Callable[[dict[str, Any]], str | None]
AnswerStyle = Literal["status", "body"]
ANSWER_STYLES: tuple[AnswerStyle, ...] = ("status", "body")
BODY_OK, BODY_DUPLICATE = "0", "1001"


def check_answer_style(value: Any) -> AnswerStyle:
    """`value` checked as an answer style; ValueError naming the styles otherwise."""
    if value not in ANSWER_STYLES:
        raise ValueError(f"answer_style {value!r} is not one of {', '.join(ANSWER_STYLES)}")
    return cast(AnswerStyle, value)


def in_body_style(status: int, reply: dict[str, Any], duplicate_status: int) -> tuple[int, dict[str, Any]]:
    """A status-style answer as a body-style one: HTTP 200, the verdict as `code` ("0", "1001", else the status)."""
    if status == 200:
        code = BODY_OK
    elif status == duplicate_status:
        code = BODY_DUPLICATE
    else:
        code = str(status)
    return 200, {**reply, "code": code}


class FakePlatform:
    """Constructor stores settings; `start()` listens (port 0 = a free port, kept for later restarts)."""

    def __init__(self, port: int = 0, store: Path | None = None, *, token: str | None = None,
                 duplicate_status: int = 409, host: str = "127.0.0.1", answer_style: AnswerStyle = "status") -> None:
        self.host, self.port, self.store_path, self.token = host, port, store, token
        self.duplicate_status = duplicate_status
        self.answer_style = check_answer_style(answer_style)
        self.delay_s = 0.0
        self.validate: Validator | None = None
        self.received = 0                       # POSTs of records seen, answered or not
        # (Idempotency-Key, status) of every answered POST; in body style the status its code stands for
        self.answers: list[tuple[str, int]] = []
        self._fail_status: int | None = None
        self._fail_times: int | None = None
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, Any]] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        if store is not None and store.exists():
            for line in store.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self._records[entry["key"]] = entry

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> FakePlatform:
        if self._server is not None:
            return self
        server = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-platform-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Down: the port is closed, so clients get connection refused until `start()`."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/api/evaluation"

    @property
    def up(self) -> bool:
        return self._server is not None

    # -- misbehaviour -----------------------------------------------------------------------------
    def fail_with(self, status: int | None, times: int | None = None) -> None:
        """Answer `status` to the next `times` POSTs (None: until `fail_with(None)`)."""
        with self._lock:
            self._fail_status, self._fail_times = status, times

    # -- what it kept ---------------------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        """The records kept, in arrival order: {"key", "received_at", "record"}."""
        with self._lock:
            return [dict(e) for e in self._records.values()]

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._records)

    # -- one POST (called from the server's threads) -------------------------------------------
    def answer(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        key = headers.get("idempotency-key", "")
        with self._lock:
            self.received += 1
            status, reply = self._decide(key, headers, body)
            self.answers.append((key, status))
            style = self.answer_style
        if self.delay_s:
            time.sleep(self.delay_s)   # kept before answering: a client cut off now has been recorded anyway
        return in_body_style(status, reply, self.duplicate_status) if style == "body" else (status, reply)

    def _decide(self, key: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if self._fail_status is not None:
            status = self._fail_status
            if self._fail_times is not None:
                self._fail_times -= 1
                if self._fail_times <= 0:
                    self._fail_status = self._fail_times = None
            return status, {"code": str(status), "msg": "fake platform told to fail"}
        if self.token is not None and headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"code": "401", "msg": "bad or missing token"}
        if not key:
            return 400, {"code": "400", "msg": "Idempotency-Key header missing"}
        try:
            record = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            return 400, {"code": "400", "msg": f"body is not UTF-8 JSON: {e}"}
        if not isinstance(record, dict):
            return 400, {"code": "400", "msg": "body must be a JSON object"}
        if key in self._records:
            return self.duplicate_status, {"code": str(self.duplicate_status), "msg": "already have it"}
        problem = self.validate(record) if self.validate is not None else None
        if problem:
            return 400, {"code": "400", "msg": problem}
        entry = {"key": key, "received_at": datetime.now().astimezone().isoformat(), "record": record}
        self._records[key] = entry
        if self.store_path is not None:
            with self.store_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return 200, {"code": "200", "msg": "ok"}

    def control(self, order: dict[str, Any]) -> dict[str, Any]:
        if "fail_status" in order:
            self.fail_with(order["fail_status"], order.get("fail_times"))
        if "delay_s" in order:
            self.delay_s = float(order["delay_s"])
        if "answer_style" in order:
            self.answer_style = check_answer_style(order["answer_style"])
        return {"fail_status": self._fail_status, "fail_times": self._fail_times, "delay_s": self.delay_s,
                "answer_style": self.answer_style, "records": len(self._records)}


def _handler_for(platform: FakePlatform) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/_fake/control":
                try:
                    self._send(200, platform.control(json.loads(body or b"{}")))
                except (ValueError, TypeError) as e:
                    self._send(400, {"msg": f"control: {e}"})
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            self._send(*platform.answer(headers, body))

        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/_fake/records"):
                self._send(200, {"records": platform.records()})
            else:
                self._send(404, {"msg": "GET /_fake/records lists what was kept"})

        def _send(self, status: int, reply: dict[str, Any]) -> None:
            data = json.dumps(reply, ensure_ascii=False).encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass   # the client gave up (timeout, killed): what it sent is kept all the same

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m controller.platform_fake", description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8090)
    ap.add_argument("--store", type=Path, help="JSON-lines file of kept records (reloaded on start)")
    ap.add_argument("--token", help="require `Authorization: Bearer TOKEN`")
    ap.add_argument("--duplicate-status", type=int, default=409, choices=(200, 409))
    ap.add_argument("--answer-style", default="status", choices=ANSWER_STYLES,
                    help='body: always HTTP 200 with {"code": "0"|"1001"|"500"|"400"|…, "msg": …}')
    args = ap.parse_args(argv)
    platform = FakePlatform(args.port, args.store, token=args.token, duplicate_status=args.duplicate_status,
                            host=args.host, answer_style=args.answer_style).start()
    print(f"fake 好差评 platform on {platform.url} ({len(platform.keys())} records kept, "
          f"{platform.answer_style} style)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        platform.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
