"""A printer simulator: interprets the ESC/POS bytes hallq sends and renders the paper as a PNG.

It understands the subset the ticket encoder uses (ESC @, ESC a, GS !, FS & / FS ., GS v 0,
GS ( k QR, GS V, ESC d) and refuses anything else loudly, so an encoder change cannot pass unnoticed.
Real-time status queries (DLE EOT n) in the stream are answered by the device, not printed: skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import qrcode
from PIL import Image

from hallq.text import render_line


class EscPosError(ValueError):
    pass


@dataclass
class Paper:
    width: int
    rows: list[Image.Image] = field(default_factory=list)
    cut: bool = False
    qr_payloads: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def image(self) -> Image.Image:
        h = sum(r.height for r in self.rows) + 20
        out = Image.new("L", (self.width, h), 255)
        y = 10
        for r in self.rows:
            out.paste(r, (0, y))
            y += r.height
        return out


def render_escpos(data: bytes, width: int = 576) -> Paper:
    paper = Paper(width)
    i, align, scale, chinese = 0, 0, (1, 1), False
    line = bytearray()
    qr_data = b""

    def place(img: Image.Image) -> None:
        row = Image.new("L", (width, img.height), 255)
        x = {0: 0, 1: (width - img.width) // 2, 2: width - img.width}[align]
        row.paste(img, (max(0, x), 0))
        paper.rows.append(row)

    def flush() -> None:
        if not line:
            paper.rows.append(Image.new("L", (width, 24), 255))
            return
        s = bytes(line).decode("gb18030")
        paper.texts.append(s)
        img = render_line(s, 24, "zh")
        if scale != (1, 1):
            img = img.resize((img.width * scale[0], img.height * scale[1]))
        place(img)
        line.clear()

    while i < len(data):
        b = data[i]
        if data.startswith(b"\x1b@", i):
            i += 2
        elif data.startswith(b"\x10\x04", i):
            i += 3
        elif data.startswith(b"\x1bd", i):
            if line:
                flush()
            for _ in range(data[i + 2]):
                flush()
            i += 3
        elif data.startswith(b"\x1ba", i):
            align, i = data[i + 2], i + 3
        elif data.startswith(b"\x1d!", i):
            n = data[i + 2]
            scale, i = ((n >> 4) + 1, (n & 0x0F) + 1), i + 3
        elif data.startswith(b"\x1c&", i) or data.startswith(b"\x1c.", i):
            chinese, i = data[i + 1] == ord("&"), i + 2
        elif data.startswith(b"\x1dv0", i):
            wb, h = data[i + 4] | data[i + 5] << 8, data[i + 6] | data[i + 7] << 8
            raw = data[i + 8:i + 8 + wb * h]
            img = Image.frombytes("1", (wb * 8, h), raw).point(lambda v: 0 if v else 255, mode="L")
            place(img)
            i += 8 + wb * h
        elif data.startswith(b"\x1d(k", i):
            n = data[i + 3] | data[i + 4] << 8
            body = data[i + 5:i + 5 + n]
            if body[:2] == b"\x31\x50":
                qr_data = body[3:]
            elif body[:2] == b"\x31\x51":
                paper.qr_payloads.append(qr_data.decode("ascii"))
                q = qrcode.QRCode(box_size=6, border=4)
                q.add_data(qr_data.decode("ascii"))
                place(q.make_image().get_image().convert("L"))
            i += 5 + n
        elif data.startswith(b"\x1dVB", i):
            paper.cut, i = True, i + 4
        elif b == 0x0A:
            flush()
            i += 1
        elif b >= 0x20:
            line.append(b)
            i += 1
        else:
            raise EscPosError(f"unexpected byte 0x{b:02X} at offset {i}")
    _ = chinese
    return paper
