"""Benchmark (not a test): the kiosk. Tap on a service -> ticket issued by the real controller over
mosquitto -> ESC/POS bytes -> last byte (the cut) received by a printer on a pseudo-terminal at 115200
baud, p50/p95, split into issue and print; the kiosk's cold start (process start -> home screen with the
controller online) headless and with the Kivy window under Xvfb, and its RSS. Writes bench/results/kiosk.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import pct, rss_mb  # noqa: E402
from devices.printer.simulator import Job, PrinterSimulator, PtyPrinter  # noqa: E402
from hallq.broker import Mosquitto  # noqa: E402
from hallq.config import parse_config  # noqa: E402
from kiosk.intents import IssueDone, Tap  # noqa: E402
from kiosk.presenter import Screen  # noqa: E402
from kiosk.runtime import KioskRuntime  # noqa: E402

VISITS = 60




async def visits(rt: KioskRuntime, cut: dict[str, float], issued: dict[str, float]) -> list[dict[str, float]]:
    stop = asyncio.Event()
    task = asyncio.create_task(rt.run(stop))
    while not rt.presenter.controller_online:
        await asyncio.sleep(0.05)
    out: list[dict[str, float]] = []
    for i in range(VISITS):
        rt.post(Tap("lang", "zh"))
        while rt.presenter.screen is not Screen.SERVICES:
            await asyncio.sleep(0.002)
        cut.clear()
        issued.clear()
        t0 = time.perf_counter()
        rt.post(Tap("service", "general" if i % 2 else "tax"))
        while "t" not in cut or not _on(rt, Screen.RESULT):
            await asyncio.sleep(0.001)
        out.append({"tap_to_cut_ms": (cut["t"] - t0) * 1000, "tap_to_ticket_ms": (issued["t"] - t0) * 1000,
                    "ticket_to_cut_ms": (cut["t"] - issued["t"]) * 1000})
        rt.post(Tap("home"))
        while not _on(rt, Screen.HOME):
            await asyncio.sleep(0.002)
    stop.set()
    await task
    return out


def _on(rt: KioskRuntime, screen: Screen) -> bool:
    return rt.presenter.screen is screen


def cold_start(config: Path, gui: bool, tmp: Path) -> dict[str, float]:
    """Seconds from process start to the home screen with the controller online, and RSS then."""
    marker = tmp / f"ready-{'gui' if gui else 'headless'}.json"
    env = dict(os.environ, PYTHONUNBUFFERED="1", KIVY_NO_ARGS="1")
    argv = [sys.executable, "-m", "hallq", "kiosk", "--config", str(config), "--kiosk", "k1"]
    if gui:
        argv += ["--autopilot", json.dumps([{"wait": "home"}, {"dump": str(marker)}])]
    else:
        argv.append("--headless")
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        if gui:
            while not marker.exists():
                time.sleep(0.01)
        else:
            assert proc.stdout is not None
            for line in proc.stdout:
                if "系统连接中" not in line:
                    break
        took = time.perf_counter() - t0
        rss = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(20)
    return {"cold_start_s": round(took, 2), "rss_mb": round(rss, 1)}


def encode_times(cfg: Any) -> dict[str, float]:
    """Encoding one ticket, its constant rasters (hall, service, notice) cached vs rendered every time."""
    import dataclasses

    from devices.printer import escpos
    from devices.printer.cli import sample_ticket

    t = sample_ticket(cfg)

    def per_ticket(clear: bool) -> float:
        t0 = time.perf_counter()
        for i in range(30):  # the wait line differs from ticket to ticket, as in a hall
            if clear:
                escpos.bilingual_raster.cache_clear()
                escpos.mongolian_raster.cache_clear()
            wait = f"ᠡᠮᠦᠨ᠎ᠡ ᠪᠡᠨ {i} ᠬᠦᠮᠦᠨ ᠂ ᠬᠦᠯᠢᠶᠡᠬᠦ ᠬᠤᠭᠤᠴᠠᠭ᠎ᠠ {i * 3 + int(clear)} ᠮᠢᠨᠦ᠋ᠲ"
            escpos.render_ticket_bytes(dataclasses.replace(t, wait_mn=wait), escpos.PROFILES["80mm"])
        return (time.perf_counter() - t0) / 30 * 1000

    uncached, cached = per_ticket(True), per_ticket(False)
    return {"uncached": round(uncached, 2), "cached": round(cached, 2), "ratio": round(cached / uncached, 2)}


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="hallq-bench-kiosk-"))
    broker = Mosquitto(workdir=tmp / "broker").start()
    cut: dict[str, float] = {}

    def on_job(_job: Job) -> None:
        cut["t"] = time.perf_counter()

    sim = PrinterSimulator("bench", out_dir=None, on_job=on_job)
    host = PtyPrinter(sim, link=tmp / "ttyPRINTER").open()
    raw: dict[str, Any] = {
        "hall": {"id": "bench", "name": {"zh": "基准政务服务中心", "mn": "ᠰᠢᠯᠢ ᠶᠢᠨ ᠬᠣᠲᠠ"}},
        "mqtt": {"port": broker.port}, "data_dir": str(tmp / "data"),
        "services": [{"id": "general", "prefix": "A", "name": {"zh": "综合受理", "mn": "ᠶᠡᠷᠦᠩᠬᠡᠢ"}},
                     {"id": "tax", "prefix": "S", "name": {"zh": "税务", "mn": "ᠲᠠᠲᠠᠪᠤᠷᠢ"}}],
        "windows": [{"id": "1", "services": ["general", "tax"]}],
        "kiosks": [{"id": "k1", "printer": {"url": f"serial://{tmp / 'ttyPRINTER'}?baud=115200",
                                            "status_poll_s": 5}}]}
    config = tmp / "hall.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    ctl = subprocess.Popen([sys.executable, "-m", "hallq", "controller", "--config", str(config)], cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=open(tmp / "controller.log", "ab"))  # noqa: SIM115
    try:
        cfg = parse_config(raw)
        rt = KioskRuntime(cfg, cfg.kiosks[0])
        issued: dict[str, float] = {}
        handle = rt.presenter.handle

        def timed(intent: Any, now: Any) -> Any:
            if isinstance(intent, IssueDone):
                issued["t"] = time.perf_counter()
            return handle(intent, now)

        rt.presenter.handle = timed  # type: ignore[method-assign]
        rows = asyncio.run(visits(rt, cut, issued))
        headless = cold_start(config, False, tmp)
        gui = cold_start(config, True, tmp) if os.environ.get("DISPLAY") else {}
    finally:
        ctl.terminate()
        ctl.wait(20)
        host.close()
        broker.stop()
    ticket_bytes = len(sim.jobs[-1].data) if sim.jobs else 0
    result: dict[str, Any] = {"visits": VISITS, "printer": "pty, 115200 baud (pyserial), simulated printer",
                              "ticket_bytes": ticket_bytes,
                              "wire_time_ms_at_115200": round(ticket_bytes * 10 / 115200 * 1000, 1)}
    for key in ("tap_to_cut_ms", "tap_to_ticket_ms", "ticket_to_cut_ms"):
        xs = [r[key] for r in rows]
        result[key] = {"p50": round(statistics.median(xs), 1), "p95": round(pct(xs, 95), 1),
                       "max": round(max(xs), 1)}
    result["encode_ms"] = encode_times(cfg)
    result["cold_start_headless"] = headless
    result["cold_start_gui"] = gui
    out = REPO / "bench" / "results" / "kiosk.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
