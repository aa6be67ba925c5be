"""The systemd units of a hall box: broker, controller, bridge, console, kiosk and call screen (in a `cage`
kiosk session), and the nightly backup timer. Rendered from the install's paths; pure text, no I/O. The hallq
daemons share one layout (`_daemon_unit`); each says only what is its own (`Daemon`)."""

from __future__ import annotations

from dataclasses import dataclass

USER = "hallq"
HARDENING = """\
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
ProtectHome=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
SystemCallArchitectures=native
UMask=0027"""
# the Kivy apps need the GPU and their session's devices: no private /dev, no memory W^X (GL drivers JIT)
GUI_HARDENING = """\
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
ProtectHome=read-only
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes
UMask=0027"""


@dataclass(frozen=True)
class Paths:
    hallq: str = "/opt/hallq/venv/bin/hallq"      # the hallq command (absolute)
    etc: str = "/etc/hallq"
    data: str = "/var/lib/hallq"
    backups: str = "/var/backups/hallq"
    keep: int = 14
    hall: str = "hall"
    local_broker: bool = True

    @property
    def config(self) -> str:
        return f"{self.etc}/hall.yaml"

    @property
    def secure(self) -> str:
        return f"{self.etc}/secure"

    def credentials(self, principal: str) -> str:
        return f"{self.secure}/credentials/{principal}.yaml"


def _broker_deps(p: Paths) -> str:
    if p.local_broker:
        return "After=network-online.target time-sync.target hallq-broker.service\n" \
               "Wants=network-online.target hallq-broker.service\n"
    return "After=network-online.target time-sync.target\nWants=network-online.target\n"


def broker(p: Paths) -> str:
    return f"""\
[Unit]
Description=hallq hall broker (mosquitto, hall {p.hall})
Documentation=man:mosquitto(8)
After=network-online.target
Wants=network-online.target
Conflicts=mosquitto.service

[Service]
Type=notify
NotifyAccess=main
ExecStart=/usr/sbin/mosquitto -c {p.secure}/mosquitto.conf
ExecReload=/bin/kill -HUP $MAINPID
User=mosquitto
Group=mosquitto
Restart=on-failure
RestartSec=1
ReadWritePaths={p.secure}/broker
{HARDENING}

[Install]
WantedBy=multi-user.target
"""


@dataclass(frozen=True)
class Daemon:
    """What one hallq daemon's unit says of its own; `_daemon_unit` writes what they all share around it."""

    description: str
    command: str                          # ExecStart=
    rw: str                               # ReadWritePaths=
    docs: str = ""                        # Documentation=, before the dependencies
    unit: tuple[str, ...] = ()            # [Unit] lines after the broker dependencies
    notify: tuple[str, ...] = ("NotifyAccess=main",)
    reload: tuple[str, ...] = ()          # after ExecStart= (ExecReload=, and why)
    extra: tuple[str, ...] = ()           # between Group= and WatchdogSec= (groups, the tty session)
    watchdog_s: int = 30
    timeouts: tuple[str, ...] = ()        # after WatchdogSec=
    state: tuple[str, ...] = ()           # after StateDirectory=
    hardening: str = HARDENING
    wanted_by: str = "multi-user.target"


def _daemon_unit(p: Paths, d: Daemon) -> str:
    head = [f"Description={d.description}", *([f"Documentation={d.docs}"] if d.docs else []),
            *_broker_deps(p).splitlines(), *d.unit]
    service = ["Type=notify", *d.notify, f"ExecStart={d.command}", *d.reload, f"User={USER}", f"Group={USER}",
               *d.extra,
               f"WatchdogSec={d.watchdog_s}", *d.timeouts, "Restart=on-failure", "RestartSec=2",
               "StateDirectory=hallq", *d.state, f"ReadWritePaths={d.rw}", d.hardening]
    return "\n".join(["[Unit]", *head, "", "[Service]", *service, "", "[Install]", f"WantedBy={d.wanted_by}", ""])


def _hallq(p: Paths, app: str, data: str, principal: str) -> str:
    return f"{p.hallq} {app} --config {p.config} --data {data} --credentials {p.credentials(principal)}"


def controller(p: Paths) -> str:
    return _daemon_unit(p, Daemon(
        f"hallq queue controller (hall {p.hall})", docs="file:///usr/share/doc/ops/install.md",
        command=_hallq(p, "controller", p.data, "controller"),
        timeouts=("TimeoutStartSec=300", "TimeoutStopSec=30"),
        state=("StateDirectoryMode=0750",
               "# the ticket-code and signing keys (and the note of the last head written) live beside the config"),
        rw=f"{p.data} {p.etc}"))


def bridge(p: Paths) -> str:
    return _daemon_unit(p, Daemon(
        f"hallq serial bridge of the window devices (hall {p.hall})", unit=("After=dev-hallq.device",),
        command=_hallq(p, "bridge", f"{p.data}/bridge", "bridge-1"),
        extra=("SupplementaryGroups=dialout",), rw=p.data))


