"""What the commands show, with rich: the progress bar, the summary, planned actions, problems, settings.

Why tables of counts and a separate list of problems: the counts answer "did it work" at a glance; the
problems say which item failed and why, in the engine's own words, so nobody has to open the state store.
Every value from outside (names, UIDs, messages) goes in as ``Text``, never as markup, so a ``[`` in a title
cannot break or restyle the output.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from calsync.config import Connection, Settings
    from calsync.services.syncing import PairOutcome, PairProgress
    from calsync.sync.report import SideCounts

_COUNTS = ("created", "updated", "deleted", "unchanged", "conflicts", "errors", "held")
_SHORT = {
    "created": "New",
    "updated": "Upd",
    "deleted": "Del",
    "unchanged": "Same",
    "conflicts": "Confl",
    "errors": "Err",
}
"""The count headers on a terminal narrower than 80 columns, where the full words leave no room for every count."""
_NARROW = 80
_PROBLEM_STYLES = {"error": "red", "conflict": "yellow", "skipped": "dim"}
"""The detail lines the summary lists, by outcome: a skipped one only with a reason (an item its store refuses)."""
_TROUBLE = {"conflicts": "yellow", "errors": "red", "held": "yellow"}
_PIPE_WIDTH = 120


def consoles() -> tuple[Console, Console]:
    """A console for results (standard output) and one for progress (standard error).

    Why two: ``calsync sync > report.txt`` keeps the report clean. Output that is not a terminal gets a fixed
    width, so tables in logs are not squeezed to 80 columns.
    """
    out = Console(highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out = Console(highlight=False, width=_PIPE_WIDTH)
    return out, Console(stderr=True, highlight=False)


@contextmanager
def progress_bar(console: Console) -> Iterator[PairProgress]:
    """A live bar per pair while the block runs, fed by the callback it yields; off when not on a terminal
    (then rich's progress display is not even imported: a cron job or a pipe starts faster)."""
    if not console.is_terminal:
        yield _unseen
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def update(pair: str, phase: str, done: int, total: int) -> None:
            if pair not in tasks:
                tasks[pair] = bar.add_task(pair, total=None)
            bar.update(tasks[pair], description=f"{pair}: {phase}", completed=done, total=total or None)

        yield update


def _unseen(pair: str, phase: str, done: int, total: int) -> None:
    """The progress callback when there is no terminal to show it on."""


def summary(console: Console, outcomes: Sequence[PairOutcome], *, dry_run: bool) -> None:
    """The counts per pair and side, then the problems: failed items, conflicts (those a policy settled too, with
    the side whose edit was overwritten), warnings and failed pairs.

    One row names the pair and one row per side holds its counts, so the seven count columns fit an
    80-column terminal, and with short headers (``_SHORT``) a narrower one down to about 55 columns; a long
    endpoint name is shortened there, never a count.
    """
    title = "What a sync would do (dry run: nothing was written)" if dry_run else "Sync summary"
    table = _table(title)
    narrow = console.width < _NARROW
    headers = [_SHORT.get(name, name.capitalize()) if narrow else name.capitalize() for name in _COUNTS]
    counts_width = sum(len(header) + 2 for header in headers) + 1
    table.add_column("Pair / side", no_wrap=True, overflow="ellipsis", max_width=max(12, console.width - counts_width))
    for header in headers:
        table.add_column(header, justify="right", no_wrap=True, min_width=len(header))
    for outcome in outcomes:
        report = outcome.report
        if report is None:
            table.add_row(Text.assemble((outcome.name, "bold"), ("  failed", "bold red")))
            continue
        table.add_row(Text(outcome.name, style="bold"))
        for label, endpoint, counts in (("A", outcome.a, report.a), ("B", outcome.b, report.b)):
            table.add_row(Text(f"  {label} {endpoint}"), *_count_cells(counts, report.unchanged))
    console.print(table)
    _problems(console, outcomes)


def _table(title: str) -> Table:
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )


def _count_cells(counts: SideCounts, unchanged: int) -> list[Text]:
    values = {"unchanged": unchanged} | {name: getattr(counts, name) for name in _COUNTS if name != "unchanged"}
    return [Text(str(values[name]), style=_TROUBLE.get(name, "") if values[name] else "dim") for name in _COUNTS]


