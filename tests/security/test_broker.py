"""`hallq secure init` against a real mosquitto started from the generated configuration: who may connect,
what the ACL lets through, TLS with the hall CA, re-runs and rotation, file modes, a root-started broker."""

from __future__ import annotations

import base64
import os
import pwd
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
import yaml
from cryptography import x509
from paho.mqtt.enums import CallbackAPIVersion

from hallq.api import MESSAGE_MAX_BYTES
from hallq.config import load_config
from hallq.mqtt import BlockingClient, load_credentials
from hallq.secure import SecureError, generate, passwd, tls
from tests.secure_hall import PRINCIPALS, REPO, SecureHall, demo_hall, secure_hall

HALL = "hallq/demo-hall/"


def _hall_with_two_buses() -> dict[str, Any]:
    """The demo hall plus bus2 (one evaluator with an explicit id) and bridge-2, which runs only bus2 (and
    so no MQTT-native device: those go with a bridge without `buses`)."""
    base = demo_hall()
    base["devices"]["buses"].append({"id": "bus2", "port": "/dev/ttyUSB1", "devices": [
        {"address": 1, "kind": "evaluator", "window": "3", "id": "door-eval"}]})
    base["security"] = {"mode": "secure", "principals": [*PRINCIPALS,
                                                         {"id": "bridge-2", "role": "bridge", "buses": ["bus2"]}]}
    return base


@pytest.fixture(scope="module")
def hall(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureHall]:
    with secure_hall(tmp_path_factory.mktemp("plain"), _hall_with_two_buses()) as h:
        yield h


@pytest.fixture(scope="module")
def tls_hall(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureHall]:
    with secure_hall(tmp_path_factory.mktemp("tls"), tls=True) as h:
        yield h


