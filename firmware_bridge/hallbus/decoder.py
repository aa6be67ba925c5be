"""A hallbus stream decoder: fed arbitrary chunks, it yields only frames whose LEN, CRC and ETX check.

On any failure it drops one byte and scans for the next STX. A partial frame that stalls longer
than 3.5 character times fails the same way. Time is passed in (`now`, seconds), never read.
"""

from __future__ import annotations

from firmware_bridge.hallbus.crc import crc16_modbus
from firmware_bridge.hallbus.frame import ETX, HEADER, STX, TRAILER, Frame, max_payload

BITS_PER_CHAR = 10  # 8N1: start, 8 data, stop


def stall_timeout_s(baud: int, floor_s: float = 0.0) -> float:
    """3.5 character times at `baud` (≈ 3.6 ms at 9600), or `floor_s` if larger (ptys, USB adapters)."""
    return max(3.5 * BITS_PER_CHAR / baud, floor_s)


class FrameDecoder:
    def __init__(self, stall_s: float = stall_timeout_s(9600)) -> None:
        self.stall_s = stall_s
        self.buf = bytearray()
        self.last_byte_at: float | None = None
        self.dropped = 0          # bytes discarded while resynchronising
        self.bad_frames = 0       # candidate frames that failed LEN, CRC or ETX

    def feed(self, data: bytes, now: float = 0.0) -> list[Frame]:
        """Add received bytes; return every complete, valid frame, oldest first."""
        out = self.expire(now)
        if data:
            self.buf += data
            self.last_byte_at = now
        out += self._scan()
        return out

    def expire(self, now: float) -> list[Frame]:
        """Fail a stalled partial frame: drop its first byte and rescan what is buffered.

        What is still buffered after that is itself a partial frame that stalled just as long
        (no byte came since), so it fails the same way, until the buffer is empty.
        """
        out: list[Frame] = []
        if self.last_byte_at is None or now - self.last_byte_at <= self.stall_s:
            return out
        while self.buf:
            self._drop()
            out += self._scan()
        return out

    def _drop(self) -> None:
        del self.buf[0]
        self.dropped += 1

    def _scan(self) -> list[Frame]:
        out: list[Frame] = []
        buf = self.buf
        while buf:
            if buf[0] != STX:
                i = buf.find(STX)
                n = len(buf) if i < 0 else i
                del buf[:n]
                self.dropped += n
                continue
            if len(buf) < HEADER:
                break
            addr, seq, cmd, length = buf[1], buf[2], buf[3], buf[4]
            limit = max_payload(cmd)
            if limit is None or length > limit or addr > 247:
                self.bad_frames += 1
                self._drop()
                continue
            total = HEADER + length + TRAILER
            if len(buf) < total:
                break
            crc = crc16_modbus(bytes(buf[1:HEADER + length]))
            if buf[total - 1] != ETX or buf[HEADER + length] != crc & 0xFF or buf[HEADER + length + 1] != crc >> 8:
                self.bad_frames += 1
                self._drop()
                continue
            out.append(Frame(addr, seq, cmd, bytes(buf[HEADER:HEADER + length])))
            del buf[:total]
        return out
