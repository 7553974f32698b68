"""The mass-deletion guard, and an admin's decisions on the deletions it held, applied to one run's plan.

Why apart from the engine: the guard weighs a run's deletions as a whole (a share of a side's items), after the
decision table has decided each item alone; and what it holds waits for a person, so its rules (held until
decided, approved ones let through, rejected ones undone) are a policy of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from calsync.model.refs import Side
from calsync.state.store import Link
from calsync.sync.observe import Observation
from calsync.sync.plan import WINDOW, Action, ActionKind
from calsync.sync.report import Report
from calsync.sync.rules import PairPolicy


@dataclass(frozen=True, slots=True)
class Decisions:
    """What the run was told about deletions: let every one through (``--allow-mass-delete``), or the items an
    admin approved, rejected or has not decided on yet (``held``)."""

    allow_all: bool = False
    held: frozenset[str] = frozenset()
    approved: frozenset[str] = frozenset()
    rejected: frozenset[str] = frozenset()


class DeletionGuard:
    """Applies the guard and the admin's decisions to one run's actions, warning in the run's report."""

    def __init__(
        self, policy: PairPolicy, decisions: Decisions, report: Report, logs_deletions: Mapping[Side, bool]
    ) -> None:
        self.policy = policy
        self.decisions = decisions
        self.report = report
        self.logs_deletions = logs_deletions
        self.undone_away: set[str] = set()
        """The items whose deletion, made while the pair was away, ``_back`` planned to undo."""

    def apply(
        self, actions: list[Action], links: Mapping[str, Link], observations: Mapping[Side, Observation]
    ) -> list[Action]:
        """Deletions made while the pair was away and rejected ones undone, then the rest weighed by the guard."""
        return self._guard_mass_deletion(self._reject(self._back(actions, links), links), links, observations)

    def _back(self, actions: list[Action], links: Mapping[str, Link]) -> list[Action]:
        """Deletions found on a side the pair was away from since it last found the item there (``Link.away``: a
        user tidying a calendar no longer synced, which says nothing of the item) undone, never passed on:
        planned as deletions on the other side, or, where the pair may not delete there, as the copy there kept
        and unlinked (but a meeting the calendar owns stays as the rules have it: making it again would invite
        its attendees again). Any other deletion, of this item on the other side or of any other item, goes on
        as usual."""
        return [self._back_one(action, links) for action in actions]

    def _back_one(self, action: Action, links: Mapping[str, Link]) -> Action:
        link = links.get(action.ident)
        if link is None or link.parked or not link.away:
            return action
        deleted = _deleted_side(action)
        owned = self.policy.items is not None and action.ident in self.policy.items.calendar_owned
        if deleted is None or not link.away_from(deleted) or (owned and action.kind is ActionKind.PARK):
            return action
        self.undone_away.add(action.ident)
        deletion = Action(ActionKind.DELETE, action.ident, deleted.other, action.rule)
        return self._undone(deletion, links, because="deleted there while this pair was away from it, not passed on")

    def _guard_mass_deletion(
        self, actions: list[Action], links: Mapping[str, Link], observations: Mapping[Side, Observation]
    ) -> list[Action]:
        """Hold a side's deletions when they are more than its guard allows and the run was not told to allow.

        The share is of the items in sync: parked links (items that left the window, copies kept after a
        deletion) are history that only grows, and counting them would weaken the guard a little every day
        until only its count held anything back. Deletions of copies outside the window (``plan._deleted_outside``)
        count against the items in sync all the same: the guard errs on the side of asking.
        """
        if self.decisions.allow_all:
            return actions
        actions = [
            _hold(a, "still held: waiting for an admin to approve or reject")
            if _toward(a) is not None and a.ident in self.decisions.held
            else a
            for a in actions
        ]
        synced: int | None = None
        for side in (Side.A, Side.B):
            deletions = sum(1 for a in actions if self._unapproved(a, side, parks=False))
            kept = sum(1 for a in actions if self._unapproved(a, side, parks=True)) - deletions
            if not deletions and not kept:
                continue
            if synced is None:
                synced = sum(1 for link in links.values() if not link.parked)
            total = synced + sum(1 for i in observations[side].view.seen if i not in links)
            if self._found_empty(side.other, links, observations[side.other]):
                actions = self._held(actions, side, deletions, total, empty=side.other, kept=kept)
            elif deletions and self.policy.guard.trips(deletions, total):
                actions = self._held(actions, side, deletions, total)
        return actions

    def _found_empty(self, side: Side, links: Mapping[str, Link], observation: Observation) -> bool:
        """Whether ``side`` was found empty, nothing new there: every item in sync (two or more) gone from it,
        or every one of those and of the items parked outside the window (two or more in all).

        Why, whatever the guard's numbers: a side found empty is far more often a mistake than a decision (a
        folder re-pointed, a drive not mounted, a calendar answering empty), and a small calendar is just what
        ``min_items`` lets go unasked. Why the items outside the window: a deletion of one whose other copy lies
        ahead of it is passed on, and a pair may have none in sync (every item months ahead). Not on a side whose
        deletions are each made as such (the business system's log, ``Capabilities.logs_deletions``):
        cancelling a technician's last appointments is a decision.
        """
        if self.logs_deletions[side]:
            return False
        view = observation.view
        if any(ident not in links for ident in view.seen):
            return False
        missing = view.gone
        synced = [ident for ident, link in links.items() if not link.parked]
        if not all(ident in missing for ident in synced):
            return False
        outside = [ident for ident, link in links.items() if link.parked == WINDOW]
        return len(synced) >= 2 or (len(synced) + len(outside) >= 2 and all(ident in missing for ident in outside))

    def _unapproved(self, action: Action, side: Side, *, parks: bool) -> bool:
        """Whether ``action`` passes a deletion on to ``side`` (or, with ``parks``, keeps ``side``'s copy unlinked
        because deletions there are off) without an admin's approval."""
        if _toward(action) is not side or action.ident in self.decisions.approved:
            return False
        return action.kind is ActionKind.DELETE or (parks and action.ident not in self.decisions.rejected)

    def _reject(self, actions: list[Action], links: Mapping[str, Link]) -> list[Action]:
        """Deletions an admin rejected (``Decisions.rejected``) undone, whatever the guard says now: each item
        is created again where it was deleted, from the copy the other side still holds."""
        if not self.decisions.rejected:
            return actions
        return [self._undone(_as_deletion(a), links) if self._rejected(a) else a for a in actions]

    def _rejected(self, action: Action) -> bool:
        """Whether ``action`` passes on a deletion an admin rejected, or keeps the other copy after it where
        deletions are off. Why the latter: the guard holds those too when a side is found empty, and rejecting
        one says the deletion was a mistake, as for a deletion held."""
        owned = self.policy.items is not None and action.ident in self.policy.items.calendar_owned
        if owned and action.kind is ActionKind.PARK:
            return False  # as in ``_back_one``: making the calendar's meeting again would invite its attendees again
        return action.ident in self.decisions.rejected and _toward(action) is not None

    def _undone(self, deletion: Action, links: Mapping[str, Link], because: str = "deletion rejected") -> Action:
        """A rejected deletion undone (or one made while the pair was away: ``because`` says which). A linked
        item was deleted on one side: it is created there again; so is a copy of an item A deleted before the
        pair linked it (``ItemRules.deleted``), which the table plans as a linked one. Any other unlinked one is
        a one-way mirror's own item that never was on the source (the mirror deletes what the source lacks): it
        stays where it is, parked so that later runs leave it alone, and the source is never written with it.

        Where the side to create it on is read-only for the pair (a one-way integration's business side), the
        item is parked too: a create turned into a skip would record nothing, and every later run would plan
        the deletion again and the guard hold it again, a decision asked for forever."""
        assert deletion.target is not None
        where = deletion.target.other
        items = self.policy.items
        unlinked = deletion.ident not in links and (items is None or deletion.ident not in items.deleted)
        if unlinked or self.policy.read_only(where):
            rule = f"{deletion.rule}; {because}: kept on {deletion.target.value.upper()}, not synced"
            if not unlinked:
                rule += f" ({where.value.upper()} is read-only: it cannot be created there again)"
            return Action(ActionKind.PARK, deletion.ident, rule=rule, park=where.value)
        rule = f"{deletion.rule}; {because}: re-created on {where.value.upper()}"
        return Action(ActionKind.CREATE, deletion.ident, where, rule)

    def _held(
        self, actions: list[Action], side: Side, deletions: int, total: int, *, empty: Side | None = None, kept: int = 0
    ) -> list[Action]:
        """The deletions on ``side`` held (reported as such, retried at the next run); where the other side was
        found empty, also the ``kept`` copies on ``side`` that deletions there being off would leave unlinked.

        Why those: a link parked after a deletion never syncs again, and a calendar that answered empty once
        would have cut every item off for good, though nothing was deleted anywhere."""
        self.report.warnings.append(_held_warning(side, deletions, total, empty, kept))
        parks = empty is not None
        return [
            _hold(a, "held by the mass-deletion guard") if self._unapproved(a, side, parks=parks) else a
            for a in actions
        ]


