"""The ticket layout as ESC/POS bytes: pure, so tests compare bytes (like python-escpos's Dummy).

Chinese goes as native text (FS & with the printer's GB18030 encoding) where the profile allows it;
Mongolian, which no printer font shapes, goes as a raster image (GS v 0) of shaped vertical text,
to the left of the Chinese; a profile without native Chinese gets the whole ticket as rasters.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from PIL import Image

from devices.printer.ticket import TicketData
from hallq.text import bilingual_block, render_line, render_mongolian_vertical
from hallq.text.words import Msg, join, msg

ESC, GS, FS = b"\x1b", b"\x1d", b"\x1c"
INIT = ESC + b"@"
CUT = GS + b"V\x42\x00"              # feed and full cut
CHINESE_ON, CHINESE_OFF = FS + b"&", FS + b"."


@dataclass(frozen=True)
class Profile:
    name: str
    width_dots: int
    chars_per_line: int        # 12×24 font A half-width characters
    native_chinese: bool = True
    encoding: str = "gb18030"


PROFILES = {
    "80mm": Profile("80mm", 576, 48),
    "58mm": Profile("58mm", 384, 32),
    "80mm-raster": Profile("80mm-raster", 576, 48, native_chinese=False),
    "58mm-raster": Profile("58mm-raster", 384, 32, native_chinese=False),
}


def align(n: int) -> bytes:
    return ESC + b"a" + bytes((n,))


def size(w: int, h: int) -> bytes:
    return GS + b"!" + bytes(((w - 1) << 4 | (h - 1),))


def text(s: str, profile: Profile) -> bytes:
    """A line of text: native with FS & where possible, else a raster of the rendered line."""
    if profile.native_chinese:
        data = s.encode(profile.encoding)
        return (CHINESE_ON + data + CHINESE_OFF if any(b > 0x7F for b in data) else data) + b"\n"
    return raster(render_line(s, 24, "zh"), profile)


def raster(img: Image.Image, profile: Profile) -> bytes:
    """GS v 0: a 1-bit image, black = 1, at most the profile's width, cropped to its ink left and right and
    centred by the printer (ESC a 1)."""
    im = img.convert("L")
    if im.width > profile.width_dots:
        im = im.resize((profile.width_dots, max(1, im.height * profile.width_dots // im.width)))
    bw = im.point(lambda v: 255 if v < 128 else 0, mode="1")  # 1 = dot
    ink = bw.getbbox()
    if ink is not None:  # blank margins cost line time on a serial printer; ESC a centres what is left
        bw = bw.crop((ink[0], 0, ink[2], bw.height))
    wbytes = (bw.width + 7) // 8
    padded = Image.new("1", (wbytes * 8, bw.height), 0)
    padded.paste(bw, (0, 0))
    data = padded.tobytes()
    return GS + b"v0\x00" + bytes((wbytes & 0xFF, wbytes >> 8, bw.height & 0xFF, bw.height >> 8)) + data + b"\n"


def qr(payload: str, module: int = 6) -> bytes:
    data = payload.encode("ascii")
    n = len(data) + 3
    return (GS + b"(k\x04\x00\x31\x41\x32\x00"            # model 2
            + GS + b"(k\x03\x00\x31\x43" + bytes((module,))  # module size
            + GS + b"(k\x03\x00\x31\x45\x31"                # error correction M
            + GS + b"(k" + bytes((n & 0xFF, n >> 8)) + b"\x31\x50\x30" + data
            + GS + b"(k\x03\x00\x31\x51\x30" + b"\n")       # print


@functools.lru_cache(maxsize=256)
def bilingual_raster(mn: str, zh: str, px: int, profile: Profile) -> bytes:
    """Mongolian vertical beside Chinese as one raster; cached: hall and service names repeat all day."""
    return raster(bilingual_block(mn, zh, px, profile.width_dots), profile)


@functools.lru_cache(maxsize=256)
def mongolian_raster(mn: str, px: int, profile: Profile) -> bytes:
    return raster(render_mongolian_vertical(mn, px, max_height=220), profile)


def render_ticket_bytes(t: TicketData, profile: Profile) -> bytes:
    if not t.qr_payload.isascii():
        raise ValueError("the ticket QR payload must be ASCII (keyboard-mode scanners cannot type anything else)")
    out = bytearray(INIT + align(1))
    out += bilingual_raster(t.hall_mn, t.hall_zh, 26 if profile.width_dots > 400 else 20, profile)
    out += b"\n" + size(4, 4) + t.number.encode("ascii") + b"\n" + size(1, 1)
    out += bilingual_raster(t.service_mn, t.service_zh, 24 if profile.width_dots > 400 else 20, profile)
    if t.area_zh:             # nothing at all without an area: such tickets stay byte-identical
        where = msg("area_at", area=Msg(t.area_zh, t.area_mn))
        if t.area_mn:
            out += mongolian_raster(where.mn, 20, profile)
        out += size(1, 2) + text(where.zh, profile) + size(1, 1)
    wait = msg("est_wait", m=t.est_wait_min) if t.est_wait_min is not None else msg("est_wait_unknown")
    if t.wait_mn:
        out += mongolian_raster(t.wait_mn, 20, profile)
    out += text(join(msg("ahead_n", n=t.ahead), wait).zh, profile)
    out += text(msg("issued_at", time=t.issued_at).zh, profile)
    out += qr(t.qr_payload, 6 if profile.width_dots > 400 else 5)
    out += text(msg("scan_to_follow").zh, profile)
    if t.notice_mn:  # vertical, like every Mongolian line on the ticket
        out += mongolian_raster(t.notice_mn, 20, profile)
    out += text(t.notice_zh, profile)
    out += b"\n\n\n" + CUT
    return bytes(out)