def connect_result(port: int, username: str | None = None, password: str | None = None, *,
                   tls: bool = False, ca: str | None = None) -> str:
    """'ok', or why the broker (or the TLS handshake) refused a fresh MQTT 3.1.1 connection."""
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex[:8]}", protocol=paho.MQTTv311)
    if username is not None:
        c.username_pw_set(username, password)
    if tls:
        c.tls_set(ca_certs=ca)
    done = threading.Event()
    result: list[str] = []

    def on_connect(_c: Any, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        result.append("ok" if not rc.is_failure else str(rc))
        done.set()

    def on_disconnect(_c: Any, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        result.append(f"disconnected: {rc}")
        done.set()

    c.on_connect, c.on_disconnect = on_connect, on_disconnect
    try:
        c.connect("127.0.0.1", port, keepalive=10)
    except (ssl.SSLError, OSError) as e:
        return f"tls: {e}"
    c.loop_start()
    try:
        assert done.wait(10), "the broker neither accepted nor refused the connection"
    finally:
        c.disconnect()
        c.loop_stop()
    return result[0]


def _password(h: SecureHall, principal: str) -> str:
    return load_credentials(str(h.credentials(principal))).password


def _only_marker(c: BlockingClient, marker: str, what: str) -> None:
    """Wait for `marker` (published after everything else by the same sender), then nothing else came."""
    c.wait_for(marker, timeout_s=10)
    others = [m.topic for m in c.received if m.topic != marker]
    assert not others, f"{what}: the broker let through {others}"


# -- who may connect ------------------------------------------------------------------------------------

def test_every_account_logs_in_with_its_password_and_nobody_else(hall: SecureHall) -> None:
    port = hall.broker.port
    for account in hall.layout.accounts:      # the hashes are ours (hashlib), the broker accepts them
        assert connect_result(port, account, _password(hall, account)) == "ok", account
    assert connect_result(port) == "Not authorized", "anonymous"
    assert connect_result(port, "kiosk-1", _password(hall, "kiosk-1") + "x") == "Not authorized"
    assert connect_result(port, "kiosk-1", _password(hall, "display-1")) == "Not authorized"
    assert connect_result(port, "nobody", "nothing") == "Not authorized"


def test_our_hash_is_mosquitto_passwds(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(f), "alice", "s3cret ü"], check=True, capture_output=True)
    theirs = passwd.parse(f.read_text())["alice"]
    assert passwd.verify("s3cret ü", theirs) and not passwd.verify("s3cret u", theirs)
    salt = base64.b64decode(theirs.split("$")[3])
    assert passwd.hash_password("s3cret ü", salt=salt) == theirs, "same salt, same line as mosquitto_passwd"
    assert passwd.hash_password("s3cret ü") != theirs, "a fresh salt each time"


# -- the ACL ------------------------------------------------------------------------------------------

def test_principals_cannot_write_others_commands_state_or_events(hall: SecureHall) -> None:
    with hall.client("controller", "watch", (HALL + "#",)) as ctl:
        for p in [*PRINCIPALS, {"id": "bridge-2"}]:
            pid = p["id"]
            ctl.received.clear()
            with hall.client(pid, f"{pid}-attacker") as c:
                for topic in (HALL + "cmd/kiosk-9/issue", HALL + "cmd/issue", HALL + "state/queues",
                              HALL + "state/window/1", HALL + "event/ticket.issued", HALL + "controller/status",
                              HALL + "audit/checkpoint", HALL + "reply/console-1/x", HALL + "device/nobody/status",
                              "hallq/other-hall/cmd/" + pid + "/issue"):
                    c.publish(topic, {"forged": pid})
                other = next(q["id"] for q in PRINCIPALS if q["id"] != pid)
                c.publish(HALL + f"cmd/{other}/call", {"forged": pid})
                marker = HALL + f"cmd/{pid}/marker"
                c.publish(marker, {"mine": True})
                _only_marker(ctl, marker, pid)


def test_replies_reach_only_their_principal(hall: SecureHall) -> None:
    watch = ("hallq/+/reply/#", HALL + "state/#")
    with hall.client("controller", "ctl") as ctl, hall.client("display-1", "snoop", watch) as snoop, \
            hall.client("kiosk-1", "owner", watch) as owner:
        ctl.publish(HALL + "reply/kiosk-1/x", {"id": "r1", "ok": True})
        ctl.publish(HALL + "state/marker", {"after": "r1"})
        _only_marker(snoop, HALL + "state/marker", "display-1 reading kiosk-1's reply")
        assert owner.wait_for(HALL + "reply/kiosk-1/x")["id"] == "r1"


def test_bridges_and_devices_reach_only_their_devices(hall: SecureHall) -> None:
    dev = HALL + "device/"
    with hall.client("controller", "ctl", (dev + "+/status",)) as ctl, \
            hall.client("bridge-1", "b1", (dev + "#",)) as b1, hall.client("bridge-2", "b2", (dev + "#",)) as b2, \
            hall.client("eval-4", "dev", (dev + "#",)) as ev:
        # bridge-2 runs bus2: its evaluator door-eval (explicit id), not bus1's devices
        b2.publish(dev + "bus1-1/status", {"forged": True})
        b2.publish(dev + "door-eval/status", {"ok": True})
        assert ctl.wait_for(dev + "door-eval/status")["ok"]
        assert not [m for m in ctl.received if "bus1-1" in m.topic]
        assert b1.wait_for(dev + "door-eval/status")["ok"], "bridge-1 (all buses) reads bus2 too"
        # bridge-1 writes the show of bus1-17 ({bus}-{address}) and of eval-4 (devices.mqtt): bridge-2 sees
        # neither, the device only its own
        b1.publish(dev + "bus1-17/show", {"text": "A001"})
        b1.publish(dev + "eval-4/show", {"text": "to the device"})
        assert ev.wait_for(dev + "eval-4/show")["text"] == "to the device"
        assert [m.topic for m in ev.received] == [dev + "eval-4/show"]
        # the device writes only its own topics; bridge-1 reads them (devices.mqtt)
        ev.publish(dev + "bus1-1/event", {"forged": True})
        ev.publish(dev + "eval-4/event", {"event_id": "e1"})
        assert b1.wait_for(dev + "eval-4/event")["event_id"] == "e1"
        assert not [m for m in b1.received if m.topic == dev + "bus1-1/event"]
        b2.publish(dev + "door-eval/show", {"marker": True})
        b2.wait_for(dev + "door-eval/show")
        assert [m.topic for m in b2.received] == [dev + "door-eval/status", dev + "door-eval/show"]


def test_kiosk_and_display_announce_only_themselves(hall: SecureHall) -> None:
    dev = HALL + "device/"
    with hall.client("controller", "ctl", (dev + "+/status",)) as ctl:
        with hall.client("kiosk-1", "k") as k:
            k.publish(dev + "display-1/status", {"forged": True})
            k.publish(dev + "kiosk-1-printer/status", {"printer": "ok"})
            k.publish(dev + "kiosk-1/status", {"kiosk": "ok"})
        assert ctl.wait_for(dev + "kiosk-1/status")["kiosk"] == "ok"
        with hall.client("display-1", "d") as d:
            d.publish(dev + "kiosk-1/status", {"forged": True})
            d.publish(dev + "display-1/status", {"display": "ok"})
        assert ctl.wait_for(dev + "display-1/status")["display"] == "ok"
        # `kiosk-1-printer` could be another principal's device: a kiosk reports its printer as itself
        assert [m.topic for m in ctl.received] == [dev + "kiosk-1/status", dev + "display-1/status"]


# -- TLS ----------------------------------------------------------------------------------------------

def test_tls_needs_the_hall_ca(tls_hall: SecureHall) -> None:
    port, ca = tls_hall.broker.port, str(tls_hall.layout.ca)
    pw = _password(tls_hall, "kiosk-1")
    assert connect_result(port, "kiosk-1", pw, tls=True, ca=ca) == "ok"
    assert "CERTIFICATE_VERIFY_FAILED" in connect_result(port, "kiosk-1", pw, tls=True, ca=None)
    assert connect_result(port, "kiosk-1", pw, tls=False) != "ok", "no plain listener"
    assert connect_result(port, "kiosk-1", "wrong", tls=True, ca=ca) == "Not authorized"
    creds = yaml.safe_load(tls_hall.credentials("display-1").read_text())
    assert creds["ca"] == str(tls_hall.layout.dir / "ca.crt") and Path(creds["ca"]).is_absolute()
    with tls_hall.client("controller", "ctl", (HALL + "cmd/#",)) as ctl, tls_hall.client("kiosk-1") as k:
        k.publish(k.topics.cmd("issue"), {"id": "over-tls"})     # hallq.mqtt uses the ca: of the file
        assert ctl.wait_for(HALL + "cmd/kiosk-1/issue")["id"] == "over-tls"
    cert = x509.load_pem_x509_certificate((tls_hall.layout.dir / "server.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    console = x509.load_pem_x509_certificate(tls_hall.layout.console_cert.read_bytes())
    console.verify_directly_issued_by(x509.load_pem_x509_certificate(tls_hall.layout.hall_ca.read_bytes()))


def test_generated_conf_listens_once_with_our_limits(hall: SecureHall, tls_hall: SecureHall) -> None:
    for h in (hall, tls_hall):
        conf = h.layout.conf.read_text()
        settings = [line.split(None, 1) for line in conf.splitlines() if line and not line.startswith("#")]
        opts = {k: v for k, v in settings}
        assert opts["allow_anonymous"] == "false" and opts["per_listener_settings"] == "false"
        assert int(opts["message_size_limit"]) == MESSAGE_MAX_BYTES
        assert opts["listener"] == f"{h.broker.port} 127.0.0.1"
        for key in ("password_file", "acl_file", "persistence_location", "cafile", "certfile", "keyfile"):
            if key in opts:
                assert Path(opts[key].removeprefix("file ")).is_absolute(), key
        assert ("cafile" in opts) == h.cfg.mqtt.tls
        log = (h.layout.dir / "broker" / "mosquitto.log").read_text()
        assert re.findall(r"Opening ipv[46] listen socket on port (\d+)", log) == [str(h.broker.port)]


# -- re-running, rotation, removal, file modes ------------------------------------------------------------

def test_rerun_keeps_rotate_renews_removed_principal_goes(tmp_path: Path) -> None:
    with secure_hall(tmp_path) as h:
        before = {a: _password(h, a) for a in h.layout.accounts}
        conf_before, acl_before = h.layout.conf.read_bytes(), h.layout.acl.read_bytes()
        passwd_before = h.layout.passwd.read_bytes()
        again = generate(h.cfg, h.layout.dir)
        assert {a: _password(h, a) for a in again.accounts} == before and not again.added
        assert (h.layout.conf.read_bytes(), h.layout.acl.read_bytes(), h.layout.passwd.read_bytes()) == \
            (conf_before, acl_before, passwd_before), "an unchanged hall rewrites the same files"
        rotated = generate(h.cfg, h.layout.dir, rotate=["kiosk-1"])
        after = {a: _password(h, a) for a in rotated.accounts}
        assert after["kiosk-1"] != before["kiosk-1"]
        assert {a: p for a, p in after.items() if a != "kiosk-1"} == \
            {a: p for a, p in before.items() if a != "kiosk-1"}
        # a running broker takes the new password file on SIGHUP
        port = h.broker.port
        h.broker.reload()
        _until(lambda: connect_result(port, "kiosk-1", after["kiosk-1"]) == "ok")
        assert connect_result(port, "kiosk-1", before["kiosk-1"]) == "Not authorized"
        # region-1 leaves the config: its file and its account go
        smaller = dict(h.cfg_dict)
        smaller["security"] = {"mode": "secure", "principals": [p for p in PRINCIPALS if p["id"] != "region-1"]}
        h.config_path.write_text(yaml.safe_dump(smaller, allow_unicode=True))
        cut = generate(load_config(h.config_path), h.layout.dir)
        assert cut.removed == ("region-1",) and "region-1" not in cut.accounts
        assert not (h.layout.dir / "credentials" / "region-1.yaml").exists()
        assert "region-1" not in passwd.parse(h.layout.passwd.read_text())
        assert "user region-1" not in h.layout.acl.read_text()
        h.broker.reload()
        _until(lambda: connect_result(port, "region-1", before["region-1"]) == "Not authorized")
        assert _password(h, "kiosk-1") == after["kiosk-1"]


def _until(cond: Any, tries: int = 100) -> None:
    """Poll a condition whose change no event announces (mosquitto reloads its files asynchronously on SIGHUP);
    each try is a full MQTT connect, so this is bounded by the broker, not by a sleep."""
    for _ in range(tries):
        if cond():
            return
    raise AssertionError("the broker did not take the new files")


def test_a_damaged_credentials_file_gets_a_new_password_and_a_warning(tmp_path: Path, hall: SecureHall) -> None:
    first = generate(hall.cfg, tmp_path / "s")
    kept = yaml.safe_load(first.credentials("kiosk-1").read_text())["password"]
    first.credentials("display-1").write_text("password: [not, a, string]\n")
    again = generate(hall.cfg, tmp_path / "s")
    assert again.added == ("display-1",)
    assert [w for w in again.warnings if "display-1" in w] == [
        f"{again.credentials('display-1')}: no readable password in it; display-1 gets a new one"]
    body = yaml.safe_load(again.credentials("display-1").read_text())
    assert body["username"] == "display-1" and len(body["password"]) >= 22
    assert passwd.verify(body["password"], passwd.parse(again.passwd.read_text())["display-1"])
    assert yaml.safe_load(again.credentials("kiosk-1").read_text())["password"] == kept


def test_file_modes_and_credentials(tls_hall: SecureHall) -> None:
    d = tls_hall.layout.dir

    def mode(p: Path) -> int:
        return p.stat().st_mode & 0o777

    assert mode(d) == 0o700 and mode(d / "credentials") == 0o700 and mode(d / "broker") == 0o700
    for name in ("passwd", "acl", "ca.key", "server.key", "console.key"):
        assert mode(d / name) == 0o600, name
    for name in ("ca.crt", "server.crt", "console.crt", "mosquitto.conf"):
        assert mode(d / name) == 0o644, name
    passwords = set()
    for account in tls_hall.layout.accounts:
        f = tls_hall.credentials(account)
        assert mode(f) == 0o600
        body = yaml.safe_load(f.read_text())
        assert body["username"] == account and set(body) == {"username", "password", "ca"}
        assert len(body["password"]) >= 22      # ≥ 128 bits of URL-safe base64
        passwords.add(body["password"])
    assert len(passwords) == len(tls_hall.layout.accounts)
    assert sorted(p.name for p in (d / "credentials").iterdir()) == sorted(
        f"{a}.yaml" for a in tls_hall.layout.accounts)


def test_server_certificate_follows_the_host_and_is_kept_otherwise(tmp_path: Path, tls_hall: SecureHall) -> None:
    out = tmp_path / "s"
    cfg = tls_hall.cfg
    first = generate(cfg, out)
    crt = (out / "server.crt").read_bytes()
    assert generate(cfg, out).ca == first.ca and (out / "server.crt").read_bytes() == crt
    moved = cfg.model_copy(update={"mqtt": cfg.mqtt.model_copy(update={"host": "hall-broker.local"})})
    generate(moved, out)
    cert = x509.load_pem_x509_certificate((out / "server.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["hall-broker.local", "localhost"]
    assert (out / "ca.crt").read_bytes() == first.hall_ca.read_bytes(), "the hall CA is kept"


def test_an_installers_own_certificate_is_left_alone(tmp_path: Path) -> None:
    with secure_hall(tmp_path / "hall", tls=True) as h:
        d = h.layout.dir
        own = tls.ensure_ca(tmp_path / "own-ca.crt", tmp_path / "own-ca.key", "their-pki")
        assert own is not None
        tls.ensure_leaf(own, tmp_path / "srv.crt", tmp_path / "srv.key", "broker", tls.names_for("127.0.0.1"))
        for src, dst in (("own-ca.crt", "ca.crt"), ("srv.crt", "server.crt"), ("srv.key", "server.key")):
            (d / dst).write_bytes((tmp_path / src).read_bytes())
        (d / "ca.key").unlink()          # no ca.key: the certificates are the installer's
        kept = {n: (d / n).read_bytes() for n in ("ca.crt", "server.crt", "server.key", "console.crt")}
        generate(h.cfg, d)
        assert {n: (d / n).read_bytes() for n in kept} == kept and not (d / "ca.key").exists()
        h.broker.stop()
        h.broker.start()
        pw = _password(h, "kiosk-1")
        assert connect_result(h.broker.port, "kiosk-1", pw, tls=True, ca=str(tmp_path / "own-ca.crt")) == "ok"
        (d / "server.crt").unlink()
        with pytest.raises(SecureError, match="put your certificate in server.crt"):
            generate(h.cfg, d)


# -- mosquitto started by root, running as another account ---------------------------------------------

@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start mosquitto as root")
def test_root_started_broker_runs_as_broker_user(tmp_path: Path) -> None:
    try:
        mosq = pwd.getpwnam("mosquitto")
    except KeyError:
        pytest.skip("no mosquitto account")
    # pytest's tmp folders are root's alone: the broker's account could not reach its files there
    with pytest.raises(SecureError, match="cannot enter"), secure_hall(tmp_path / "unreachable",
                                                                       broker_user="mosquitto"):
        pass
    top = Path(tempfile.mkdtemp(prefix="hallq-secure-test-"))
    try:
        top.chmod(0o755)
        with secure_hall(top, tls=True, broker_user="mosquitto") as h:
            d = h.layout.dir
            for f in ("passwd", "acl", "broker", "server.key", "server.crt"):
                assert (d / f).stat().st_uid == mosq.pw_uid, f
            for f in ("credentials", "ca.key", "console.key", "credentials/kiosk-1.yaml"):
                assert (d / f).stat().st_uid == 0, f
            assert d.stat().st_gid == mosq.pw_gid and d.stat().st_mode & 0o777 == 0o710
            assert h.broker.proc is not None
            uid_line = next(line for line in Path(f"/proc/{h.broker.proc.pid}/status").read_text().splitlines()
                            if line.startswith("Uid:"))
            assert uid_line.split()[1:3] == [str(mosq.pw_uid)] * 2, "mosquitto switched to its user"
            assert connect_result(h.broker.port, "kiosk-1", _password(h, "kiosk-1"), tls=True,
                                  ca=str(h.layout.ca)) == "ok"
            assert connect_result(h.broker.port, "kiosk-1", "wrong", tls=True, ca=str(h.layout.ca)) != "ok"
    finally:
        subprocess.run(["rm", "-rf", str(top)], check=False)


# -- the command line ------------------------------------------------------------------------------------

def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hallq", "secure", "init", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_cli_writes_warns_and_refuses_in_one_line(tmp_path: Path, hall: SecureHall) -> None:
    out = tmp_path / "out"
    r = _cli("--config", str(hall.config_path), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == [
        "hallq secure init: warning: mqtt.tls is false: passwords and device PINs cross the LAN in clear "
        "(set mqtt.tls: true and run hallq secure init again)"]
    assert f"mosquitto -c {out / 'mosquitto.conf'}" in r.stdout
    pw = yaml.safe_load((out / "credentials" / "kiosk-1.yaml").read_text())["password"]
    r = _cli("--config", str(hall.config_path), "--out", str(out), "--rotate", "kiosk-1")
    assert r.returncode == 0 and "SIGHUP" in r.stdout
    assert yaml.safe_load((out / "credentials" / "kiosk-1.yaml").read_text())["password"] != pw
    open_cfg = tmp_path / "open.yaml"
    open_cfg.write_text(yaml.safe_dump({k: v for k, v in hall.cfg_dict.items() if k != "security"}))
    (tmp_path / "afile").write_text("")
    for args, words in [
        (("--config", str(hall.config_path), "--out", str(out), "--rotate", "kiosk-9"),
         "--rotate kiosk-9: no such principal"),
        (("--config", str(open_cfg), "--out", str(out)), "security.mode: the hall is open"),
        (("--config", str(hall.config_path), "--out", str(tmp_path / "afile" / "x")), "cannot create or use"),
        (("--config", str(hall.config_path), "--out", str(tmp_path / "afile")), "not a folder"),
        (("--config", str(hall.config_path), "--out", str(tmp_path / "my hall")), "a path with spaces"),
        (("--config", str(hall.config_path), "--out", str(out), "--broker-user", "no-such-user"), "no such account"),
    ]:
        r = _cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("hallq secure init: ") and words in lines[0], r.stderr