def _held_warning(side: Side, deletions: int, total: int, empty: Side | None, kept: int) -> str:
    name = side.value.upper()
    what = [f"{deletions} of {total} items would be deleted on {name}"] if deletions else []
    if kept:
        what.append(f"{kept} of {total} items would be unlinked on {name} (kept there, no longer synced)")
    if empty is not None:
        why = f"{empty.value.upper()} was found empty (every synced item is gone from it), which the mass-deletion "
        why += "guard always holds"
    else:
        why = "more than the mass-deletion guard allows"
    done = "deleted or unlinked" if deletions and kept else "unlinked" if kept else "deleted"
    them = "the deletions" if deletions else "them"
    return (
        f"{' and '.join(what)}: {why}; nothing was {done} there. Check the other side, then run again with "
        f"--allow-mass-delete to let {them} go through."
    )


def _toward(action: Action) -> Side | None:
    """The side a deletion found on the other would reach: the target of a deletion passed on, or the side whose
    copy a park for a deletion keeps (deletions there are off); else ``None``."""
    deleted = _deleted_side(action)
    return None if deleted is None else deleted.other


def _as_deletion(action: Action) -> Action:
    """A deletion passed on, or the park kept instead where deletions are off, as the deletion it stands for."""
    toward = _toward(action)
    assert toward is not None
    return action if action.kind is ActionKind.DELETE else Action(ActionKind.DELETE, action.ident, toward, action.rule)


def _hold(action: Action, why: str) -> Action:
    """``action`` held, counted on the side it would reach (a park has none of its own)."""
    return replace(action, kind=ActionKind.HOLD, target=_toward(action), rule=f"{action.rule}; {why}")


def _deleted_side(action: Action) -> Side | None:
    """The side an item was found deleted on, for an action that passes the deletion on (a deletion on the other
    side) or keeps the other copy unlinked (a park for a deletion there); else ``None``."""
    if action.kind is ActionKind.DELETE and action.target is not None:
        return action.target.other
    if action.kind is ActionKind.PARK and action.park in (Side.A.value, Side.B.value):
        return Side(action.park)
    return None
