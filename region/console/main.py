"""`hallq region serve`: connect to the regional broker, then serve the league console on uvicorn (HTTPS unless
the listen address is loopback; the certificate is `console.cert`/`console.key` of REGION.yaml)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

import uvicorn

from hallq.config.region import RegionConfig
from hallq.mqtt import Credentials
from hallq.staffauth import StaffSecrets
from hallq.webauth import ConsoleStartError, is_loopback, parse_listen
from region.console.app import League, build_app
from region.console.hub import Hub

log = logging.getLogger("hallq.region.console")


def run(args: argparse.Namespace, cfg: RegionConfig, cred: Credentials | None) -> int:
    try:
        host, port = parse_listen(args.listen or cfg.console.listen)
    except ConsoleStartError as e:
        sys.stderr.write(f"hallq region serve: {e}\n")
        return 2
    https = not is_loopback(host)
    ssl: dict[str, Any] = {}
    if https:
        if not (cfg.console.cert and cfg.console.key):
            sys.stderr.write(f"hallq region serve: {args.config}: console.cert, console.key: serving on {host} "
                             "(not loopback) is HTTPS only; name the certificate and its key\n")
            return 2
        ssl = {"ssl_certfile": str(cfg.path(cfg.console.cert)), "ssl_keyfile": str(cfg.path(cfg.console.key))}
    return asyncio.run(_serve(cfg, cred, host, port, https, ssl))


async def _serve(cfg: RegionConfig, cred: Credentials | None, host: str, port: int, https: bool,
                 ssl: dict[str, Any]) -> int:
    hub = Hub(cfg, cred)
    hub.start(asyncio.get_running_loop())
    up = await asyncio.to_thread(hub.connected.wait, 30.0)
    if not up:
        log.warning("region serve: no connection to the regional broker %s:%s yet; serving the figures anyway",
                    cfg.mqtt.host, cfg.mqtt.port)
    app = build_app(League(cfg, hub, StaffSecrets(cfg.path(cfg.data_dir)), https=https))
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           limit_concurrency=cfg.console.max_connections, **ssl))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]  # ours, above
    log.info("region serve: the league console on %s://%s:%d", "https" if https else "http", host, port)
    try:
        await server.serve()
    finally:
        hub.stop()
    return 0
