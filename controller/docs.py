"""Writes the window-state section of docs/controller.md from the transition tables in model.py.

`python -m controller.docs` rewrites the section; a test fails when the doc and the tables differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

from controller.model import WINDOW_COMMAND_STATES, WINDOW_STATE_ERRORS, WindowStatus

BEGIN, END = "<!-- window-table:begin -->", "<!-- window-table:end -->"
DOC = Path(__file__).resolve().parents[1] / "docs" / "controller.md"


def window_table() -> str:
    states = list(WindowStatus)
    rows = ["| command | " + " | ".join(s.value for s in states) + " |", "|---|" + "---|" * len(states)]
    for cmd, allowed in WINDOW_COMMAND_STATES.items():
        cells = ["ok" if s in allowed else f"`{WINDOW_STATE_ERRORS[s]}`" for s in states]
        rows.append(f"| `{cmd}` | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def render(text: str) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{window_table()}\n{END}{tail}"


if __name__ == "__main__":
    DOC.write_text(render(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    sys.stdout.write(f"wrote {DOC}\n")
