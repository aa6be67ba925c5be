"""差评 work orders: every bad review opens one, routed to the unit that served (谁办理谁负责).

States and transitions are one table (`TRANSITIONS`): 待核实 → 整改中 → 已反馈 → 已回访, and the appeal
path (申诉复核: 误评 / 恶意差评) that only a reviewer other than the rated staff member can decide. Every
transition is an event in the log (`workorder.opened`, `workorder.changed`); the book is rebuilt from
them. Pure: commands and time come in, events go out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from controller.calendar import add_working_days
from controller.commands import WoAppeal, WoDecide, WoFeedback, WoForward, WoRevisit, WorkOrderCommand, WoVerify
from controller.events import AlertRaised, HallEvent, WorkorderChanged, WorkorderOpened
from controller.model import CommandFailed, OrderState, Ticket
from hallq.config import HallConfig

NAMES_ZH = {OrderState.PENDING: "待核实", OrderState.RECTIFYING: "整改中", OrderState.FED_BACK: "已反馈",
            OrderState.REVISITED: "已回访", OrderState.APPEALED: "申诉复核中", OrderState.SET_ASIDE: "申诉成立"}
CLOSED = frozenset({OrderState.REVISITED, OrderState.SET_ASIDE})
APPEAL_REASONS = ("误评", "恶意差评")
_REF = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")       # the league's id of a forwarded complaint (wo_forward)

# command -> (states it may start from, the state it leads to; None = decided by the command)
TRANSITIONS: dict[str, tuple[frozenset[OrderState], OrderState | None]] = {
    "wo_verify": (frozenset({OrderState.PENDING}), OrderState.RECTIFYING),
    "wo_feedback": (frozenset({OrderState.RECTIFYING}), OrderState.FED_BACK),
    "wo_revisit": (frozenset({OrderState.FED_BACK}), OrderState.REVISITED),
    "wo_appeal": (frozenset({OrderState.PENDING, OrderState.RECTIFYING}), OrderState.APPEALED),
    "wo_decide": (frozenset({OrderState.APPEALED}), None),
}


@dataclass
class WorkOrder:
    id: str
    ticket: str
    day: date
    window: str | None
    staff: str | None
    unit: str | None
    service: str
    level: int
    opened_at: datetime
    deadline: date
    state: OrderState = OrderState.PENDING
    complex: bool = False
    before_appeal: OrderState | None = None
    appellant: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    forwarded: dict[str, Any] | None = None       # set when the league forwarded it (wo_forward)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "ticket": self.ticket, "date": self.day.isoformat(), "window": self.window,
                "staff": self.staff, "unit": self.unit, "service": self.service, "level": self.level,
                "opened_at": self.opened_at.isoformat(), "deadline": self.deadline.isoformat(),
                "state": self.state.value, "state_zh": NAMES_ZH[self.state], "complex": self.complex,
                "history": self.history, **({"forwarded": self.forwarded} if self.forwarded else {})}


def order_id(day: date, number: str) -> str:
    return f"WO-{day.isoformat()}-{number}"


class WorkOrderBook:
    def __init__(self, cfg: HallConfig) -> None:
        self.cfg = cfg
        self.orders: dict[str, WorkOrder] = {}
        self._units = {s.id: s.unit for s in cfg.staff}

    # -- events --------------------------------------------------------------------------------
    def apply(self, ev: HallEvent | Mapping[str, Any]) -> None:
        if not isinstance(ev, HallEvent):
            ev = HallEvent.from_json(ev)
        if isinstance(ev, WorkorderOpened):
            self.orders[ev.order] = WorkOrder(ev.order, ev.ticket, ev.date, ev.window, ev.staff, ev.unit, ev.service,
                                              ev.level, ev.at, ev.deadline, forwarded=ev.forwarded)
        elif isinstance(ev, WorkorderChanged):
            o = self.orders[ev.order]
            o.state = ev.to
            step = {"at": ev.at.isoformat(), "action": ev.action, "by": ev.by, "note": ev.note,
                    "from": ev.from_.value if ev.from_ is not None else None, "to": ev.to.value}
            o.history.append(step if ev.keys is None else {k: v for k, v in step.items() if k in ev.keys})
            if ev.deadline is not None:
                o.deadline = ev.deadline
            if ev.complex is not None:
                o.complex = bool(ev.complex)
            if ev.action == "wo_appeal":
                o.before_appeal, o.appellant = ev.from_, ev.by

    # -- opening -------------------------------------------------------------------------------
    def open_for(self, now: datetime, ticket: str, day: date, window: str | None, staff: str | None, service: str,
                 level: int) -> WorkorderOpened:
        """The `workorder.opened` event for a 差评 just recorded (deadline: simple case)."""
        opened = now.astimezone(self.cfg.zone).date()
        deadline = add_working_days(opened, self.cfg.evaluation.workorder_days_simple)
        return WorkorderOpened(at=now, order=order_id(day, ticket), ticket=ticket, date=day, window=window,
                               staff=staff, unit=self._units.get(staff or ""), service=service, level=level,
                               deadline=deadline)

    def forward(self, c: WoForward, now: datetime, day: date, ticket: Ticket | None) -> WorkorderOpened:
        """`wo_forward`: the `workorder.opened` of a 差评 the league forwarded (id `WO-R-{ref}`); the named
        ticket's service, window and staff when there is one (谁办理谁负责), else the command's."""
        if not _REF.match(c.ref):
            raise CommandFailed("BAD_REQUEST", "wo_forward: 'ref' is 1-64 of A-Z a-z 0-9 _ . -")
        oid = f"WO-R-{c.ref}"
        if oid in self.orders:
            raise CommandFailed("ALREADY_FORWARDED", f"the league's {c.ref} was forwarded before: work order {oid}")
        level = 1 if c.level is None else c.level
        if level not in (1, 2):
            raise CommandFailed("BAD_REQUEST", "wo_forward: 'level' is 1 or 2 (a 差评)")
        service = ticket.service if ticket is not None else c.service
        if service is None:
            raise CommandFailed("BAD_REQUEST", "wo_forward: name the 'ticket', or the 'service' it concerns")
        window = ticket.window if ticket is not None else c.window
        staff = ticket.staff if ticket is not None else c.staff
        opened = now.astimezone(self.cfg.zone).date()
        deadline = c.deadline or add_working_days(opened, self.cfg.evaluation.workorder_days_simple)
        forwarded = {"ref": c.ref, "channel": c.channel or "region", "note": c.note, "by": c.by}
        return WorkorderOpened(at=now, order=oid, ticket=c.ticket or c.ref, date=day, window=window, staff=staff,
                               unit=self._units.get(staff or ""), service=service, level=level, deadline=deadline,
                               source="region", forwarded=forwarded)

    # -- commands ------------------------------------------------------------------------------
    def command(self, c: WorkOrderCommand, now: datetime) -> WorkorderChanged:
        """The `workorder.changed` event of a work order command, or CommandFailed."""
        name, order, by, note = c.NAME, c.order, c.by, c.note
        o = self.orders.get(order)
        if o is None:
            raise CommandFailed("UNKNOWN_ORDER", f"no work order {order!r} (ids look like WO-2026-11-23-A012)")
        allowed, target = TRANSITIONS[name]
        if o.state not in allowed:
            starts = ", ".join(NAMES_ZH[s] for s in sorted(allowed))
            raise CommandFailed("BAD_STATE", f"work order {order} is {NAMES_ZH[o.state]} ({o.state.value}); "
                                f"'{name}' needs it to be {starts}")
        extra: dict[str, Any] = {}
        if isinstance(c, WoVerify):
            if not note:
                raise CommandFailed("BAD_REQUEST", "wo_verify: 'note' (what the verification found) is required")
            if c.complex:
                days = self.cfg.evaluation.workorder_days_complex
                extra["complex"] = True
                extra["deadline"] = add_working_days(o.opened_at.astimezone(self.cfg.zone).date(), days)
        elif isinstance(c, WoFeedback) and not note:
            raise CommandFailed("BAD_REQUEST", "wo_feedback: 'note' (what was rectified or explained to the rater) "
                                "is required")
        elif isinstance(c, WoRevisit) and c.satisfied is not None:
            extra["satisfied"] = c.satisfied
        elif isinstance(c, WoAppeal):
            if c.reason not in APPEAL_REASONS:
                raise CommandFailed("BAD_REQUEST", f"wo_appeal: 'reason' must be one of {', '.join(APPEAL_REASONS)}")
            extra["reason"] = c.reason
        elif isinstance(c, WoDecide):
            if by in (o.staff, o.appellant):
                raise CommandFailed("NOT_ALLOWED", f"work order {order}: the appeal must be reviewed by someone "
                                    f"other than the staff member rated ({o.staff}) and the appellant")
            target = OrderState.SET_ASIDE if c.uphold else (o.before_appeal or OrderState.PENDING)
            extra["uphold"] = c.uphold
        assert target is not None
        return WorkorderChanged(at=now, order=order, action=name, by=by, note=note or "", from_=o.state, to=target,
                                **extra)

    def overdue(self, now: datetime, alerted: set[str]) -> list[AlertRaised]:
        """An alert for each open order whose feedback deadline has passed (once per order)."""
        today = now.astimezone(self.cfg.zone).date()
        out = []
        for o in self.orders.values():
            key = f"workorder:{o.id}:{o.deadline.isoformat()}"
            late = o.state in (OrderState.PENDING, OrderState.RECTIFYING, OrderState.APPEALED)
            if late and today > o.deadline and key not in alerted:
                out.append(AlertRaised(at=now, kind="workorder_overdue", key=key, order=o.id, ticket=o.ticket,
                                       staff=o.staff, unit=o.unit,
                                       message=f"差评 work order {o.id} ({o.unit or o.staff or 'unit unknown'}) passed "
                                               f"its feedback deadline {o.deadline.isoformat()} — give the rater "
                                               "feedback now"))
        return out

    def rectified_rate(self) -> tuple[int, int]:
        """(orders fed back or closed, orders that count): 差评整改率 excludes orders set aside on appeal."""
        counted = [o for o in self.orders.values() if o.state is not OrderState.SET_ASIDE]
        done = [o for o in counted if o.state in (OrderState.FED_BACK, OrderState.REVISITED)]
        return len(done), len(counted)
