"""`hallq report --format png`: the report's charts as one picture a hall manager can print or send.

Drawn with Pillow (no plotting library): tickets issued and served per service, tickets issued per hour,
and the 好差评 rates (好评率, 差评率, 主动评价率, 未评率, 差评整改率) as bars, with the headline figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from hallq.text import font_path

W, H = 1600, 1200
INK, GRID, BLUE, GREEN, RED, GREY = (20, 30, 50), (215, 220, 230), (40, 100, 190), (40, 150, 80), (200, 60, 50), \
    (150, 155, 165)


def _font(px: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_path("zh-bold" if bold else "zh"), px)


def _bars(d: ImageDraw.ImageDraw, box: tuple[int, int, int, int], title: str, labels: list[str],
          series: list[tuple[str, tuple[int, int, int], list[float]]], fmt: str = "{:.0f}",
          top: float | None = None) -> None:
    """Grouped vertical bars in `box` with a title, a legend, value labels and category labels."""
    x0, y0, x1, y1 = box
    d.text((x0, y0), title, font=_font(30, True), fill=INK)
    lx = x0 + d.textlength(title, font=_font(30, True)) + 30
    for name, colour, _ in series:
        d.rectangle((lx, y0 + 10, lx + 18, y0 + 28), fill=colour)
        d.text((lx + 24, y0 + 4), name, font=_font(22), fill=INK)
        lx += 24 + d.textlength(name, font=_font(22)) + 24
    y0 += 60
    base = y1 - 40
    peak = top or max([v for _, _, vs in series for v in vs] + [1])
    for i in range(5):
        y = base - (base - y0) * i / 4
        d.line((x0, y, x1, y), fill=GRID)
    n, k = max(1, len(labels)), len(series)
    slot = (x1 - x0) / n
    bar = min(60.0, slot * 0.8 / k)
    for i, label in enumerate(labels):
        cx = x0 + slot * (i + 0.5)
        for j, (_, colour, values) in enumerate(series):
            v = values[i]
            left = cx - bar * k / 2 + j * bar
            top_y = base - (base - y0) * (v / peak)
            d.rectangle((left, top_y, left + bar - 4, base), fill=colour)
            text = fmt.format(v)
            d.text((left + (bar - 4 - d.textlength(text, font=_font(18))) / 2, top_y - 24), text, font=_font(18),
                   fill=INK)
        lw = d.textlength(label, font=_font(20))
        d.text((cx - lw / 2, base + 8), label, font=_font(20), fill=INK)


def write_png(rep: dict[str, Any], out: Path) -> None:
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    period = rep["date"] if rep["until"] == rep["date"] else f"{rep['date']} — {rep['until']}"
    d.text((40, 30), f"{rep['hall']['name']}  {period}", font=_font(40, True), fill=INK)
    t, ev, wo = rep["tickets"], rep["evaluations"], rep["work_orders"]
    wait = rep["wait_s"]["mean"]
    waited = f"平均等候 {wait / 60:.1f} 分钟   " if wait is not None else ""
    head = (f"取号 {t['issued']}   办结 {t['served']}   过号 {t['no_show']}   绿色通道 {t['green']}   {waited}"
            f"评价 {ev['rated']}   差评 {ev['bad']}   可疑评价 {ev.get('flagged', 0)}   "
            f"差评工单 {wo['opened']}（超期 {wo['overdue']}）")
    d.text((40, 90), head, font=_font(24), fill=INK)
    d.text((40, 122), "日志校验：完整" if rep["log_intact"] else "日志校验：未通过 — 运行 hallq audit verify",
           font=_font(22), fill=GREEN if rep["log_intact"] else RED)
    services = rep["by_service"]
    names = list(services)
    label = rep.get("service_names", {})
    _bars(d, (40, 180, 1560, 560), "各事项取号与办结", [label.get(s, s) for s in names],
          [("取号", BLUE, [services[s]["issued"] for s in names]),
           ("办结", GREEN, [services[s]["served"] for s in names])])
    hours = rep["by_hour"]
    _bars(d, (40, 620, 900, 1160), "各时段取号", [f"{h}时" for h in hours],
          [("取号", BLUE, [hours[h]["issued"] for h in hours])])
    rates = [("好评率", ev["good_rate"]), ("差评率", ev["bad_rate"]), ("主动评价率", ev.get("active_rate", 0.0)),
             ("未评率", ev["unrated_rate"]), ("差评整改率", wo["rectified_rate"])]
    _bars(d, (960, 620, 1560, 1160), "好差评", [n for n, _ in rates],
          [("比例 %", GREY, [round(v * 100, 1) for _, v in rates])], fmt="{:.1f}", top=100.0)
    img.save(out)
