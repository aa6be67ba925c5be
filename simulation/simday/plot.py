"""PNG charts of a simulated day, drawn with Pillow: waits over the day per policy, estimate error per half hour."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from simulation.simday.executor import DayResult

W, H = 1100, 720
LEFT, RIGHT = 70, 20
COLORS = {"pooled": (31, 119, 180), "departments": (230, 120, 20), "controller": (31, 119, 180),
          "naive": (200, 50, 50)}
GRID = (225, 225, 225)
INK = (40, 40, 40)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for p in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(p, size)
        except OSError:
            continue
    return ImageFont.load_default()


class _Panel:
    def __init__(self, d: ImageDraw.ImageDraw, top: int, bottom: int, t0: float, t1: float, ymax: float) -> None:
        self.d, self.top, self.bottom, self.t0, self.t1, self.ymax = d, top, bottom, t0, t1, max(ymax, 1.0)

    def x(self, t: float) -> float:
        return LEFT + (t - self.t0) / (self.t1 - self.t0) * (W - LEFT - RIGHT)

    def y(self, v: float) -> float:
        return self.bottom - min(v, self.ymax) / self.ymax * (self.bottom - self.top)

    def axes(self, ylabel: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> None:
        step = _nice(self.ymax / 5)
        v = 0.0
        while v <= self.ymax + 1e-9:
            self.d.line([(LEFT, self.y(v)), (W - RIGHT, self.y(v))], fill=GRID)
            self.d.text((LEFT - 8, self.y(v)), f"{v:g}", fill=INK, font=font, anchor="rm")
            v += step
        h = int(self.t0 // 3600)
        while h * 3600 <= self.t1:
            if h * 3600 >= self.t0:
                self.d.line([(self.x(h * 3600), self.top), (self.x(h * 3600), self.bottom)], fill=GRID)
                self.d.text((self.x(h * 3600), self.bottom + 4), f"{h:02d}:00", fill=INK, font=font, anchor="mt")
            h += 1
        self.d.rectangle([LEFT, self.top, W - RIGHT, self.bottom], outline=INK)
        self.d.text((12, self.top - 22), ylabel, fill=INK, font=font)


def _nice(x: float) -> float:
    for m in (1, 2, 5, 10, 20, 30, 60, 120):
        if m >= x:
            return float(m)
    return 240.0


def _rolling(points: list[tuple[float, float]], width_s: float, t0: float, t1: float) -> list[tuple[float, float]]:
    out = []
    t = t0
    while t <= t1:
        vals = [v for (s, v) in points if t - width_s / 2 <= s < t + width_s / 2]
        if vals:
            out.append((t, sum(vals) / len(vals)))
        t += 300
    return out


def wait_chart(results: list[DayResult], title: str, path: Path) -> Path:
    """Top: each ticket's wait by issue time and a 30-minute mean per policy. Bottom: estimate error."""
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    font, big = _font(13), _font(17)
    every = [r for res in results for r in res.tickets if r.wait_s is not None]
    if not every:
        img.save(path)
        return path
    t0 = min(r.issued_s for r in every) // 3600 * 3600
    t1 = max(r.called_s or r.issued_s for r in every)
    d.text((LEFT, 10), title, fill=INK, font=big)
    top = _Panel(d, 70, 400, t0, t1, max(r.wait_s or 0 for r in every) / 60 * 1.05)
    top.axes("wait until called (min), by time of issue", font)
    for i, res in enumerate(results):
        c = COLORS.get(res.policy, INK)
        light = (int(c[0] + (255 - c[0]) * 0.65), int(c[1] + (255 - c[1]) * 0.65), int(c[2] + (255 - c[2]) * 0.65))
        pts = [(r.issued_s, (r.wait_s or 0) / 60) for r in res.tickets if r.wait_s is not None]
        for s, v in pts:
            x, y = top.x(s), top.y(v)
            d.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=light)
        line = [(top.x(s), top.y(v)) for s, v in _rolling(pts, 1800, t0, t1)]
        if len(line) > 1:
            d.line(line, fill=c, width=3)
        d.text((W - RIGHT - 300, 78 + 18 * i), f"— {res.policy} (30-min mean)", fill=c, font=font)
    pooled = next((r for r in results if r.policy == "pooled"), results[0])
    pairs = {"controller": [(r.issued_s, abs((r.est_s or 0) - (r.wait_s or 0)) / 60) for r in pooled.tickets
                            if r.wait_s is not None and r.est_s is not None and r.naive_s is not None],
             "naive": [(r.issued_s, abs((r.naive_s or 0) - (r.wait_s or 0)) / 60) for r in pooled.tickets
                       if r.wait_s is not None and r.est_s is not None and r.naive_s is not None]}
    curves = {k: _rolling(v, 1800, t0, t1) for k, v in pairs.items()}
    ymax = max([v for curve in curves.values() for _, v in curve] + [1.0]) * 1.1
    bottom = _Panel(d, 470, 680, t0, t1, ymax)
    bottom.axes(f"est_wait_s error (min, 30-min mean of |estimate − real|), {pooled.policy} hall", font)
    for i, (k, curve) in enumerate(curves.items()):
        if len(curve) > 1:
            d.line([(bottom.x(s), bottom.y(v)) for s, v in curve], fill=COLORS[k], width=3)
        label = "controller est_wait_s" if k == "controller" else "naive: ahead × mean ÷ open windows"
        d.text((W - RIGHT - 300, 478 + 18 * i), f"— {label}", fill=COLORS[k], font=font)
    img.save(path)
    return path
