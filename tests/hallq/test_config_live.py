"""What a running kiosk and call screen take from an edited config (hallq/config/live.py, pure): service names,
hours and window areas live; the hall id, the broker, the time zone, the data directory and the kiosk's own
devices only with a restart; keys the app does not read are not its business; every key of its own entry is
classified, so a new one cannot slip through untested."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from hallq.config import DisplayConfig, KioskConfig, parse_config
from hallq.config.live import DISPLAY_KEYS, KIOSK_KEYS, Key, decide, for_kiosk
from tests.conftest import small_hall

AREA = {"zh": "一楼A区", "mn": "ᠨᠢᠭᠡ"}


def base() -> dict[str, Any]:
    raw = small_hall(kiosks=[{"id": "k1"}, {"id": "k2"}], displays=[{"id": "tv"}])
    raw["windows"][0]["area"] = AREA
    return raw


def kiosk(new: dict[str, Any], kiosk_id: str = "k1") -> tuple[bool, tuple[str, ...], str]:
    old_cfg = parse_config(base())
    own = old_cfg.kiosk(kiosk_id)
    assert own is not None
    d, _mine = for_kiosk(old_cfg, own, parse_config(new))
    return d.ok, d.live, d.refusal()


def display(new: dict[str, Any], board: str = "tv") -> tuple[bool, tuple[str, ...], str]:
    old_cfg, new_cfg = parse_config(base()), parse_config(new)
    own = old_cfg.display(board)
    assert own is not None
    d = decide(DISPLAY_KEYS, f"display {board}", old_cfg, own, new_cfg, new_cfg.display(board))
    return d.ok, d.live, d.refusal()


def edited(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(base())
    for path, value in changes.items():
        *parents, last = path.split("__")
        node: Any = raw
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value
    return raw


def test_service_names_hours_and_areas_are_taken_live() -> None:
    new = edited(services__0__name={"zh": "综合窗口", "mn": "ᠶᠡᠷᠦᠩᠬᠡᠢ"},
                 services__1__hours={"weekly": {"mon": ["08:00-09:00"]}},
                 windows__0__area={"zh": "二楼B区", "mn": "ᠬᠣᠶᠠᠷ"})
    assert kiosk(new) == (True, ("services", "windows (services, areas)"), "")
    assert display(new) == (True, ("services (names, order)", "windows"), "")


def test_the_kiosks_own_texts_and_settings_are_live() -> None:
    new = edited(kiosks__0={"id": "k1", "services": ["tax"], "idle_timeout_s": 20, "ticket_notice": {"zh": "请保管"},
                            "lookup_url": "https://hall.example/t", "voice": {"mode": "always",
                                                                               "quiet_hours": ["12:00-14:00"]}},
                 hours={"weekly": {"mon": ["08:30-17:30"]}}, hall__name={"zh": "新名字"})
    ok, live, _ = kiosk(new)
    assert ok and live == ("hall.name", "hours", "kiosks[k1].services", "kiosks[k1].idle_timeout_s",
                           "kiosks[k1].ticket_notice", "kiosks[k1].lookup_url", "kiosks[k1].voice (mode, quiet_hours)")


@pytest.mark.parametrize(("change", "key"), [
    ({"hall__id": "another-hall"}, "hall.id"),
    ({"hall__timezone": "Asia/Ulaanbaatar"}, "hall.timezone"),
    ({"mqtt__port": 1884}, "mqtt"),
    ({"data_dir": "/elsewhere"}, "data_dir"),
    ({"kiosks__0": {"id": "k1", "printer": {"url": "tcp://10.0.0.9:9100"}}}, "kiosks[k1].printer"),
    ({"kiosks__0": {"id": "k1", "scanner": {"url": "camera://0"}}}, "kiosks[k1].scanner"),
    ({"kiosks__0": {"id": "k1", "credentials": {"max_age_s": 300}}}, "kiosks[k1].credentials"),
    ({"kiosks__0": {"id": "k1", "voice": {"mode": "off"}}}, "kiosks[k1].voice (voice_dir, volume, mode off)"),
    ({"evaluation": {"rater_public_key": "A" * 43}}, "evaluation.rater_public_key"),
])
def test_what_only_a_restart_changes_is_refused_with_the_key_and_why(change: dict[str, Any], key: str) -> None:
    ok, _live, why = kiosk(edited(services__0__name={"zh": "综合窗口"}, **change))
    assert not ok
    assert why.startswith(key + " (") and why.endswith("cannot change while kiosk k1 runs: restart it for that"), why


def test_a_key_the_app_does_not_read_is_not_its_business() -> None:
    staff = edited(staff__0__name="张三丰", kiosks__1={"id": "k2", "printer": {"url": "tcp://10.0.0.9:9100"}})
    assert kiosk(staff) == (True, (), "")
    d, _ = for_kiosk(parse_config(base()), parse_config(base()).kiosks[0], parse_config(staff))
    assert d.changes() == "nothing kiosk k1 uses changed"
    assert display(edited(kiosks__0={"id": "k1", "idle_timeout_s": 10}, services__1__hours={
        "weekly": {"mon": ["08:00-09:00"]}})) == (True, (), ""), "hours are the kiosk's business, not the screen's"


def test_own_entry_gone_is_refused() -> None:
    ok, _live, why = kiosk(edited(kiosks=[{"id": "k2"}]))
    assert not ok and why == "kiosks: no kiosk 'k1' in the new file (known: k2)"


def test_the_screens_own_settings() -> None:
    new = edited(displays=[{"id": "tv", "windows": ["1"], "notice": {"zh": "欢迎"}, "history": 4,
                            "waiting_per_page": 2, "waiting_page_s": 5, "notice_speed_px_s": 60,
                            "announce_max_age_s": 30}])
    ok, live, _ = display(new)
    assert ok and live == tuple(f"displays[tv].{k}" for k in (
        "windows", "notice", "history", "notice_speed_px_s", "waiting_per_page", "waiting_page_s",
        "announce_max_age_s"))
    for entry, key in (({"id": "tv", "client_id": "tv-2"}, "displays[tv].client_id"),
                       ({"id": "tv", "languages": ["zh"]}, "displays[tv].voice, voice_dir, languages")):
        ok, _live, why = display(edited(displays=[entry]))
        assert not ok and why.startswith(key), why


@pytest.mark.parametrize(("model", "keys", "prefix"), [(KioskConfig, KIOSK_KEYS, "kiosks[{id}]."),
                                                       (DisplayConfig, DISPLAY_KEYS, "displays[{id}].")])
def test_every_key_of_the_apps_own_entry_is_classified(model: type[Any], keys: tuple[Key[Any], ...],
                                                       prefix: str) -> None:
    named = {word for k in keys if k.name.startswith(prefix) for word in re.findall(r"[a-z_]+", k.name[len(prefix):])}
    missing = [f for f in model.model_fields if f != "id" and f not in named]
    assert not missing, f"decide live or restart for {missing} in hallq/config/live.py (and say so in the docs)"
