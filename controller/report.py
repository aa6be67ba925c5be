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
from array import array
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from controller.audit import verify
from controller.model import OrderState
from controller.store import EventStore
from controller.workorders import CLOSED, WorkOrderBook
from hallq.api import logged_alert_id
from hallq.config import HallConfig, parse_config_text
from hallq.errors import UsageError
from hallq.periods import period_range

SKIP_MARGIN = timedelta(days=2)   # records read from before the period, in case the clock was set back
KEEP_DAYS = 21                    # a ticket is folded into the figures this many days after its own (ratings
                                  # come up to evaluation.supplement_working_days after service)


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
    slot_from: datetime | None = None   # an appointment's slot (priority appointment)
    slot_to: datetime | None = None


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
    within_target: int = 0
    waits: array[float] = field(default_factory=lambda: array("d"))       # 8 bytes a ticket, not 32
    services: array[float] = field(default_factory=lambda: array("d"))

    def to_json(self) -> dict[str, Any]:
        return {"issued": self.issued, "served": self.served, "no_show": self.no_show, "held": self.held,
                "cancelled": self.cancelled, "rated": self.rated,
                "good": self.good, "bad": self.bad, "unrated": self.served - self.rated_served, "flagged": self.flagged,
                "good_rate": _rate(self.good, self.rated), "bad_rate": _rate(self.bad, self.rated),
                "wait_s": _stats(self.waits), "service_s": _stats(self.services),
                "within_target": self.within_target,
                "within_target_rate": _rate(self.within_target, len(self.services))}


