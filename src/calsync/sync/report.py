"""What a run did: counts per side and one line per item that did something, failed or was held.

The report is what the CLI's summary table, a job's details in the admin UI and the API show; every line says
what happened to which item, by which rule, and any error in plain words.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields

from calsync.model.refs import Side
from calsync.state.store import ItemLine, JobOutcome
from calsync.sync.plan import Action, ActionKind


@dataclass(slots=True)
class SideCounts:
    """What was done to one side."""

    created: int = 0
    updated: int = 0
    deleted: int = 0
    conflicts: int = 0
    errors: int = 0
    skipped: int = 0
    held: int = 0


_COUNTED = {
    ActionKind.CREATE: "created",
    ActionKind.UPDATE: "updated",
    ActionKind.DELETE: "deleted",
    ActionKind.SKIP: "skipped",
    ActionKind.HOLD: "held",
}


@dataclass(slots=True)
class Report:
    """The outcome of one run of one pair."""

    pair: str
    dry_run: bool = False
    a: SideCounts = field(default_factory=SideCounts)
    b: SideCounts = field(default_factory=SideCounts)
    unchanged: int = 0
    linked: int = 0
    unlinked: int = 0
    planned: list[Action] = field(default_factory=list)
    lines: list[ItemLine] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)
    resolved: list[ItemLine] = field(default_factory=list)
    """The lines of conflicts a policy settled: each names the side whose own edit was overwritten (or, in a
    dry run, would be), so the summary can say which item to look at, not only how many."""

    def note_titles(self, seen: Iterable[tuple[str, str]]) -> None:
        """Remember items' titles (identity, title) so lines name items the way people know them."""
        for ident, title in seen:
            if title:
                self.titles.setdefault(ident, title)

    def side(self, side: Side) -> SideCounts:
        """The counts of ``side``."""
        return self.a if side is Side.A else self.b

    def done(self, action: Action, *, href: str = "") -> None:
        """Count an action that was carried out (or, in a dry run, would be) and add its detail line."""
        counter = _COUNTED.get(action.kind)
        if action.target is not None and counter is not None:
            counts = self.side(action.target)
            setattr(counts, counter, getattr(counts, counter) + 1)
            if action.conflict:
                counts.conflicts += 1
        elif action.kind is ActionKind.LINK:
            self.linked += 1
        if action.kind in (ActionKind.UNLINK, ActionKind.PARK) or action.park_after:
            self.unlinked += 1
        outcome = "planned" if self.dry_run else ("held" if action.kind is ActionKind.HOLD else "done")
        line = ItemLine(
            action.ident,
            _side_name(action.target),
            _line_action(action),
            outcome,
            action.rule,
            href=href,
            title=self.titles.get(action.ident, ""),
        )
        self.lines.append(line)
        if action.conflict and action.target is not None:
            self.resolved.append(line)

    def failed(
        self,
        side: Side | None,
        ident: str,
        action: str,
        message: str,
        *,
        href: str = "",
        rule: str = "",
        conflict: bool = False,
        refused: bool = False,
    ) -> None:
        """Record one item that could not be read or written; the run goes on. ``refused``: the target refuses
        this item's writes for good (counted as skipped)."""
        outcome = "conflict" if conflict else "skipped" if refused else "error"
        if side is not None:
            counts = self.side(side)
            counter = "conflicts" if conflict else "skipped" if refused else "errors"
            setattr(counts, counter, getattr(counts, counter) + 1)
        title = self.titles.get(ident, "")
        self.lines.append(ItemLine(ident, _side_name(side), action, outcome, rule, message, href, title))

    @property
    def outcome(self) -> JobOutcome:
        """Completed, or completed with warnings when anything failed, conflicted or was held."""
        trouble = any(
            getattr(c, f.name) for c in (self.a, self.b) for f in fields(c) if f.name in ("errors", "conflicts", "held")
        )
        return JobOutcome.WARNINGS if trouble or self.warnings else JobOutcome.COMPLETED

    def counts(self) -> dict[str, int]:
        """Flat counts for storage: ``a.created``, ``b.errors``, ``unchanged`` …"""
        flat = {f"{name}.{f.name}": getattr(c, f.name) for name, c in (("a", self.a), ("b", self.b)) for f in fields(c)}
        flat.update(unchanged=self.unchanged, linked=self.linked, unlinked=self.unlinked)
        return flat

    @property
    def writes(self) -> int:
        """How many writes the run made (or would make) on both sides."""
        return sum(c.created + c.updated + c.deleted for c in (self.a, self.b))


def _side_name(side: Side | None) -> str:
    return "" if side is None else side.value


def _line_action(action: Action) -> str:
    """What an item line says was (or would be) done: the action's kind, but ``park`` for a park the guard held
    (``HOLD`` with ``park`` set: the copy on the target would be kept, unlinked), so that what waits for an
    admin says whether approving it deletes or unlinks."""
    if action.kind is ActionKind.HOLD and action.park:
        return ActionKind.PARK.value
    return action.kind.value
