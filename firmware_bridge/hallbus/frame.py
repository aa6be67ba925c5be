"""The hallbus frame: STX ADDR SEQ CMD LEN PAYLOAD CRC_LO CRC_HI ETX, and its length rules."""

from __future__ import annotations

from dataclasses import dataclass

from firmware_bridge.hallbus.crc import crc16_modbus

STX, ETX = 0x02, 0x03
HEADER = 5          # STX ADDR SEQ CMD LEN
TRAILER = 3         # CRC_LO CRC_HI ETX
MAX_PAYLOAD = 250
BROADCAST = 0
NAK = 0xFF
REPLY_BIT = 0x80

# Largest payload each command allows (request, reply). Unknown requests 0x01-0x7E may carry up to
# MAX_PAYLOAD so that a device can still answer them with NAK "unknown command".
PAYLOAD_LIMITS: dict[int, int] = {
    0x01: 0, 0x81: 11,          # IDENTIFY
    0x02: 1, 0x82: MAX_PAYLOAD,  # POLL
    0x03: MAX_PAYLOAD, 0x83: 1,  # SHOW
    0x04: 1 + 8 + 32, 0x84: 1,   # STATE: state, ticket[8], staff id (at most 32)
    0x05: 1, 0x85: 1,            # BEEP
    0x06: MAX_PAYLOAD, 0x86: 1,  # BITMAP (hallq extension, docs/hallbus.md): Y N FLAGS ROWS…
    NAK: 2,
}


def max_payload(cmd: int) -> int | None:
    """The payload limit of a command byte, or None if no frame may carry it."""
    if cmd in PAYLOAD_LIMITS:
        return PAYLOAD_LIMITS[cmd]
    if 0x01 <= cmd <= 0x7E or 0x81 <= cmd <= 0xFE:
        return MAX_PAYLOAD
    return None


@dataclass(frozen=True)
class Frame:
    addr: int
    seq: int
    cmd: int
    payload: bytes = b""

    @property
    def is_reply(self) -> bool:
        return self.cmd >= REPLY_BIT

    def encode(self) -> bytes:
        return encode_frame(self.addr, self.seq, self.cmd, self.payload)

    def __str__(self) -> str:
        return f"[addr {self.addr} seq {self.seq} cmd 0x{self.cmd:02X} {self.payload.hex(' ')}]"


class FrameError(ValueError):
    pass


def encode_frame(addr: int, seq: int, cmd: int, payload: bytes = b"") -> bytes:
    if not 0 <= addr <= 247:
        raise FrameError(f"hallbus address {addr} is outside 0..247")
    if not 0 <= seq <= 255:
        raise FrameError(f"hallbus SEQ {seq} is outside 0..255")
    limit = max_payload(cmd)
    if limit is None:
        raise FrameError(f"hallbus command 0x{cmd:02X} does not exist")
    if len(payload) > limit:
        raise FrameError(f"hallbus command 0x{cmd:02X} allows at most {limit} payload bytes, not {len(payload)}")
    body = bytes((addr, seq, cmd, len(payload))) + payload
    crc = crc16_modbus(body)
    return bytes((STX,)) + body + bytes((crc & 0xFF, crc >> 8, ETX))
