"""What device events mean to the controller, and what the controller's state means to devices.

Pure functions: a device event + the window's state -> a controller command; a Window -> the STATE
frame of its evaluators; a `ticket.called` event -> the SHOW frame of its LED boards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from firmware_bridge.hallbus.messages import EVENT, KEY, MAX_PIN, PIN_SEP, WSTATE, DeviceEvent, Show, StateMsg

KEY_COMMANDS = {KEY.CALL: "call", KEY.RECALL: "recall", KEY.SKIP: "skip", KEY.FINISH: "finish",
                KEY.PAUSE: "pause", KEY.RESUME: "resume", KEY.TRANSFER: "transfer",
                KEY.HOLD: "hold", KEY.CALLBACK: "callback", KEY.CALL_NUMBER: "call_number"}
NUMBER_KEYS = (KEY.CALLBACK, KEY.CALL_NUMBER)     # their ARG is a ticket number (docs/hallbus.md)
WINDOW_STATES = {"closed": WSTATE.CLOSED, "idle": WSTATE.THANKS, "serving": WSTATE.SERVING,
                 "rating": WSTATE.RATING, "paused": WSTATE.PAUSED}
DEFAULT_TEMPLATE = "请{number}号到{window}号窗口"


@dataclass(frozen=True)
class Command:
    name: str
    args: dict[str, Any]

    def __str__(self) -> str:
        """For log lines: a login's PIN is never shown."""
        shown = {k: ("***" if k == "pin" else v) for k, v in self.args.items()}
        return f"{self.name} {shown}"

    __repr__ = __str__


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
        if key in NUMBER_KEYS:
            number = ev.arg.strip().upper()
            if not number or len(number) > 8 or not number.isalnum():
                return f"{KEY_COMMANDS[key]} key without a ticket number (ARG, e.g. A012)"
            args["number"] = number
        return Command(KEY_COMMANDS[key], args)
    if ev.type == EVENT.RATE:
        if shown_ticket is None:
            return "a rating key was pressed while the evaluator showed no ticket"
        return Command("rate", {"ticket": shown_ticket, "level": ev.level, "window": window,
                                "reasons": reason_names(ev.reasons, reasons or []), "channel": "evaluator"})
    if ev.type == EVENT.LOGIN:
        login: dict[str, Any] = {"window": window, "staff": ev.staff}
        if ev.pin is not None:
            login["pin"] = ev.pin     # memory only: never logged (Command.__str__) nor stored (InflightStore)
        return Command("login", login)
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
        staff, pin = body.get("staff"), body.get("pin")
        if not isinstance(staff, str) or not staff.isascii() or not 0 < len(staff) <= 32 or "\x1f" in staff:
            raise ValueError("'staff' must be an ASCII staff id")
        if pin is None:
            return eid, DeviceEvent(0, EVENT.LOGIN, staff.encode())
        if not isinstance(pin, str) or not pin.isascii() or not 0 < len(pin) <= MAX_PIN or "\x1f" in pin:
            raise ValueError("'pin' must be the staff's PIN as a string of digits")   # never echoes the value
        return eid, DeviceEvent(0, EVENT.LOGIN, staff.encode() + bytes((PIN_SEP,)) + pin.encode())
    if typ == "logout":
        return eid, DeviceEvent(0, EVENT.LOGOUT)
    raise ValueError("'type' must be key, rate, login or logout")


def redacted(body: Any) -> Any:
    """An MQTT device's event as it may appear in a log line: without its PIN."""
    if isinstance(body, dict) and "pin" in body:
        return {k: ("***" if k == "pin" else v) for k, v in body.items()}
    return body


LOGIN_REFUSALS = {
    "BAD_CREDENTIALS": "密码错误 请重新登录",
    "LOCKED_OUT": "登录已锁定 请联系管理员",
}


def login_refusal_show(code: str, gb18030: bool) -> Show:
    """What an evaluator shows when its login was refused (line 0, blinking): wrong PIN, locked, or the code."""
    return Show(0, LOGIN_REFUSALS.get(code, f"登录失败 {code}"), gb18030=gb18030, blink=True)


WINDOW_STATUSES = frozenset(WINDOW_STATES)


def _ascii_id(v: Any, limit: int) -> bool:
    return isinstance(v, str) and 0 < len(v) <= limit and v.isascii() and v.isprintable()


def window_state_of(body: dict[str, Any], topic_window: str, windows: frozenset[str]) -> dict[str, Any] | str:
    """A retained `state/window/{w}` as the bridge uses it (a Window, CONTRACT §3.2), or why it is refused."""
    wid = body.get("id")
    if wid != topic_window or wid not in windows:
        return f"window state for {str(wid)[:40]!r} on the topic of window {topic_window[:40]!r}"
    if body.get("status") not in WINDOW_STATUSES:
        return "window state with an unknown status"
    ticket, staff = body.get("ticket"), body.get("staff")
    if ticket is not None and not _ascii_id(ticket, 8):
        return "window state whose ticket is not a ticket number"
    if staff is not None and not (isinstance(staff, dict) and _ascii_id(staff.get("id"), 32)):
        return "window state whose staff is not {id, name}"
    return body


def called_of(body: dict[str, Any], windows: frozenset[str]) -> dict[str, Any] | str:
    """A `ticket.called` event as the bridge uses it, or why it is refused."""
    seq, recall = body.get("seq"), body.get("recall", 0)
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        return "ticket.called without a seq"
    if not isinstance(recall, int) or isinstance(recall, bool):
        return "ticket.called whose recall is not a number"
    if not _ascii_id(body.get("ticket"), 8):
        return "ticket.called whose ticket is not a ticket number"
    if body.get("window") not in windows:
        return "ticket.called for a window this hall does not have"
    service = body.get("service", "")
    if not isinstance(service, str) or len(service) > 64:
        return "ticket.called whose service is not a service id"
    log = body.get("log")
    if log is not None and not isinstance(log, str):
        return "ticket.called whose log is not a string"
    return body
