"""The API access commands: ``tokens create|list|revoke`` and ``webhooks add|list|remove|retry|deliver``.

Each parses its options, calls ``calsync.services.access`` and renders what it returns. A new token and a
generated signing secret are printed exactly once, by the command that made them; listings show a token's prefix
and a subscription's URL, never a token or a secret (the services do not hand them out again). A secret chosen by
the admin comes in by ``--secret-env`` or ``--secret-file``, never as a value on the command line.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from calsync.cli.admin import ConfigOption, IntegrationOption
from calsync.errors import ConfigError

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from rich.table import Table

    from calsync.services.access import Access, DeliveryRecord, EventType, SubscriptionView, TokenInfo

tokens_app = typer.Typer(name="tokens", help="Create, list and revoke REST API tokens.", no_args_is_help=True)
webhooks_app = typer.Typer(
    name="webhooks", help="Subscribe the business system to signed webhooks; see and retry deliveries.",
    no_args_is_help=True,
)  # fmt: skip
_Env = Annotated[str | None, typer.Option(metavar="VAR", help="Read the signing secret from this variable.")]
_File = Annotated[Path | None, typer.Option(metavar="FILE", dir_okay=False, help="Read the signing secret from FILE.")]


@tokens_app.command("create")
def create_token(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. erp-production.")],
    config: ConfigOption,
    integration: IntegrationOption,
) -> None:
    """Create an API token and print it once: it is stored only as a hash and cannot be shown again."""
    with _access(ctx, config) as access:
        made = access.tokens.create(integration, name)
    typer.echo(f"Created API token {name} ({made.info.prefix}) for {integration}. Copy it now, it is not shown again:")
    typer.echo(made.plain.reveal())


@tokens_app.command("list")
def list_tokens(ctx: typer.Context, config: ConfigOption, integration: IntegrationOption) -> None:
    """List an integration's tokens by name and prefix, with their last use (never the token)."""
    with _access(ctx, config) as access:
        tokens = access.tokens.tokens(integration)
    _print(_tokens_table(integration, tokens), f"{integration} has no API tokens: `calsync tokens create` adds one.")


@tokens_app.command("revoke")
def revoke_token(
    ctx: typer.Context,
    name_or_prefix: Annotated[str, typer.Argument(help="The token's name or its prefix (cs_…).")],
    config: ConfigOption,
    integration: IntegrationOption,
) -> None:
    """Revoke a token: requests carrying it are refused from now on."""
    with _access(ctx, config) as access:
        access.tokens.revoke(integration, name_or_prefix)
    typer.echo(f"Revoked API token {name_or_prefix} of {integration}.")


