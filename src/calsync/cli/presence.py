"""``calsync presence INTEGRATION [--user U]``: who is available, in a meeting or out of office, as a small table.

Parses its options, calls ``calsync.services.presence`` and renders what it returns; errors are rendered by the
group in ``calsync.cli.app``. Every user is read on its own, so one mailbox the server will not answer for is a
row with its error; asking for one ``--user`` whose presence cannot be read is an error (exit status 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from calsync.cli.admin import ConfigOption
from calsync.cli.hub import IntegrationArg, settings_of
from calsync.errors import ConfigError

if TYPE_CHECKING:
    from rich.table import Table

    from calsync.services.presence import UserPresence

_STYLE = {"available": "green", "meeting": "yellow", "out-of-office": "magenta", "unknown": "red"}


def presence(
    ctx: typer.Context,
    integration: IntegrationArg,
    config: ConfigOption,
    user: Annotated[str | None, typer.Option("--user", "-u", metavar="USER", help="Only this business user.")] = None,
    at: Annotated[
        str | None, typer.Option("--at", metavar="WHEN", help="ISO 8601 with an offset, e.g. 2026-11-23T09:30+01:00.")
    ] = None,
) -> None:
    """Show each user's presence from the calendars: available, meeting or out of office, and until when."""
    from calsync.cli import render
    from calsync.services import presence as service

    settings = settings_of(ctx, config)
    moment = _instant(at)
    if user is None:
        lines = service.presences(settings, integration, moment)
    else:
        lines = [service.UserPresence(user, "", service.presence(settings, integration, user, moment))]
    render.consoles()[0].print(_table(integration, lines))


def _instant(at: str | None) -> datetime | None:
    if at is None:
        return None
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        raise ConfigError(f"{at!r} is not an ISO 8601 date and time", where="--at") from None
    if moment.tzinfo is None:
        raise ConfigError(f"{at!r} needs an offset such as +01:00 or Z", where="--at")
    return moment


def _table(integration: str, lines: Sequence[UserPresence]) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(
        "user", "presence", "since", "until", "subject / out-of-office text", title=f"Presence in {integration}"
    )
    for line in lines:
        found = line.presence
        if found is None:
            table.add_row(line.business_user, Text("unknown", style="red"), "", "", Text(line.error, style="red"))
            continue
        status = found.status.value
        table.add_row(
            line.business_user,
            Text(status, style=_STYLE[status]),
            f"{found.since:%Y-%m-%d %H:%M %Z}" if found.since else "",
            f"{found.until:%Y-%m-%d %H:%M %Z}" if found.until else "",
            found.subject or found.out_of_office_text,
        )
    return table


def register(app: typer.Typer) -> None:
    """Add the ``presence`` command to the ``calsync`` application."""
    app.command("presence")(presence)
