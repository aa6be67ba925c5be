"""The console follows `hallq reload` of the controller while it runs (console/follow.py), against the real
controller and mosquitto: a new staff member can sign in, a removed one's session ends (401), a removed window
and a renamed service show at once, sessions still valid stay; a reload the controller refuses changes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
import yaml

from controller.reload import _read_result
from tests.conftest import REPO
from tests.console.desk import Desk, set_password, stream_items
from tests.console.test_browser import CHROMIUM, browser, sign_in  # noqa: F401 (the fixture)

NEW_PASSWORD = "new-staff-pass-9"


def _config(desk: Desk) -> dict[str, Any]:
    out: dict[str, Any] = yaml.safe_load(desk.hall.config_path.read_text(encoding="utf-8"))
    return out


def _write(desk: Desk, cfg: dict[str, Any]) -> None:
    desk.hall.config_path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")


def _reload(desk: Desk) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hallq", "reload", "--config", str(desk.hall.config_path),
                           "--data", str(desk.hall.data_dir), "--timeout", "30"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def _sign_in(desk: Desk, staff: str, password: str) -> httpx.Response:
    return desk.client().post("/api/session", json={"staff": staff, "password": password})


def test_reload_adds_and_removes_staff_windows_and_names(desk: Desk) -> None:
    s1, csrf1 = desk.session("S001")
    s2, csrf2 = desk.session("S002")
    r1, _ = desk.session("R001")
    assert _sign_in(desk, "S009", NEW_PASSWORD).status_code == 401          # not staff yet
    cfg = _config(desk)
    cfg["services"][0]["name"]["zh"] = "综合窗口"                           # renamed
    cfg["windows"] = [w for w in cfg["windows"] if w["id"] != "3"]         # window 3 goes
    staff = []
    for s in cfg["staff"]:
        if s["id"] == "S002":                                               # S002 leaves
            continue
        s["windows"] = [w for w in s["windows"] if w != "3"] or ["1"]
        staff.append(s)
    cfg["staff"] = [*staff, {"id": "S009", "name": "周九", "windows": ["2"]}]   # S009 joins
    _write(desk, cfg)
    set_password(desk.hall, "S009", NEW_PASSWORD)
    with s1.stream("GET", "/api/stream", timeout=30) as live1, s2.stream("GET", "/api/stream", timeout=30) as live2:
        items1, items2 = stream_items(live1), stream_items(live2)
        assert next(items1)["kind"] == next(items2)["kind"] == "hall"
        r = _reload(desk)
        assert r.returncode == 0, r.stderr
        assert next(i for i in items1 if i["kind"] == "config")        # the console runs the new configuration
        assert [i["kind"] for i in items2][-1] == "config"              # S002's live page is told, then cut off
    # S001's session stays, with the new windows; S002's ends
    me = s1.get("/api/session")
    assert me.status_code == 200 and me.json()["csrf"] == csrf1 and me.json()["staff"]["windows"] == ["1"]
    assert s2.get("/api/session").status_code == 401
    r = s2.post("/api/windows/2/login", json={}, headers={"X-CSRF-Token": csrf2})
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHENTICATED"
    # window 3 is gone from the window client and the hall, the service has its new name
    assert [w["id"] for w in s1.get("/api/hall").json()["windows"]] == ["1", "2"]
    assert s1.get("/api/windows/3").status_code == 404
    page = s1.get("/window").text
    assert 'data-login="1"' in page and 'data-login="3"' not in page
    assert "综合窗口" in r1.get("/reception").text
    # S009 signs in and works at window 2 (the controller knows them too)
    r = _sign_in(desk, "S009", NEW_PASSWORD)
    assert r.status_code == 200, r.text
    assert r.json()["staff"] == {"id": "S009", "name": "周九", "roles": ["window"], "windows": ["2"]}
    c9 = desk.clients[-1]
    r = c9.post("/api/windows/2/login", json={}, headers={"X-CSRF-Token": r.json()["csrf"]})
    assert r.status_code == 200 and r.json()["result"]["window"]["staff"]["id"] == "S009", r.text
    history = desk.session("M001")[0].get("/api/config").json()
    assert len(history["history"]) == 2 and history["config"]["services"][0]["zh"] == "综合窗口"
    assert "runs the controller's configuration now" in desk.console.log()


def test_a_refused_reload_changes_nothing(desk: Desk) -> None:
    s1, csrf1 = desk.session("S001")
    good = desk.hall.config_path.read_text(encoding="utf-8")
    cfg = yaml.safe_load(good)
    cfg["staff"] = [s for s in cfg["staff"] if s["id"] != "S001"] + [{"id": "S010", "name": "吴十", "windows": ["1"]}]
    cfg["services"][0]["name"]["zh"] = "不该出现"
    cfg["hall"]["timezone"] = "Asia/Urumqi"             # valid, but a running controller cannot take it
    _write(desk, cfg)
    set_password(desk.hall, "S010", NEW_PASSWORD)
    assert desk.hall.controller.proc is not None
    db = desk.hall.data_dir / "hallq.sqlite3"
    before = _read_result(db).get("n", 0)
    os.kill(desk.hall.controller.proc.pid, signal.SIGHUP)     # straight to the controller: it refuses
    deadline = time.monotonic() + 30
    while _read_result(db).get("n", 0) == before:
        assert time.monotonic() < deadline, desk.hall.controller.log()
        time.sleep(0.05)
    assert _read_result(db)["ok"] is False and "hall.timezone" in _read_result(db)["error"]
    me = s1.get("/api/session")
    assert me.status_code == 200 and me.json()["csrf"] == csrf1
    assert s1.post("/api/windows/1/login", json={}, headers={"X-CSRF-Token": csrf1}).status_code == 200
    assert _sign_in(desk, "S010", NEW_PASSWORD).status_code == 401
    assert "不该出现" not in desk.session("R001")[0].get("/reception").text
    assert [w["id"] for w in s1.get("/api/hall").json()["windows"]] == ["1", "2", "3"]
    assert "runs the controller's configuration now" not in desk.console.log()


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_open_pages_load_the_new_configuration(browser: Any, desk: Desk) -> None:  # noqa: F811
    contexts = [browser.new_context(viewport={"width": 1280, "height": 860}) for _ in range(2)]
    try:
        window, reception = (c.new_page() for c in contexts)
        sign_in(window, desk, "S001")
        window.wait_for_url("**/window")
        window.get_by_role("button", name="3 号窗口").wait_for()
        sign_in(reception, desk, "R001")
        reception.wait_for_url("**/reception")
        reception.get_by_label("综合受理").wait_for()
        cfg = _config(desk)
        cfg["services"][0]["name"]["zh"] = "综合窗口"
        cfg["windows"] = [w for w in cfg["windows"] if w["id"] != "3"]
        for st in cfg["staff"]:
            st["windows"] = [w for w in st["windows"] if w != "3"] or ["1"]
        _write(desk, cfg)
        r = _reload(desk)
        assert r.returncode == 0, r.stderr
        window.get_by_role("button", name="3 号窗口").wait_for(state="detached")    # the page loaded again
        window.get_by_role("button", name="1 号窗口").wait_for()
        reception.get_by_label("综合窗口").wait_for()
    finally:
        for c in contexts:
            c.close()