def _rate(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


def _stats(xs: array[float] | list[float]) -> dict[str, float | None]:
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
        figures = _Figures(cfg)
        attendance = _Attendance(cfg, first, last)
        orders = WorkOrderBook(cfg)
        overdue: set[str] = set()
        alerts = _Alerts(cfg.zone, first, last)
        lo, hi = first.isoformat(), last.isoformat()
        latest = first
        start = _start_seq(store, datetime.combine(first, time(), cfg.zone) - SKIP_MARGIN) if skip else 0
        folded_to = first
        for ev in _with_progress(store, first, last, start):
            latest = max(latest, datetime.fromisoformat(ev["at"]).date())
            if latest - timedelta(days=KEEP_DAYS) > folded_to:        # once a day: old tickets become figures
                folded_to = latest - timedelta(days=KEEP_DAYS)
                figures.fold(tickets, folded_to.isoformat())
            attendance.apply(ev)
            if (ev["type"] == "workorder.opened" and lo <= ev.get("date", "") <= hi) or (
                    ev["type"] == "workorder.changed" and ev["order"] in orders.orders):
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
    figures.fold(tickets, None)
    rep = _summarise(cfg, first, last, figures, verify(data_dir).ok)
    rep["checkpoint"] = checkpoint
    rep["attendance"] = attendance.to_json()
    rep["rankings"] = _rankings(rep)
    rep["alert_ledger"] = alerts.ledger()
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
        self.rows: dict[str, dict[str, Any]] = {}   # the 电子监察台账: every alert of the period and its handling

    def apply(self, ev: dict[str, Any]) -> None:
        if ev["type"] == "alert.acknowledged":
            if ev.get("alert") in self.raised:
                self.acknowledged.add(ev["alert"])
                row = self.rows[ev["alert"]]
                row.update(ack_at=ev["at"], ack_by=ev.get("actor") or ev.get("by") or ev.get("principal"),
                           ack_note=ev.get("note"),
                           ack_after_s=round((datetime.fromisoformat(ev["at"])
                                              - datetime.fromisoformat(row["at"])).total_seconds()))
            return
        day = datetime.fromisoformat(ev["at"]).astimezone(self.zone).date()
        aid = logged_alert_id(ev)
        if self.first <= day <= self.last and aid is not None:
            self.raised[aid] = str(ev.get("kind", ""))
            self.rows[aid] = {"id": aid, "at": ev["at"], "kind": str(ev.get("kind", "")),
                              "window": ev.get("window"), "ticket": ev.get("ticket"), "staff": ev.get("staff"),
                              "message": ev.get("message"), "escalated": False, "ack_at": None, "ack_by": None,
                              "ack_note": None, "ack_after_s": None}
            of = ev.get("of")
            if ev.get("kind") == "alert_escalated" and isinstance(of, str) and of in self.rows:
                self.rows[of]["escalated"] = True

    def ledger(self) -> list[dict[str, Any]]:
        return list(self.rows.values())

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
        tickets[key] = t = _T(ev["ticket"], ev["service"], ev["priority"], at)
        if ev.get("slot_from") and ev.get("slot_to"):
            t.slot_from, t.slot_to = datetime.fromisoformat(ev["slot_from"]), datetime.fromisoformat(ev["slot_to"])
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


class _Figures:
    """The period's figures, folded ticket by ticket: a ticket leaves memory once nothing can change it."""

    def __init__(self, cfg: HallConfig) -> None:
        self.total = _Group()
        self.groups: dict[str, dict[str, _Group]] = {k: defaultdict(_Group)
                                                     for k in ("service", "window", "staff", "hour", "day")}
        self.green = 0
        self.appointments = _Appointments(cfg)
        self.flags: dict[str, int] = defaultdict(int)
        self.target = {s.id: _target_s(cfg, s) for s in cfg.services}

    def fold(self, tickets: dict[tuple[str, str], _T], before: str | None) -> None:
        """Fold the tickets of days before `before` (all when None) into the figures and forget them."""
        for key in [k for k in tickets if before is None or k[0] < before]:
            self.add(key[0], tickets.pop(key))

    def add(self, day: str, t: _T) -> None:
        self.green += t.priority == "green"
        if t.priority == "appointment":
            self.appointments.add(t)
        for f in t.flags:
            self.flags[f] += 1
        keys = {"service": t.service, "window": t.window, "staff": t.staff, "hour": f"{t.issued.hour:02d}",
                "day": day}
        for g in [self.total] + [self.groups[k][v] for k, v in keys.items() if v is not None]:
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
                served_s = t.held_served_s + (t.finished - (t.resumed or t.called)).total_seconds()
                g.services.append(served_s)
                g.within_target += served_s <= self.target.get(t.service, math.inf)


class _Appointments:
    """Checked-in appointments (priority appointment): on time = checked in no later than `appointments.late_min`
    after the slot's start (a later one was served as a walk-in); served within the slot = called between
    `appointments.early_min` before its start and its end. A ticket without a slot is on time and within it."""

    def __init__(self, cfg: HallConfig) -> None:
        self.late = timedelta(minutes=cfg.appointments.late_min)
        self.early = timedelta(minutes=cfg.appointments.early_min)
        self.checked_in = self.on_time = self.served = self.within_slot = 0

    def add(self, t: _T) -> None:
        self.checked_in += 1
        self.on_time += t.slot_from is None or t.issued <= t.slot_from + self.late
        if t.called is not None:
            self.served += 1
            self.within_slot += t.slot_from is None or t.slot_to is None or \
                t.slot_from - self.early <= t.called <= t.slot_to

    def to_json(self) -> dict[str, Any]:
        return {"checked_in": self.checked_in, "on_time": self.on_time, "late": self.checked_in - self.on_time,
                "served": self.served, "served_within_slot": self.within_slot,
                "on_time_rate": _rate(self.on_time, self.checked_in),
                "within_slot_rate": _rate(self.within_slot, self.checked_in)}


def _target_s(cfg: HallConfig, s: Any) -> float:
    """A service's target serving time: its `target_service_s`, else the supervision's long-service limit."""
    own = getattr(s, "target_service_s", None)
    return float(own) if own else float(cfg.supervision.service_alert_s)


def _summarise(cfg: HallConfig, first: date, last: date, fig: _Figures, intact: bool) -> dict[str, Any]:
    total, groups = fig.total, fig.groups
    unrated = total.served - total.rated_served
    return {
        "date": first.isoformat(), "until": last.isoformat(), "hall": {"id": cfg.hall.id, "name": cfg.hall.name.zh},
        "log_intact": intact,
        "tickets": {"issued": total.issued, "served": total.served, "no_show": total.no_show,
                    "held": total.held, "cancelled": total.cancelled,
                    "green": fig.green},
        "appointments": fig.appointments.to_json(),
        "evaluations": {"rated": total.rated, "unrated": unrated, "good": total.good, "bad": total.bad,
                        "good_rate": _rate(total.good, total.rated), "bad_rate": _rate(total.bad, total.rated),
                        "unrated_rate": _rate(unrated, total.served),
                        "active_rate": _rate(total.rated_served, total.served), "flagged": total.flagged,
                        "flags": dict(sorted(fig.flags.items()))},
        "wait_s": _stats(total.waits), "service_s": _stats(total.services),
        **{f"by_{k}": {name: g.to_json() for name, g in sorted(v.items())} for k, v in groups.items()},
    }


RANK_KEYS = ("served", "rated", "good_rate", "bad", "bad_rate", "service_mean_s", "within_target_rate")


def _rankings(rep: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Windows and staff ranked (一月一评比): 好评率 high first, then fewer 差评, more served, shorter service."""
    out: dict[str, list[dict[str, Any]]] = {}
    for what in ("window", "staff"):
        rows = []
        for key, g in rep[f"by_{what}"].items():
            if not g["served"] and not g["rated"]:
                continue
            rows.append({"key": key, "served": g["served"], "rated": g["rated"], "good_rate": g["good_rate"],
                         "bad": g["bad"], "bad_rate": g["bad_rate"], "service_mean_s": g["service_s"]["mean"],
                         "within_target_rate": g["within_target_rate"]})
        rows.sort(key=lambda r: (-r["good_rate"], r["bad"], -r["served"], r["service_mean_s"] or 0.0, r["key"]))
        for i, r in enumerate(rows, 1):
            r["rank"] = i
        out[what] = rows
    return out


class _Attendance:
    """Staff attendance from the window events: logged-in time, pauses by reason, serving time and idle time
    (logged in, neither serving nor paused) within opening hours. A session still open when its day ends is
    closed at midnight. Only time inside the period counts."""

    def __init__(self, cfg: HallConfig, first: date, last: date) -> None:
        self.cfg, self.zone = cfg, cfg.zone
        self.lo = datetime.combine(first, time(), cfg.zone)
        self.hi = datetime.combine(last + timedelta(days=1), time(), cfg.zone)
        self.at: dict[str, tuple[str | None, str, str | None, datetime]] = {}  # window -> staff, state, reason, since
        self.serving: dict[str, bool] = {}
        self.staff: dict[str, dict[str, Any]] = {}

    def _row(self, staff: str) -> dict[str, Any]:
        row = self.staff.get(staff)
        if row is None:
            row = self.staff[staff] = {"logged_in_s": 0.0, "serving_s": 0.0, "paused_s": 0.0, "idle_s": 0.0,
                                       "idle_in_hours_s": 0.0, "pauses": 0, "pauses_by_reason": defaultdict(float),
                                       "sessions": 0, "windows": set()}
        return row

    def _credit(self, window: str, until: datetime) -> None:
        cur = self.at.get(window)
        if cur is None:
            return
        staff, state, reason, since = cur
        if staff is None:
            return
        a, b = max(since, self.lo), min(until, self.hi)
        if b > a:
            row, secs = self._row(staff), (b - a).total_seconds()
            row["logged_in_s"] += secs
            row[f"{state}_s"] += secs
            if state == "paused":
                row["pauses_by_reason"][reason or "—"] += secs
            if state == "idle":
                row["idle_in_hours_s"] += self._in_hours(a, b)
        self.at[window] = (staff, state, reason, until)

    def _in_hours(self, a: datetime, b: datetime) -> float:
        hours = self.cfg.hours
        if hours is None:
            return (b - a).total_seconds()
        total = 0.0
        day = a.astimezone(self.zone).date()
        while datetime.combine(day, time(), self.zone) < b:
            for s, e in hours.spans_on(day):
                lo = max(a, datetime.combine(day, s, self.zone))
                hi = min(b, datetime.combine(day, e, self.zone))
                total += max(0.0, (hi - lo).total_seconds())
            day += timedelta(days=1)
        return total

    def apply(self, ev: dict[str, Any]) -> None:
        typ, w = ev["type"], ev.get("window")
        if not isinstance(w, str) or not (typ.startswith("window.") or typ.startswith("ticket.")):
            return
        at = datetime.fromisoformat(ev["at"])
        cur = self.at.get(w)
        if cur is not None and cur[0] is not None:
            midnight = datetime.combine(cur[3].astimezone(self.zone).date() + timedelta(days=1), time(), self.zone)
            if at >= midnight:                      # nobody logged out yesterday: the session ended at midnight
                self._credit(w, midnight)
                self.at[w] = (None, "idle", None, midnight)
                self.serving[w] = False
                cur = self.at[w]
        self._credit(w, at)
        staff = cur[0] if cur else None
        if typ == "window.login":
            who = str(ev["staff"])
            self.at[w] = (who, "idle", None, at)
            self.serving[w] = False
            if self.lo <= at < self.hi:
                row = self._row(who)
                row["sessions"] += 1
                row["windows"].add(w)
        elif typ == "window.logout":
            self.at[w] = (None, "idle", None, at)
        elif staff is None:
            return
        elif typ == "window.paused":
            self.at[w] = (staff, "paused", ev.get("reason"), at)
            if self.lo <= at < self.hi:
                self._row(staff)["pauses"] += 1
        elif typ == "window.resumed":
            self.at[w] = (staff, "serving" if self.serving.get(w) else "idle", None, at)
        elif typ == "ticket.called":
            self.serving[w] = True
            if cur is not None and cur[1] != "paused":
                self.at[w] = (staff, "serving", None, at)
        elif typ in ("ticket.finished", "ticket.skipped", "ticket.held", "ticket.transferred"):
            self.serving[w] = False
            if cur is not None and cur[1] != "paused":
                self.at[w] = (staff, "idle", None, at)

    def to_json(self) -> dict[str, dict[str, Any]]:
        for w in list(self.at):             # whoever is still logged in: up to the log's end or the period's
            cur = self.at[w]
            if cur[0] is not None:
                end = datetime.combine(cur[3].astimezone(self.zone).date() + timedelta(days=1), time(), self.zone)
                self._credit(w, min(end, max(cur[3], datetime.now(self.zone))))
        out = {}
        for staff, row in sorted(self.staff.items()):
            out[staff] = {**{k: round(v, 1) for k, v in row.items() if k.endswith("_s")},
                          "sessions": row["sessions"], "pauses": row["pauses"], "windows": sorted(row["windows"]),
                          "pauses_by_reason": {k: round(v, 1) for k, v in sorted(row["pauses_by_reason"].items())}}
        return out


def _flat_rows(rep: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = [["section", "key", "metric", "value"]]
    for sec in ("tickets", "appointments", "evaluations", "work_orders", "alerts"):
        for k, v in rep.get(sec, {}).items():
            if isinstance(v, dict):
                for kk, vv in v.items():
                    rows += [[sec, "", f"{k}.{kk}.{m}", x] for m, x in vv.items()] if isinstance(vv, dict) \
                        else [[sec, "", f"{k}.{kk}", vv]]
            elif not isinstance(v, list):
                rows.append([sec, "", k, v])
    for k in ("wait_s", "service_s"):
        rows += [[k, "", m, v] for m, v in rep[k].items()]
    for sec in ("by_service", "by_window", "by_staff", "by_hour", "by_day"):
        for key, g in rep[sec].items():
            for m, v in g.items():
                if isinstance(v, dict):
                    rows += [[sec, key, f"{m}.{mm}", vv] for mm, vv in v.items()]
                else:
                    rows.append([sec, key, m, v])
    for what, ranked in rep["rankings"].items():
        for r in ranked:
            rows += [[f"ranking_{what}", r["key"], m, r[m]] for m in ("rank", *RANK_KEYS)]
    for staff, a in rep["attendance"].items():
        for m, v in a.items():
            if isinstance(v, dict):
                rows += [["attendance", staff, f"{m}.{k}", x] for k, x in v.items()]
            else:
                rows.append(["attendance", staff, m, " ".join(v) if isinstance(v, list) else v])
    for a in rep["alert_ledger"]:
        rows += [["alert_ledger", a["id"], m, v] for m, v in a.items() if m != "id"]
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
    for sec in ("tickets", "appointments", "evaluations", "work_orders", "alerts"):
        for k, v in rep.get(sec, {}).items():
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
    for what, title in (("window", "窗口排名 Window ranking"), ("staff", "人员排名 Staff ranking")):
        sh = wb.create_sheet(title)
        sh.append(["rank", what, "served", "rated", "好评率 good_rate", "差评 bad", "bad_rate", "service_mean_s",
                   "within_target_rate"])
        for r in rep["rankings"][what]:
            sh.append([r["rank"], r["key"], r["served"], r["rated"], r["good_rate"], r["bad"], r["bad_rate"],
                       r["service_mean_s"], r["within_target_rate"]])
    att = wb.create_sheet("考勤 Attendance")
    att.append(["staff", "windows", "sessions", "logged_in_s", "serving_s", "paused_s", "pauses", "idle_s",
                "idle_in_hours_s", "pauses_by_reason"])
    for staff, a in rep["attendance"].items():
        att.append([staff, " ".join(a["windows"]), a["sessions"], a["logged_in_s"], a["serving_s"], a["paused_s"],
                    a["pauses"], a["idle_s"], a["idle_in_hours_s"],
                    ", ".join(f"{k} {v}" for k, v in a["pauses_by_reason"].items())])
    led = wb.create_sheet("电子监察台账 Alerts")
    keys = ["id", "at", "kind", "window", "ticket", "staff", "message", "escalated", "ack_at", "ack_by", "ack_note",
            "ack_after_s"]
    led.append(keys)
    for a in rep["alert_ledger"]:
        led.append([a[k] for k in keys])
    titles = {"by_service": "事项 Service", "by_window": "窗口 Window", "by_staff": "人员 Staff",
              "by_hour": "时段 Hour", "by_day": "日 Day"}
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


def _day_arg(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a date YYYY-MM-DD") from None


def period_of(args: argparse.Namespace) -> tuple[date, date]:
    """The report's period from --date with --week/--month/--quarter, or --from/--to."""
    day = _day_arg(getattr(args, "date", None), "--date")
    lo, hi = _day_arg(getattr(args, "from_", None), "--from"), _day_arg(getattr(args, "to", None), "--to")
    chosen = [p for p in ("week", "month", "quarter") if getattr(args, p, False)]
    if len(chosen) > 1:
        raise UsageError(f"give one of --week, --month, --quarter, not {' and '.join('--' + p for p in chosen)}")
    if lo or hi:
        if day or chosen:
            raise UsageError("give either --from/--to or --date (with --week, --month or --quarter), not both")
        first, last = lo or hi, hi or lo
        assert first is not None and last is not None
        if last < first:
            raise UsageError(f"--to {last} is before --from {first}")
        return first, last
    if day is None:
        raise UsageError("give --date YYYY-MM-DD (with --week, --month or --quarter) or --from/--to")
    return period_range(chosen[0] if chosen else "day", day)


def run(args: argparse.Namespace) -> int:
    first, last = period_of(args)
    data = Path(args.data)
    if not (data / "hallq.sqlite3").exists():
        raise UsageError(f"--data {data}: no event log here — give the controller's data directory")
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