def _problems(console: Console, outcomes: Sequence[PairOutcome]) -> None:
    table = _table("Problems")
    for column in ("Pair", "Side", "Item", "Problem"):
        table.add_column(column, overflow="fold")
    for outcome in outcomes:
        if outcome.report is None:
            table.add_row(Text(outcome.name), "", "", Text(f"the pair failed: {outcome.message}", style="red"))
            continue
        for line in outcome.report.lines:
            if line.outcome in _PROBLEM_STYLES and (line.message or line.outcome != "skipped"):
                style = _PROBLEM_STYLES[line.outcome]
                table.add_row(
                    Text(outcome.name),
                    line.side.upper(),
                    _item(line.title, line.href or line.ident),
                    Text(line.message, style=style),
                )
        overwritten = "would be overwritten" if outcome.report.dry_run else "was overwritten"
        for line in outcome.report.resolved:  # settled by the policy, but someone's edit is gone: say whose
            message = f"{line.rule}; the edit on {line.side.upper()} {overwritten}"
            table.add_row(
                Text(outcome.name),
                line.side.upper(),
                _item(line.title, line.href or line.ident),
                Text(message, style="yellow"),
            )
        for warning in outcome.report.warnings:
            table.add_row(Text(outcome.name), "", "", Text(warning, style="yellow"))
    if table.row_count:
        console.print(table)


def _item(title: str, where: str) -> Text:
    """An item as people know it: its title with ``where`` it is (its href, else its identity), else ``where``."""
    return Text(f"{title} ({where})" if title else where)


def planned_actions(console: Console, outcomes: Sequence[PairOutcome]) -> None:
    """The actions a dry run planned: item, action, side and the rule that decided it. "Nothing to do" speaks
    only for the pairs that ran: a failed pair planned nothing, and the summary's problems say why."""
    table = _table("Planned actions")
    for column in ("Pair", "Item", "Action", "Side", "Rule"):
        table.add_column(column, overflow="fold")
    for outcome in outcomes:
        for action in outcome.report.planned if outcome.report is not None else ():
            side = action.target.value.upper() if action.target is not None else "both"
            title = outcome.report.titles.get(action.ident, "") if outcome.report is not None else ""
            item = f"{title} ({action.ident})" if title else action.ident
            table.add_row(Text(outcome.name), Text(item), action.kind.value, side, Text(action.rule))
    ran = sum(1 for outcome in outcomes if outcome.report is not None)
    if table.row_count:
        console.print(table)
    elif ran == len(outcomes):
        console.print("Nothing to do: the two sides of every pair agree.")
    elif ran:
        which = "the pair that ran: its" if ran == 1 else f"the {ran} pairs that ran: their"
        console.print(f"Nothing to do in {which} two sides agree.")


def settings_overview(
    console: Console, settings: Settings, idle: Sequence[Connection], notes: Sequence[str] = ()
) -> None:
    """What a configuration file sets up, for ``check-config``, with ``notes`` on what could not be checked."""
    from calsync.config import redact_url

    console.print(Text(f"Configuration OK: {settings.source}", style="green"))
    console.print(Text(f"State: {redact_url(settings.state.url)}"))
    pairs = _table("Pairs")
    for column in ("Name", "A", "B", "Mode", "Conflict", "Window (days)", "Deletes on"):
        pairs.add_column(column)
    for pair in settings.pairs:
        window = "all" if pair.window is None else f"-{pair.window[0]} / +{pair.window[1]}"
        deletes = "/".join(s for s, on in (("A", pair.delete_on_a), ("B", pair.delete_on_b)) if on) or "none"
        conflict = pair.conflict.value if pair.mode.value == "two-way" else ""
        cells = (Text(pair.name), Text(str(pair.a)), Text(str(pair.b)), pair.mode.value, conflict, window)
        pairs.add_row(*cells, deletes)
    console.print(pairs)
    console.print(
        f"{len(settings.connections)} connections, {len(settings.integrations)} integrations "
        f"({sum(len(i.users) for i in settings.integrations)} users)."
    )
    for connection in idle:
        console.print(
            Text(
                f"note: connection {connection.name!r} ({connection.type}) is valid; this version cannot sync it yet.",
                style="yellow",
            )
        )
    for note in notes:
        console.print(Text(f"note: {note}", style="yellow"))


def demo_next_steps(console: Console, directory: Path, config: Path) -> None:
    """How to go on from the demo."""
    console.print(
        Text.assemble(
            "\nTry it: edit, add or delete a file in ",
            (str(directory / "calendar" / "anna"), "bold"),
            ", then run ",
            (f"calsync sync --config {config}", "bold"),
            " (add --dry-run to see the plan first). Running the demo again syncs again: with no change, "
            "nothing is written.",
        ),
        soft_wrap=True,
    )
