"""Which `displays:` entry a call screen is (`--board`), checked as at start, and an edited config file read
again and judged on SIGHUP: what hallq/config/live.py says a running screen can take, or one line why not."""

from __future__ import annotations

from dataclasses import dataclass

from hallq.config import ConfigError, DisplayConfig, HallConfig
from hallq.config.live import DISPLAY_KEYS, decide
from hallq.errors import UsageError
from hallq.reloading import ConfigFile


def check(cfg: HallConfig, display: DisplayConfig, config: str, index: int) -> None:
    """The display's windows and services must exist: a typo would silently show an empty screen."""
    known_w = {w.id for w in cfg.windows}
    known_s = {s.id for s in cfg.services}
    for key, given, known in (("windows", display.windows, known_w), ("services", display.services, known_s)):
        for j, item in enumerate(given or []):
            if item not in known:
                raise UsageError(f"{config}: displays[{index}].{key}[{j}]: unknown {key[:-1]} {item!r} "
                                 f"(known: {', '.join(sorted(known))})")


def choose(cfg: HallConfig, board: str | None, config: str) -> DisplayConfig:
    """The entry `--board` names, else the first one, else one screen showing every window; UsageError when
    `--board` names none or the entry names windows or services that do not exist."""
    if board:
        display = cfg.display(board)
        if display is None:
            known = ", ".join(d.id for d in cfg.displays) or "none configured"
            raise UsageError(f"{config}: unknown display {board!r} (known: {known})")
    elif cfg.displays:
        display = cfg.displays[0]
    else:
        return DisplayConfig(id="hall")  # no `displays:` section: one screen showing every window
    check(cfg, display, config, cfg.displays.index(display))
    return display


class Refused(Exception):
    """Why the screen keeps the configuration it runs, in one line."""


@dataclass(frozen=True)
class Accepted:
    """An edited configuration the running screen takes at its next pump."""

    cfg: HallConfig
    display: DisplayConfig
    sha: str
    changes: str


def read_new(source: ConfigFile, board: str | None, cfg: HallConfig, display: DisplayConfig) -> Accepted:
    """Read `source` again as at start and judge it against what runs (`cfg`, `display`); Refused otherwise."""
    try:
        new = source.load()
        mine = choose(new.cfg, board, str(source.path))
    except ConfigError as e:
        raise Refused(f"config error: {e}") from None
    except UsageError as e:
        raise Refused(str(e)) from None
    decision = decide(DISPLAY_KEYS, f"display {display.id}", cfg, display, new.cfg, mine)
    if not decision.ok:
        raise Refused(decision.refusal())
    return Accepted(new.cfg, mine, new.sha, decision.changes())
