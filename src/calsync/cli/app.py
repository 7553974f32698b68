"""The commands: each parses its options, calls one service and renders the result.

Errors are rendered in one place, ``_Group.invoke``: a ``CalsyncError`` becomes one red line on standard
error and exit status 1 (usage errors keep Typer's status 2), never a traceback unless ``--debug`` is given.
Why the imports sit inside the commands: ``calsync --help`` must stay fast, and the state store (SQLAlchemy)
and rich's live display are only needed once a command runs. For the same reason the commands of the other
modules (``admin``, ``hub``, ``serve`` …) are built only when one of them is run or listed (``_Commands``), and
plain option values skip Typer's pydantic conversion (``calsync.cli.params``): in a no-op ``calsync sync``,
start-up is most of the run.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import get_group

from calsync.errors import CalsyncError, SecretUnavailable

if TYPE_CHECKING:
    from rich.console import Console

    from calsync.config import Settings
    from calsync.services.syncing import PairOutcome

DEFAULT_DEMO_DIR = Path("demo")


_ELSEWHERE: dict[str, str] = {
    "export-profile": "admin",
    "import-profile": "admin",
    "rotate-key": "admin",
    "run": "hub",
    "held": "hub",
    "rules": "hub",
    "journal": "hub",
    "restore": "hub",
    "serve": "serve",
    "worker": "serve",
    "presence": "presence",
    "integrations": "admin",
    "users": "admin",
    "admin-user": "accounts",
    "tokens": "access",
    "webhooks": "access",
}
"""The commands that ``register()`` of another ``calsync.cli`` module adds, by name, in the order ``calsync --help``
lists them (commands before groups, as Typer orders them). ``tests/cli/test_commands.py`` keeps it in step."""


class _Group(TyperGroup):
    """The root command group: renders every error the commands raise, in one place, and builds the commands of
    the other modules on demand."""

    def __init__(self, *, commands: Mapping[str, Any] | None = None, **attrs: Any) -> None:
        super().__init__(commands=dict(commands or {}), **attrs)
        _plain_values(self)
        self.commands = _Commands(self.commands)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        _plain_values(option=option)
        return option

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except KeyboardInterrupt:  # the sync commands say more (calsync.cli.stopping); any other, this much
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except CalsyncError as exc:
            if ctx.params.get("debug"):
                raise
            _render_error(str(exc))
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            _render_error(f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)")
        raise typer.Exit(1)


def _render_error(message: str) -> None:
    """One red line on standard error; not red when ``NO_COLOR`` is set, as the tables are not (no-color.org)."""
    typer.secho(f"error: {' '.join(message.split())}", fg=None if os.environ.get("NO_COLOR") else "red", err=True)


class _Command(TyperCommand):
    """A command of this module: its ``--help`` option, made when the command is first parsed, skips pydantic."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        _plain_values(option=option)
        return option


class _Commands(MutableMapping[str, Any]):
    """The root group's commands by name: those of this module as built, those of ``_ELSEWHERE`` built the first
    time one of them is looked up (to run it, to show its help, or to list every command in ``calsync --help``).

    Why: building a command costs Typer about a millisecond (signatures, type hints) and importing the modules
    more; ``calsync sync`` needs one command of 37. Every name is known without building, so "No such command",
    its "did you mean" and completion see all of them. A module's commands are built together, by its own
    ``register()``, on an application with the root's settings: exactly as if they had been registered on it.
    """

    def __init__(self, built: Mapping[str, Any]) -> None:
        self._commands: dict[str, Any] = {**built, **dict.fromkeys(_ELSEWHERE)}

    def __getitem__(self, name: str) -> Any:
        if self._commands[name] is None:
            for built_name, command in _built_by(_ELSEWHERE[name]).items():
                _plain_values(command)
                self._commands[built_name] = command
        return self._commands[name]

    def __contains__(self, name: object) -> bool:
        return name in self._commands

    def __setitem__(self, name: str, command: Any) -> None:
        self._commands[name] = command

    def __delitem__(self, name: str) -> None:
        del self._commands[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._commands)

    def __len__(self) -> int:
        return len(self._commands)


def _built_by(module: str) -> dict[str, Any]:
    """The commands that ``calsync.cli.<module>`` registers, built as the root application builds its own."""
    part = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
    importlib.import_module(f"calsync.cli.{module}").register(part)
    return dict(get_group(part).commands)


def _plain_values(command: Any = None, *, option: Any = None) -> None:
    """Let the options of ``command`` (or ``option``) of plain types skip pydantic (``calsync.cli.params``)."""
    try:
        from calsync.cli import params
    except ImportError:  # a Typer without typer._coercion converts without pydantic anyway
        return
    if command is not None:
        params.install(command)
    if option is not None:
        params.install_param(option)


app = typer.Typer(
    cls=_Group,
    name="calsync",
    help="Sync a business system's appointments, tasks and contacts with calendars.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

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


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
) -> None:
    """calsync: a self-hosted hub between a business system and its users' calendars."""


