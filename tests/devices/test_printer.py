"""ESC/POS ticket: bytes, native Chinese with FS &, Mongolian shaped as raster, QR readable by zbar."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zbar

from devices.printer.escpos import CHINESE_ON, CUT, INIT, PROFILES, render_ticket_bytes
from devices.printer.sim import render_escpos
from devices.printer.ticket import TicketData
from hallq.text import render_line, render_mongolian_vertical
from tests.conftest import REPO

T = TicketData("锡林浩特市政务服务中心", "ᠰᠢᠯᠢ\u202fᠶᠢᠨ ᠬᠣᠲᠠ", "A012", "综合受理", "ᠶᠡᠷᠦᠩᠬᠡᠢ ᠬᠦᠯᠢᠶᠡᠨ ᠠᠪᠬᠤ", 5, 12,
               "2026-11-23 09:12", "HQ1:demo-hall:2026-11-23:A012:K7Q2")


def _zbar(img: object) -> list[str]:
    arr = np.ascontiguousarray(np.asarray(img.convert("L"), dtype=np.uint8))  # type: ignore[attr-defined]
    return [s.data.decode("ascii") for s in zbar.Scanner().scan(arr)]


@pytest.mark.parametrize("profile", ["80mm", "58mm"])
def test_ticket_bytes_and_paper(profile: str) -> None:
    p = PROFILES[profile]
    data = render_ticket_bytes(T, p)
    assert data.startswith(INIT) and data.endswith(CUT)
    assert CHINESE_ON + "前面还有 5 人 · 预计等待 12 分钟".encode("gb18030") in data
    paper = render_escpos(data, p.width_dots)
    assert paper.cut and paper.qr_payloads == [T.qr_payload]
    assert "A012" in paper.texts
    assert max(r.width for r in paper.rows) <= p.width_dots
    assert _zbar(paper.image()) == [T.qr_payload], "the printed QR must scan back to its payload"


def test_raster_profile_sends_no_native_text() -> None:
    data = render_ticket_bytes(T, PROFILES["58mm-raster"])
    assert CHINESE_ON not in data and data.endswith(CUT)
    assert render_escpos(data, 384).qr_payloads == [T.qr_payload]


def test_qr_payload_must_be_ascii() -> None:
    with pytest.raises(ValueError, match="ASCII"):
        render_ticket_bytes(TicketData("h", "", "A1", "s", "", 0, None, "t", "票号A1"), PROFILES["80mm"])


def test_mongolian_is_shaped_and_vertical() -> None:
    word = "ᠮᠣᠩᠭᠣᠯ"
    joined = render_line(word, 40, "mn").width
    isolated = sum(render_line(c, 40, "mn").width for c in word)
    assert joined < 0.75 * isolated, "letters must join (contextual forms), not stand isolated"
    v = render_mongolian_vertical(word, 40)
    assert v.height > v.width, "Mongolian reads top to bottom"


def test_print_test_cli(tmp_path: Path) -> None:
    out = tmp_path / "t.bin"
    res = subprocess.run([sys.executable, "-m", "hallq", "print-test", "--config", str(REPO / "config/demo.yaml"),
                          "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    data = out.read_bytes()
    assert data.startswith(b"\x1b@") and data.endswith(b"\x1dVB\x00")
    assert render_escpos(data).qr_payloads[0].isascii()
    bad = subprocess.run([sys.executable, "-m", "hallq", "print-test", "--config", str(REPO / "config/demo.yaml"),
                          "--kiosk", "nope"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown kiosk 'nope'" in bad.stderr


def _skeleton(data: bytes) -> bytes:
    """The ticket's bytes with each raster body (font rendering) replaced by <R>: every other byte is exact."""
    out, i = bytearray(), 0
    while (j := data.find(b"\x1dv0\x00", i)) >= 0:
        wb, h = data[j + 4] | data[j + 5] << 8, data[j + 6] | data[j + 7] << 8
        out += data[i:j] + b"<R>"
        i = j + 8 + wb * h
    return bytes(out + data[i:])


def test_ticket_bytes_byte_for_byte() -> None:
    data = render_ticket_bytes(T, PROFILES["80mm"])

    def zh(s: str) -> bytes:
        return b"\x1c&" + s.encode("gb18030") + b"\x1c.\n"

    payload = T.qr_payload.encode("ascii")
    qr = (b"\x1d(k\x04\x001A2\x00" b"\x1d(k\x03\x001C\x06" b"\x1d(k\x03\x001E1"
          + b"\x1d(k" + bytes((len(payload) + 3, 0)) + b"1P0" + payload + b"\x1d(k\x03\x001Q0\n")
    expected = (b"\x1b@" b"\x1ba\x01" b"<R>\n" b"\n\x1d!\x33A012\n\x1d!\x00" b"<R>\n"
                + zh("前面还有 5 人 · 预计等待 12 分钟") + zh("取号时间 2026-11-23 09:12") + qr
                + zh("扫码查询进度、补充评价") + b"<R>\n" + zh("请留意叫号，过号请重新取号") + b"\n\n\n\x1dVB\x00")
    assert _skeleton(data) == expected
