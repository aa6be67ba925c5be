"""The 好差评 transport: one blocking JSON POST over http.client (run it in a worker thread)."""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

ANSWER_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class Answer:
    status: int
    text: str                      # the body, decoded leniently, cut at ANSWER_MAX_BYTES
    location: str | None = None    # of a 3xx


# url, body, headers, timeout_s → Answer; raises OSError (refused, reset, timeout) or http.client.HTTPException
Post = Callable[[str, bytes, Mapping[str, str], float], Answer]


def check_url(url: str) -> None:
    """Raise ValueError naming `upstream.url` unless it is an http(s) URL with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"upstream.url {redact(url)!r} must look like https://host/path (http or https)")


def redact(url: str) -> str:
    """The URL without user:password, for logs and status."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def post_json(url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> Answer:
    """POST `body` to `url` on a fresh connection (evaluations are seconds apart; no keep-alive to go stale)."""
    parts = urlsplit(url)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout_s,
                                           context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout_s)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", path, body=body, headers=dict(headers))
        resp = conn.getresponse()
        text = resp.read(ANSWER_MAX_BYTES).decode("utf-8", "replace")
        return Answer(resp.status, text, resp.getheader("Location"))
    finally:
        conn.close()
