"""`hallq reload`: the running parts of this box read the config file again, each validating it as at start.

Without `--kiosk`/`--board`: the controller first (controller/reload.py); once it runs the new file, every kiosk
and call screen that runs from the same data directory (a pid file in DATA/kiosk-ID/, DATA/display-ID/: a village
box) is told too, so one command moves the whole box. `--kiosk ID` / `--board ID`: that one only — what
`systemctl reload hallq-kiosk@ID` / `hallq-display@ID` runs (ops/install/units.py), and what a kiosk or screen
box on its own needs. Each answers through hallq/reloading.py; a refusal is one line and exit 2, and the part
that refused runs on with the configuration it had.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from controller.reload import run as reload_controller
from hallq.config import HallConfig
from hallq.errors import UsageError
from hallq.reloading import Follower


def run(args: argparse.Namespace) -> int:
    cfg: HallConfig = args.cfg            # validated by the CLI as at start (a bad file: exit 2 there)
    data = Path(args.data or cfg.data_dir)
    if args.kiosk or args.board:
        app, ident = ("kiosk", args.kiosk) if args.kiosk else ("display", args.board)
        print(_said(Follower.of(data, app, ident), args.timeout))
        return 0
    rc = reload_controller(args)
    refused = []
    for folder in dict.fromkeys((data.resolve(), Path(cfg.data_dir).resolve())):     # the same folder once
        for follower in Follower.around(folder):
            if follower.running() is None:
                continue
            try:
                print(_said(follower, args.timeout))
            except UsageError as e:
                refused.append(str(e))
    if refused:
        raise UsageError("; ".join(refused))
    return rc


def _said(follower: Follower, timeout_s: float) -> str:
    """What the follower answered, as one line; UsageError when it refused (it runs on with what it had)."""
    answer: dict[str, Any] = follower.ask(timeout_s)
    restart = f"systemctl restart hallq-{follower.app}@{follower.ident}"
    if not answer.get("ok"):
        raise UsageError(f"{follower.who} refused the new configuration and runs on with the previous one: "
                         f"{answer.get('error')} ({restart} for a change it cannot take)")
    return f"hallq reload: {follower.who} (pid {answer.get('pid')}) takes the new configuration (sha256 " \
           f"{answer.get('sha')}): {answer.get('note')}"
