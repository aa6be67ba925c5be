"""电子监察: alerts that time alone raises — long waits, long services, long pauses, unattended
windows in opening hours — and alerts from device status (offline, printer paper).

Pure like the engine: `supervise(state, now)` returns alert events once per occasion; each carries a
`key`, and `HallState` remembers the keys it has seen, so a replay raises nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from controller.calendar import open_since
from controller.events import AlertRaised
from controller.model import TicketStatus, WindowStatus
from controller.state import HallState

DEVICE_ALERTS = {
    "offline": ("device_offline", "device {device} stopped answering — check its cable and power"),
    "lost": ("device_offline", "device {device} lost its connection — check its network and power"),
    "paper_out": ("printer_paper_out", "printer {device} is out of paper — load a new roll; tickets are kept"),
    "paper_near_end": ("printer_paper_low", "printer {device} is nearly out of paper — have a roll ready"),
}


def _alert(kind: str, key: str, now: datetime, message: str, **fields: Any) -> AlertRaised:
    return AlertRaised(at=now, kind=kind, key=key, message=message, **fields)


def supervise(state: HallState, now: datetime) -> list[AlertRaised]:
    cfg = state.cfg.supervision
    out: list[AlertRaised] = []
    for q in state.waiting.values():
        for t in q:
            waited = (now - t.issued_at).total_seconds()
            key = f"wait:{t.date}:{t.number}"
            if waited >= cfg.wait_alert_s and key not in state.alerted:
                out.append(_alert("long_wait", key, now, f"ticket {t.number} ({t.service}) has waited "
                                  f"{waited / 60:.0f} min — open another window for it or call it", ticket=t.number,
                                  date=t.date, service=t.service))
    for w in state.windows.values():
        since = w.since or now
        lasted = (now - since).total_seconds()
        cur = state.window_ticket(w)
        if w.status is WindowStatus.SERVING and cur and cur.status is TicketStatus.SERVING and cur.called_at:
            served = (now - cur.called_at).total_seconds()
            key = f"service:{cur.date}:{cur.number}:{cur.called_at.isoformat()}"
            if served >= cfg.service_alert_s and key not in state.alerted:
                out.append(_alert("long_service", key, now, f"window {w.id} has served ticket {cur.number} for "
                                  f"{served / 60:.0f} min — check whether help is needed", window=w.id,
                                  ticket=cur.number, staff=w.staff))
        if w.status is WindowStatus.PAUSED:
            key = f"pause:{w.id}:{since.isoformat()}"
            if lasted >= cfg.pause_alert_s and key not in state.alerted:
                out.append(_alert("long_pause", key, now, f"window {w.id} has been paused for {lasted / 60:.0f} min"
                                  f"{' (' + w.pause_reason + ')' if w.pause_reason else ''} — resume it or send the "
                                  "B post", window=w.id, staff=w.staff))
        if w.status is WindowStatus.CLOSED and state.cfg.hours is not None:
            local = now.astimezone(state.cfg.zone)
            opened = open_since(state.cfg.hours, local)
            if opened is None:
                continue
            start = max(w.since, opened) if w.since else opened
            key = f"unattended:{w.id}:{start.isoformat()}"
            if (now - start).total_seconds() >= cfg.unattended_alert_s and key not in state.alerted:
                out.append(_alert("unattended", key, now, f"window {w.id} is unattended in opening hours — "
                                  "log in the A or B post", window=w.id))
    return out


def escalations(state: HallState, now: datetime) -> list[AlertRaised]:
    """督办: an alert still open `supervision.escalate_after_s` after it was raised is raised again as
    `alert_escalated` naming it (`of`), once, the same business day (an alert of an earlier day is not: a
    replay that archived it behaves like the live run that did not); an escalation is not escalated itself."""
    after = state.cfg.supervision.escalate_after_s
    today = now.astimezone(state.cfg.zone).date().isoformat()
    out: list[AlertRaised] = []
    for a in state.alerts.live.values():
        if (a.ack is not None or a.kind == "alert_escalated" or a.at[:10] != today   # (`at`: hall's local time)
                or f"escalated:{a.id}" in state.alerted):
            continue
        age = (now - datetime.fromisoformat(a.at)).total_seconds()
        if age >= after:
            out.append(_alert("alert_escalated", f"escalated:{a.id}", now,
                              f"督办: alert {a.id} ({a.kind}) is still open after {age / 60:.0f} min — {a.message}",
                              window=a.window, ticket=a.ticket, of=a.id))
    return out


def device_alert(state: HallState, device: str, status: str, now: datetime) -> list[AlertRaised]:
    """An alert for a device that went offline or whose printer paper runs out (once per episode)."""
    if status not in DEVICE_ALERTS:
        state.device_status[device] = status
        return []
    kind, text = DEVICE_ALERTS[status]
    if state.device_status.get(device) == status:
        return []
    state.device_status[device] = status
    return [_alert(kind, f"device:{device}:{status}:{now.isoformat()}", now, text.format(device=device),
                   device=device, status=status)]
