"""`hallq secure init --config FILE --out DIR [--broker-user NAME] [--rotate ID]` (CONTRACT §5.1)."""

from __future__ import annotations

import argparse
import sys

from hallq.secure.files import SecureError
from hallq.secure.layout import generate


def init(args: argparse.Namespace) -> int:
    """Write or update the secure hall's broker files; exit 2 with one line on a user error."""
    cfg = args.cfg
    if not cfg.secure:
        sys.stderr.write(f"hallq secure init: {args.config}: security.mode: the hall is open; a secure hall needs "
                         "security.mode: secure and its principals (see docs/security.md)\n")
        return 2
    try:
        layout = generate(cfg, args.out, broker_user=args.broker_user, rotate=args.rotate)
    except SecureError as e:
        sys.stderr.write(f"hallq secure init: {e}\n")
        return 2
    except OSError as e:     # what the checks above did not foresee: still one line, never a traceback
        sys.stderr.write(f"hallq secure init: {e.filename or args.out}: {e.strerror or e}\n")
        return 2
    for w in layout.warnings:
        sys.stderr.write(f"hallq secure init: warning: {w}\n")
    out = sys.stdout
    out.write(f"{layout.dir}: broker configuration of hall {cfg.hall.id} for {len(layout.accounts)} accounts "
              f"({', '.join(layout.accounts)}); the broker runs as {layout.broker_user}\n")
    if layout.added:
        out.write(f"new accounts: {', '.join(layout.added)}\n")
    if layout.removed:
        out.write(f"removed accounts: {', '.join(layout.removed)}\n")
    for account in layout.rotated:
        out.write(f"new password for {account} in {layout.credentials(account)}: a running broker takes it after "
                  "SIGHUP (systemctl reload mosquitto, or kill -HUP its pid); then restart what runs as "
                  f"{account} with the new file\n")
    out.write(f"start the broker with: mosquitto -c {layout.conf}\n")
    return 0
