"""Config validation and the CLI's handling of user errors: exit 2 and one line naming file and key."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hallq.config import ConfigError, load_config, parse_config
from tests.conftest import REPO, small_hall


def _with(path: str, value: Any) -> dict[str, Any]:
    cfg = copy.deepcopy(small_hall())
    node: Any = cfg
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    elif value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return cfg


_DELETE = object()


@pytest.mark.parametrize(("path", "value", "key", "words"), [
    ("hall.id", "Demo Hall", "hall.id", "should match pattern"),
    ("hall.colour", "red", "hall.colour", "unknown key"),
    ("hall.timezone", "Mars/Olympus", "hall.timezone", "unknown time zone"),
    ("mqtt.port", "abc", "mqtt.port", "integer"),
    ("rules.recall_limit", -1, "rules.recall_limit", "greater than or equal"),
    ("rules.recal_limit", 3, "rules.recal_limit", "unknown key"),
    ("windows.1", {"id": "2", "services": ["taxes"]}, "windows[1].services[0]", "unknown service 'taxes'"),
    ("windows.1", {"id": "1", "services": ["tax"]}, "windows[1].id", "duplicate id '1'"),
    ("services.1", {"id": "tax", "prefix": "A", "name": {"zh": "税务"}}, "services[1].prefix", "duplicate prefix"),
    ("staff.0", {"id": "S001", "name": "张三", "windows": ["7"]}, "staff[0].windows[0]", "unknown window '7'"),
    ("services", _DELETE, "services", "required key is missing"),
])
def test_config_errors_name_the_key(path: str, value: Any, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(_with(path, value), "hall.yaml")
    assert e.value.key == key, str(e.value)
    assert words in str(e.value), str(e.value)
    assert str(e.value).startswith(f"hall.yaml: {key}: ")


def test_example_config_is_valid_and_realistic() -> None:
    cfg = load_config(REPO / "config" / "hall.example.yaml")
    assert len(cfg.windows) >= 12 and len(cfg.services) >= 7
    assert all(s.name.mn for s in cfg.services), "every service has a Mongolian name"
    required = {"综合受理", "帮办代办", "办不成事反映", "跨省通办", "税务", "社保", "不动产"}
    assert required <= {s.name.zh for s in cfg.services}
    assert all(len(s.windows) >= 2 for s in cfg.staff), "staff have A and B posts"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hallq", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)


def test_cli_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    p = tmp_path / "hall.yaml"
    p.write_text(yaml.safe_dump(_with("rules.recal_limit", 3), allow_unicode=True), encoding="utf-8")
    res = _cli("controller", "--config", str(p))
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and str(p) in res.stderr and "rules.recal_limit" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("args", [
    ("controller",), ("controller", "--config", "/nonexistent.yaml"), ("report", "--data", "x"),
    ("nonsense",), ("audit",),
])
def test_cli_user_errors_exit_2(args: tuple[str, ...]) -> None:
    res = _cli(*args)
    assert res.returncode == 2, res
    assert "Traceback" not in res.stderr and res.stderr.strip().count("\n") == 0, res.stderr


def test_cli_invalid_yaml(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("hall: {id: x\n  name: [", encoding="utf-8")
    res = _cli("controller", "--config", str(p))
    assert res.returncode == 2 and "not valid YAML" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize(("text", "words"), [
    ("hall: {id: x, name: {zh: a}}\nservices: []\nwindows: []\nwindows: []\n", "duplicate key 'windows'"),
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nested deeper than 20 levels"),
    ("a:\n" + "".join(" " * i + "b:\n" for i in range(1, 40)), "nested deeper than 20 levels"),
])
def test_yaml_duplicates_and_depth_are_one_clear_line(tmp_path: Path, text: str, words: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text, encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "hallq", "controller", "--config", str(f)], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and str(f) in lines[0], r.stderr[-2000:]


def test_security_section_is_checked() -> None:
    base = small_hall()
    with pytest.raises(ConfigError, match="security.principals"):
        parse_config({**base, "security": {"mode": "secure", "principals": [
            {"id": "eval-9", "role": "device", "window": "9"}]}})
    with pytest.raises(ConfigError, match="needs its 'window'"):
        parse_config({**base, "security": {"mode": "secure", "principals": [{"id": "eval-9", "role": "device"}]}})
    with pytest.raises(ConfigError, match="controller"):
        parse_config({**base, "security": {"principals": [{"id": "controller", "role": "kiosk"}]}})
    cfg = parse_config({**base, "security": {"mode": "secure", "principals": [{"id": "kiosk-1", "role": "kiosk"}]}})
    assert cfg.secure and cfg.security.principal("kiosk-1") is not None
