"""Writes the generated sections of docs/controller.md: the window machine and ticket table (controller/model.py),
the commands (controller/commands.py) and the events (controller/events.py).

`python -m controller.docs` rewrites the sections; a test fails when the doc and the declarations differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

from controller.commands import COMMANDS
from controller.events import ALERT_LAYOUTS, ENVELOPE_KEYS, EVENT_TYPES
from controller.model import (
    TICKET_COMMAND_STATUSES,
    WINDOW_MACHINE,
    Keep,
    Refuse,
    Target,
    TicketStatus,
    WindowStatus,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "controller.md"
SECTIONS = ("window-table", "command-table", "event-table")


def _cell(target: Target) -> str:
    if isinstance(target, Refuse):
        return f"`{target.code}`"
    if isinstance(target, WindowStatus):
        return f"→ {target.value}"
    if target is Keep.SAME:
        return "stays"
    if target is Keep.BEFORE_PAUSE:
        return "→ before pause"
    return "—"


def window_table() -> str:
    """(state, move) → target of WINDOW_MACHINE: a move per row, a state per column."""
    states = list(WindowStatus)
    moves = list(dict.fromkeys(move for _, move in WINDOW_MACHINE))
    rows = ["| move | " + " | ".join(s.value for s in states) + " |", "|---|" + "---|" * len(states)]
    for move in moves:
        rows.append(f"| `{move}` | " + " | ".join(_cell(WINDOW_MACHINE[(s, move)]) for s in states) + " |")
    return "\n".join(rows)


def ticket_table() -> str:
    """The ticket statuses each ticket command (§3.7) accepts, and its error for the others."""
    states = list(TicketStatus)
    rows = ["| command | " + " | ".join(s.value for s in states) + " |", "|---|" + "---|" * len(states)]
    for cmd, (allowed, code) in TICKET_COMMAND_STATUSES.items():
        cells = ["ok" if s in allowed else f"`{code}`" for s in states]
        rows.append(f"| `{cmd}` | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def command_table() -> str:
    """Every command with its arguments (`?`: optional; strings at most 64 characters unless told)."""
    rows = ["| command | arguments | what it does |", "|---|---|---|"]
    for name, cls in COMMANDS.items():
        args = []
        for a in cls.ARGS:
            size = f" ≤{a.max_len}" if a.kind == "str" and a.max_len != 64 else ""
            args.append(f"`{a.name}{'' if a.required else '?'}` {a.kind}{size}")
        what = (cls.__doc__ or "").strip().splitlines()[0]
        rows.append(f"| `{name}` | {', '.join(args)} | {what.replace('|', '/')} |")
    return "\n".join(rows)


def event_table() -> str:
    """Every event type with its keys in the order they are written (`?`: only when set)."""
    rows = ["| type | fields (after `type`, `at`) |", "|---|---|"]
    for name, cls in EVENT_TYPES.items():
        if name == "alert.raised":
            kinds = "; ".join(f"{kind}: " + ", ".join(f"`{k}`" for k in keys) for kind, keys in ALERT_LAYOUTS.items())
            rows.append(f"| `{name}` | by `kind` — {kinds}; any other kind: `kind`, `key`, `message`; then `id` |")
            continue
        shown = [k for k in cls._LAYOUT if k != "at" and k not in ENVELOPE_KEYS]
        rows.append(f"| `{name}` | " + ", ".join(f"`{k}{'?' if k in cls.OMIT_NONE else ''}`" for k in shown) + " |")
    return "\n".join(rows)


def _section(text: str, name: str, body: str) -> str:
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    head, found, rest = text.partition(begin)
    if not found:
        raise ValueError(f"{DOC}: no {begin} marker")
    _, _, tail = rest.partition(end)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def render(text: str) -> str:
    tickets = "By the status of the ticket they name (checked after the window's state, before `WRONG_SERVICE`):"
    text = _section(text, "window-table", f"{window_table()}\n\n{tickets}\n\n{ticket_table()}")
    text = _section(text, "command-table", command_table())
    return _section(text, "event-table", event_table())


if __name__ == "__main__":
    DOC.write_text(render(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    sys.stdout.write(f"wrote {DOC}\n")
