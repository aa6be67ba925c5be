"""`hallq report`: the day's (or month's) figures, projected from the event log (CONTRACT §3.6).

The data directory is self-sufficient: the configuration comes from the copy the controller
recorded there. Figures are computed only from the hash-chained log; nothing is edited.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from controller.alerts import logged_alert_id
from controller.audit import verify
from controller.store import EventStore
from controller.workorders import CLOSED, OrderState, WorkOrderBook
from hallq.cli import UsageError
from hallq.config import HallConfig, parse_config_text

SKIP_MARGIN = timedelta(days=2)   # records read from before the period, in case the clock was set back


@dataclass
class _T:
    number: str
    service: str
    priority: str
    issued: datetime
    called: datetime | None = None
    finished: datetime | None = None
    status: str = "waiting"
    window: str | None = None
    staff: str | None = None
    level: int | None = None
    flags: tuple[str, ...] = ()
    held: bool = False              # held (挂起) at least once
    resumed: datetime | None = None     # called back after a hold: the serving time starts again here
    held_served_s: float = 0.0          # served before its holds


@dataclass
class _Group:
    issued: int = 0
    served: int = 0
    no_show: int = 0
    held: int = 0
    cancelled: int = 0
    rated: int = 0
    good: int = 0
    bad: int = 0
    rated_served: int = 0
    flagged: int = 0
    waits: list[float] = field(default_factory=list)
    services: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"issued": self.issued, "served": self.served, "no_show": self.no_show, "held": self.held,
                "cancelled": self.cancelled, "rated": self.rated,
                "good": self.good, "bad": self.bad, "unrated": self.served - self.rated_served, "flagged": self.flagged,
                "good_rate": _rate(self.good, self.rated), "bad_rate": _rate(self.bad, self.rated),
                "wait_s": _stats(self.waits), "service_s": _stats(self.services)}


def _rate(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


def _stats(xs: list[float]) -> dict[str, float | None]:
    if not xs:
        return {"mean": None, "p90": None, "max": None}
    s = sorted(xs)
    return {"mean": round(sum(s) / len(s), 1), "p90": round(s[min(len(s) - 1, math.ceil(0.9 * len(s)) - 1)], 1),
            "max": round(s[-1], 1)}


def build_report(data_dir: Path, first: date, last: date, skip: bool = True) -> dict[str, Any]:
    """The period's figures from the log alone. Everything about a ticket happens on or after its day, so
    with `skip` the log is read from the first record written at most SKIP_MARGIN before the period
    (found by bisection: records are appended in time order; the margin covers a clock set back)."""
    store = EventStore(data_dir).open()
    try:
        text = store.latest_config()
        if text is None:
            raise UsageError(f"{data_dir}: no configuration recorded — is this a controller data directory?")
        cfg = parse_config_text(text, str(data_dir / "hallq.sqlite3 (recorded config)"))
        tickets: dict[tuple[str, str], _T] = {}
        orders = WorkOrderBook(cfg)
        overdue: set[str] = set()
        alerts = _Alerts(cfg.zone, first, last)
        lo, hi = first.isoformat(), last.isoformat()
        latest = first
        start = _start_seq(store, datetime.combine(first, time(), cfg.zone) - SKIP_MARGIN) if skip else 0
        for ev in _with_progress(store, first, last, start):
            latest = max(latest, datetime.fromisoformat(ev["at"]).date())
            if ev["type"] == "workorder.opened" or (ev["type"] == "workorder.changed" and ev["order"] in orders.orders):
                orders.apply(ev)                # (orders of tickets before the period were skipped with them)
            elif ev["type"] == "alert.raised" and ev.get("kind") == "workorder_overdue":
                overdue.add(ev["order"])
            if ev["type"] in ("alert.raised", "alert.acknowledged"):
                alerts.apply(ev)
            if lo <= ev.get("date", "") <= hi:
                _project(tickets, ev)
        checkpoint = _period_checkpoint(store, datetime.combine(last + timedelta(days=1), time(), cfg.zone))
    finally:
        store.close()
    rep = _summarise(cfg, first, last, tickets, verify(data_dir).ok)
    rep["checkpoint"] = checkpoint
    rep["work_orders"] = _orders(orders, first, last, overdue, latest)
    rep["alerts"] = alerts.to_json()
    rep["service_names"] = {s.id: s.name.zh for s in cfg.services}
    return rep


def _period_checkpoint(store: EventStore, end: datetime) -> dict[str, Any] | None:
    """The signed checkpoint that covers the whole period: the first made at or after its end (the day change
    signs the day's last event), else the newest so far. Printed with the figures, so a copy of the report
    pins the log it was computed from (CONTRACT §3.8)."""
    rows = store.db.execute("SELECT hall, log, seq, hash, at, key, sig FROM checkpoints ORDER BY n").fetchall()
    keys = ("hall", "log", "seq", "hash", "at", "key", "sig")
    for row in rows:
        if datetime.fromisoformat(row[4]) >= end:
            return dict(zip(keys, row, strict=True))
    return dict(zip(keys, rows[-1], strict=True)) if rows else None


def _start_seq(store: EventStore, since: datetime) -> int:
    """The last seq written before `since` (0: read from the start), by bisection over the seqs."""
    lo, hi = 0, store.head_seq
    while lo < hi:
        mid = (lo + hi + 1) // 2
        at = store.time_at(mid)
        if at is not None and at < since:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _with_progress(store: EventStore, first: date, last: date, start: int = 0) -> Iterator[dict[str, Any]]:
    """The log's events after `start`; for a period longer than a day on a terminal, a progress bar on stderr."""
    total = store.head_seq
    show = last > first and sys.stderr.isatty() and total > start
    for ev in store.events(after=start):
        if show and (ev["seq"] % 2000 == 0 or ev["seq"] == total):
            done = (ev["seq"] - start) / (total - start)
            sys.stderr.write(f"\rhallq report: reading the event log [{'#' * int(done * 30):<30}] {done:4.0%}")
            if ev["seq"] == total:
                sys.stderr.write("\n")
        yield ev


class _Alerts:
    """电子监察 alerts raised in the period (by the hall's local day) and which of them were acknowledged
    by the end of the log."""

    def __init__(self, zone: Any, first: date, last: date) -> None:
        self.zone, self.first, self.last = zone, first, last
        self.raised: dict[str, str] = {}      # id -> kind
        self.acknowledged: set[str] = set()

    def apply(self, ev: dict[str, Any]) -> None:
        if ev["type"] == "alert.acknowledged":
            if ev.get("alert") in self.raised:
                self.acknowledged.add(ev["alert"])
            return
        day = datetime.fromisoformat(ev["at"]).astimezone(self.zone).date()
        aid = logged_alert_id(ev)
        if self.first <= day <= self.last and aid is not None:
            self.raised[aid] = str(ev.get("kind", ""))

    def to_json(self) -> dict[str, Any]:
        kinds: dict[str, dict[str, int]] = defaultdict(lambda: {"raised": 0, "acknowledged": 0, "open": 0})
        for aid, kind in self.raised.items():
            k = kinds[kind]
            k["raised"] += 1
            k["acknowledged" if aid in self.acknowledged else "open"] += 1
        acked = len(self.acknowledged)
        return {"raised": len(self.raised), "acknowledged": acked, "open": len(self.raised) - acked,
                "by_kind": dict(sorted(kinds.items()))}


def _orders(book: WorkOrderBook, first: date, last: date, overdue: set[str], latest: date) -> dict[str, Any]:
    """差评 work orders of the period's tickets: states, 差评整改率 (fed back or revisited / not set aside),
    overdue (an overdue alert was raised, or still open past its deadline when the log ends)."""
    mine = [o for o in book.orders.values() if first <= o.day <= last]
    counted = [o for o in mine if o.state is not OrderState.SET_ASIDE]
    done = [o for o in counted if o.state in (OrderState.FED_BACK, OrderState.REVISITED)]
    late = [o for o in mine if o.id in overdue or (o.state not in CLOSED and o.state is not OrderState.FED_BACK
                                                    and o.deadline < latest)]
    by_state: dict[str, int] = defaultdict(int)
    for o in mine:
        by_state[o.state.value] += 1
    return {"opened": len(mine), "by_state": dict(sorted(by_state.items())), "rectified": len(done),
            "rectified_rate": _rate(len(done), len(counted)), "overdue": len(late),
            "set_aside": by_state.get(OrderState.SET_ASIDE.value, 0),
            "orders": [o.to_json() for o in mine]}


def _project(tickets: dict[tuple[str, str], _T], ev: dict[str, Any]) -> None:
    at = datetime.fromisoformat(ev["at"])
    typ = ev["type"]
    if typ == "day.closed":
        for n in ev["no_show"]:
            t = tickets.get((ev["date"], n))
            if t:
                t.status = "no_show"
        return
    key = (ev["date"], ev.get("ticket", ""))
    if typ == "ticket.issued":
        tickets[key] = _T(ev["ticket"], ev["service"], ev["priority"], at)
        return
    t = tickets.get(key)
    if t is None:
        return
    if typ == "ticket.called" and ev.get("callback"):   # the wait ended at the first call
        t.resumed, t.status, t.window, t.staff = at, "serving", ev["window"], ev.get("staff")
    elif typ == "ticket.called" and not ev.get("recall"):
        t.called, t.status, t.window, t.staff = at, "serving", ev["window"], ev.get("staff")
    elif typ == "ticket.finished":
        t.finished, t.status = at, "finished"
    elif typ == "ticket.skipped":
        t.status = "no_show"
    elif typ == "ticket.transferred":
        t.service, t.status = ev["service"], "waiting"
    elif typ == "ticket.held":
        start = t.resumed or t.called
        if start is not None:
            t.held_served_s += (at - start).total_seconds()
        t.status, t.held = "held", True
    elif typ == "ticket.cancelled":
        t.status = "cancelled"
    elif typ == "evaluation.recorded":
        t.level, t.flags = ev["level"], tuple(ev.get("flags") or ())


def _summarise(cfg: HallConfig, first: date, last: date, tickets: dict[tuple[str, str], _T],
               intact: bool) -> dict[str, Any]:
    total = _Group()
    groups: dict[str, dict[str, _Group]] = {k: defaultdict(_Group) for k in ("service", "window", "staff", "hour")}
    for t in tickets.values():
        keys = {"service": t.service, "window": t.window, "staff": t.staff, "hour": f"{t.issued.hour:02d}"}
        for g in [total] + [groups[k][v] for k, v in keys.items() if v is not None]:
            g.issued += 1
            if t.status == "finished":
                g.served += 1
                if t.level is not None:
                    g.rated_served += 1
            if t.status == "no_show":
                g.no_show += 1
            g.held += t.held
            g.cancelled += t.status == "cancelled"
            if t.level is not None:
                g.rated += 1
                g.good += t.level >= 3
                g.bad += t.level <= 2
                g.flagged += bool(t.flags)
            if t.called:
                g.waits.append((t.called - t.issued).total_seconds())
            if t.called and t.finished:   # serving time: without the time the ticket was held
                g.services.append(t.held_served_s + (t.finished - (t.resumed or t.called)).total_seconds())
    unrated = total.served - total.rated_served
    return {
        "date": first.isoformat(), "until": last.isoformat(), "hall": {"id": cfg.hall.id, "name": cfg.hall.name.zh},
        "log_intact": intact,
        "tickets": {"issued": total.issued, "served": total.served, "no_show": total.no_show,
                    "held": total.held, "cancelled": total.cancelled,
                    "green": sum(t.priority == "green" for t in tickets.values())},
        "evaluations": {"rated": total.rated, "unrated": unrated, "good": total.good, "bad": total.bad,
                        "good_rate": _rate(total.good, total.rated), "bad_rate": _rate(total.bad, total.rated),
                        "unrated_rate": _rate(unrated, total.served),
                        "active_rate": _rate(total.rated_served, total.served), "flagged": total.flagged,
                        "flags": _flag_counts(tickets)},
        "wait_s": _stats(total.waits), "service_s": _stats(total.services),
        **{f"by_{k}": {name: g.to_json() for name, g in sorted(v.items())} for k, v in groups.items()},
    }


def _flag_counts(tickets: dict[tuple[str, str], _T]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for t in tickets.values():
        for f in t.flags:
            counts[f] += 1
    return dict(sorted(counts.items()))


def _flat_rows(rep: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = [["section", "key", "metric", "value"]]
    for sec in ("tickets", "evaluations", "work_orders", "alerts"):
        for k, v in rep[sec].items():
            if isinstance(v, dict):
                for kk, vv in v.items():
                    rows += [[sec, "", f"{k}.{kk}.{m}", x] for m, x in vv.items()] if isinstance(vv, dict) \
                        else [[sec, "", f"{k}.{kk}", vv]]
            elif not isinstance(v, list):
                rows.append([sec, "", k, v])
    for k in ("wait_s", "service_s"):
        rows += [[k, "", m, v] for m, v in rep[k].items()]
    for sec in ("by_service", "by_window", "by_staff", "by_hour"):
        for key, g in rep[sec].items():
            for m, v in g.items():
                if isinstance(v, dict):
                    rows += [[sec, key, f"{m}.{mm}", vv] for mm, vv in v.items()]
                else:
                    rows.append([sec, key, m, v])
    rows.append(["audit", "", "log_intact", rep["log_intact"]])
    if rep.get("checkpoint"):
        rows += [["audit", "", f"checkpoint.{k}", rep["checkpoint"][k]]
                 for k in ("log", "seq", "hash", "at", "key", "sig")]
    return rows


def _csv_text(v: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe (CSV has no types)."""
    if isinstance(v, str) and v[:1] in ("=", "+", "@", "\t", "\r", "-") and not _NUMBER.fullmatch(v):
        return "'" + v
    return v


_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _brief(v: Any) -> str:
    return " / ".join(f"{k} {x}" for k, x in v.items()) if isinstance(v, dict) else str(v)


def write_xlsx(rep: dict[str, Any], out: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference

    wb = Workbook()
    ws = wb.active
    ws.title = "汇总 Summary"
    period = rep["date"] if rep["until"] == rep["date"] else f"{rep['date']} … {rep['until']}"
    ws.append([f"{rep['hall']['name']} — {period}"])
    for sec in ("tickets", "evaluations", "work_orders", "alerts"):
        for k, v in rep[sec].items():
            if isinstance(v, dict):
                ws.append([sec, k, ", ".join(f"{kk} {_brief(vv)}" for kk, vv in v.items())])
            elif not isinstance(v, list):
                ws.append([sec, k, v])
    cp = rep.get("checkpoint")
    ws.append(["audit", "log_intact", rep["log_intact"]])
    if cp:   # the signed checkpoint the figures were computed up to: anyone can check it with the hall's key
        for k in ("log", "seq", "hash", "at", "key", "sig"):
            ws.append(["audit", f"checkpoint.{k}", cp[k]])
    orders = wb.create_sheet("差评工单 Work orders")
    orders.append(["order", "ticket", "window", "staff", "unit", "level", "opened", "deadline", "state"])
    for o in rep["work_orders"]["orders"]:
        orders.append([o["id"], o["ticket"], o["window"], o["staff"], o["unit"], o["level"], o["opened_at"],
                       o["deadline"], o["state_zh"]])
    titles = {"by_service": "事项 Service", "by_window": "窗口 Window", "by_staff": "人员 Staff",
              "by_hour": "时段 Hour"}
    for sec, title in titles.items():
        sh = wb.create_sheet(title)
        sh.append([title, "issued", "served", "no_show", "rated", "good", "bad", "good_rate", "bad_rate",
                   "wait_mean_s", "wait_p90_s", "service_mean_s"])
        for key, g in rep[sec].items():
            sh.append([key, g["issued"], g["served"], g["no_show"], g["rated"], g["good"], g["bad"], g["good_rate"],
                       g["bad_rate"], g["wait_s"]["mean"], g["wait_s"]["p90"], g["service_s"]["mean"]])
        n = len(rep[sec])
        if n:
            chart = BarChart()
            chart.title = f"{title}: issued / served"
            chart.add_data(Reference(sh, min_col=2, max_col=3, min_row=1, max_row=n + 1), titles_from_data=True)
            chart.set_categories(Reference(sh, min_col=1, min_row=2, max_row=n + 1))
            sh.add_chart(chart, "N2")
    for sheet in wb.worksheets:   # stored text is data: "=…" written by a rater or in a name never becomes a formula
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    cell.data_type = "s"
    wb.save(out)


def run(args: argparse.Namespace) -> int:
    try:
        day = date.fromisoformat(args.date)
    except ValueError:
        raise UsageError(f"--date {args.date!r} is not a date YYYY-MM-DD") from None
    data = Path(args.data)
    if not (data / "hallq.sqlite3").exists():
        raise UsageError(f"--data {data}: no event log here — give the controller's data directory")
    first, last = day, day
    if getattr(args, "month", False):
        first = day.replace(day=1)
        following = first.replace(year=first.year + (first.month == 12), month=first.month % 12 + 1)
        last = following - timedelta(days=1)
    rep = build_report(data, first, last)
    out = Path(args.out)
    if args.format == "json":
        out.write_text(json.dumps(rep, ensure_ascii=False, indent=2), encoding="utf-8")
    elif args.format == "csv":
        with out.open("w", newline="", encoding="utf-8-sig") as f:
            csv.writer(f).writerows([[_csv_text(v) for v in row] for row in _flat_rows(rep)])
    elif args.format == "png":
        from controller.report_png import write_png

        write_png(rep, out)
    else:
        write_xlsx(rep, out)
    if not rep["log_intact"]:
        sys.stderr.write(f"hallq report: warning: the event log in {data} does not verify — run "
                         f"'hallq audit verify --data {data}'\n")
    return 0