@webhooks_app.command("add")
def add_webhook(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Where to POST events (https://…).")],
    config: ConfigOption,
    integration: IntegrationOption,
    event: Annotated[
        list[str] | None, typer.Option(metavar="TYPE", help="An event type to send; repeat for several (default: all).")
    ] = None,
    secret_env: _Env = None,
    secret_file: _File = None,
) -> None:
    """Subscribe a URL; without --secret-env/--secret-file a signing secret is generated and printed once."""
    from calsync.cli.admin import _read

    events = [_event(value) for value in event or ()]
    secret = _read(secret_env, secret_file, "secret")
    with _access(ctx, config) as access:
        made = access.webhooks.add(integration, url, events, secret)
    typer.echo(f"Added webhook {made.view.id} of {integration}: {url} ({', '.join(made.view.events)}).")
    if made.secret is not None:
        typer.echo("Signing secret (copy it now, it is not shown again):")
        typer.echo(made.secret.reveal())


@webhooks_app.command("list")
def list_webhooks(
    ctx: typer.Context,
    config: ConfigOption,
    integration: IntegrationOption,
    failed: Annotated[bool, typer.Option("--failed", help="List failed deliveries (dead letters) instead.")] = False,
) -> None:
    """List an integration's webhooks, or with --failed the events that could not be delivered."""
    from calsync.services.access import DeliveryState

    with _access(ctx, config) as access:
        if failed:
            dead = access.webhooks.deliveries(integration, DeliveryState.FAILED)
            _print(_deliveries_table(integration, dead), f"{integration} has no failed deliveries.")
            return
        views = access.webhooks.subscriptions(integration)
    _print(_webhooks_table(integration, views), f"{integration} has no webhooks: add one with `calsync webhooks add`.")


@webhooks_app.command("remove")
def remove_webhook(
    ctx: typer.Context,
    webhook: Annotated[int, typer.Argument(help="The webhook's number, as listed.")],
    config: ConfigOption,
    integration: IntegrationOption,
) -> None:
    """Remove a webhook with the events still queued for it."""
    with _access(ctx, config) as access:
        access.webhooks.remove(integration, webhook)
    typer.echo(f"Removed webhook {webhook} of {integration}.")


@webhooks_app.command("retry")
def retry_webhooks(
    ctx: typer.Context,
    config: ConfigOption,
    integration: IntegrationOption,
    delivery: Annotated[int | None, typer.Argument(help="One failed delivery's number (default: all).")] = None,
) -> None:
    """Queue failed deliveries again with a fresh count of attempts; `webhooks deliver` or the service sends them."""
    with _access(ctx, config) as access:
        count = access.webhooks.retry(integration, delivery)
    typer.echo(f"Queued {count} failed deliveries of {integration} again.")


@webhooks_app.command("deliver")
def deliver_webhooks(ctx: typer.Context, config: ConfigOption) -> None:
    """Send every event that is due now, for all integrations (safe beside a running service)."""
    with _access(ctx, config) as access:
        report = access.webhooks.deliver_due()
    typer.echo(
        f"Delivered {report.delivered}, retrying {report.retrying}, failed {report.failed}, "
        f"webhooks disabled {report.disabled}."
    )
    for attempt in report.attempts:
        if attempt.last_error:
            typer.echo(f"  {attempt.id} {attempt.event_id} to {attempt.url}: {attempt.last_error}")


def register(app: typer.Typer) -> None:
    """Add the API access commands to the ``calsync`` application."""
    app.add_typer(tokens_app)
    app.add_typer(webhooks_app)


def _access(ctx: typer.Context, config: Path) -> AbstractContextManager[Access]:
    from calsync.cli.admin import _settings
    from calsync.services.access import open_access

    return open_access(_settings(ctx, config))


def _event(value: str) -> EventType:
    from calsync.services.access import EventType

    try:
        return EventType(value)
    except ValueError:
        raise ConfigError(f"not one of {'|'.join(EventType)}", where=f"event {value!r}") from None


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else ""


def _tokens_table(integration: str, tokens: Sequence[TokenInfo]) -> Table:
    table = _table(f"API tokens of {integration}", ("name", "prefix", "created", "last used", "state"))
    for token in tokens:
        state = f"revoked {_when(token.revoked_at)}" if token.revoked_at else "live"
        _row(table, token.name, token.prefix, _when(token.created_at), _when(token.last_used_at), state)
    return table


def _webhooks_table(integration: str, views: Sequence[SubscriptionView]) -> Table:
    table = _table(f"Webhooks of {integration}", ("#", "url", "events", "created", "state"))
    for view in views:
        state = f"disabled: {view.disabled_reason}" if view.disabled_at else "active"
        _row(table, str(view.id), view.url, ", ".join(view.events), _when(view.created_at), state)
    return table


def _deliveries_table(integration: str, rows: Sequence[DeliveryRecord]) -> Table:
    table = _table(f"Failed deliveries of {integration}", ("#", "webhook", "event", "type", "attempts", "error"))
    for row in rows:
        error = f"{row.last_error} ({_when(row.finished_at)})"
        _row(table, str(row.id), str(row.subscription_id), row.event_id, row.event_type, str(row.attempts), error)
    return table


def _table(title: str, columns: Sequence[str]) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", show_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _row(table: Table, *cells: str) -> None:
    """Cells as ``Text``: a URL or an error message is shown as it is, never read as rich markup."""
    from rich.text import Text

    table.add_row(*(Text(cell) for cell in cells))


def _print(table: Table, empty: str) -> None:
    from calsync.cli import render

    console = render.consoles()[0]
    if table.row_count:
        console.print(table)
    else:
        console.print(empty, markup=False)
