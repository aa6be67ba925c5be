"""Packed `struct input_event` records (tv_sec, tv_usec, type, code, value) as read from /dev/input/event*."""

from __future__ import annotations

import struct

from devices.scanner.decoder import KeyEvent

EVENT_FORMAT = "llHHi"  # native size and alignment: 24 bytes on 64-bit Linux
EVENT_SIZE = struct.calcsize(EVENT_FORMAT)


def pack_event(timestamp_s: float, ev_type: int, code: int, value: int) -> bytes:
    sec, usec = divmod(round(timestamp_s * 1_000_000), 1_000_000)
    return struct.pack(EVENT_FORMAT, sec, usec, ev_type, code, value)


def unpack_events(data: bytes) -> tuple[list[KeyEvent], bytes]:
    """The whole records in `data` as (timestamp_s, type, code, value), and the bytes of a trailing partial one."""
    whole = len(data) - len(data) % EVENT_SIZE
    events = [(sec + usec / 1_000_000, ev_type, code, value)
              for sec, usec, ev_type, code, value in struct.iter_unpack(EVENT_FORMAT, data[:whole])]
    return events, data[whole:]
