"""Benchmark (not a test): the manager's console — the live hall page's update latency, and period reports on
60 league days of generated history.

1. Live page: real mosquitto, controller and `hallq console`; headless Chromium shows /hall signed in as a
   manager. A ticket is issued every 100 ms over MQTT; a MutationObserver in the page stamps each change of the
   "issued today" figure. Latency = that stamp minus the moment a sibling MQTT subscriber got the
   `ticket.issued` event (event → page), and minus the moment the command was sent (command → page).
2. Reports: one simulated league day (bench_history.league_day) copied over 60 working days into a real event
   log; `hallq report` for a day, a week, a month and two quarters, each in a fresh process: wall time and peak
   RSS (the child's ru_maxrss), to show memory follows the period, not the history.
Writes bench/results/manager.json. Usage: python bench/bench_manager.py [--samples 200] [--days 60]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_history import league_day, shifted, working_days  # noqa: E402
from bench.common import pct  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def live_latency(samples: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from hallq.broker import Mosquitto
    from hallq.mqtt import BlockingClient
    from tests.console.desk import PASSWORDS, Desk

    Stamped = _stamped()
    with tempfile.TemporaryDirectory(prefix="hallq-bench-manager-") as tmp:
        broker = Mosquitto(workdir=Path(tmp) / "broker").start()
        desk = Desk(Path(tmp), broker)
        try:
            with sync_playwright() as p:
                b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                page = b.new_page(viewport={"width": 1600, "height": 900})
                page.goto(desk.url + "/signin")
                page.get_by_label("工号").fill("M001")
                page.get_by_label("密码").fill(PASSWORDS["M001"])
                page.get_by_role("button", name="登录").click()
                page.wait_for_url("**/hall")
                page.locator("#fig-issued", has_text="0").wait_for()
                page.evaluate("""() => { window.__t = {}; const el = document.getElementById('fig-issued');
                    new MutationObserver(() => {
                        if (!(el.textContent in window.__t)) window.__t[el.textContent] = Date.now(); })
                      .observe(el, {childList: true, characterData: true, subtree: true}); }""")
                watch = Stamped(desk.hall.cfg, "watch", (desk.hall.cfg.topic("event", "ticket.issued"),))
                watch.connect()
                cmd = BlockingClient(desk.hall.cfg, "kiosk")
                cmd.connect()
                sent: list[float] = []
                for _ in range(samples):
                    sent.append(time.time() * 1000)
                    cmd.command("issue", service="general")
                    time.sleep(0.1)
                page.locator("#fig-issued", has_text=str(samples)).wait_for(timeout=10000)
                stamps: dict[str, int] = page.evaluate("window.__t")
                watch.wait_for(desk.hall.cfg.topic("event", "ticket.issued"), start=samples - 1)
                got = watch.arrivals[:samples]
                watch.close()
                cmd.close()
                b.close()
        finally:
            desk.close()
            broker.stop()
    ev_ms = [stamps[str(i + 1)] - got[i] for i in range(samples) if str(i + 1) in stamps]
    cmd_ms = [stamps[str(i + 1)] - sent[i] for i in range(samples) if str(i + 1) in stamps]
    return {"samples": samples, "seen": len(ev_ms), "interval_ms": 100,
            "event_to_page_ms": {"p50": pct(ev_ms, 50), "p99": pct(ev_ms, 99), "max": max(ev_ms)},
            "command_to_page_ms": {"p50": pct(cmd_ms, 50), "p99": pct(cmd_ms, 99), "max": max(cmd_ms)}}


def _stamped() -> type:
    from hallq.mqtt import BlockingClient

    class Stamped(BlockingClient):
        """A BlockingClient that notes when each subscribed message arrived (ms since the epoch)."""

        arrivals: list[float]

        def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
            if msg.topic != self.reply_topic:
                self.arrivals = getattr(self, "arrivals", [])
                self.arrivals.append(time.time() * 1000)
            super()._on_message(_c, _u, msg)

    return Stamped


def report_run(data: Path, args: list[str]) -> dict[str, Any]:
    """`hallq report` in a fresh child: wall time and the child's own peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "hallq", "report", "--data", str(data), *args, "--format",
                                 "json", "--out", str(Path(tmp) / "r.json")], cwd=REPO, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        dt = time.perf_counter() - t0
        err = proc.stderr.read().decode() if proc.stderr else ""
        if status != 0:
            raise RuntimeError(f"report {args} failed: {err}")
        rep = json.loads((Path(tmp) / "r.json").read_text(encoding="utf-8"))
    return {"args": " ".join(args), "seconds": round(dt, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "issued": rep["tickets"]["issued"], "days": len(rep["by_day"])}


def reports(days_n: int) -> dict[str, Any]:
    import yaml

    from controller.store import EventStore

    t0 = time.perf_counter()
    raw_cfg, events = league_day()
    base = json.dumps(events, ensure_ascii=False)
    days = working_days(days_n)
    with tempfile.TemporaryDirectory(prefix="hallq-bench-reports-") as tmp:
        data = Path(tmp) / "data"
        store = EventStore(data).open()
        store.record_config(yaml.safe_dump(raw_cfg, allow_unicode=True))
        third = days_n // 3
        for d in days[:third]:
            store.append([(shifted(base, d), None)])
        store.close()
        # the same day and quarter with a third of the history, then with all of it: memory follows the period
        early = [dict(report_run(data, ["--date", days[third // 2].isoformat()]), history_days=third),
                 dict(report_run(data, ["--date", days[0].isoformat(), "--quarter"]), history_days=third)]
        store = EventStore(data).open()
        for d in days[third:]:
            store.append([(shifted(base, d), None)])
        head = store.head_seq
        store.close()
        early += [dict(report_run(data, ["--date", days[third // 2].isoformat()]), history_days=days_n),
                  dict(report_run(data, ["--date", days[0].isoformat(), "--quarter"]), history_days=days_n)]
        for r in early:
            print(f"  with {r['history_days']:3d} days of history: report {r['args']:<28} {r['seconds']:6.1f} s  "
                  f"peak {r['peak_rss_mb']:6.1f} MB", flush=True)
        gen_s = time.perf_counter() - t0
        print(f"{days_n} league days: {head} events ({gen_s:.0f} s to generate)", flush=True)
        mid = days[len(days) // 2].isoformat()
        runs = []
        for args in (["--date", mid], ["--date", mid, "--week"], ["--date", mid, "--month"],
                     ["--date", days[0].isoformat(), "--quarter"], ["--date", days[-1].isoformat(), "--quarter"],
                     ["--from", days[0].isoformat(), "--to", days[-1].isoformat()]):
            r = report_run(data, args)
            print(f"  report {r['args']:<40} {r['days']:3d} days {r['issued']:7d} tickets  {r['seconds']:6.1f} s  "
                  f"peak {r['peak_rss_mb']:6.1f} MB", flush=True)
            runs.append(r)
    return {"days": days_n, "events": head, "history_growth": early, "first_day": days[0].isoformat(),
            "last_day": days[-1].isoformat(),
            "events_per_day": len(events), "runs": runs}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--skip-live", action="store_true")
    ap.add_argument("--skip-reports", action="store_true")
    a = ap.parse_args()
    out = REPO / "bench" / "results" / "manager.json"
    res: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    res["when"] = datetime.now().astimezone().isoformat(timespec="seconds")
    if not a.skip_live:
        res["live_page"] = live_latency(a.samples)
        print("live page:", json.dumps(res["live_page"]), flush=True)
    if not a.skip_reports:
        res["reports"] = reports(a.days)
    res["note"] = ("2 shared CPU cores; latency stamps: MQTT arrival at a sibling subscriber vs the page's "
                   "MutationObserver (same machine clock); reports run in a fresh process each; "
                   f"generated {date.today().isoformat()}")
    out.write_text(json.dumps(res, indent=2, ensure_ascii=False))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
