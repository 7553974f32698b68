"""``calsync serve`` (the REST API, the admin UI and the scheduler in one process) and ``calsync worker`` (the
scheduler alone).

Configuration comes from the file (``--config`` or ``CALSYNC_CONFIG``, with the file's own environment
overrides) and from options that each have an environment variable (``CALSYNC_HOST``, ``CALSYNC_PORT`` …), so a
container is configured by its environment alone. Logs: see ``calsync.cli.service_log``.

Stopping: SIGINT or SIGTERM stops taking new runs, lets running ones finish for at most ``--grace`` seconds
and gives the scheduler's lease up; runs still going after that die with the process and are resumed by the
next run (the engine records every write before making it). In ``serve`` uvicorn catches the signals first,
closes the HTTP side and then runs the app's lifespan shutdown, which stops the scheduler.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from calsync.cli.service_log import LogFormat, configure_logging
from calsync.errors import CalsyncError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from calsync.config import Settings
    from calsync.scheduler.worker import SchedulerProcess, WorkerOptions

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        metavar="FILE",
        envvar="CALSYNC_CONFIG",
        show_default=False,
        help="The configuration file (TOML); or set CALSYNC_CONFIG.",
    ),
]


WorkersOption = Annotated[
    int, typer.Option("--workers", min=1, max=64, envvar="CALSYNC_WORKERS", help="Runs going at once.")
]
KeepDaysOption = Annotated[
    int,
    typer.Option("--keep-days", min=1, max=3650, envvar="CALSYNC_KEEP_DAYS", help="Days of job history kept."),
]
GraceOption = Annotated[
    float,
    typer.Option(
        "--grace",
        min=0,
        max=3600,
        envvar="CALSYNC_SHUTDOWN_GRACE",
        help="Seconds a stop waits for running syncs before leaving them to be resumed.",
    ),
]
TickOption = Annotated[
    float,
    typer.Option("--tick", min=1, max=60, envvar="CALSYNC_TICK_SECONDS", help="Seconds between schedule checks."),
]


def _public_url(given: str | None) -> str | None:
    """The public URL checked: an absolute http(s) URL without credentials, query or fragment; blank is none.

    Why checked here: a typo would otherwise show only as Graph refusing every subscription, in the log.
    """
    from urllib.parse import urlsplit

    if given is None or not given.strip():
        return None
    parts = urlsplit(given.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username or parts.query or parts.fragment:
        raise typer.BadParameter(
            "give the address as https://host[:port][/path], without credentials, query or fragment",
            param_hint="--public-url",
        )
    if parts.scheme == "http":
        logging.getLogger("calsync.serve").warning("--public-url is http: Microsoft Graph only posts to https")
    return given.strip().rstrip("/")


PublicUrlOption = Annotated[
    str | None,
    typer.Option(
        "--public-url",
        envvar="CALSYNC_PUBLIC_URL",
        show_default=False,
        help="The https:// address at which the internet reaches this service; enables Microsoft 365 change "
        "notifications (without it, Graph integrations are polled only).",
        callback=_public_url,
    ),
]


def _proxies(given: str | None) -> str | None:
    """The proxies checked: IP addresses or networks, or ``*`` alone; blank is uvicorn's default.

    Why checked here: uvicorn compares the peer's address only, so a host name (a container's service name) or a
    typo would silently never be believed, and the session cookie would quietly lose its Secure flag.
    """
    import ipaddress

    if given is None or not given.strip():
        return None
    entries = [entry.strip() for entry in given.split(",") if entry.strip()]
    if entries == ["*"]:
        return "*"
    for entry in entries:
        try:
            ipaddress.ip_network(entry)  # strict, as uvicorn reads it: 10.0.0.5/8 would never match anyone
        except ValueError:
            raise typer.BadParameter(
                f"{entry!r} is not an IP address or network (host names are not resolved, a network has no host "
                "bits, * stands alone); give addresses like 10.0.0.5 or networks like 10.0.0.0/8, comma-separated, "
                "or *",
                param_hint="--forwarded-allow-ips",
            ) from None
    return ",".join(entries)


ProxiesOption = Annotated[
    str | None,
    typer.Option(
        "--forwarded-allow-ips",
        envvar="CALSYNC_FORWARDED_ALLOW_IPS",
        show_default=False,
        help="The reverse proxies whose X-Forwarded-Proto and -For are believed: addresses or networks, comma-"
        "separated, or * (default: 127.0.0.1,::1). A proxy on another host must be named here, or the admin UI's "
        "session cookie goes without its Secure flag behind https.",
        callback=_proxies,
    ),
]
LogFormatOption = Annotated[
    LogFormat, typer.Option("--log-format", envvar="CALSYNC_LOG_FORMAT", help="json (default) or text.")
]


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``worker`` to the command group."""
    app.command("serve")(serve)
    app.command("worker")(worker)


