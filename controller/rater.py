"""`hallq rater new-key FILE` and `hallq rater reveal …`: the hall's privacy key and logged access to a
rater's identity (for 回访 of a 差评).

`reveal` asks the controller for the sealed identity (`rater_access`, which first records who asked and
why as an `identity.accessed` event in the hash-chained log), opens it with the private key and shows
the name and the ID number masked to its last 4 digits. The controller never holds the private key.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from pathlib import Path

from hallq.config import HallConfig, load_config
from hallq.errors import UsageError
from hallq.mqtt import BlockingClient, CommandError
from hallq.sealed import SealError, load_private_key, new_private_key_pem, open_sealed


def run(args: argparse.Namespace) -> int:
    p = argparse.ArgumentParser(prog="hallq rater")
    sub = p.add_subparsers(dest="action", required=True)
    nk = sub.add_parser("new-key", help="make the hall's privacy key (keep the file offline)")
    nk.add_argument("file")
    rv = sub.add_parser("reveal", help="show a rater's name and masked ID; the access is logged")
    rv.add_argument("--config", required=True)
    rv.add_argument("--key", required=True, help="the privacy key file made by new-key")
    rv.add_argument("--ticket", required=True)
    rv.add_argument("--date", help="the ticket's day YYYY-MM-DD (default: today)")
    rv.add_argument("--by", required=True, help="who looks (recorded in the log)")
    rv.add_argument("--reason", required=True, help="why, e.g. 差评回访 WO-2026-11-23-A012 (recorded)")
    o = p.parse_args(args.rest)
    if o.action == "new-key":
        return _new_key(Path(o.file))
    cfg = load_config(o.config)
    try:
        key = load_private_key(o.key)
    except (OSError, ValueError) as e:
        raise UsageError(f"--key {o.key}: {e}") from None
    return _reveal(cfg, key, o)


def _new_key(path: Path) -> int:
    if path.exists():
        raise UsageError(f"{path} exists: a privacy key is never overwritten (sealed identities need it)")
    pem, public = new_private_key_pem()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    print(f"wrote the hall's privacy key to {path} (keep it offline). Put the public key in the hall config:\n"
          f"evaluation:\n  rater_public_key: {public}")
    return 0


def _reveal(cfg: HallConfig, key: object, o: argparse.Namespace) -> int:
    args = {"ticket": o.ticket, "by": o.by, "reason": o.reason, **({"date": o.date} if o.date else {})}
    try:
        with BlockingClient(cfg, "rater") as c:
            result = c.command("rater_access", **args)
    except CommandError as e:
        sys.stderr.write(f"hallq rater: {e.code}: {e.message}\n")
        return 1
    except (ConnectionError, TimeoutError) as e:
        raise UsageError(f"cannot reach the controller of hall {cfg.hall.id}: {e}") from None
    try:
        who = open_sealed(key, str(result["rater"]))  # type: ignore[arg-type]
    except SealError as e:
        sys.stderr.write(f"hallq rater: ticket {o.ticket}: {e}\n")
        return 1
    idn = str(who.get("idn", ""))
    print(f"ticket {result['ticket']} of {result['date']}: {who.get('name', '?')}, ID {'*' * 14}{idn[-4:]} "
          f"(access recorded in the event log: by {o.by}, {o.reason})")
    return 0
