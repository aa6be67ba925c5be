"""A real headless kiosk follows an edited config without a restart, against the real controller and mosquitto:
`hallq reload` on a village box moves the controller and then the kiosk beside it; a citizen in the middle of
choosing finishes with what they started with and the kiosk takes the new file once home (a renamed service, a
service whose new hours close it now: greyed with the reason). A bare SIGHUP at home is taken at once; a bad file
or a change only a restart can make is one log line, and the kiosk runs on with what it had."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hallq.broker import Mosquitto
from hallq.text.words import msg
from tests.conftest import REPO, Hall, edit_config, small_hall
from tests.kiosk.test_kiosk_runtime import HeadlessKiosk

CLOCK = ("--clock", "2026-11-23T10:00:00+08:00")      # a Monday, 10:00 in the hall: the kiosk's own time
STOPPED = msg("issuing_stopped").zh                     # 已停止取号
EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.fixture
def hall(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Hall]:
    h = Hall(tmp_path, mosquitto, small_hall(mosquitto.port, data_dir=str(tmp_path / "data"), kiosks=[{"id": "k1"}]))
    yield h
    h.controller.kill()


def renamed_and_closed(raw: dict[str, Any]) -> None:
    raw["services"][0]["name"] = {"zh": "综合窗口", "mn": "ᠶᠡᠷᠦᠩᠬᠡᠢ"}
    raw["services"][1]["hours"] = {"weekly": {d: ["08:00-09:00"] for d in EVERY_DAY}}   # closed at 10:00


def reload_cli(h: Hall, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hallq", "reload", "--config", str(h.config_path), "--data",
                           str(h.data_dir), "--timeout", "30", *extra], cwd=REPO, capture_output=True, text=True,
                          timeout=90)


def wait_log(k: HeadlessKiosk, text: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in k.log.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"the kiosk never logged {text!r}:\n" + k.log.read_text()[-3000:]
        time.sleep(0.05)


def after(texts: list[str], first: str) -> list[str]:
    """The texts of one service's button on the services screen: from its name to the next service's."""
    i = texts.index(first)
    names = ("综合受理", "综合窗口", "税务", "返回首页")
    end = next((j for j in range(i + 1, len(texts)) if texts[j] in names), len(texts))
    return texts[i:end]


def test_village_reload_reaches_the_kiosk_which_waits_for_the_visitor(hall: Hall) -> None:
    h = hall
    h.start_controller()
    k = HeadlessKiosk(h, extra=CLOCK)
    try:
        k.home_online()
        k.send(tap="lang", arg="zh")
        before = k.screen("services")["texts"]
        assert "综合受理" in before and STOPPED not in before

        sha = edit_config(h.config_path, renamed_and_closed)
        r = reload_cli(h)
        assert r.returncode == 0, r.stderr
        assert "runs the new configuration" in r.stdout, "the controller first"
        assert f"kiosk k1 (pid {k.proc.pid}) takes the new configuration (sha256 {sha})" in r.stdout, r.stdout
        assert "applies once the visitor now at the kiosk has finished" in r.stdout

        with h.client("reception") as c:            # the queue moves: the citizen's screen is drawn again ...
            c.command("issue", service="general")
        waiting = msg("waiting_n", n=1).zh
        shown = k.wait(lambda v: any(t.startswith(waiting) for t in v["texts"]), "a new waiting count")["texts"]
        assert "综合受理" in shown and "综合窗口" not in shown, "... with the services the visit started with"
        assert STOPPED not in after(shown, "税务")
        assert "now runs" not in k.log.read_text()

        k.send(tap="home")
        k.screen("home")
        wait_log(k, f"now runs sha256 {sha}")
        k.send(tap="lang", arg="zh")
        now = k.wait(lambda v: v["screen"] == "services" and "综合窗口" in v["texts"], "the renamed service")["texts"]
        assert "综合受理" not in now
        assert STOPPED in after(now, "税务"), f"tax greyed with its reason: {after(now, '税务')}"
        k.send(tap="service", arg="tax")
        assert k.screen("error")["texts"][0] == msg("service_closed").zh, "a tap says why; no ticket is asked for"
    finally:
        assert k.stop() == 0
    assert not (h.data_dir / "kiosk-k1" / "kiosk.pid").exists(), "the pid file goes with the kiosk"


def test_sighup_at_home_a_bad_file_and_a_restart_only_change(hall: Hall) -> None:
    h = hall
    h.start_controller()
    k = HeadlessKiosk(h, extra=CLOCK)
    try:
        k.home_online()
        assert int((h.data_dir / "kiosk-k1" / "kiosk.pid").read_text()) == k.proc.pid
        sha = edit_config(h.config_path, renamed_and_closed)
        good = h.config_path.read_text(encoding="utf-8")
        os.kill(k.proc.pid, signal.SIGHUP)
        wait_log(k, f"now runs sha256 {sha}")
        k.send(tap="lang", arg="zh")
        now = k.wait(lambda v: v["screen"] == "services" and "综合窗口" in v["texts"], "the renamed service")["texts"]
        assert STOPPED in after(now, "税务")
        k.send(tap="home")
        k.screen("home")

        mark = len(k.log.read_text().splitlines())
        edit_config(h.config_path, lambda raw: raw["services"][0].update(prefx="Q"))     # a typo
        os.kill(k.proc.pid, signal.SIGHUP)
        wait_log(k, "reload refused")
        said = [x for x in k.log.read_text().splitlines()[mark:] if "reload" in x or "Traceback" in x]
        assert len(said) == 1, said
        assert "kiosk k1: reload refused, still running the previous configuration" in said[0]
        assert f"(sha256 {sha})" in said[0] and "services[0].prefx: unknown key" in said[0]
        assert k.proc.poll() is None
        k.send(tap="lang", arg="zh")
        assert "综合窗口" in k.screen("services")["texts"], "the kiosk runs on with the good file"
        k.send(tap="home")
        k.screen("home")

        # systemctl reload hallq-kiosk@k1: the file validated first, then the kiosk's own answer
        bad = reload_cli(h, "--kiosk", "k1")
        assert bad.returncode == 2 and "services[0].prefx" in bad.stderr and "Traceback" not in bad.stderr
        h.config_path.write_text(good, encoding="utf-8")
        edit_config(h.config_path, lambda raw: raw["kiosks"][0].update(printer={"url": "tcp://127.0.0.1:9"}))
        no = reload_cli(h, "--kiosk", "k1")
        assert no.returncode == 2 and "kiosk k1 refused the new configuration" in no.stderr, no.stderr
        assert "kiosks[k1].printer (the printer is opened at start)" in no.stderr
        assert "systemctl restart hallq-kiosk@k1" in no.stderr
        edit_config(h.config_path, lambda raw: raw.update(kiosks=[{"id": "k2"}]))
        gone = reload_cli(h, "--kiosk", "k1")
        assert gone.returncode == 2 and "kiosks: no kiosk 'k1' in the new file (known: k2)" in gone.stderr
        h.config_path.write_text(good, encoding="utf-8")
        ok = reload_cli(h, "--kiosk", "k1")
        assert ok.returncode == 0, ok.stderr
        assert f"kiosk k1 (pid {k.proc.pid}) takes the new configuration (sha256 {sha}): applied (nothing " \
               "kiosk k1 uses changed)" in ok.stdout
        assert k.proc.poll() is None
        assert k.log.read_text().count("reload refused") == 3
    finally:
        assert k.stop() == 0
