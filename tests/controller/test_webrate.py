"""补充评价 through the page behind the ticket QR, served by the real controller over the real broker."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hallq.broker import Mosquitto, free_port
from tests.conftest import Hall, small_hall


@pytest.fixture
def web_hall(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[tuple[Hall, int]]:
    port = free_port()
    h = Hall(tmp_path, mosquitto, small_hall(mosquitto.port, evaluation={"web_port": port}))
    yield h, port
    h.controller.kill()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8")


def _post(url: str, form: dict[str, str | list[str]]) -> tuple[int, str]:
    data = urllib.parse.urlencode(form, doseq=True).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8")


def test_supplementary_rating_by_the_ticket_qr(web_hall: tuple[Hall, int]) -> None:
    h, port = web_hall
    with h.client("staff", (h.cfg.topic("event", "#"), h.cfg.topic("controller", "status"))) as c:
        h.start_controller(c)
        issued = c.command("issue", service="general")
        number, code, day = issued["ticket"]["number"], issued["code"], issued["ticket"]["issued_at"][:10]
        q = f"HQ1:test-hall:{day}:{number}:{code}"
        base = f"http://127.0.0.1:{port}"
        status, page = _get(f"{base}/t?q={q}")
        assert status == 200 and "还没有办理完成" in page, "no form before the service"
        c.command("login", window="1", staff="S001")
        c.command("call", window="1")
        c.command("finish", window="1")
        c.command("call", window="1")  # the prompt closed unrated; the citizen rates later from the QR
        status, page = _get(f"{base}/t?q={q}")
        assert status == 200 and "name=level value=1" in page and "态度不好" in page, page
        assert _get(f"{base}/t?q={q[:-1]}X")[0] == 403, "a wrong code shows nothing"
        assert _post(f"{base}/rate", {"q": q, "level": "7"})[0] == 400
        status, page = _post(f"{base}/rate", {"q": q, "level": "2", "reasons": ["效率低", "<script>"],
                                              "comment": "等了很久"})
        assert status == 200 and "感谢您的评价" in page and "核实整改" in page, page
        ev = c.wait_for(h.cfg.topic("event", "evaluation.recorded"), lambda b: b["ticket"] == number)
        assert (ev["level"], ev["channel"], ev["supplementary"], ev["reasons"], ev["comment"]) == (
            2, "qr", True, ["效率低"], "等了很久")
        c.wait_for(h.cfg.topic("event", "workorder.opened"), lambda b: b["ticket"] == number)
        status, page = _post(f"{base}/rate", {"q": q, "level": "5"})
        assert "已经评价过了" in page, "rated once (一次一评)"


def test_guessing_codes_is_stopped(web_hall: tuple[Hall, int]) -> None:
    h, port = web_hall
    h.start_controller()
    statuses = [_get(f"http://127.0.0.1:{port}/t?q=HQ1:test-hall:2026-11-23:A001:AAAAAAA{i % 10}")[0]
                for i in range(22)]
    assert statuses[:20] == [403] * 20 and statuses[-1] == 429
    assert _get(f"http://127.0.0.1:{port}/admin")[0] == 404
