"""The systemd units of a village station, byte for byte against golden files (tests/install/golden/units/);
`systemd-analyze verify` of the same units runs in test_install.py."""

from __future__ import annotations

from pathlib import Path

from ops.install.units import Paths, controller, units_for

GOLDEN = Path(__file__).parent / "golden" / "units"


def test_village_units_match_the_golden_files() -> None:
    units = units_for("village", Paths())
    assert sorted(units) == sorted(p.name for p in GOLDEN.glob("*") if ".remote-broker." not in p.name)
    for name, text in units.items():
        assert text == (GOLDEN / name).read_text(), f"{name} changed: check it, then update its golden file"


def test_controller_unit_without_a_local_broker_matches_the_golden_file() -> None:
    golden = GOLDEN / "hallq-controller.remote-broker.service"
    assert controller(Paths(local_broker=False)) == golden.read_text(), f"check it, then update {golden.name}"
