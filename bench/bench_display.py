"""Benchmark (not a test): the call screen. `ticket.called` published by the real controller over mosquitto
-> the call handled by the presenter, drawn on the Kivy screen (the frame flipped), and its announcement
started (WAV concatenated, player started), p50/p99 over the calls. Times are stamped inside the display
process (`hallq display --trace`, time.monotonic, which is one clock for every process on the machine).
Run under Xvfb for the real screen; without a display the headless runtime is measured (no drawing).
Writes bench/results/display.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import pct, rss_mb  # noqa: E402
from hallq.broker import Mosquitto  # noqa: E402
from hallq.config import parse_config  # noqa: E402
from hallq.mqtt import BlockingClient  # noqa: E402

CALLS = 60
WARM_UP = 3
SPACING_S = 0.25  # between calls, after the previous one was shown and announced




class TraceReader:
    """Reads the display's trace file incrementally."""

    def __init__(self, path: Path) -> None:
        self.path, self.pos = path, 0
        self.rows: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        if self.path.exists():
            with self.path.open(encoding="utf-8") as f:
                f.seek(self.pos)
                chunk = f.read()
                cut = chunk.rfind("\n") + 1
                self.pos += len(chunk[:cut].encode("utf-8"))
            self.rows += [json.loads(x) for x in chunk[:cut].splitlines() if x.strip()]
        return self.rows

    def wait(self, pred: Any, what: str, timeout_s: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for r in self.poll():
                if pred(r):
                    return r
            time.sleep(0.005)
        raise TimeoutError(f"the display never reported {what} (trace {self.path})")


class StampingClient(BlockingClient):
    """Notes when each ticket.called reached the bench (paho's thread, before any queueing)."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.arrived: dict[int, float] = {}

    def _on_message(self, c: Any, u: Any, msg: Any) -> None:
        if msg.topic.endswith("/ticket.called"):
            self.arrived[int(json.loads(msg.payload)["seq"])] = time.monotonic()
        super()._on_message(c, u, msg)


def run(notice: dict[str, str]) -> dict[str, Any]:
    """One display process through WARM_UP + CALLS calls; its timings."""
    tmp = Path(tempfile.mkdtemp(prefix="hallq-bench-display-"))
    broker = Mosquitto(workdir=tmp / "broker").start()
    gui = bool(os.environ.get("DISPLAY"))
    raw: dict[str, Any] = {
        "hall": {"id": "bench", "name": {"zh": "基准政务服务中心", "mn": "ᠰᠢᠯᠢ ᠶᠢᠨ ᠬᠣᠲᠠ"}},
        "mqtt": {"port": broker.port}, "data_dir": str(tmp / "data"),
        "services": [{"id": "general", "prefix": "A", "name": {"zh": "综合受理", "mn": "ᠶᠡᠷᠦᠩᠬᠡᠢ"}},
                     {"id": "tax", "prefix": "S", "name": {"zh": "税务", "mn": "ᠲᠠᠲᠠᠪᠤᠷᠢ"}}],
        "windows": [{"id": "1", "services": ["general", "tax"]}, {"id": "2", "services": ["general"]}],
        "staff": [{"id": "S001", "name": "张三", "windows": ["1"]}, {"id": "S002", "name": "李四", "windows": ["2"]}],
        "displays": [{"id": "bench-tv", "notice": notice}]}
    config = tmp / "hall.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    cfg = parse_config(raw)
    trace_path = tmp / "trace.jsonl"
    env = dict(os.environ, PYTHONUNBUFFERED="1", KIVY_NO_ARGS="1")
    ctl = subprocess.Popen([sys.executable, "-m", "hallq", "controller", "--config", str(config)], cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=open(tmp / "controller.log", "ab"))  # noqa: SIM115
    argv = [sys.executable, "-m", "hallq", "display", "--config", str(config), "--board", "bench-tv",
            "--trace", str(trace_path)]
    t_start = time.monotonic()
    disp = subprocess.Popen(argv + ([] if gui else ["--headless"]), cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "display.log", "ab"))  # noqa: SIM115
    trace = TraceReader(trace_path)
    rows: list[dict[str, float]] = []
    try:
        trace.wait(lambda r: r["ev"] == "link" and r["up"], "its MQTT session up")
        cold_start_s = time.monotonic() - t_start
        c = StampingClient(cfg, "bench", (cfg.topic("event", "ticket.called"), cfg.topic("controller", "status")))
        with c:
            c.wait_for(cfg.topic("controller", "status"), lambda b: b.get("state") == "online", timeout_s=30)
            c.command("login", window="1", staff="S001")
            c.command("login", window="2", staff="S002")
            seen = 0
            for i in range(WARM_UP + CALLS):
                c.command("issue", service="general")
                window = "1" if i % 2 else "2"
                t_cmd = time.monotonic()
                ticket = c.command("call", window=window)["ticket"]["number"]
                def is_called(b: dict[str, Any], n: str = ticket) -> bool:
                    return bool(b["ticket"] == n)

                ev = c.wait_for(cfg.topic("event", "ticket.called"), is_called, start=seen)
                seen = len(c.received)
                seq = ev["seq"]
                t_event = c.arrived[seq]
                handled = trace.wait(lambda r, s=seq: r["ev"] == "handled" and r["seq"] == s, f"seq {seq} handled")
                screen = trace.wait(lambda r, s=seq: r["ev"] == "screen" and s in r["seqs"], f"seq {seq} on screen")
                audio = trace.wait(lambda r, s=seq: r["ev"] == "audio" and r["seq"] == s and r["lang"] == "zh",
                                   f"seq {seq} announced")
                if i >= WARM_UP:
                    rows.append({"event_to_presenter_ms": (handled["t"] - t_event) * 1000,
                                 "event_to_screen_ms": (screen["t"] - t_event) * 1000,
                                 "event_to_audio_ms": (audio["t"] - t_event) * 1000,
                                 "command_to_screen_ms": (screen["t"] - t_cmd) * 1000})
                time.sleep(SPACING_S)
        rss = rss_mb(disp.pid)
    finally:
        disp.terminate()
        try:
            disp.wait(10)
        except subprocess.TimeoutExpired:
            disp.kill()
        ctl.terminate()
        ctl.wait(20)
        broker.stop()
    result: dict[str, Any] = {"display_cold_start_s": round(cold_start_s, 2), "display_rss_mb": round(rss, 1)}
    for key in ("event_to_presenter_ms", "event_to_screen_ms", "event_to_audio_ms", "command_to_screen_ms"):
        xs = [r[key] for r in rows]
        result[key] = {"p50": round(statistics.median(xs), 1), "p99": round(pct(xs, 99), 1),
                       "max": round(max(xs), 1)}
    return result


def main() -> None:
    gui = bool(os.environ.get("DISPLAY"))
    result: dict[str, Any] = {
        "calls": CALLS, "cpus": os.cpu_count(),
        "screen": "Kivy window under Xvfb (software GL, llvmpipe)" if gui else "headless (no drawing)",
        "published": "the bench's own subscriber receiving ticket.called (same broker hop as the display)",
        "screen_updated": "first Window.on_flip after the call was applied to the presenter",
        "audio_started": "announcement WAV concatenated, player about to start (Chinese; no Mongolian clips "
                         "recorded, so Mongolian is skipped)",
        "player": "aplay" if Path("/dev/snd").exists() else "aplay without a sound card (exits at once)",
        "scrolling_notice": run({"mn": "ᠮᠡᠨᠳᠦ ᠬᠦᠷᠭᠡᠶ᠎ᠡ", "zh": "欢迎光临，请留意叫号"}),
        "no_notice": run({"mn": "", "zh": ""})}
    out = REPO / "bench" / "results" / "display.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
