"""The region's projection of a hall's events (pure): tickets, alerts and 差评 work orders as rows, the same
reading of the log as `hallq report` (controller/report.py), applied in seq order one event at a time."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

from hallq.api import logged_alert_id

TICKET_COLS = ("hall", "day", "number", "service", "priority", "issued_at", "called_at", "resumed_at",
               "finished_at", "status", "window", "staff", "level", "held", "flagged")
ORDER_COLS = ("hall", "id", "ticket", "day", "window", "staff", "unit", "service", "level", "opened_at", "deadline",
              "state", "fed_back_at", "forwarded", "history")
ALERT_COLS = ("hall", "id", "kind", "message", "at", "day", "window", "ticket", "acknowledged_at")


@dataclass
class Changes:
    """Rows a run of events changed, keyed as in PostgreSQL; `days` the (hall, day) rollups to recompute."""

    tickets: dict[tuple[str, date, str], dict[str, Any]] = field(default_factory=dict)
    alerts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    orders: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    days: set[tuple[str, date]] = field(default_factory=set)


def ticket_keys(events: list[dict[str, Any]]) -> set[tuple[date, str]]:
    """(day, number) of every ticket whose row the events read: what to load before `apply`. A ticket the events
    issue before anything else touches it is left out (`ticket.issued` with a `service` writes the whole row)."""
    out: set[tuple[date, str]] = set()
    issued: set[tuple[date, str]] = set()
    for ev in events:
        d = ev.get("date")
        if not isinstance(d, str):
            continue
        try:
            day = date.fromisoformat(d)
        except ValueError:
            continue
        if ev.get("type") == "day.closed":
            with contextlib.suppress(TypeError):         # `apply` skips a no_show it cannot iterate
                out |= {(day, str(n)) for n in ev.get("no_show") or []} - issued
        elif isinstance(ev.get("ticket"), str):
            key = (day, ev["ticket"])
            if key in issued or key in out:
                continue
            if ev.get("type") == "ticket.issued" and "service" in ev:
                issued.add(key)
            else:
                out.add(key)
    return out


def alert_ids(events: list[dict[str, Any]]) -> set[str]:
    return {str(ev["alert"]) for ev in events if ev.get("type") == "alert.acknowledged" and "alert" in ev}


def order_ids(events: list[dict[str, Any]]) -> set[str]:
    return {str(ev["order"]) for ev in events if ev.get("type", "").startswith("workorder.") and "order" in ev}


def apply(hall: str, zone: tzinfo, events: list[dict[str, Any]], ch: Changes) -> None:
    """Apply the hall's events (contiguous, in seq order) to the rows already in `ch` (loaded by the caller)."""
    for ev in events:
        try:
            _one(hall, zone, ev, ch)
        except (KeyError, TypeError, ValueError):
            continue            # a malformed event is kept raw in hallq_events; the projection skips it


def _one(hall: str, zone: tzinfo, ev: dict[str, Any], ch: Changes) -> None:
    typ = ev["type"]
    at = datetime.fromisoformat(ev["at"])
    if typ == "alert.raised":
        aid = logged_alert_id(ev)
        if aid is None:
            return
        day = at.astimezone(zone).date()
        ch.alerts[(hall, aid)] = {"hall": hall, "id": aid, "kind": str(ev.get("kind", "")),
                                  "message": str(ev.get("message", "")), "at": at, "day": day,
                                  "window": ev.get("window"), "ticket": ev.get("ticket"), "acknowledged_at": None}
        ch.days.add((hall, day))
        return
    if typ == "alert.acknowledged":
        a = ch.alerts.get((hall, str(ev.get("alert"))))
        if a is not None:
            a["acknowledged_at"] = at
            ch.days.add((hall, a["day"]))
        return
    if typ == "workorder.opened":
        ch.orders[(hall, ev["order"])] = {
            "hall": hall, "id": ev["order"], "ticket": ev["ticket"], "day": date.fromisoformat(ev["date"]),
            "window": ev.get("window"), "staff": ev.get("staff"), "unit": ev.get("unit"), "service": ev["service"],
            "level": ev["level"], "opened_at": at, "deadline": date.fromisoformat(ev["deadline"]), "state": "pending",
            "fed_back_at": None, "history": [],
            "forwarded": ev["forwarded"] if isinstance(ev.get("forwarded"), dict) else None}   # wo_forward
        return
    if typ == "workorder.changed":
        o = ch.orders.get((hall, ev["order"]))
        if o is None:
            return
        o["state"] = ev["to"]
        o["history"] = [*o["history"], {k: ev[k] for k in ("at", "action", "by", "note", "from", "to") if k in ev}]
        if "deadline" in ev:
            o["deadline"] = date.fromisoformat(ev["deadline"])
        if ev["to"] == "fed_back" and o["fed_back_at"] is None:
            o["fed_back_at"] = at
        return
    d = ev.get("date")
    if not isinstance(d, str):
        return
    day = date.fromisoformat(d)
    if typ == "day.closed":
        for n in ev.get("no_show") or []:
            t = ch.tickets.get((hall, day, str(n)))
            if t is not None:
                t["status"] = "no_show"
                ch.days.add((hall, day))
        return
    number = ev.get("ticket")
    if not isinstance(number, str):
        return
    key = (hall, day, number)
    if typ == "ticket.issued":
        ch.tickets[key] = {"hall": hall, "day": day, "number": number, "service": ev["service"],
                           "priority": ev.get("priority", "normal"), "issued_at": at, "called_at": None,
                           "resumed_at": None, "finished_at": None, "status": "waiting", "window": None,
                           "staff": None, "level": None, "held": False, "flagged": False}
        ch.days.add((hall, day))
        return
    t = ch.tickets.get(key)
    if t is None:
        return
    ch.days.add((hall, day))
    if typ == "ticket.called" and ev.get("callback"):
        t.update(resumed_at=at, status="serving", window=ev["window"], staff=ev.get("staff"))
    elif typ == "ticket.called" and not ev.get("recall"):
        t.update(called_at=at, status="serving", window=ev["window"], staff=ev.get("staff"))
    elif typ == "ticket.finished":
        t.update(finished_at=at, status="finished")
    elif typ == "ticket.skipped":
        t["status"] = "no_show"
    elif typ == "ticket.transferred":
        t.update(service=ev["service"], status="waiting")
    elif typ == "ticket.held":
        t.update(status="held", held=True)
    elif typ == "ticket.cancelled":
        t["status"] = "cancelled"
    elif typ == "evaluation.recorded":
        t.update(level=int(ev["level"]), flagged=bool(ev.get("flags")))