def serve(
    ctx: typer.Context,
    config: ConfigOption,
    *,
    host: Annotated[str, typer.Option("--host", envvar="CALSYNC_HOST", help="The address to listen on.")] = (
        "127.0.0.1"
    ),
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, envvar="CALSYNC_PORT", help="The port to listen on.")
    ] = 8080,
    scheduler: Annotated[
        bool,
        typer.Option(
            "--scheduler/--no-scheduler",
            envvar="CALSYNC_SCHEDULER",
            help="Run the scheduler in this process too (--no-scheduler: beside separate `calsync worker`s).",
        ),
    ] = True,
    workers: WorkersOption = 2,
    keep_days: KeepDaysOption = 30,
    grace: GraceOption = 60.0,
    tick: TickOption = 10.0,
    public_url: PublicUrlOption = None,
    forwarded_allow_ips: ProxiesOption = None,
    log_format: LogFormatOption = LogFormat.JSON,
) -> None:
    """Run the REST API and the admin UI (and, unless --no-scheduler, the scheduler) until SIGINT or SIGTERM."""
    settings = _start(ctx, config, log_format)
    options = _options(workers, keep_days, grace, tick, public_url) if scheduler else None
    run_service(settings, host=host, port=port, options=options, grace=grace, proxies=forwarded_allow_ips)


def run_service(
    settings: Settings,
    *,
    host: str,
    port: int,
    options: WorkerOptions | None,
    grace: float = 60.0,
    proxies: str | None = None,
) -> None:
    """Serve the app (with the scheduler, given its ``options``) until SIGINT or SIGTERM. Raises ``CalsyncError``
    when the server could not start (the port is taken, say): one error line and exit 1, not uvicorn's status 3.

    ``proxies``: whose forwarded headers to believe (uvicorn's ``forwarded_allow_ips``; ``None``: its default).
    """
    import uvicorn

    from calsync.web.app import create_app

    app = create_app(settings)
    if options is not None:
        _attach_scheduler(app, settings, options)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            lifespan="on",
            timeout_graceful_shutdown=max(1, int(grace)),
            forwarded_allow_ips=proxies or None,
        )
    )
    _exit_quietly_on_signals()  # uvicorn re-raises the signal it stopped for once it is done
    logging.getLogger("calsync.serve").info("serving on http://%s:%d (scheduler: %s)", host, port, options is not None)
    try:
        server.run()
    except SystemExit as exc:  # uvicorn's own exit (status 3) when it cannot bind or the app's startup failed
        if server.started or exc.code in (0, None):
            raise
        raise CalsyncError(_not_started(host, port)) from None
    if not server.started:
        raise typer.Exit(1)


