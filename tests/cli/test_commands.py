"""The root group builds the commands of the other CLI modules on demand: the result must be the same CLI as
registering them all at start-up (names, order, help), and every listed command must resolve and show its help."""

from __future__ import annotations

from typing import Any

import typer
from typer.main import get_group
from typer.testing import CliRunner

from calsync.cli import access, accounts, admin, hub, presence, serve
from calsync.cli.app import _ELSEWHERE, app

MODULES = (admin, accounts, access, hub, serve, presence)
"""In the order ``app.py`` registered them when it built every command at start-up."""


def _eager() -> Any:
    """The root group as it was built before: this module's commands and every other module's, all at once."""
    eager = typer.Typer(
        name="calsync",
        help=app.info.help,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    eager.registered_callback = app.registered_callback
    eager.registered_commands = list(app.registered_commands)
    for module in MODULES:
        module.register(eager)
    return get_group(eager)


def _helps(command: Any, path: tuple[str, ...] = ("calsync",)) -> dict[tuple[str, ...], str]:
    """The help text of ``command`` and of every command below it, by command path."""
    ctx = typer.Context(command, info_name=path[-1])
    helps = {path: command.get_help(ctx)}
    for name in getattr(command, "commands", {}):
        helps |= _helps(command.commands[name], (*path, name))
    return helps


def test_the_lazy_root_group_lists_and_builds_what_registering_everything_built() -> None:
    lazy, eager = get_group(app), _eager()
    assert list(lazy.commands) == list(eager.commands)
    assert _helps(lazy) == _helps(eager)


def test_the_table_of_lazy_commands_names_what_each_module_registers() -> None:
    for module in MODULES:
        part = typer.Typer()
        module.register(part)
        registered = list(get_group(part).commands)
        assert registered == [name for name, owner in _ELSEWHERE.items() if owner == module.__name__.rsplit(".")[-1]]


def test_looking_a_command_up_builds_only_its_own_module() -> None:
    commands = get_group(app).commands
    assert "tokens" in commands
    assert "nosuch" not in commands
    assert commands._commands["tokens"] is None  # type: ignore[attr-defined]
    assert commands["tokens"].name == "tokens"
    assert commands._commands["webhooks"] is not None  # type: ignore[attr-defined]
    assert commands._commands["serve"] is None  # type: ignore[attr-defined]


def test_every_listed_command_resolves_and_shows_its_own_help() -> None:
    listing = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert listing.exit_code == 0
    listed = [line.split()[0] for line in listing.output.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == list(get_group(app).commands)
    for name in listed:
        result = CliRunner().invoke(app, [name, "--help"])
        assert result.exit_code == 0, name
        assert result.output.startswith(f"Usage: calsync {name} "), name


def test_a_mistyped_command_is_named_with_a_suggestion_from_every_module() -> None:
    result = CliRunner().invoke(app, ["token"])
    assert result.exit_code == 2
    assert "No such command 'token'. Did you mean 'tokens'?" in result.output
