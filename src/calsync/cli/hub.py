"""The hub commands: ``run`` (sync, preview, approve or reject held deletions), ``held``, ``rules``, ``journal``,
``restore``.

Each parses its options, calls one service (``calsync.services.hub`` / ``hub_sync``) and renders the result;
errors are rendered by the group in ``calsync.cli.app``. The same use cases sit behind the REST API, so an admin
at the shell and a business system see the same answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from calsync.cli.admin import ConfigOption
from calsync.errors import CalsyncError, ConfigError

if TYPE_CHECKING:
    from calsync.config import Settings

IntegrationArg = Annotated[str, typer.Argument(metavar="INTEGRATION", help="The integration's name.")]
UsersOption = Annotated[
    list[str] | None, typer.Option("--user", "-u", metavar="USER", help="Only this business user (repeatable).")
]


def run(
    ctx: typer.Context,
    integration: IntegrationArg,
    config: ConfigOption,
    user: UsersOption = None,
    full: Annotated[bool, typer.Option("--full/--incremental", help="Compare everything in the window.")] = True,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would happen and why; write nothing.")] = False,
    approve_held: Annotated[bool, typer.Option("--approve-held", help="Let held mass deletions through.")] = False,
    reject_held: Annotated[bool, typer.Option("--reject-held", help="Undo held deletions: re-create.")] = False,
) -> None:
    """Sync an integration's users now (or preview it with --dry-run)."""
    from calsync.cli import render
    from calsync.cli.stopping import stoppable
    from calsync.services.hub_sync import JobKind, sync_integration

    if approve_held and reject_held:
        raise ConfigError("give --approve-held or --reject-held, not both", where="run")
    settings = settings_of(ctx, config)
    with stoppable():
        outcome = sync_integration(
            settings,
            integration,
            kind=JobKind.DRY_RUN if dry_run else JobKind.MANUAL,
            full=full,
            users=user or None,
            dry_run=dry_run,
            allow_mass_delete=approve_held,
            reject_mass_delete=reject_held,
        )
    console, _ = render.consoles()
    if dry_run:
        render.planned_actions(console, outcome.outcomes)
    render.summary(console, outcome.outcomes, dry_run=dry_run)
    failed = [o.name for o in outcome.outcomes if o.failed]
    if failed:
        raise CalsyncError(f"{len(failed)} of {len(outcome.outcomes)} pairs failed: {', '.join(failed)}")


def held(ctx: typer.Context, integration: IntegrationArg, config: ConfigOption) -> None:
    """List the deletions the mass-deletion guard held in each pair's latest run."""
    from rich.table import Table

    from calsync.cli import render
    from calsync.services.hub_sync import held_deletions

    found = held_deletions(settings_of(ctx, config), integration)
    console, _ = render.consoles()
    if not found:
        console.print(f"No held deletions in {integration}.")
        return
    table = Table("pair", "item", "approving it", "rule", title=f"Held deletions of {integration}")
    for h in found:
        effect = f"deletes it on {h.side.upper()}" if h.effect == "delete" else f"unlinks it on {h.side.upper()}"
        table.add_row(h.pair, h.title or h.ident, effect, h.rule)
    console.print(table)
    console.print("Approve with: calsync run INTEGRATION --approve-held   reject with: --reject-held")


def rules(
    ctx: typer.Context,
    integration: IntegrationArg,
    config: ConfigOption,
    set_from: Annotated[
        Path | None, typer.Option("--set", metavar="FILE", dir_okay=False, help="Replace the rules (JSON).")
    ] = None,
) -> None:
    """Show an integration's item rules and mappings as JSON, or replace them from a file."""
    from calsync.services.hub import open_hub

    with open_hub(settings_of(ctx, config)) as hub:
        if set_from is not None:
            try:
                data = json.loads(set_from.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ConfigError(f"cannot read the rules: {exc}", where=str(set_from)) from None
            current = hub.set_rules(integration, data)
        else:
            current = hub.rules(integration)
    typer.echo(json.dumps(json.loads(current.to_json()), indent=2))


def journal(
    ctx: typer.Context,
    integration: IntegrationArg,
    config: ConfigOption,
    item: Annotated[str | None, typer.Option("--item", metavar="ID", help="Only this business id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    older_than: Annotated[  # at most services.hub.LAST_ENTRY, spelled out: that module is imported only when run
        int | None,
        typer.Option("--older-than", metavar="ENTRY", min=1, max=2**63 - 1, help="Only entries older than this one."),
    ] = None,
) -> None:
    """Every change calsync made, newest first, with the rule behind it."""
    from rich.table import Table

    from calsync.cli import render
    from calsync.services.hub import open_hub

    with open_hub(settings_of(ctx, config)) as hub:
        page = hub.journal_page(integration, item, limit, older_than)
    table = Table("entry", "when", "item", "user", "side", "change", "rule", title=f"Journal of {integration}")
    for e in page.entries:
        table.add_row(str(e.id), f"{e.at:%Y-%m-%d %H:%M}", e.business_id, e.owner, e.side, e.action.value, e.rule)
    console = render.consoles()[0]
    console.print(table)
    if page.older is not None:
        console.print(f"Older entries: the same command with --older-than {page.older}", markup=False)


def restore(
    ctx: typer.Context,
    integration: IntegrationArg,
    entry: Annotated[int, typer.Argument(metavar="ENTRY", help="The journal entry to restore from.")],
    config: ConfigOption,
) -> None:
    """Put an item back as it was before a journal entry's change; the next sync writes it to the calendar."""
    from calsync.services.hub import open_hub

    with open_hub(settings_of(ctx, config)) as hub:
        view = hub.restore(integration, entry)
    typer.echo(f"restored {view.business_id} ({view.item.title}) as version {view.version}")


def settings_of(ctx: typer.Context, config: Path) -> Settings:
    """The settings, with logging set up (the one place: ``calsync.cli.app._load``)."""
    from calsync.cli.app import _load

    return _load(ctx, config)


def register(app: typer.Typer) -> None:
    """Add the hub commands to the ``calsync`` application."""
    app.command("run")(run)
    app.command("held")(held)
    app.command("rules")(rules)
    app.command("journal")(journal)
    app.command("restore")(restore)