@app.command(cls=_Command)
def sync(
    ctx: typer.Context,
    config: ConfigOption,
    *,
    pair: Annotated[
        list[str] | None,
        typer.Option("--pair", "-p", metavar="NAME", help="Sync only this pair; repeat for several."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan and show the actions; write nothing.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Read every item instead of only the changes.")] = False,
    allow_mass_delete: Annotated[
        bool, typer.Option("--allow-mass-delete", help="Let deletions through that the guard would hold.")
    ] = False,
) -> None:
    """Sync the configured pairs (all, or those named with --pair) once, then show a summary."""
    from calsync.cli import render
    from calsync.cli.stopping import stoppable
    from calsync.services.syncing import sync_pairs

    settings = _load(ctx, config)
    console, status = render.consoles()
    with stoppable(), render.progress_bar(status) as progress:
        outcomes = sync_pairs(
            settings, pair, dry_run=dry_run, full=full, allow_mass_delete=allow_mass_delete, progress=progress
        )
    _show(console, outcomes, dry_run=dry_run)


@app.command(cls=_Command)
def demo(
    ctx: typer.Context,
    directory: Annotated[
        Path,
        typer.Option("--dir", metavar="DIR", file_okay=False, help="Where the demo keeps its state and server."),
    ] = DEFAULT_DEMO_DIR,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="The admin UI's and API's port.")] = 8080,
    caldav_port: Annotated[int, typer.Option("--caldav-port", min=0, max=65535, help="0: any free port.")] = 0,
) -> None:
    """Start calsync on its embedded defaults: a demo CalDAV server, two technicians and sample business data;
    the admin UI, the API and the scheduler run until Ctrl-C."""
    from calsync.cli.demo_service import run_demo

    run_demo(ctx, directory, port=port, caldav_port=caldav_port)


@app.command("demo-folders", cls=_Command)
def demo_folders(
    ctx: typer.Context,
    directory: Annotated[
        Path,
        typer.Option("--dir", metavar="DIR", file_okay=False, help="Where to put the sample folders and config."),
    ] = Path("demo-folders"),
) -> None:
    """Create two sample calendar folders and a config, sync them, and show what happened (no server)."""
    from calsync.cli import render
    from calsync.cli.demo import prepare
    from calsync.cli.stopping import stoppable
    from calsync.services.syncing import sync_pairs

    config, created = prepare(directory)
    settings = _load(ctx, config)
    console, status = render.consoles()
    verb = "Created" if created else "Reusing"
    console.print(
        f"{verb} the demo in {directory}: sample events in {directory / 'business'}, a calendar in "
        f"{directory / 'calendar'}, and {config}.",
        soft_wrap=True,
        markup=False,
    )
    with stoppable(), render.progress_bar(status) as progress:
        outcomes = sync_pairs(settings, None, dry_run=False, full=False, allow_mass_delete=False, progress=progress)
    _show(console, outcomes, dry_run=False)
    render.demo_next_steps(console, directory, config)


@app.command("check-config", cls=_Command)
def check_config(ctx: typer.Context, config: ConfigOption) -> None:
    """Load and check a configuration file, and show what it configures."""
    from calsync.cli import render
    from calsync.services.syncing import build_pair_specs, connections_not_runnable

    settings = _load(ctx, config)
    notes = []
    for pair in settings.pairs:
        try:
            build_pair_specs(settings, [pair.name])  # raises for a pair this version cannot run
        except SecretUnavailable as exc:  # this machine need not hold the secrets of the one that runs calsync
            notes.append(f"pair {pair.name!r} was checked without its connections: {exc}; set it where calsync runs")
    console, _ = render.consoles()
    render.settings_overview(console, settings, connections_not_runnable(settings), notes)


def _load(ctx: typer.Context, config: Path) -> Settings:
    """The settings in ``config``, with logging set up as they say (log lines mask every known secret)."""
    from calsync.config import load_settings

    settings = load_settings(config)
    debug = bool(ctx.find_root().params.get("debug"))
    _configure_logging(logging.DEBUG if debug else logging.getLevelNamesMapping()[settings.log.level.upper()])
    return settings


def _show(console: Console, outcomes: list[PairOutcome], *, dry_run: bool) -> None:
    """Render the outcomes; raise (exit 1) when a pair failed, after everything else has been shown."""
    from calsync.cli import render

    if dry_run:
        render.planned_actions(console, outcomes)
    render.summary(console, outcomes, dry_run=dry_run)
    failed = [o.name for o in outcomes if o.failed]
    if failed:
        raise CalsyncError(f"{len(failed)} of {len(outcomes)} pairs failed: {', '.join(failed)}")


class _CliHandler(logging.StreamHandler[TextIO]):
    """Log lines to the standard error of the moment (tests swap it), once per process."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _configure_logging(level: int) -> None:
    from calsync.crypto import redactor

    logger = logging.getLogger("calsync")
    for handler in [h for h in logger.handlers if isinstance(h, _CliHandler)]:
        logger.removeHandler(handler)
    handler = _CliHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(redactor())
    logger.addHandler(handler)
    logger.setLevel(level)
