"""What device events mean to the controller, and what the controller's state means to devices.

Pure functions: a device event + the window's state -> a controller command; a Window -> the STATE
frame of its evaluators; a `ticket.called` event -> the SHOW frame of its LED boards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from firmware_bridge.hallbus.messages import EVENT, KEY, WSTATE, DeviceEvent, Show, StateMsg

KEY_COMMANDS = {KEY.CALL: "call", KEY.RECALL: "recall", KEY.SKIP: "skip", KEY.FINISH: "finish",
                KEY.PAUSE: "pause", KEY.RESUME: "resume", KEY.TRANSFER: "transfer"}
WINDOW_STATES = {"closed": WSTATE.CLOSED, "idle": WSTATE.THANKS, "serving": WSTATE.SERVING,
                 "rating": WSTATE.RATING, "paused": WSTATE.PAUSED}
DEFAULT_TEMPLATE = "请{number}号到{window}号窗口"


@dataclass(frozen=True)
class Command:
    name: str
    args: dict[str, Any]


def reason_names(codes: bytes | list[int], options: list[str]) -> list[str]:
    """An evaluator's 差评 reason bytes as the hall's reason texts (code n = `evaluation.bad_reasons[n-1]`)."""
    return [options[r - 1] if 1 <= r <= len(options) else f"r{r}" for r in codes]


def command_for(ev: DeviceEvent, window: str, shown_ticket: str | None,
                reasons: list[str] | None = None) -> Command | str:
    """The controller command of a device event, or why there is none (the event is then only acked)."""
    if ev.type == EVENT.KEY:
        key = ev.key
        if key is None:
            return f"unknown key code {ev.data[:1].hex()}"
        args: dict[str, Any] = {"window": window}
        if key is KEY.TRANSFER:
            if not ev.arg:
                return "transfer key without a service id"
            args["service"] = ev.arg
        return Command(KEY_COMMANDS[key], args)
    if ev.type == EVENT.RATE:
        if shown_ticket is None:
            return "a rating key was pressed while the evaluator showed no ticket"
        return Command("rate", {"ticket": shown_ticket, "level": ev.level, "window": window,
                                "reasons": reason_names(ev.reasons, reasons or []), "channel": "evaluator"})
    if ev.type == EVENT.LOGIN:
        return Command("login", {"window": window, "staff": ev.staff})
    if ev.type == EVENT.LOGOUT:
        return Command("logout", {"window": window})
    return f"unknown event type 0x{ev.type:02X}"


def state_frame(window: dict[str, Any]) -> StateMsg:
    staff = (window.get("staff") or {}).get("id") or ""
    return StateMsg(WINDOW_STATES.get(str(window.get("status")), WSTATE.CLOSED), window.get("ticket") or "", staff)


def show_frame(called: dict[str, Any], template: str | None, gb18030: bool) -> Show:
    text = (template or DEFAULT_TEMPLATE).format(number=called["ticket"], window=called["window"],
                                                  service=called.get("service", ""))
    return Show(0, text, gb18030=gb18030, blink=bool(called.get("recall")))


KEY_NAMES = {name: key for key, name in KEY_COMMANDS.items()}


def json_event(body: Any) -> tuple[str, DeviceEvent]:
    """An MQTT-native device's event as (its event id, the equivalent hallbus event)."""
    if not isinstance(body, dict):
        raise ValueError("an event must be a JSON object")
    eid, typ = body.get("event_id"), body.get("type")
    if not isinstance(eid, str) or not 0 < len(eid) <= 40 or not eid.isascii():
        raise ValueError("'event_id' must be an ASCII string of 1-40 characters, unique per device")
    if typ == "key":
        key = KEY_NAMES.get(str(body.get("key")))
        if key is None:
            raise ValueError(f"'key' must be one of {', '.join(KEY_NAMES)}")
        arg = str(body.get("arg") or "")
        if not arg.isascii():
            raise ValueError("'arg' must be ASCII (a service id)")
        return eid, DeviceEvent(0, EVENT.KEY, bytes((key,)) + arg.encode())
    if typ == "rate":
        level, reasons = body.get("level"), body.get("reasons") or []
        if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 5:
            raise ValueError("'level' must be an integer 1-5")
        if not isinstance(reasons, list) or not all(isinstance(r, int) and 0 <= r <= 255 for r in reasons):
            raise ValueError("'reasons' must be a list of reason codes 0-255")
        return eid, DeviceEvent(0, EVENT.RATE, bytes((level, *reasons)))
    if typ == "login":
        staff = body.get("staff")
        if not isinstance(staff, str) or not staff.isascii() or not 0 < len(staff) <= 32:
            raise ValueError("'staff' must be an ASCII staff id")
        return eid, DeviceEvent(0, EVENT.LOGIN, staff.encode())
    if typ == "logout":
        return eid, DeviceEvent(0, EVENT.LOGOUT)
    raise ValueError("'type' must be key, rate, login or logout")
