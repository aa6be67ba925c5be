"""The hall broker's `mosquitto.conf` (CONTRACT §5.1): absolute paths, no anonymous clients, one listener."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hallq.api import MESSAGE_MAX_BYTES
from hallq.config import HallConfig

MAX_CONNECTIONS = 512
MAX_QUEUED_MESSAGES = 100_000
MAX_QUEUED_BYTES = 128 * 1024 * 1024
AUTOSAVE_S = 60
CLIENT_EXPIRATION = "30d"


@dataclass(frozen=True)
class BrokerFiles:
    """Where the broker's files are (all absolute)."""

    passwd: Path
    acl: Path
    data: Path              # persistence and log folder, writable by the broker's user
    log: Path
    cafile: Path | None     # TLS: the CA clients trust, the server certificate and key
    certfile: Path | None
    keyfile: Path | None


def render(cfg: HallConfig, files: BrokerFiles, user: str) -> str:
    """The text of mosquitto.conf for the hall's broker."""
    m = cfg.mqtt
    lines = [
        f"# mosquitto configuration of hall {cfg.hall.id}, written by `hallq secure init`.",
        "# Edit the hall config and run it again rather than this file (it is rewritten each time).",
        f"# Start it with: mosquitto -c {files.data.parent / 'mosquitto.conf'}",
        "per_listener_settings false",
        "",
        "# mosquitto started as root switches to this account before it reads the password and ACL files,",
        "# which belong to it; started by this account, it stays as it is.",
        f"user {user}",
        "",
        "allow_anonymous false",
        f"password_file {files.passwd}",
        f"acl_file {files.acl}",
        "",
        "persistence true",
        f"persistence_location {files.data}/",
        f"# retained state and queued messages reach the disk at least every {AUTOSAVE_S} s",
        f"autosave_interval {AUTOSAVE_S}",
        f"# a persistent session unused for {CLIENT_EXPIRATION} (a device taken away) is dropped",
        f"persistent_client_expiration {CLIENT_EXPIRATION}",
        "",
        f"# {MESSAGE_MAX_BYTES} bytes = 16 MiB (hallq.api.MESSAGE_MAX_BYTES): a reply to `events` with 10,000",
        "# events fits; commands themselves are refused by the controller above 64 KiB",
        f"message_size_limit {MESSAGE_MAX_BYTES}",
        f"# {MAX_QUEUED_MESSAGES} messages or {MAX_QUEUED_BYTES // (1024 * 1024)} MiB queued per client"
        " (mosquitto's default is 1000):",
        "# a screen or bridge away for a league day gets every event of it when it comes back",
        f"max_queued_messages {MAX_QUEUED_MESSAGES}",
        f"max_queued_bytes {MAX_QUEUED_BYTES}",
        "# no Nagle: a QoS 1 round trip goes from ~88 ms (delayed ACKs) to ~2 ms",
        "set_tcp_nodelay true",
        "",
        f"log_dest file {files.log}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages true",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        "",
    ]
    if m.tls:
        assert files.cafile and files.certfile and files.keyfile
        lines += [
            f"# TLS only: there is no plain listener. Clients verify the server against {files.cafile.name}.",
            f"listener {m.port} {m.host.strip('[]')}",
            f"cafile {files.cafile}",
            f"certfile {files.certfile}",
            f"keyfile {files.keyfile}",
        ]
    else:
        lines += [
            "# NOT ENCRYPTED (mqtt.tls is false): passwords and staff PINs cross the network in clear.",
            f"listener {m.port} {m.host.strip('[]')}",
        ]
    # listener options come after their `listener` line: before any, mosquitto would open a default
    # listener on port 1883 of every interface for them
    lines += [
        "",
        f"# {MAX_CONNECTIONS} clients: a 60-window league centre has well under 200 (controller, bridges, kiosks,",
        "# screens, consoles, MQTT devices); stays under the usual 1024 open files, bounds a connection flood",
        f"max_connections {MAX_CONNECTIONS}",
    ]
    return "\n".join(lines) + "\n"
