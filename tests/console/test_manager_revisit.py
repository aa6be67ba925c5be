"""The monthly 回访 sample through the manager's console: shown (none yet), drawn once for a past month, refused for
the current month, results only for sampled tickets, managers only."""

from __future__ import annotations

from datetime import date

import httpx

from tests.console.desk import Desk


def post(c: httpx.Client, csrf: str, url: str, body: object | None = None) -> httpx.Response:
    return c.post(url, json=body if body is not None else {}, headers={"X-CSRF-Token": csrf})


def test_revisit_sample_through_the_console(desk: Desk) -> None:
    today = date.today()
    this = f"{today.year:04d}-{today.month:02d}"
    last = f"{today.year - (today.month == 1):04d}-{12 if today.month == 1 else today.month - 1:02d}"
    m, csrf = desk.session("M001")
    s, scsrf = desk.session("S001")
    assert s.get(f"/api/revisits/{last}").status_code == 403
    r = m.get(f"/api/revisits/{last}")
    assert r.status_code == 200 and r.json() == {"sample": None}
    r = post(m, csrf, f"/api/revisits/{last}")
    assert r.status_code == 200, r.text
    sample = r.json()["sample"]
    assert sample["month"] == last and sample["rated"] == 0 and sample["tickets"] == [] and sample["by"] == "M001"
    assert len(sample["seed"]) == 16
    assert post(m, csrf, f"/api/revisits/{last}").json()["sample"] == sample          # drawn once
    assert m.get(f"/api/revisits/{last}").json()["sample"] == sample
    r = post(m, csrf, f"/api/revisits/{this}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "MONTH_NOT_OVER"
    assert m.get("/api/revisits/2026-13").status_code == 400
    r = post(m, csrf, f"/api/revisits/{last}/{today.isoformat()}/A001", {"satisfied": True, "note": "满意"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "NOT_SAMPLED"
    assert post(m, csrf, f"/api/revisits/{last}/{today.isoformat()}/A001", {"satisfied": "yes"}).status_code == 400
    assert m.get("/orders").status_code == 200
