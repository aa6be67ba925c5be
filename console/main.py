"""`hallq console`: connect to the hall's broker, then serve the web console on uvicorn (HTTPS unless loopback).

The HTTP port is opened only once the MQTT session is up and subscribed (CONTRACT §6); a port that is taken
is one clear line and exit 2.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn
import yaml

from console.app import Console, build_app
from console.follow import text_sha
from console.hub import Hub
from hallq import sdnotify
from hallq.config import ConfigError, HallConfig
from hallq.staffauth import StaffSecrets
from hallq.webauth import ConsoleStartError, is_loopback, parse_listen

log = logging.getLogger("hallq.console")


def certificate(cfg: HallConfig) -> tuple[str, str]:
    """The console's certificate and key: the config's `console.cert/key`, else `hallq secure init`'s
    console.crt/console.key beside the hall CA named in the credentials file (or two folders up from it)."""
    c = cfg.console
    if c.cert or c.key:
        if not (c.cert and c.key):
            raise ConsoleStartError("console.cert and console.key go together (PEM certificate and its key)")
        pair = [str(p if Path(p).is_absolute() else cfg.source_dir / p) for p in (c.cert, c.key)]
        for p in pair:
            if not os.access(p, os.R_OK):
                raise ConsoleStartError(f"cannot read {p} (console.cert / console.key)")
        return pair[0], pair[1]
    dirs: list[Path] = []
    if cfg.mqtt.credentials:
        cred = Path(cfg.mqtt.credentials)
        try:
            ca = (yaml.safe_load(cred.read_text(encoding="utf-8")) or {}).get("ca")
        except (OSError, yaml.YAMLError, AttributeError):
            ca = None
        if isinstance(ca, str):
            dirs.append(Path(ca).parent)
        dirs.append(cred.resolve().parent.parent)
    for d in dirs:
        crt, key = d / "console.crt", d / "console.key"
        if crt.is_file() and key.is_file():
            return str(crt), str(key)
    raise ConsoleStartError("a non-loopback --listen needs HTTPS, and no certificate was found: set console.cert "
                            "and console.key, or run `hallq secure init` (it writes DIR/console.crt and console.key) "
                            "and start the console with --credentials DIR/credentials/<console>.yaml")


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say so, and without it every
    # response waited ~40 ms for the client's delayed ACK (headers and body are two writes)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise ConsoleStartError(f"{host}:{port} is already in use (another console or program listens there; "
                                    "choose another with --listen HOST:PORT)") from None
        raise ConsoleStartError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


async def serve(cfg: HallConfig, data_dir: Path, listen: str, config_sha: str | None = None) -> int:
    host, port = parse_listen(listen)
    https = not is_loopback(host)
    cert = certificate(cfg) if https else None
    hub = Hub(cfg)
    await hub.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    dog = sdnotify.watchdog_task()      # systemd's WatchdogSec: pings while this loop runs
    try:
        waiter = asyncio.create_task(hub.wait_up())
        stopper = asyncio.create_task(stop.wait())
        log.info("console: waiting for the broker %s:%d", cfg.mqtt.host, cfg.mqtt.port)
        done, _ = await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if stopper in done:
            return 0
        stopper.cancel()
        sock = bind(host, port)
        console = Console(cfg, hub, StaffSecrets(data_dir), https=https, data_dir=data_dir, config_sha=config_sha)
        await console.follow_controller()     # the configuration the controller runs, if not the file's
        config = uvicorn.Config(build_app(console), log_level="warning", lifespan="off", access_log=False,
                                limit_concurrency=cfg.console.max_connections, timeout_keep_alive=10,
                                timeout_graceful_shutdown=3, server_header=False,
                                ssl_certfile=cert[0] if cert else None, ssl_keyfile=cert[1] if cert else None)
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        print(f"hallq console: serving {'https' if https else 'http'}://{listen}/ for hall {cfg.hall.id}",
              file=sys.stderr, flush=True)
        sdnotify.ready(f"serving {'https' if https else 'http'}://{listen}/")
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        await task
        stopper.cancel()
        return 0
    finally:
        await sdnotify.stop_task(dog)
        await hub.stop()


def run(args: Any) -> int:
    from hallq.errors import UsageError

    cfg: HallConfig = args.cfg
    listen = args.listen or cfg.console.listen
    data_dir = Path(args.data or cfg.data_dir)
    if cfg.secure and not cfg.mqtt.credentials and not cfg.mqtt.username:
        raise ConfigError(args.config, "mqtt.credentials", "a secure hall needs the console's credentials file "
                          "(--credentials FILE; hallq secure init writes it)")
    try:
        return asyncio.run(serve(cfg, data_dir, listen, text_sha(args.config)))
    except ConsoleStartError as e:
        raise UsageError(str(e)) from None
