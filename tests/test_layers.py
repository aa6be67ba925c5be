"""The layers of hallq (docs/code-overview.md), checked on every import in the source, function-level ones
included: a change that imports across them fails here, naming the file, the line and the rule.

- the ground (`hallq/`) imports no part of hallq above it;
- device drivers (`devices/`) stand on the ground only;
- applications (`controller`, `firmware_bridge`, `kiosk`, `display`, `console`, `region`) stand on the ground
  and the drivers, never on each other;
- the tops (`simulation/`, the demo and simulators; `ops/`, the box tools) may use everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GROUND = {"hallq"}
DRIVERS = {"devices"}
APPS = {"controller", "firmware_bridge", "kiosk", "display", "console", "region"}
TOPS = {"simulation", "ops"}
OURS = GROUND | DRIVERS | APPS | TOPS


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module.split(".")[0]))
    return [(n, m) for n, m in out if m in OURS]


def _allowed(layer: str) -> set[str]:
    if layer in GROUND:
        return GROUND
    if layer in DRIVERS:
        return GROUND | DRIVERS
    if layer in APPS:
        return GROUND | DRIVERS | {layer}
    return OURS


def test_every_import_follows_the_layers() -> None:
    wrong = []
    for top in sorted(OURS):
        root = REPO / top
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*.py")):
            for line, mod in _imports(path):
                if mod not in _allowed(top):
                    wrong.append(f"{path.relative_to(REPO)}:{line}: {top} imports {mod}")
    assert not wrong, "imports across the layers:\n" + "\n".join(wrong)


def test_the_controller_box_needs_no_hardware_library() -> None:
    """`pip install hallq` (no extras) runs the controller, reports and console: nothing they import needs
    Kivy, numpy, OpenCV, evdev, zbar, pyserial or psycopg."""
    import subprocess
    import sys
    code = ("import sys\n"
            "import controller.main, controller.service, controller.report, console.main\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'kivy', 'numpy', 'cv2', 'evdev', 'zbar', 'serial', 'psycopg', 'usb'})\n"
            "print(','.join(bad))\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"the controller box would need: {r.stdout.strip()}"


def test_the_pure_presenters_load_no_image_or_gui_library() -> None:
    """The kiosk's and the call screen's presenters are pure: importing them loads no Pillow, numpy or Kivy."""
    import subprocess
    import sys
    code = ("import sys\n"
            "import kiosk.presenter, display.presenter\n"
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {'PIL', 'numpy', 'kivy', 'cv2'})))\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"a presenter loads: {r.stdout.strip()}"
