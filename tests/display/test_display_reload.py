"""The call screen follows an edited config without a restart (SIGHUP, `hallq reload --board`): a renamed window
area and service are on the next frame, between two pumps; a bad file or a change only a restart can make is one
log line and the screen runs on with what it had. In-process against the runtime, then a real headless screen
(`--trace`) against the real controller and mosquitto."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from display.follow import choose
from display.runtime import DisplayRuntime
from hallq.broker import Mosquitto
from hallq.config import config_sha, load_config, parse_config
from hallq.mqtt import Message
from hallq.reloading import ConfigFile
from hallq.text.words import Msg, msg
from tests.conftest import REPO, Hall, edit_config, small_hall
from tests.display.test_display_poison import OFFLINE, HeadlessScreen

FIRST = {"zh": "一楼A区", "mn": "ᠨᠢᠭᠡᠳᠦᠭᠡᠷ"}
SECOND = {"zh": "二楼B区", "mn": "ᠬᠣᠶᠠᠳᠤᠭᠠᠷ"}


def raw_hall(port: int, data: Path) -> dict[str, Any]:
    raw = small_hall(port, data_dir=str(data), displays=[{"id": "tv", "voice": False}])
    raw["windows"][0]["area"] = FIRST
    return raw


def moved(raw: dict[str, Any]) -> None:
    raw["windows"][0]["area"] = SECOND
    raw["services"][0]["name"] = {"zh": "综合窗口", "mn": "ᠶᠡᠷᠦᠩᠬᠡᠢ"}


def typo(raw: dict[str, Any]) -> None:
    raw["windows"][0]["aera"] = raw["windows"][0].pop("area")


def call_text(number: str, area: dict[str, str]) -> str:
    return msg("call_area", number=number, window="1", area=Msg(area["zh"], area["mn"])).zh


def _called(seq: int, number: str) -> Message:
    body = {"type": "ticket.called", "seq": seq, "at": "2026-11-23T09:00:00+08:00", "ticket": number,
            "date": "2026-11-23", "service": "general", "window": "1", "recall": 0}
    return Message("hallq/test-hall/event/ticket.called", json.dumps(body).encode())


def test_runtime_takes_a_new_configuration_between_two_pumps(tmp_path: Path) -> None:
    path = tmp_path / "hall.yaml"
    path.write_text(yaml.safe_dump(raw_hall(1883, tmp_path / "data"), allow_unicode=True), encoding="utf-8")
    cfg = load_config(path)
    rt = DisplayRuntime(cfg, choose(cfg, "tv", str(path)))
    rt.config_file, rt.board_arg = ConfigFile(path), "tv"
    rt.sequence.last = 0
    rt._put(_called(1, "A001"))
    rt.pump()
    assert call_text("A001", FIRST) in rt.board.texts()

    sha = edit_config(path, moved)
    rt.request_reload()
    assert rt.board.cfg is cfg, "a signal only sets a flag: nothing is read or changed yet"
    rt.tick(time.monotonic())          # the timer thread reads and judges the file ...
    assert rt.board.cfg is cfg, "... and the screen's loop applies it, at its next pump"
    batch = rt.pump()
    assert batch.reconfigured and batch.changed
    texts = rt.board.texts()
    assert call_text("A001", SECOND) in texts and "综合窗口 等候 0 人" in texts
    assert rt.heard.window_area("1") == Msg(SECOND["zh"], SECOND["mn"]), "the voice's board follows too"
    assert rt.sha == sha and rt.follower.last()["ok"] is True and rt.follower.last()["sha"] == sha

    good = path.read_text(encoding="utf-8")
    for change, why in ((typo, "windows[0].aera: unknown key"),
                        (lambda r: r["displays"][0].update(client_id="tv-two"), "displays[tv].client_id"),
                        (lambda r: r.update(displays=[{"id": "lobby"}]), "unknown display 'tv' (known: lobby)")):
        path.write_text(good, encoding="utf-8")
        edit_config(path, change)
        rt.request_reload()
        rt.tick(time.monotonic())
        assert not rt.pump().changed
        answer = rt.follower.last()
        assert answer["ok"] is False and why in answer["error"], answer
        assert rt.board.texts() == texts and rt.sha == sha


def test_headless_screen_follows_sighup_and_refuses_a_bad_file(tmp_path: Path, mosquitto: Mosquitto,
                                                               halls: list[Hall]) -> None:
    h = Hall(tmp_path, mosquitto, raw_hall(mosquitto.port, tmp_path / "data"))
    halls.append(h)
    trace = tmp_path / "trace.jsonl"
    log = tmp_path / "display.log"
    with h.client("staff", (h.cfg.topic("controller", "status"),)) as c:
        h.start_controller(c)
        screen = HeadlessScreen(h.config_path, log, ("--board", "tv", "--trace", str(trace)))
        try:
            screen.wait(lambda x: OFFLINE not in x, "the controller online")
            pid_file = tmp_path / "data" / "display-tv" / "display.pid"
            assert int(pid_file.read_text()) == screen.proc.pid
            c.command("login", window="1", staff="S001")
            c.command("issue", service="general")
            c.command("call", window="1")
            screen.wait(lambda x: call_text("A001", FIRST) in x, "the call with its area")

            sha = edit_config(h.config_path, moved)
            good = h.config_path.read_text(encoding="utf-8")
            os.kill(screen.proc.pid, signal.SIGHUP)
            applied = wait_trace(trace, lambda e: e["ev"] == "config", "the reload's answer")
            assert applied["ok"] is True and applied["sha"] == sha, applied
            shown = wait_trace(trace, lambda e: e["ev"] == "screen" and e["t"] > applied["t"], "the next frame")
            assert call_text("A001", SECOND) in shown["texts"] and "综合窗口 等候 0 人" in shown["texts"], shown
            assert f"now runs sha256 {sha}" in log.read_text()

            mark = len(log.read_text().splitlines())
            edit_config(h.config_path, typo)
            os.kill(screen.proc.pid, signal.SIGHUP)
            refused = wait_trace(trace, lambda e: e["ev"] == "config" and e["t"] > applied["t"], "the refusal")
            assert refused["ok"] is False and "windows[0].aera: unknown key" in refused["error"], refused
            new_lines = log.read_text().splitlines()[mark:]
            said = [x for x in new_lines if "reload" in x]
            assert len(said) == 1, new_lines
            assert "display tv: reload refused, still running the previous configuration" in said[0]
            assert f"(sha256 {sha})" in said[0] and "Traceback" not in log.read_text()
            assert screen.proc.poll() is None
            c.command("issue", service="general")
            c.command("call", window="1")
            screen.wait(lambda x: call_text("A002", SECOND) in x, "the next call, under the reloaded config")

            # systemctl reload hallq-display@tv: validated first, then the screen's own answer
            bad = reload_cli(h, "--board", "tv")
            assert bad.returncode == 2 and "windows[0].aera" in bad.stderr and "Traceback" not in bad.stderr
            h.config_path.write_text(good, encoding="utf-8")
            edit_config(h.config_path, lambda r: r["displays"][0].update(client_id="tv-two"))
            no = reload_cli(h, "--board", "tv")
            assert no.returncode == 2 and "display tv refused the new configuration" in no.stderr, no.stderr
            assert "displays[tv].client_id" in no.stderr
            h.config_path.write_text(good, encoding="utf-8")
            ok = reload_cli(h, "--board", "tv")
            assert ok.returncode == 0, ok.stderr
            assert f"display tv (pid {screen.proc.pid}) takes the new configuration (sha256 {sha})" in ok.stdout
            assert screen.proc.poll() is None
        finally:
            assert screen.stop() == 0
    assert not pid_file.exists(), "the pid file goes with the screen"


def reload_cli(h: Hall, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hallq", "reload", "--config", str(h.config_path), "--timeout", "30",
                           *extra], cwd=REPO, capture_output=True, text=True, timeout=60)


def wait_trace(path: Path, pred: Callable[[dict[str, Any]], bool], what: str, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        for e in (json.loads(x) for x in lines):
            if pred(e):
                return e
        time.sleep(0.05)
    raise AssertionError(f"the trace never showed {what}:\n" + (path.read_text()[-3000:] if path.exists() else ""))


def test_config_parse_matches_the_start(tmp_path: Path) -> None:
    """The reload reads the file exactly as the start does (hallq.config.load_config, --credentials kept)."""
    path = tmp_path / "hall.yaml"
    text = yaml.safe_dump(raw_hall(1883, tmp_path / "data"), allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    loaded = ConfigFile(path, str(tmp_path / "creds.yaml")).load()
    assert loaded.sha == config_sha(text)
    assert loaded.cfg == load_config(path).with_credentials(str(tmp_path / "creds.yaml"))
    assert parse_config(raw_hall(1883, tmp_path / "data")).windows == loaded.cfg.windows
