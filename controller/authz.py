"""Who may send what (CONTRACT §5.3): the controller's authorization, a pure function of the
configuration, the sender and the command's arguments.

The broker's ACL already keeps a principal on its own command topic; this table decides what that
principal (and, for the console, the staff member it acts for) may do. A refusal is `FORBIDDEN`,
checked right after `BAD_REQUEST`, and nothing is changed or emitted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from controller.model import CommandFailed
from hallq.config import HallConfig, PrincipalConfig, StaffRole

WINDOW_COMMANDS = frozenset({"login", "logout", "call", "recall", "skip", "finish", "transfer", "pause", "resume",
                             "hold", "callback", "call_number"})
MANAGER_COMMANDS = frozenset({"alerts", "alert_ack", "events", "workorders", "wo_verify", "wo_feedback",
                              "wo_revisit", "wo_appeal", "wo_decide", "wo_forward", "rater_access",
                              "revisit_sample", "revisit_record", "retention"})
REGION_COMMANDS = frozenset({"events", "alerts", "workorders", "ticket", "wo_forward"})
PRIVILEGED_PRIORITIES = ("green", "appointment")


@dataclass(frozen=True)
class CredentialCheck:
    """The controller's own verification of the 蒙速办 token an `issue` carried (done by the service)."""

    ok: bool
    reason: str                       # why it failed, or why green may be given ("age 72", "veteran")
    green: bool = False               # the holder qualifies for the green channel
    appointment: bool = False         # an APT1. token that checked in
    holder: str | None = None         # the holder key (hashed by the engine before it is logged)
    rater: str | None = None          # the holder's identity sealed for the hall (RID1.…)
    slot: tuple[datetime, datetime] | None = None   # a verified appointment's slot (wins over a `slot` argument)
    service: str | None = None        # a verified appointment's service


@dataclass(frozen=True)
class Sender:
    """Who sent a command: `principal` None in an open hall (v1: anyone may do anything)."""

    principal: PrincipalConfig | None = None
    actor: str | None = None
    credential: CredentialCheck | None = None
    pin_ok: bool | None = None        # a device login's PIN checked by the service (None: no PIN sent)

    @property
    def name(self) -> str | None:
        return self.principal.id if self.principal else None

    @property
    def role(self) -> str | None:
        return self.principal.role if self.principal else None

    @property
    def from_window_device(self) -> bool:
        return self.role in ("bridge", "device")


def device_windows(cfg: HallConfig, p: PrincipalConfig) -> frozenset[str]:
    """The windows a bridge or device principal may act for."""
    if p.role == "device":
        return frozenset({p.window}) if p.window else frozenset()
    buses = [b for b in cfg.devices.buses if p.buses is None or b.id in p.buses]
    out = {d.window for b in buses for d in b.devices if d.window is not None}
    if p.buses is None:
        out |= {d.window for d in cfg.devices.mqtt if d.window is not None}
    return frozenset(out)


def actor_roles(cfg: HallConfig, p: PrincipalConfig, actor: str) -> frozenset[StaffRole] | None:
    """The roles a console's actor acts with: the staff's roles within the console's `staff_roles`;
    None when `actor` is not a configured staff id."""
    staff = next((s for s in cfg.staff if s.id == actor), None)
    if staff is None:
        return None
    allowed = set(p.staff_roles) if p.staff_roles is not None else set(staff.roles)
    return frozenset(r for r in staff.roles if r in allowed)


def authorize(cfg: HallConfig, sender: Sender, name: str, args: Mapping[str, Any]) -> None:
    """Raise CommandFailed('FORBIDDEN', why) unless `sender` may send command `name` with `args`."""
    p = sender.principal
    if p is None:
        return
    why = _refusal(cfg, p, sender, name, args)
    if why is not None:
        raise CommandFailed("FORBIDDEN", why)


def _refusal(cfg: HallConfig, p: PrincipalConfig, s: Sender, name: str, args: Mapping[str, Any]) -> str | None:
    who = f"principal {p.id} (role {p.role})"
    if name == "events" and s.actor is None:
        return None
    if name == "alert_raise":   # the console's sign-in lockout alert (CONTRACT §6), nobody else's
        ok = p.role == "console" and s.actor is None and args.get("kind") == "login_failures"
        return None if ok else f"{who} may not raise alerts"
    if p.role == "kiosk":
        if name == "ticket":
            return None
        if name != "issue":
            return f"{who} may send only issue and ticket, not {name}"
        priority = args.get("priority", "normal")
        if priority in PRIVILEGED_PRIORITIES:
            c = s.credential
            if c is None:
                return f"{who}: a {priority} ticket needs the scanned 蒙速办 code as 'credential'"
            if not c.ok:
                return f"{who}: the credential was refused: {c.reason}"
            if priority == "green" and not c.green:
                return f"{who}: the credential's holder does not qualify for the green channel"
            if priority == "appointment" and not c.appointment:
                return f"{who}: an appointment ticket needs a checked-in APT1. appointment code"
        return None
    if p.role in ("bridge", "device"):
        if name not in WINDOW_COMMANDS and name != "rate":
            return f"{who} may send only window commands and rate, not {name}"
        window = args.get("window")
        scope = device_windows(cfg, p)
        if window not in scope:
            what = f"window {window}" if window is not None else "a rating without its window"
            return f"{who} may act only for windows {', '.join(sorted(scope)) or '(none)'}, not for {what}"
        if name == "rate" and args.get("channel", "evaluator") != "evaluator":
            return f"{who} rates only through the window's evaluator (channel evaluator)"
        return None
    if p.role == "display":
        return None if name == "ticket" else f"{who} may send only ticket, not {name}"
    if p.role == "region":
        return None if name in REGION_COMMANDS else f"{who} may not send {name}"
    if p.role == "console":
        return _console(cfg, p, s, name, args, who)
    return f"{who} may not send {name}"


def _console(cfg: HallConfig, p: PrincipalConfig, s: Sender, name: str, args: Mapping[str, Any],
             who: str) -> str | None:
    if s.actor is None:
        if name == "ticket" and args.get("code"):
            return None
        if name == "rate" and args.get("channel") == "qr" and args.get("code"):
            return None
        return f"{who} without an actor may send only ticket and rate (channel qr) with the ticket's code"
    roles = actor_roles(cfg, p, s.actor)
    if roles is None:
        return f"{who}: actor {s.actor!r} is not a staff id of this hall"
    if not roles:
        return f"{who}: staff {s.actor} has none of the roles this console may act with"
    if name == "rate":
        return "staff never rate: a rating comes from the citizen (evaluator or the ticket's page)"
    staff = next(x for x in cfg.staff if x.id == s.actor)
    if name in WINDOW_COMMANDS:
        if args.get("window") not in staff.windows:
            return f"staff {s.actor} may act only at windows {', '.join(staff.windows)}"
        if name == "login" and args.get("staff") != s.actor:
            return f"staff {s.actor} may log in only as themselves"
        if "window" not in roles and "manager" not in roles:
            return f"staff {s.actor} has no window role"
        return None
    if name in MANAGER_COMMANDS:
        return None if "manager" in roles else f"{name} needs the manager role (staff {s.actor} has not)"
    if name == "cancel" or (name == "issue" and args.get("priority", "normal") in PRIVILEGED_PRIORITIES):
        return None if roles & {"reception", "manager"} else f"{name} needs the reception or manager role"
    if name == "issue":
        return None if roles & {"reception", "manager"} else "issuing tickets needs the reception or manager role"
    return None
