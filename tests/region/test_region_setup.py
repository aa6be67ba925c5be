"""The region's set-up: REGION.yaml errors, `hallq region secure-init`'s ACL on a real mosquitto (a hall's bridge
account confined to its own topics), the hall side's bridge section from `hallq secure init`, the pure projection."""

from __future__ import annotations

import os
import stat
import subprocess
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as paho
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from regionkit import HALLQ, ROOT

from hallq.broker import Mosquitto, free_port
from hallq.config import ConfigError
from hallq.config.region import parse_region
from region import project

BASE: dict[str, Any] = {"region": {"id": "xm", "name": {"zh": "锡林郭勒盟"}}, "postgres": "host=127.0.0.1",
                        "halls": [{"id": "a", "name": {"zh": "甲"}, "level": "league"},
                                  {"id": "b", "name": {"zh": "乙"}, "level": "gacha", "parent": "a"}]}


@pytest.mark.parametrize(("change", "key", "words"), [
    ({"halls": [{"id": "a", "name": {"zh": "甲"}, "level": "city"}]}, "halls[0].level", "league"),
    ({"halls": [{"id": "b", "name": {"zh": "乙"}, "level": "gacha", "parent": "zz"}]}, "halls[0].parent", "unknown"),
    ({"postgress": "x"}, "postgress", "unknown key"),
    ({"halls": [{"id": "A B", "name": {"zh": "x"}, "level": "sum"}]}, "halls[0].id", "pattern"),
])
def test_region_yaml_errors_name_the_key(change: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_region({**BASE, **change}, "REGION.yaml")
    assert e.value.key == key and words in e.value.problem


def test_bad_region_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "REGION.yaml"
    bad.write_text("region: {id: xm, name: {zh: x}}\nhalls: []\npostgres: x\n", encoding="utf-8")
    for what in ("ingest", "serve", "secure-init"):
        r = subprocess.run([*HALLQ, "region", what, "--config", str(bad), "--out", str(tmp_path / "o")],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "halls" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr


def _client(port: int, creds: Path, name: str) -> tuple[paho.Client, list[str]]:
    d = yaml.safe_load(creds.read_text())
    got: list[str] = []
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=name)
    c.username_pw_set(d["username"], d["password"])
    c.on_message = lambda _c, _u, m: got.append(m.topic)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c, got


def _subscribe(c: paho.Client, topic: str) -> None:
    """Subscribe and wait for the broker's SUBACK: a message published after it reaches this client."""
    done = threading.Event()
    c.on_subscribe = lambda *_a: done.set()
    c.subscribe(topic, 1)
    assert done.wait(10), f"no SUBACK for {topic}"


def test_regional_acl_confines_each_hall(tmp_path: Path) -> None:
    port = free_port()
    doc = {**BASE, "mqtt": {"host": "127.0.0.1", "port": port}}
    (tmp_path / "REGION.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    r = subprocess.run([*HALLQ, "region", "secure-init", "--config", str(tmp_path / "REGION.yaml"), "--out",
                        str(tmp_path / "rb")], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    acl = (tmp_path / "rb" / "acl").read_text()
    assert "user hall-a\ntopic write hallq/a/event/#" in acl and "topic read hallq/a/cmd/region/#" in acl
    creds = tmp_path / "rb" / "credentials"
    assert stat.S_IMODE(os.stat(creds / "hall-a.yaml").st_mode) == 0o600
    first = (creds / "hall-a.yaml").read_text()
    subprocess.run([*HALLQ, "region", "secure-init", "--config", str(tmp_path / "REGION.yaml"), "--out",
                    str(tmp_path / "rb")], capture_output=True, cwd=ROOT, timeout=60, check=True)
    assert (creds / "hall-a.yaml").read_text() == first           # passwords kept on a re-run
    with Mosquitto.from_conf(tmp_path / "rb" / "mosquitto.conf", port):
        ing, seen = _client(port, creds / "ingest.yaml", "t-ingest")
        ha, seen_a = _client(port, creds / "hall-a.yaml", "t-a")
        _subscribe(ing, "hallq/#")
        _subscribe(ha, "hallq/#")
        ha.publish("hallq/b/event/ticket.issued", b"{}", qos=1).wait_for_publish(5)   # another hall's: dropped
        ha.publish("hallq/a/cmd/region/events", b"{}", qos=1).wait_for_publish(5)     # commands: only the ingest
        ing.publish("hallq/b/cmd/region/events", b"{}", qos=1).wait_for_publish(5)    # not for hall a's eyes
        ing.publish("hallq/a/cmd/region/events", b"{}", qos=1).wait_for_publish(5)
        ha.publish("hallq/a/event/ticket.issued", b"{}", qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 5
        while "hallq/a/event/ticket.issued" not in seen and time.monotonic() < deadline:
            time.sleep(0.05)
        ing.loop_stop()
        ha.loop_stop()
    assert "hallq/a/event/ticket.issued" in seen
    assert "hallq/b/event/ticket.issued" not in seen
    assert seen_a == ["hallq/a/cmd/region/events"]          # its own commands only, from the ingest only


def test_hall_secure_init_writes_the_bridge(tmp_path: Path) -> None:
    cred = tmp_path / "hall-a.yaml"
    cred.write_text("username: hall-a\npassword: s3cret-pass\n", encoding="utf-8")
    hall = {"hall": {"id": "a", "name": {"zh": "甲"}}, "mqtt": {"host": "127.0.0.1", "port": free_port()},
            "services": [{"id": "g", "prefix": "A", "name": {"zh": "综合"}}],
            "windows": [{"id": "1", "services": ["g"]}],
            "security": {"mode": "secure", "principals": [{"id": "region", "role": "region"}]},
            "region": {"host": "region.example", "port": 8883, "tls": True, "ca": "/etc/region-ca.crt",
                       "credentials": "hall-a.yaml"}}
    (tmp_path / "hall.yaml").write_text(yaml.safe_dump(hall, allow_unicode=True), encoding="utf-8")
    r = subprocess.run([*HALLQ, "secure", "init", "--config", str(tmp_path / "hall.yaml"), "--out",
                        str(tmp_path / "sec")], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    conf = tmp_path / "sec" / "mosquitto.conf"
    text = conf.read_text()
    assert stat.S_IMODE(os.stat(conf).st_mode) == 0o600               # it holds the bridge's password
    for line in ("connection region-a", "address region.example:8883", "remote_username hall-a",
                 "remote_password s3cret-pass", "cleansession false", "bridge_cafile /etc/region-ca.crt",
                 "topic hallq/a/event/# out 1", "topic hallq/a/state/# out 1", "topic hallq/a/audit/# out 1",
                 "topic hallq/a/controller/# out 1", "topic hallq/a/reply/region/# out 1",
                 "topic hallq/a/cmd/region/# in 1", "max_queued_messages 1000000"):
        assert line + "\n" in text, line
    assert text.index("persistence true") < text.index("connection region-a")
    (tmp_path / "hall-a.yaml").unlink()
    r = subprocess.run([*HALLQ, "secure", "init", "--config", str(tmp_path / "hall.yaml"), "--out",
                        str(tmp_path / "sec")], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 2 and "region.credentials" in r.stderr and r.stderr.count("\n") == 1


def _ev(seq: int, typ: str, at: str, **kw: Any) -> dict[str, Any]:
    return {"type": typ, "seq": seq, "log": "L", "at": f"2026-11-23T{at}:00+08:00", **kw}


def test_projection_follows_the_report() -> None:
    d = "2026-11-23"
    evs = [_ev(1, "ticket.issued", "09:00", ticket="A001", date=d, service="g", priority="normal"),
           _ev(2, "ticket.issued", "09:01", ticket="A002", date=d, service="g", priority="green"),
           _ev(3, "ticket.called", "09:10", ticket="A001", date=d, service="g", window="1", staff="S1", recall=0),
           _ev(4, "ticket.called", "09:11", ticket="A001", date=d, service="g", window="1", staff="S1", recall=1),
           _ev(5, "ticket.transferred", "09:20", ticket="A001", date=d, service="t", window="1"),
           _ev(6, "evaluation.recorded", "09:21", ticket="A001", date=d, window="1", level=2, channel="evaluator"),
           _ev(7, "alert.raised", "09:21", id="A1-x", kind="bad_review", message="差评"),
           _ev(8, "alert.acknowledged", "09:30", alert="A1-x", note="ok"),
           _ev(9, "day.closed", "23:59", date=d, no_show=["A002"]),
           _ev(10, "workorder.opened", "10:00", order="WO-R-x1", ticket="A001", date=d, service="t", level=1,
               deadline="2026-11-30", source="region", forwarded={"ref": "x1", "channel": "12345", "note": "n"}),
           _ev(11, "workorder.changed", "11:00", order="WO-R-x1", action="wo_verify", to="rectifying", note="v"),
           _ev(12, "workorder.changed", "12:00", order="WO-R-x1", action="wo_feedback", to="fed_back", note="f")]
    ch = project.Changes()
    project.apply("h", ZoneInfo("Asia/Shanghai"), evs, ch)
    a1 = ch.tickets[("h", date(2026, 11, 23), "A001")]
    assert (a1["service"], a1["status"], a1["level"], a1["window"], a1["staff"]) == ("t", "waiting", 2, "1", "S1")
    assert a1["called_at"].isoformat() == "2026-11-23T09:10:00+08:00"      # a recall is not a call
    assert ch.tickets[("h", date(2026, 11, 23), "A002")]["status"] == "no_show"
    assert ch.alerts[("h", "A1-x")]["acknowledged_at"] is not None
    assert ch.days == {("h", date(2026, 11, 23))}
    o = ch.orders[("h", "WO-R-x1")]
    assert (o["state"], o["forwarded"]["ref"], len(o["history"])) == ("fed_back", "x1", 2)
    assert o["fed_back_at"].isoformat() == "2026-11-23T12:00:00+08:00"


def test_open_hall_bridge_maps_region_commands(tmp_path: Path) -> None:
    """An open (v1) hall's bridge: events out as they are, the region's `cmd/region/{name}` in as `cmd/{name}`
    (the only command topic an open controller reads), and the link state retained on the region's side."""
    from hallq.config import parse_config
    from hallq.secure.bridge import bridge_section
    rport = free_port()
    doc = {**BASE, "mqtt": {"host": "127.0.0.1", "port": rport}}
    (tmp_path / "REGION.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    subprocess.run([*HALLQ, "region", "secure-init", "--config", str(tmp_path / "REGION.yaml"), "--out",
                    str(tmp_path / "rb")], check=True, capture_output=True, cwd=ROOT, timeout=60)
    creds = tmp_path / "rb" / "credentials"
    hall = parse_config({"hall": {"id": "a", "name": {"zh": "甲"}},
                         "services": [{"id": "g", "prefix": "A", "name": {"zh": "综合"}}],
                         "windows": [{"id": "1", "services": ["g"]}],
                         "region": {"host": "127.0.0.1", "port": rport, "credentials": str(creds / "hall-a.yaml")}})
    hport = free_port()
    hd = tmp_path / "hb"
    hd.mkdir()
    (hd / "mosquitto.conf").write_text(f"user root\nlistener {hport} 127.0.0.1\nallow_anonymous true\n"
                                       f"persistence true\npersistence_location {hd}/\n"
                                       + bridge_section(hall, hd), encoding="utf-8")
    with Mosquitto.from_conf(tmp_path / "rb" / "mosquitto.conf", rport), Mosquitto.from_conf(hd / "mosquitto.conf",
                                                                                           hport):
        ing, seen = _client(rport, creds / "ingest.yaml", "t-ingest")
        _subscribe(ing, "hallq/#")
        local: list[str] = []
        h = paho.Client(CallbackAPIVersion.VERSION2, client_id="t-hall")
        h.on_message = lambda _c, _u, m: local.append(m.topic)
        h.connect("127.0.0.1", hport)
        h.loop_start()
        _subscribe(h, "hallq/a/cmd/#")
        deadline = time.monotonic() + 15
        while "hallq/a/controller/bridge" not in seen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "hallq/a/controller/bridge" in seen            # the bridge's link state, on the region's side
        h.publish("hallq/a/event/ticket.issued", b"{}", qos=1).wait_for_publish(5)
        ing.publish("hallq/a/cmd/region/events", b"{}", qos=1).wait_for_publish(5)
        while ("hallq/a/cmd/events" not in local or "hallq/a/event/ticket.issued" not in seen) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        h.loop_stop()
        ing.loop_stop()
    assert "hallq/a/event/ticket.issued" in seen
    assert local == ["hallq/a/cmd/events"]


def test_example_region_yaml_loads() -> None:
    from hallq.config.region import load_region
    cfg = load_region(ROOT / "config" / "region.example.yaml")
    assert [h.level for h in cfg.halls] == ["league", "banner", "sum", "gacha"]
    g1 = cfg.hall("baiyinxile-g1")
    assert g1 is not None and g1.parent == "baiyinxile-sum"