def _not_started(host: str, port: int) -> str:
    """Why the server did not start, in one line: the port, when binding it again fails, else the log's word."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for family, kind, proto, _name, address in infos:
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
                probe.bind(address)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return f"port {port} is in use (on {host}); stop what listens there or choose another --port"
        return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return "the server did not start; the log lines above say why"


def worker(
    ctx: typer.Context,
    config: ConfigOption,
    *,
    workers: WorkersOption = 2,
    keep_days: KeepDaysOption = 30,
    grace: GraceOption = 60.0,
    tick: TickOption = 10.0,
    public_url: PublicUrlOption = None,
    log_format: LogFormatOption = LogFormat.JSON,
) -> None:
    """Run only the scheduler (periodic and requested syncs) until SIGINT or SIGTERM."""
    from calsync.scheduler.worker import SchedulerProcess

    settings = _start(ctx, config, log_format)
    process = SchedulerProcess(settings, _options(workers, keep_days, grace, tick, public_url))
    stop = threading.Event()
    previous = {sig: signal.signal(sig, _stop_on(stop)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        process.start()
        while not stop.wait(1.0):
            pass
        process.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_on(stop: threading.Event) -> Callable[[int, FrameType | None], None]:
    """A signal handler: the first signal asks for a graceful stop, a second one ends the process at once."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        log = logging.getLogger("calsync.serve")
        if stop.is_set():
            log.warning("second %s: stopping without waiting for running syncs", signal.Signals(signum).name)
            raise SystemExit(1)
        log.info("%s received: stopping after the running syncs", signal.Signals(signum).name)
        stop.set()

    return handle


def _exit_quietly_on_signals() -> None:
    def leave(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, leave)


def _options(workers: int, keep_days: int, grace: float, tick: float, public_url: str | None = None) -> WorkerOptions:
    from calsync.scheduler.service import SchedulerConfig
    from calsync.scheduler.worker import WorkerOptions

    return WorkerOptions(
        workers=workers,
        grace_seconds=grace,
        scheduler=SchedulerConfig(tick_seconds=tick, lease_seconds=max(60.0, 6 * tick), keep_days=keep_days),
        public_url=public_url,
    )


def _attach_scheduler(app: FastAPI, settings: Settings, options: WorkerOptions) -> SchedulerProcess:
    """Start the scheduler with the app and stop it (gracefully) when the app shuts down.

    Why the lifespan: uvicorn closes the HTTP side on a signal and then runs the lifespan's shutdown, so the
    scheduler stops inside the server's own graceful stop; ``create_app`` stays free of it for tests.
    """
    from starlette.concurrency import run_in_threadpool

    from calsync.scheduler.worker import SchedulerProcess
    from calsync.services.jobs import WAKE_EXTRA

    process = SchedulerProcess(settings, options)
    app.state.context.extras[WAKE_EXTRA] = process.wake
    app.state.context.extras["scheduler"] = process
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(started: Any) -> AsyncIterator[Any]:
        async with inner(started) as state:
            await run_in_threadpool(process.start)
            try:
                yield state
            finally:
                await run_in_threadpool(process.stop)

    app.router.lifespan_context = lifespan
    return process


def _start(ctx: typer.Context, config: Path, log_format: LogFormat) -> Settings:
    """Load the settings, set logging up for a long-running process, and register the settings' secrets."""
    from calsync.config import load_settings, redact_url

    settings = load_settings(config)
    debug = bool(ctx.find_root().params.get("debug"))
    level = logging.DEBUG if debug else logging.getLevelNamesMapping()[settings.log.level.upper()]
    configure_logging(level, log_format)
    _register_secrets(settings)
    logging.getLogger("calsync.serve").info(
        "configuration %s, state database %s", settings.source, redact_url(settings.state.url)
    )
    if settings.integrations:
        from calsync.services.configured import apply_configured_integrations

        apply_configured_integrations(settings)
    return settings


def _register_secrets(settings: Settings) -> None:
    """Mask the settings' secrets (state password, connections' passwords and keys) in every log line.

    A secret that cannot be read now (its variable unset) is skipped: the connection that needs it fails with
    its own error, and a value that was never read cannot be logged.
    """
    from calsync.config import SecretRef
    from calsync.crypto import redactor
    from calsync.errors import ConfigError

    refs = [settings.state.password] + [
        getattr(connection, name, None)
        for connection in settings.connections
        for name in ("password", "client_secret", "certificate")
    ]
    for ref in refs:
        if isinstance(ref, SecretRef):
            try:
                redactor().register(ref.reveal())
            except ConfigError:
                continue
