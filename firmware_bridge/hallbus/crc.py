"""CRC-16/MODBUS: poly 0xA001 (reflected 0x8005), init 0xFFFF; check("123456789") == 0x4B37."""

from __future__ import annotations


def _table() -> list[int]:
    out = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        out.append(c)
    return out


_TABLE = _table()


def crc16_modbus(data: bytes, crc: int = 0xFFFF) -> int:
    for b in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ b) & 0xFF]
    return crc