def console(p: Paths) -> str:
    return _daemon_unit(p, Daemon(
        f"hallq web console (hall {p.hall})", unit=("After=hallq-controller.service",),
        command=_hallq(p, "console", p.data, "console-1"),
        rw=p.data))


def _session(p: Paths, what: str, command: str, groups: str, reload: str) -> str:
    """A full-screen app on tty1 in `cage` (a Wayland kiosk compositor: one app, no desktop, no way out).
    `systemctl reload` runs `hallq reload --kiosk/--board %i`: it validates the file, signals hallq by the pid
    file in its data directory and waits for its answer. Not `kill -HUP $MAINPID`: the main process is cage,
    which handles only SIGINT and SIGTERM, so a SIGHUP would end the session for good (systemd counts SIGHUP
    as a clean exit: Restart=on-failure does not bring it back)."""
    return _daemon_unit(p, Daemon(
        f"hallq {what} %i (full screen in cage on tty1)",
        unit=("After=systemd-user-sessions.service plymouth-quit-wait.service",
              "Conflicts=getty@tty1.service display-manager.service"),
        notify=("# hallq runs as cage's child: it sends READY after the first frame and the watchdog pings from "
                "its loop", "NotifyAccess=all"),
        reload=("# SIGHUP goes to hallq (its pid file), never to cage, the main process: cage would end on it",
                f"ExecReload={p.hallq} reload --config {p.config} {reload} %i --timeout 30"),
        command=f"/usr/bin/cage -d -s -- {command}",
        extra=(f"SupplementaryGroups={groups}", "PAMName=login", "TTYPath=/dev/tty1", "TTYReset=yes", "TTYVHangup=yes",
               "TTYVTDisallocate=yes", "StandardInput=tty-fail", "StandardOutput=journal", "StandardError=journal",
               "UtmpIdentifier=tty1", "UtmpMode=user",
               "Environment=XDG_SESSION_TYPE=wayland KIVY_NO_ARGS=1 KIVY_WINDOW=sdl2"),
        watchdog_s=60, timeouts=("TimeoutStartSec=120",), rw=p.data, hardening=GUI_HARDENING,
        wanted_by="graphical.target"))


def kiosk(p: Paths) -> str:
    return _session(p, "kiosk", f"{p.hallq} kiosk --config {p.config} --kiosk %i --credentials "
                                f"{p.secure}/credentials/kiosk-%i.yaml", "lp dialout input video render", "--kiosk")


def display(p: Paths) -> str:
    return _session(p, "call screen", f"{p.hallq} display --config {p.config} --board %i --credentials "
                                      f"{p.secure}/credentials/display-%i.yaml", "video render audio", "--board")


def backup_service(p: Paths) -> str:
    return f"""\
[Unit]
Description=hallq nightly backup of the event log (keeps {p.keep})
After=hallq-controller.service
RequiresMountsFor={p.backups}

[Service]
Type=oneshot
ExecStart={p.hallq} backup --data {p.data} --out-dir {p.backups} --keep {p.keep}
User={USER}
Group={USER}
Nice=10
IOSchedulingClass=idle
# SQLite reads a live WAL log through its shared-memory file: the data directory must stay writable
ReadWritePaths={p.data} {p.backups}
{HARDENING}
"""


def backup_timer(p: Paths) -> str:
    return """\
[Unit]
Description=hallq nightly backup

[Timer]
OnCalendar=*-*-* 02:30:00
RandomizedDelaySec=15min
Persistent=true

[Install]
WantedBy=timers.target
"""


def units_for(shape: str, p: Paths, kiosk_id: str = "", board: str = "") -> dict[str, str]:
    """File name -> text of every unit a box of `shape` gets (templates for kiosk and display)."""
    server = {"hallq-controller.service": controller(p), "hallq-console.service": console(p),
              "hallq-bridge.service": bridge(p), "hallq-backup.service": backup_service(p),
              "hallq-backup.timer": backup_timer(p)}
    if p.local_broker:
        server["hallq-broker.service"] = broker(p)
    if shape == "centre":
        return server
    if shape == "village":
        return {**server, "hallq-kiosk@.service": kiosk(p), "hallq-display@.service": display(p)}
    if shape == "kiosk":
        return {"hallq-kiosk@.service": kiosk(p)}
    if shape == "screen":
        return {"hallq-display@.service": display(p)}
    raise ValueError(f"unknown shape {shape!r}")


def enabled_for(shape: str, p: Paths, kiosk_id: str, board: str) -> list[str]:
    """The units `systemctl enable` takes for this box (instances of the templates)."""
    base = (["hallq-broker.service"] if p.local_broker else []) + \
        ["hallq-controller.service", "hallq-console.service", "hallq-bridge.service", "hallq-backup.timer"]
    if shape == "centre":
        return base
    if shape == "village":
        return base + [f"hallq-kiosk@{kiosk_id}.service"]
    if shape == "kiosk":
        return [f"hallq-kiosk@{kiosk_id}.service"]
    return [f"hallq-display@{board}.service"]
