"""Writes the window-state section of docs/controller.md from the transition tables in model.py.

`python -m controller.docs` rewrites the section; a test fails when the doc and the tables differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

from controller.model import TICKET_COMMAND_STATUSES, WINDOW_COMMAND_STATES, TicketStatus, WindowStatus, state_error

BEGIN, END = "<!-- window-table:begin -->", "<!-- window-table:end -->"
DOC = Path(__file__).resolve().parents[1] / "docs" / "controller.md"


def window_table() -> str:
    states = list(WindowStatus)
    rows = ["| command | " + " | ".join(s.value for s in states) + " |", "|---|" + "---|" * len(states)]
    for cmd in WINDOW_COMMAND_STATES:
        cells = [f"`{code}`" if (code := state_error(cmd, s)) else "ok" for s in states]
        rows.append(f"| `{cmd}` | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def ticket_table() -> str:
    """The ticket statuses each ticket command (§3.7) accepts, and its error for the others."""
    states = list(TicketStatus)
    rows = ["| command | " + " | ".join(s.value for s in states) + " |", "|---|" + "---|" * len(states)]
    for cmd, (allowed, code) in TICKET_COMMAND_STATUSES.items():
        cells = ["ok" if s in allowed else f"`{code}`" for s in states]
        rows.append(f"| `{cmd}` | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def render(text: str) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    tickets = "By the status of the ticket they name (checked after the window's state, before `WRONG_SERVICE`):"
    return f"{head}{BEGIN}\n{window_table()}\n\n{tickets}\n\n{ticket_table()}\n{END}{tail}"


if __name__ == "__main__":
    DOC.write_text(render(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    sys.stdout.write(f"wrote {DOC}\n")
