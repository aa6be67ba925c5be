"""What a legacy keypad's key means: key code -> action (config `key_map`) -> a hallbus device event.

Translating to the hallbus event lets keypads share everything after it with evaluators: the
command mapping, the in-flight command ids, the bridge's strict per-device order.
"""

from __future__ import annotations

from firmware_bridge.hallbus.messages import EVENT, DeviceEvent
from firmware_bridge.keypad.messages import KeyPress
from firmware_bridge.mapping import KEY_NAMES


def key_event(press: KeyPress, key_map: dict[int, str]) -> DeviceEvent | str:
    """The device event of a key press (EVENT_ID = the press counter), or why there is none."""
    action = key_map.get(press.code)
    if action is None:
        return f"key code {press.code} is not in the key map ({', '.join(map(str, sorted(key_map)))})"
    name, _, arg = action.partition(":")
    if name == "login":
        return DeviceEvent(press.press, EVENT.LOGIN, arg.encode("ascii"))
    if name in ("digit", "enter", "clear"):
        return f"key code {press.code} ({action}) types a PIN, which this hall does not ask for " \
               "(security.device_login)"
    if name == "logout":
        return DeviceEvent(press.press, EVENT.LOGOUT)
    if name not in KEY_NAMES:
        return f"key code {press.code}: unknown action {action!r}"
    return DeviceEvent(press.press, EVENT.KEY, bytes((KEY_NAMES[name],)) + arg.encode("ascii"))
