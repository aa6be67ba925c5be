"""The league console's figures from PostgreSQL: day / month / quarter per hall, the monthly ranking (好评率,
差评整改率 within deadline, average wait), 差评 work orders across halls; and their XLSX form."""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any

import psycopg
from openpyxl import Workbook

from hallq.config.region import RegionConfig


def period(kind: str, day: date) -> tuple[date, date]:
    """[first, last] of the day, month or quarter holding `day`."""
    if kind == "day":
        return day, day
    if kind == "month":
        first = day.replace(day=1)
    elif kind == "quarter":
        first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    else:
        raise ValueError("period is day, month or quarter")
    months = 1 if kind == "month" else 3
    m = first.month - 1 + months
    nxt = date(first.year + m // 12, m % 12 + 1, 1)
    return first, date.fromordinal(nxt.toordinal() - 1)


def _rate(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def figures(conn: psycopg.Connection[Any], cfg: RegionConfig, first: date, last: date) -> list[dict[str, Any]]:
    """Per hall over [first, last]: tickets, 好评率, 差评, waits, alerts; 差评 orders and those fed back in time."""
    rows = {r[0]: r for r in conn.execute(
        "SELECT hall, sum(issued), sum(served), sum(no_show), sum(rated), sum(good), sum(bad), sum(wait_n), "
        "sum(wait_sum), max(wait_max), sum(alerts_raised), sum(alerts_acknowledged) FROM hallq_rollup_day "
        "WHERE dim = 'hall' AND day BETWEEN %s AND %s GROUP BY hall", (first, last)).fetchall()}
    orders = {r[0]: r for r in conn.execute(
        "SELECT hall, count(*) FILTER (WHERE state <> 'set_aside'), "
        "count(*) FILTER (WHERE state IN ('fed_back', 'revisited') AND fed_back_at::date <= deadline), "
        "count(*) FILTER (WHERE state NOT IN ('fed_back', 'revisited', 'set_aside') AND deadline < current_date), "
        "count(*) FILTER (WHERE forwarded IS NOT NULL) "
        "FROM hallq_workorders WHERE day BETWEEN %s AND %s GROUP BY hall", (first, last)).fetchall()}
    out = []
    for h in cfg.halls:
        r = rows.get(h.id)
        o = orders.get(h.id)
        issued, served, no_show, rated, good, bad, wait_n, wait_sum, wait_max, raised, acked = \
            (r[1:] if r else (0,) * 8 + (None, 0, 0))
        counted, in_time, overdue, forwarded = o[1:] if o else (0, 0, 0, 0)
        out.append({
            "hall": h.id, "name": h.name.model_dump(), "level": h.level, "parent": h.parent,
            "issued": int(issued or 0), "served": int(served or 0), "no_show": int(no_show or 0),
            "rated": int(rated or 0), "good": int(good or 0), "bad": int(bad or 0),
            "good_rate": _rate(good or 0, rated or 0),
            "wait_mean_s": round(wait_sum / wait_n, 1) if wait_n else None,
            "wait_max_s": round(wait_max, 1) if wait_max is not None else None,
            "alerts_raised": int(raised or 0), "alerts_acknowledged": int(acked or 0),
            "orders": int(counted), "orders_rectified_in_time": int(in_time), "orders_overdue": int(overdue),
            "orders_forwarded": int(forwarded), "rectified_rate": _rate(in_time, counted),
        })
    return out


def ranking(conn: psycopg.Connection[Any], cfg: RegionConfig, month: date) -> list[dict[str, Any]]:
    """The month's ranking: 好评率 (higher first), then 差评整改率 within deadline (a hall without 差评 counts as 1),
    then average wait (shorter first). Halls without rated tickets come last."""
    first, last = period("month", month)
    figs = figures(conn, cfg, first, last)

    def key(f: dict[str, Any]) -> tuple[int, float, float, float]:
        return (0 if f["good_rate"] is not None else 1, -(f["good_rate"] or 0.0),
                -(f["rectified_rate"] if f["rectified_rate"] is not None else 1.0),
                f["wait_mean_s"] if f["wait_mean_s"] is not None else float("inf"))
    ranked = sorted(figs, key=key)
    for i, f in enumerate(ranked, 1):
        f["rank"] = i
    return ranked


def workorders(conn: psycopg.Connection[Any], state: str = "open", limit: int = 500) -> list[dict[str, Any]]:
    where = "" if state == "all" else "WHERE state NOT IN ('revisited', 'set_aside')"
    rows = conn.execute(
        'SELECT hall, id, ticket, day, "window", staff, unit, service, level, opened_at, deadline, state, '
        f"fed_back_at, forwarded FROM hallq_workorders {where} ORDER BY deadline, hall, id LIMIT %s",  # noqa: S608
        (limit,)).fetchall()
    today = date.today()
    out = []
    for (hall, oid, ticket, day, window, staff, unit, service, level, opened_at, deadline, st, fed_back_at,
         forwarded) in rows:
        out.append({"hall": hall, "id": oid, "ticket": ticket, "date": day.isoformat(), "window": window,
                    "staff": staff, "unit": unit, "service": service, "level": level,
                    "opened_at": opened_at.isoformat(), "deadline": deadline.isoformat(), "state": st,
                    "fed_back_at": fed_back_at.isoformat() if fed_back_at else None, "forwarded": forwarded,
                    "overdue": st in ("pending", "rectifying", "appealed") and deadline < today})
    return out


def alerts(conn: psycopg.Connection[Any], state: str = "open", limit: int = 500) -> list[dict[str, Any]]:
    """电子监察 alerts across halls, newest first."""
    where = "" if state == "all" else "WHERE acknowledged_at IS NULL"
    rows = conn.execute(f'SELECT hall, id, kind, message, at, "window", ticket, acknowledged_at FROM hallq_alerts '
                        f"{where} ORDER BY at DESC LIMIT %s", (limit,)).fetchall()  # noqa: S608
    return [{"hall": h, "id": i, "kind": k, "message": m, "at": at.isoformat(), "window": w, "ticket": t,
             "state": "acknowledged" if ack else "open"} for h, i, k, m, at, w, t, ack in rows]


def longest_waits(conn: psycopg.Connection[Any]) -> dict[str, datetime]:
    """hall -> issue time of its longest-waiting ticket (of its latest day)."""
    rows = conn.execute("SELECT t.hall, min(t.issued_at) FROM hallq_tickets t JOIN (SELECT hall, max(day) AS day "
                        "FROM hallq_tickets GROUP BY hall) d ON d.hall = t.hall AND d.day = t.day "
                        "WHERE t.status = 'waiting' GROUP BY t.hall").fetchall()
    return {r[0]: r[1] for r in rows}


COLUMNS = [("rank", "排名"), ("hall", "大厅"), ("name_zh", "名称"), ("level", "层级"), ("issued", "取号"),
           ("served", "办结"), ("rated", "评价"), ("good", "好评"), ("bad", "差评"), ("good_rate", "好评率"),
           ("orders", "差评工单"), ("orders_rectified_in_time", "按期整改"), ("rectified_rate", "差评整改率"),
           ("wait_mean_s", "平均等候(秒)"), ("alerts_raised", "告警")]


def xlsx(rows: list[dict[str, Any]], title: str) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title[:31]
    cols = [c for c in COLUMNS if c[0] != "rank" or (rows and "rank" in rows[0])]
    ws.append([zh for _k, zh in cols])
    for r in rows:
        ws.append([r["name"]["zh"] if k == "name_zh" else r.get(k) for k, _zh in cols])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
