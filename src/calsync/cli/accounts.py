"""``calsync admin-user add/list/remove/set-password``: the local accounts that sign in to the admin web UI.

A password is read with a hidden prompt (asked twice) or, with ``--password-stdin``, from the first line of
standard input (for scripts: ``printf '%s\\n' "$PW" | calsync admin-user add ann --password-stdin``); never as an
argument, which would stay in the shell history and in ``ps``. Errors are rendered by the group in
``calsync.cli.app``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from calsync.errors import ConfigError

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from calsync.crypto import Secret
    from calsync.services.accounts import AccountService

accounts_app = typer.Typer(
    name="admin-user", help="Add, list and remove the accounts of the admin web UI.", no_args_is_help=True
)

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        metavar="FILE",
        envvar="CALSYNC_CONFIG",
        show_default=False,
        help="The configuration file (TOML) naming the state database; or set CALSYNC_CONFIG.",
    ),
]
NameArgument = Annotated[str, typer.Argument(help="The account's name (letters, digits, _ . -).")]
StdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of standard input.")
]


@accounts_app.command("add")
def add(ctx: typer.Context, username: NameArgument, config: ConfigOption, password_stdin: StdinOption = False) -> None:
    """Add an admin account; asks for its password (hidden, twice) unless --password-stdin is given."""
    password = _password(from_stdin=password_stdin)
    with _service(ctx, config) as service:
        view = service.add(username, password)
    typer.echo(f"Added admin account {view.username}.")


@accounts_app.command("list")
def list_accounts(ctx: typer.Context, config: ConfigOption) -> None:
    """List the admin accounts."""
    from rich.table import Table
    from rich.text import Text

    from calsync.cli import render

    with _service(ctx, config) as service:
        views = service.accounts()
    console = render.consoles()[0]
    if not views:
        console.print("No admin accounts yet: add one with `calsync admin-user add NAME`.", markup=False)
        return
    table = Table(title="Admin accounts", title_justify="left", show_edge=False)
    table.add_column("name")
    table.add_column("created")
    for view in views:
        table.add_row(Text(view.username), Text(view.created_at.strftime("%Y-%m-%d %H:%M UTC")))
    console.print(table)


@accounts_app.command("remove")
def remove(ctx: typer.Context, username: NameArgument, config: ConfigOption) -> None:
    """Remove an admin account; its sessions end at once."""
    with _service(ctx, config) as service:
        service.remove(username)
    typer.echo(f"Removed admin account {username}.")


@accounts_app.command("set-password")
def set_password(
    ctx: typer.Context, username: NameArgument, config: ConfigOption, password_stdin: StdinOption = False
) -> None:
    """Give an admin account a new password; its sessions end and a lock on its name is lifted."""
    password = _password(from_stdin=password_stdin)
    with _service(ctx, config) as service:
        service.set_password(username, password)
    typer.echo(f"Set a new password for admin account {username}.")


def register(app: typer.Typer) -> None:
    """Add ``admin-user`` to the ``calsync`` application."""
    app.add_typer(accounts_app)


def _service(ctx: typer.Context, config: Path) -> AbstractContextManager[AccountService]:
    from calsync.cli.app import _load  # the one place settings and logging are set up
    from calsync.services.accounts import open_accounts

    return open_accounts(_load(ctx, config))


def _password(*, from_stdin: bool) -> Secret:
    from calsync.crypto import Secret

    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    else:
        value = typer.prompt(
            "Password (hidden)", hide_input=True, confirmation_prompt=True, default="", show_default=False
        )
    if not value:
        raise ConfigError("an empty password was given", where="password")
    return Secret(value)
