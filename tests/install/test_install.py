"""`hallq install --root DIR`: the files and permissions of each box shape, the systemd units checked by
`systemd-analyze verify`, the steps a real install would take, and one-line refusals."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hallq.config import load_config
from tests.conftest import REPO

ANALYZE = shutil.which("systemd-analyze")


def install(root: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hallq", "install", "--root", str(root), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120, input=stdin)


def mode(p: Path) -> str:
    return oct(p.stat().st_mode & 0o777)[2:]


def verify_units(unit_dir: Path, tmp: Path) -> None:
    """`systemd-analyze verify` prints nothing for a good unit (unknown keys are only warnings: we fail on them).
    cage is not installed on this machine: the kiosk session units are checked with a stand-in executable."""
    if ANALYZE is None:
        pytest.skip("no systemd-analyze here")
    check = tmp / "verify"
    check.mkdir(exist_ok=True)
    for unit in sorted(unit_dir.iterdir()):
        text = unit.read_text()
        if not Path("/usr/bin/cage").exists():
            text = text.replace("/usr/bin/cage", "/bin/true")
        (check / unit.name).write_text(text)
    for unit in sorted(check.iterdir()):
        res = subprocess.run([ANALYZE, "verify", "--man=no", str(unit)], capture_output=True, text=True,
                             timeout=60, cwd=check)
        assert res.returncode == 0 and res.stderr.strip() == "", f"{unit.name}:\n{res.stderr}"


def test_village_station_into_a_temporary_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    res = install(root, "--shape", "village", "--yes", "--hall-id", "bayan-gacha", "--name-zh", "巴彦嘎查便民服务站",
                  "--windows", "2", "--bus", "/dev/hallq/bus-1", "--keep", "7", "--backups", "/srv/backup/hallq")
    assert res.returncode == 0, res.stderr
    etc = root / "etc" / "hallq"
    cfg = load_config(etc / "hall.yaml")
    assert cfg.hall.id == "bayan-gacha" and cfg.hall.name.zh == "巴彦嘎查便民服务站" and len(cfg.windows) == 2
    assert cfg.secure and cfg.mqtt.tls and cfg.devices.buses[0].port == "/dev/hallq/bus-1"
    assert mode(etc) == "771" and mode(etc / "hall.yaml") == "640"
    assert mode(root / "var" / "lib" / "hallq") == "750" and mode(root / "srv" / "backup" / "hallq") == "750"
    secure = etc / "secure"
    assert (secure / "mosquitto.conf").is_file() and (secure / "passwd").is_file() and (secure / "acl").is_file()
    creds = sorted(p.name for p in (secure / "credentials").iterdir())
    assert creds == ["bridge-1.yaml", "console-1.yaml", "controller.yaml", "display-hall.yaml", "kiosk-1.yaml"]
    assert all(mode(p) == "600" for p in (secure / "credentials").iterdir()), "until the install's chgrp hallq"
    units = root / "etc" / "systemd" / "system"
    assert sorted(p.name for p in units.iterdir()) == [
        "hallq-backup.service", "hallq-backup.timer", "hallq-bridge.service", "hallq-broker.service",
        "hallq-console.service", "hallq-controller.service", "hallq-display@.service", "hallq-kiosk@.service"]
    assert all(mode(p) == "644" for p in units.iterdir())
    for unit in units.glob("*.service"):
        text = unit.read_text()
        for line in ("NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectSystem=strict", "ReadWritePaths="):
            assert line in text, f"{unit.name}: {line}"
        if unit.name != "hallq-backup.service":
            assert "Type=notify" in text and "Restart=on-failure" in text, unit.name
        if unit.name.startswith(("hallq-controller", "hallq-bridge", "hallq-console", "hallq-kiosk")):
            assert "WatchdogSec=" in text and "User=hallq" in text, unit.name
    ctl = (units / "hallq-controller.service").read_text()
    assert (f"ExecStart={Path(sys.executable).parent / 'hallq'} controller --config /etc/hallq/hall.yaml --data "
            "/var/lib/hallq --credentials /etc/hallq/secure/credentials/controller.yaml") in ctl
    assert "Requires=" not in ctl and "Wants=network-online.target hallq-broker.service" in ctl
    assert "ReadWritePaths=/var/lib/hallq /etc/hallq" in ctl
    assert "--out-dir /srv/backup/hallq --keep 7" in (units / "hallq-backup.service").read_text()
    kiosk = (units / "hallq-kiosk@.service").read_text()
    assert "ExecStart=/usr/bin/cage -d -s -- " in kiosk and "--kiosk %i" in kiosk and "NotifyAccess=all" in kiosk
    assert "Conflicts=getty@tty1.service" in kiosk
    # reload signals hallq by its pid file, never cage (the main process), which a SIGHUP would end
    assert (f"ExecReload={Path(sys.executable).parent / 'hallq'} reload --config /etc/hallq/hall.yaml --kiosk %i "
            "--timeout 30") in kiosk and "kill -HUP" not in kiosk
    assert "reload --config /etc/hallq/hall.yaml --board %i" in (units / "hallq-display@.service").read_text()
    verify_units(units, tmp_path)
    plan = res.stdout
    assert "useradd --system --home-dir /var/lib/hallq --shell /usr/sbin/nologin --user-group hallq" in plan
    assert "usermod --append --groups dialout,lp,input,video,render,audio,mosquitto hallq" in plan
    assert ("systemctl enable hallq-broker.service hallq-controller.service hallq-console.service "
            "hallq-bridge.service hallq-backup.timer hallq-kiosk@1.service") in plan
    assert "systemctl disable --now mosquitto.service" in plan
    record = yaml.safe_load((etc / "install.json").read_text())
    assert record["shape"] == "village" and record["kiosk"] == "1"
    # a second run keeps the broker passwords (secure init re-run) and, asked to, the edited config
    before = (secure / "credentials" / "kiosk-1.yaml").read_text()
    (etc / "hall.yaml").write_text((etc / "hall.yaml").read_text().replace("巴彦嘎查便民服务站", "巴彦嘎查"))
    res = install(root, "--shape", "village", "--yes", "--keep-config")
    assert res.returncode == 0, res.stderr
    assert "kept /etc/hallq/hall.yaml" in res.stdout
    assert load_config(etc / "hall.yaml").hall.name.zh == "巴彦嘎查"
    assert (secure / "credentials" / "kiosk-1.yaml").read_text() == before


def test_centre_server_without_a_bus_enables_no_bridge(tmp_path: Path) -> None:
    res = install(tmp_path / "root", "--shape", "centre", "--yes", "--hall-id", "xlht", "--server", "10.0.0.5")
    assert res.returncode == 0, res.stderr
    units = tmp_path / "root" / "etc" / "systemd" / "system"
    assert not (units / "hallq-kiosk@.service").exists() and (units / "hallq-console.service").exists()
    assert ("systemctl enable hallq-broker.service hallq-controller.service hallq-console.service "
            "hallq-backup.timer\n") in res.stdout
    verify_units(units, tmp_path)


def test_kiosk_box_from_the_servers_config(tmp_path: Path) -> None:
    server = tmp_path / "server"
    assert install(server, "--shape", "centre", "--yes", "--hall-id", "xlht", "--kiosks", "2").returncode == 0
    config = server / "etc" / "hallq" / "hall.yaml"
    creds = server / "etc" / "hallq" / "secure" / "credentials" / "kiosk-2.yaml"
    box = tmp_path / "kiosk"
    res = install(box, "--shape", "kiosk", "--from-config", str(config), "--kiosk", "2")
    assert res.returncode == 2 and "give --credentials" in res.stderr and "Traceback" not in res.stderr
    res = install(box, "--shape", "kiosk", "--from-config", str(config), "--kiosk", "2", "--credentials", str(creds))
    assert res.returncode == 0, res.stderr
    units = sorted(p.name for p in (box / "etc" / "systemd" / "system").iterdir())
    assert units == ["hallq-kiosk@.service"]
    copied = box / "etc" / "hallq" / "secure" / "credentials" / "kiosk-2.yaml"
    assert copied.read_text() == creds.read_text() and mode(copied) == "640"
    assert "systemctl enable hallq-kiosk@2.service" in res.stdout
    assert "usermod --append --groups lp,dialout,input,video,render hallq" in res.stdout
    res = install(tmp_path / "k2", "--shape", "kiosk", "--from-config", str(config), "--kiosk", "9",
                  "--credentials", str(creds))
    assert res.returncode == 2 and "no kiosk '9' (known: 1, 2)" in res.stderr


def test_questionnaire_answers_from_the_keyboard(tmp_path: Path) -> None:
    answers = "sumu-7\n苏木便民服务站\n\n\n4\nx\n1\n\n\n"       # Enter keeps a default; "x" is asked again
    res = install(tmp_path / "root", "--shape", "centre", stdin=answers)
    assert res.returncode == 0, res.stderr
    assert "a number, please" in res.stdout
    cfg = load_config(tmp_path / "root" / "etc" / "hallq" / "hall.yaml")
    assert (cfg.hall.id, cfg.hall.name.zh, len(cfg.windows), len(cfg.kiosks)) == ("sumu-7", "苏木便民服务站", 4, 1)


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    res = install(tmp_path / "r", "--shape", "village", "--yes", "--hall-id", "Bad Id!")
    assert res.returncode == 2 and "hall.yaml" in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert not (tmp_path / "r").exists(), "nothing is written for a bad answer"
    res = install(tmp_path / "r2", "--shape", "screen", "--yes")
    assert res.returncode == 2 and "--from-config" in res.stderr
    res = install(tmp_path / "r3", "--shape", "centre", "--from-config", str(tmp_path / "missing.yaml"))
    assert res.returncode == 2 and "missing.yaml" in res.stderr
    assert json.dumps  # (json kept for readers of install.json)
