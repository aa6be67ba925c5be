"""The `hallq` command line (CONTRACT §1): parses arguments and hands over to each part.

User errors (bad arguments, bad config) exit 2 with one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from hallq.config import ConfigError, HallConfig, load_config
from hallq.errors import UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def _target(spec: str) -> Callable[..., int | None]:
    """'package.module:function' imported on use, so `hallq report` never loads Kivy."""
    mod, fn = spec.split(":")
    try:
        module = importlib.import_module(mod)
    except ModuleNotFoundError as e:
        if e.name and (e.name == mod or mod.startswith(e.name + ".")):
            raise UsageError(f"this part of hallq is not in this build ({mod} is missing)") from None
        raise
    return getattr(module, fn)  # type: ignore[no-any-return]


def _config(path: str) -> HallConfig:
    return load_config(path)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="hallq", description="hall kiosk and queue management")
    p.add_argument("--log-level", default=os.environ.get("HALLQ_LOG", "INFO"),
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    c = sub.add_parser("controller", help="run the queue controller")
    c.add_argument("--config", required=True)
    c.add_argument("--data", help="data directory (overrides data_dir)")
    c.add_argument("--credentials", help="the controller's credentials file in a secure hall (hallq secure init)")
    c.add_argument("--clock", help=argparse.SUPPRESS)  # simulated clock for `hallq sim day`
    c.set_defaults(run="controller.main:run")

    b = sub.add_parser("bridge", help="run the serial↔MQTT bridge of every configured bus")
    b.add_argument("--config", required=True)
    b.add_argument("--data", help="where the bridge keeps its in-flight event ids (default: data_dir/bridge)")
    b.add_argument("--credentials", help="this bridge's principal credentials (secure hall)")
    b.set_defaults(run="firmware_bridge.main:run")

    k = sub.add_parser("kiosk", help="run a touchscreen kiosk")
    k.add_argument("--config", required=True)
    k.add_argument("--kiosk", required=True)
    k.add_argument("--headless", action="store_true", help="no window: serve the kiosk logic only")
    k.add_argument("--credentials", help="this kiosk's principal credentials (secure hall)")
    k.add_argument("--clock", help=argparse.SUPPRESS)  # simulated clock (tests, demos), as the controller's
    kt = k.add_argument_group("for tests, demos and installers' checks")
    kt.add_argument("--autopilot", metavar="SCRIPT",
                    help="drive the window by touch events: a JSON list of steps, inline or a file "
                         "(see kiosk/autopilot.py), e.g. '[{\"wait\": \"home\"}, {\"shot\": \"home.png\"}, "
                         "{\"quit\": true}]'")
    k.set_defaults(run="kiosk.main:run")

    d = sub.add_parser("display", help="run the hall call screen and voice announcer")
    d.add_argument("--config", required=True)
    d.add_argument("--board")
    d.add_argument("--headless", action="store_true", help="no window: voice and logs only")
    d.add_argument("--credentials", help="this screen's principal credentials (secure hall)")
    dt = d.add_argument_group("for tests, demos and installers' checks")
    dt.add_argument("--trace", metavar="FILE", help="append a JSON line (time.monotonic() stamped) per handled "
                    "call, per frame that showed new calls, per started announcement and per session change")
    dt.add_argument("--screenshot", metavar="FILE.png",
                    help="save one screenshot (and its texts as FILE.png.json), then exit")
    dt.add_argument("--screenshot-when", metavar="TEXT",
                    help="take it once the screen shows this text (default: soon after start-up)")
    dt.add_argument("--screenshot-after-s", metavar="S", type=float,
                    help="seconds to wait before taking it (default: 0.5 after the text, else 4 after start-up)")
    d.set_defaults(run="display.main:run")

    dm = sub.add_parser("demo", help="the whole hall on this machine")
    dm.add_argument("--config", help="hall config (default: config/hall.example.yaml)")
    dm.add_argument("--data", help="data directory (default: a fresh temporary one)")
    dm.add_argument("--duration", type=float, help="stop after this many seconds")
    dm.add_argument("--no-gui", action="store_true", help="no kiosk/display windows")
    dm.add_argument("--open", action="store_true",
                    help="run the hall open (v1: anonymous broker) instead of secure with a principal per part")
    dm.set_defaults(run="simulation.demo:run")

    a = sub.add_parser("audit", help="check the tamper-evident event log")
    asub = a.add_subparsers(dest="audit_command", required=True, parser_class=_Parser)
    av = asub.add_parser("verify", help="exit 0 if the event log is intact")
    av.add_argument("--data", required=True)
    av.add_argument("--config", help="the hall's config: its pinned audit.public_key (or the .pub beside its "
                    "signing key) checks the signatures; without it the data directory's recorded copy does")
    av.add_argument("--against", metavar="FILE", help="checkpoints held elsewhere, one JSON object per line")
    av.set_defaults(run="controller.audit:run")

    r = sub.add_parser("report", help="the report of a day, week, month, quarter or any range")
    r.add_argument("--data", required=True)
    r.add_argument("--date", help="the day (YYYY-MM-DD); with --week, --month or --quarter: the period holding it")
    r.add_argument("--format", required=True, choices=["xlsx", "csv", "json", "png"])
    r.add_argument("--out", required=True)
    r.add_argument("--week", action="store_true", help="the ISO week (Monday to Sunday) of --date")
    r.add_argument("--month", action="store_true", help="the whole month of --date")
    r.add_argument("--quarter", action="store_true", help="the quarter of --date")
    r.add_argument("--from", dest="from_", metavar="YYYY-MM-DD", help="first day of a range (with --to)")
    r.add_argument("--to", metavar="YYYY-MM-DD", help="last day of a range")
    r.set_defaults(run="controller.report:run")

    rl = sub.add_parser("reload", help="make the running controller, and the kiosks and call screens of this box, "
                        "read the config file again (validated first)")
    rl.add_argument("--config", required=True)
    rl.add_argument("--data", help="the data directory (default: data_dir): the controller's log, the kiosks' and "
                    "call screens' pid files")
    rl.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each answer")
    one = rl.add_mutually_exclusive_group()
    one.add_argument("--kiosk", metavar="ID", help="only this kiosk (what `systemctl reload hallq-kiosk@ID` runs)")
    one.add_argument("--board", metavar="ID", help="only this call screen (`systemctl reload hallq-display@ID`)")
    rl.set_defaults(run="ops.reload:run")

    pt = sub.add_parser("print-test", help="an installer's test print")
    pt.add_argument("--config", required=True)
    pt.add_argument("--kiosk")
    pt.add_argument("--out")
    pt.set_defaults(run="devices.printer.cli:print_test")

    se = sub.add_parser("secure", help="a secure hall's broker configuration and credentials")
    ssub = se.add_subparsers(dest="secure_command", required=True, parser_class=_Parser)
    si = ssub.add_parser("init", help="write the broker's config, password file, ACL, certificates and "
                         "credentials of a secure hall (re-run to update)")
    si.add_argument("--config", required=True)
    si.add_argument("--out", required=True, help="folder for the broker's files and credentials/")
    si.add_argument("--broker-user", metavar="NAME", help="the account mosquitto runs as (default: yours)")
    si.add_argument("--rotate", metavar="ID", action="append", default=[],
                    help="give this principal (or controller) a new password; repeatable")
    si.set_defaults(run="hallq.secure.cli:init")

    rt = sub.add_parser("rater", help="the hall's privacy key; logged access to a rater's identity")
    rt.add_argument("rest", nargs=argparse.REMAINDER)
    rt.set_defaults(run="controller.rater:run")

    v = sub.add_parser("voice", help="voice clips of the call screen: generate the Chinese, list what to record")
    v.add_argument("what", help="clips")
    v.add_argument("rest", nargs=argparse.REMAINDER)
    v.set_defaults(run="display.voice_cli:run")

    sf = sub.add_parser("staff", help="a staff member's console password or device PIN (read from stdin)")
    sf.add_argument("what", choices=["passwd", "pin"])
    sf.add_argument("--config", required=True)
    sf.add_argument("--data", help="data directory (overrides data_dir)")
    sf.add_argument("staff_id", metavar="STAFF_ID")
    sf.set_defaults(run="hallq.staffauth:run")

    cs = sub.add_parser("console", help="the web console for staff and the citizen's ticket page")
    cs.add_argument("--config", required=True)
    cs.add_argument("--data", help="data directory (overrides data_dir): where the staff passwords are")
    cs.add_argument("--listen", help="HOST:PORT (overrides console.listen; HTTPS unless loopback)")
    cs.add_argument("--credentials", help="the console's principal credentials (secure hall)")
    cs.set_defaults(run="console.main:run")

    ins = sub.add_parser("install", help="set up this Debian box as a hall box: user, config, broker, systemd "
                         "units, udev rules (docs/install.md)")
    ins.add_argument("--shape", required=True, choices=["village", "centre", "kiosk", "screen"],
                     help="village: everything on one box; centre: controller, broker, console, bridge; "
                     "kiosk / screen: one app pointed at the server")
    ins.add_argument("--root", help="install under this folder and only print the system steps (a dry run)")
    ins.add_argument("--from-config", metavar="FILE", help="use this hall.yaml instead of the questionnaire")
    ins.add_argument("--keep-config", action="store_true", help="keep an existing /etc/hallq/hall.yaml")
    ins.add_argument("--yes", action="store_true", help="no questions: the flags and defaults")
    ins.add_argument("--credentials", help="kiosk/screen box: its credentials file from the server")
    ins.add_argument("--kiosk", help="the kiosk id this box runs (kiosk, village)")
    ins.add_argument("--board", help="the display id this box runs (screen)")
    ins.add_argument("--udev-rules", metavar="FILE", help="rules written by `hallq devices scan --rules`")
    ins.add_argument("--hallq-bin", metavar="PATH", help="the hallq command the units run (default: this one)")
    ins.add_argument("--backups", default="/var/backups/hallq", help="nightly backups go here (a second disk)")
    ins.add_argument("--keep", type=int, default=14, help="nightly backups to keep")
    for flag, kind in (("hall-id", str), ("name-zh", str), ("name-mn", str), ("timezone", str), ("windows", int),
                       ("kiosks", int), ("server", str), ("port", int), ("bus", str)):
        ins.add_argument(f"--{flag}", type=kind, help=argparse.SUPPRESS)
    ins.set_defaults(run="ops.install:run")

    bk = sub.add_parser("backup", help="back up the data directory while the controller runs (verified)")
    bk.add_argument("--data", required=True)
    bk.add_argument("--out", help="the backup file (.tar.gz)")
    bk.add_argument("--out-dir", help="a folder for dated backups (nightly), with --keep")
    bk.add_argument("--keep", type=int, default=14, help="with --out-dir: how many of this hall's backups to keep")
    bk.set_defaults(run="ops.backup:run_backup")

    rs = sub.add_parser("restore", help="restore a backup into an empty data directory (refused unless it verifies)")
    rs.add_argument("backup", metavar="FILE")
    rs.add_argument("--data", required=True, help="an empty or new data directory")
    rs.set_defaults(run="ops.backup:run_restore")

    dr = sub.add_parser("doctor", help="check this hall box and print what to fix")
    dr.add_argument("--config", required=True)
    dr.add_argument("--data", help="data directory (overrides data_dir)")
    dr.add_argument("--credentials", help="the principal to try the broker with (default: mqtt.credentials)")
    dr.add_argument("--days", type=int, default=30, help="disk space needed for this many days")
    dr.add_argument("--no-broker", action="store_true", help="skip the broker check")
    dr.set_defaults(run="ops.doctor:run")

    dv = sub.add_parser("devices", help="find the box's USB serial adapters, printers and scanners")
    dsub = dv.add_subparsers(dest="devices_command", required=True, parser_class=_Parser)
    ds = dsub.add_parser("scan", help="list them with their ids; --name and --rules write udev rules")
    ds.add_argument("--name", action="append", default=[], metavar="NAME=DEVICE",
                    help="bus-<id>=ttyUSB0, printer-<kiosk>=lp0, scanner-<kiosk>=event5 (repeatable)")
    ds.add_argument("--rules", metavar="FILE", help="write the udev rules here (e.g. /etc/udev/rules.d/70-hallq.rules)")
    ds.add_argument("--sysfs", default="/sys", help=argparse.SUPPRESS)
    ds.set_defaults(run="ops.devscan:run")

    rg = sub.add_parser("region", help="the league's region: ingest into PostgreSQL, its console, its broker")
    rg.add_argument("what", choices=["ingest", "serve", "secure-init", "passwd"])
    rg.add_argument("--config", required=True, help="REGION.yaml (docs/region.md)")
    rg.add_argument("--credentials", help="the ingest account's credentials (hallq region secure-init)")
    rg.add_argument("--out", help="secure-init: folder for the regional broker's files")
    rg.add_argument("--broker-user", metavar="NAME", help="secure-init: the account mosquitto runs as")
    rg.add_argument("--name", help="ingest: this process's stable name when several run (default 1)")
    rg.add_argument("--shared", action="store_true", help="ingest: join the shared subscription (ingest.shared)")
    rg.add_argument("--part", metavar="K/N", help="ingest: take every N-th hall of REGION.yaml from the K-th")
    rg.add_argument("--listen", help="serve: HOST:PORT (overrides console.listen)")
    rg.add_argument("--staff", metavar="STAFF_ID", help="passwd: the league staff id (the password is on stdin)")
    rg.set_defaults(run="region.cli:run")

    s = sub.add_parser("sim", help="device and hall simulators")
    s.add_argument("what", help="evaluator | led | hall_led | printer | scanner | token | day")
    s.add_argument("rest", nargs=argparse.REMAINDER)
    s.set_defaults(run="simulation.simcli:run")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        if getattr(args, "config", None) and args.command not in ("demo", "region"):
            args.cfg = _config(args.config).with_credentials(getattr(args, "credentials", None))
        rc = _target(args.run)(args)
    except ConfigError as e:
        sys.stderr.write(f"hallq {args.command}: config error: {e}\n")
        return 2
    except UsageError as e:
        sys.stderr.write(f"hallq {args.command}: {e}\n")
        return 2
    except KeyboardInterrupt:
        return 0
    return int(rc or 0)


def entry(argv: Any = None) -> None:
    raise SystemExit(main(argv))


if __name__ == "__main__":
    entry()
