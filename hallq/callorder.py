"""The order in which `call` takes waiting tickets (CONTRACT §3.7, docs/controller.md "Appointments"), pure.

Green first, then the appointments within their slot, then the rest (walk-ins, and appointments outside their
slot), each group by earliest issue time, ties by issue order. Which appointment is within its slot is
`appointment_due`: the controller's queues (controller/state.py) keep their indexes by it, and the console's
queue lists (console/hub.py) sort with `call_key`, so both show the one order the controller calls in.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hallq.config import HallConfig

GREEN, IN_SLOT, REST = 0, 1, 2      # the groups `call` takes in turn


def appointment_due(priority: str, issued_at: datetime, slot_from: datetime | None,
                    cfg: HallConfig) -> datetime | None:
    """When a ticket joins the appointments called before walk-ins: an appointment without a slot when it checked
    in; with one, `appointments.early_min` before the slot's start. None: never (not an appointment, or it
    checked in more than `appointments.late_min` after the slot's start: a walk-in for good)."""
    if priority != "appointment":
        return None
    if slot_from is None:
        return issued_at
    a = cfg.appointments
    if issued_at > slot_from + timedelta(minutes=a.late_min):
        return None
    return slot_from - timedelta(minutes=a.early_min)


def call_group(priority: str, due: datetime | None, now: datetime) -> int:
    """GREEN, IN_SLOT (an appointment whose time has come, `due` from `appointment_due`) or REST."""
    if priority == "green":
        return GREEN
    if due is not None and due <= now:
        return IN_SLOT
    return REST


def call_key(priority: str, issued_at: datetime, order: int, due: datetime | None,
             now: datetime) -> tuple[int, datetime, int]:
    """Sorting waiting tickets by this key at `now` gives the order `call` takes them in (`order`: anything
    that grows with issue order, such as the controller's issue counter or the `seq` of `ticket.issued`)."""
    return (call_group(priority, due, now), issued_at, order)
