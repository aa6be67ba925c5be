"""The legacy keypad frame: FF 68 L L 68 ADDR FUNC DATA… CS 16.

L = len(ADDR + FUNC + DATA), sent twice; CS = sum of ADDR..DATA mod 256. The host acknowledges a
frame by echoing it. The decoder resynchronises like the hallbus one: on any failure it drops one
byte and scans for the next `FF 68`.
"""

from __future__ import annotations

from dataclasses import dataclass

START = b"\xff\x68"
END = 0x16
MAX_L = 64


@dataclass(frozen=True)
class KeypadFrame:
    addr: int
    func: int
    data: bytes = b""

    def encode(self) -> bytes:
        return encode_keypad(self.addr, self.func, self.data)

    def display_digits(self) -> str:
        """The 3-digit display text a host frame carries (ASCII digits)."""
        return self.data.decode("ascii", "replace")


def encode_keypad(addr: int, func: int, data: bytes = b"") -> bytes:
    body = bytes((addr, func)) + data
    if len(body) > MAX_L:
        raise ValueError(f"keypad frame body of {len(body)} bytes is over {MAX_L}")
    return START + bytes((len(body), len(body), 0x68)) + body + bytes((sum(body) & 0xFF, END))


class KeypadDecoder:
    def __init__(self) -> None:
        self.buf = bytearray()
        self.dropped = 0

    def feed(self, data: bytes) -> list[KeypadFrame]:
        self.buf += data
        out: list[KeypadFrame] = []
        buf = self.buf
        while buf:
            i = buf.find(START)
            if i < 0:
                keep = 1 if buf[-1:] == b"\xff" else 0
                self.dropped += len(buf) - keep
                del buf[:len(buf) - keep]
                break
            if i:
                self.dropped += i
                del buf[:i]
            if len(buf) < 5:
                break
            n = buf[2]
            if buf[3] != n or buf[4] != 0x68 or not 2 <= n <= MAX_L:
                self.dropped += 1
                del buf[0]
                continue
            total = 5 + n + 2
            if len(buf) < total:
                break
            body = bytes(buf[5:5 + n])
            if buf[5 + n] != sum(body) & 0xFF or buf[6 + n] != END:
                self.dropped += 1
                del buf[0]
                continue
            out.append(KeypadFrame(body[0], body[1], body[2:]))
            del buf[:total]
        return out
