"""`edigate serve --config FILE`: run the gateway until SIGTERM/SIGINT, then stop gracefully.

A bad configuration prints one line naming the key and exits with code 2 (no traceback): every section
is validated by `load_settings` before anything is built.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import signal
import sys
from typing import Any

import structlog
from aiohttp import web

from edigate.app import build_app
from edigate.commands.store_access import describe
from edigate.logging import configure_logging
from edigate.medcom.parent_death import die_with_parent
from edigate.settings import ConfigError, Settings, load_settings


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("serve", help="run the gateway (HTTP API, delivery, notify)")
    p.add_argument("--config", required=False, help="TOML configuration file")
    p.set_defaults(func=run)


def load_or_exit(path: str | None) -> Settings | int:
    try:
        return load_settings(path)
    except ConfigError as exc:
        print(f"edigate: configuration error: {exc}", file=sys.stderr)
        return 2


PARENT_PID_ENV = "EDIGATE_PARENT_PID"


def follow_parent() -> int | None:
    """With EDIGATE_PARENT_PID set (by `edigate demo`), stop gracefully when that process ends, even by
    SIGKILL: a service started in its own session would otherwise live on, an orphan holding the port.
    Returns an exit code when the variable is unusable or names a process that is not our parent."""
    raw = os.environ.get(PARENT_PID_ENV)
    if not raw:
        return None
    if not raw.isdigit():
        print(f"edigate: {PARENT_PID_ENV} must be a process id", file=sys.stderr)
        return 2
    if int(raw) != os.getppid():
        print(f"edigate: {PARENT_PID_ENV}={raw} is not this process's parent (gone?): not starting", file=sys.stderr)
        return 1
    die_with_parent(int(raw), graceful=True)
    return None


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def stop_once_on_signals(app: web.Application) -> None:
    """Replace aiohttp's signal handlers (which raise its graceful exit on *every* signal) by ones that do so
    once: a second SIGTERM during the stop (the kernel's parent-death signal plus the parent watch, a
    supervisor repeating itself, Ctrl-C twice) raised it again inside the clean-up, which then ended
    half-way, with database connections and background loops cut off. From the first signal on, SIGTERM and
    SIGINT are ignored by the process (also after the event loop has closed, until it exits); SIGKILL still
    stops it at once."""
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        for each in STOP_SIGNALS:
            loop.remove_signal_handler(each)
            signal.signal(each, signal.SIG_IGN)
        structlog.get_logger().info("edigate_stopping", signal=signal.Signals(signum).name, repeats="ignored")
        raise web.GracefulExit()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)


def run(args: argparse.Namespace) -> int:
    if (code := follow_parent()) is not None:
        return code
    settings = load_or_exit(args.config)
    if isinstance(settings, int):
        return settings
    if args.config is None:
        print(
            "edigate: no --config given: serving with the built-in defaults "
            f"(database {describe(settings.storage.url)}, listening on "
            f"{settings.server.host}:{settings.server.port}, no partners). "
            "Give --config FILE for a real gateway.",
            file=sys.stderr,
        )
    configure_logging(level=settings.logging.level)
    log = structlog.get_logger()
    if os.environ.get("EDIGATE_CLOCK_FILE"):
        log.warning("test_clock_in_use", clock_file=os.environ["EDIGATE_CLOCK_FILE"])
    app = build_app(settings)
    app.on_startup.insert(0, stop_once_on_signals)
    log.info(
        "edigate_starting",
        listen=f"{settings.server.host}:{settings.server.port}",
        storage=settings.storage.url.split("://", 1)[0],
        partners=len(settings.partners),
    )
    try:
        web.run_app(
            app,
            host=settings.server.host,
            port=settings.server.port,
            access_log=None,
            print=None,
            shutdown_timeout=settings.server.shutdown_timeout_seconds,
            handle_signals=True,
        )
    except OSError as exc:  # a busy port is one line, not a traceback
        if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise
        why = exc.strerror or str(exc)
        print(f"edigate: cannot listen on {settings.server.host}:{settings.server.port}: {why}", file=sys.stderr)
        return 1
    log.info("edigate_stopped")
    return 0
