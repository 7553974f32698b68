"""The mass-deletion guard and an admin's decisions, on plans made by hand (the engine's tests run it whole)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from calsync.connectors.base import ChangeSet
from calsync.model.refs import ItemRef, Side
from calsync.state.store import Link, SideStatus
from calsync.sync.guard import Decisions, DeletionGuard
from calsync.sync.observe import Observation
from calsync.sync.plan import Action, ActionKind, Seen, SideView
from calsync.sync.report import Report
from calsync.sync.rules import ItemRules, MassDeleteGuard, Mode, PairPolicy

A, B = Side.A, Side.B
LOGGED = {A: False, B: False}


def _linked(count: int) -> dict[str, Link]:
    status = SideStatus
    return {f"i{n}": Link(f"i{n}", status(f"{n}.a", "v", "d"), status(f"{n}.b", "v", "d")) for n in range(count)}


def _observed(b_seen: tuple[str, ...] = ()) -> dict[Side, Observation]:
    b = SideView(seen={i: Seen(ItemRef(f"{i}.b", "v"), "d") for i in b_seen})
    return {A: Observation(SideView(), ChangeSet(())), B: Observation(b, ChangeSet(()))}


def _deletions(count: int, target: Side = B) -> list[Action]:
    return [Action(ActionKind.DELETE, f"i{n}", target, "deleted on A") for n in range(count)]


def _guard(decisions: Decisions | None = None, policy: PairPolicy | None = None) -> tuple[DeletionGuard, Report]:
    report = Report("p")
    guard = DeletionGuard(policy or PairPolicy(guard=MassDeleteGuard()), decisions or Decisions(), report, LOGGED)
    return guard, report


def test_deletions_within_the_guard_go_through_unwarned() -> None:
    guard, report = _guard()
    actions = guard.apply(_deletions(3), _linked(10), _observed())
    assert [a.kind for a in actions] == [ActionKind.DELETE] * 3 and not report.warnings


def test_too_many_deletions_are_held_with_a_warning_and_approved_ones_go_through() -> None:
    guard, report = _guard(Decisions(approved=frozenset({"i0"})))
    actions = guard.apply(_deletions(8), _linked(10), _observed())
    assert [a.kind for a in actions] == [ActionKind.DELETE] + [ActionKind.HOLD] * 7
    assert "7 of 10 items would be deleted on B" in report.warnings[0]


def test_allowing_every_deletion_holds_nothing_not_even_earlier_holds() -> None:
    guard, _ = _guard(Decisions(allow_all=True, held=frozenset({"i1"})))
    assert all(a.kind is ActionKind.DELETE for a in guard.apply(_deletions(8), _linked(10), _observed()))


def test_a_hold_waits_for_a_decision_whatever_the_numbers_now() -> None:
    guard, _ = _guard(Decisions(held=frozenset({"i1"})))
    actions = guard.apply(_deletions(2), _linked(10), _observed())
    assert [a.kind for a in actions] == [ActionKind.DELETE, ActionKind.HOLD]
    assert "still held" in actions[1].rule


def test_a_side_found_empty_is_held_even_for_two_items() -> None:
    """Both synced items gone from A: held, though two deletions are far below the guard's numbers."""
    guard, report = _guard()
    observations = _observed(b_seen=("i0", "i1"))
    observations[A].view.gone.update({"i0", "i1"})
    actions = guard.apply(_deletions(2), _linked(2), observations)
    assert [a.kind for a in actions] == [ActionKind.HOLD] * 2 and "A was found empty" in report.warnings[0]


def _kept(count: int) -> list[Action]:
    """Deletions found on B where deletions on A are off: A's copies kept, their links parked."""
    rule = "deleted on B; deletions on A are off: unlinked, the copy there is kept"
    return [Action(ActionKind.PARK, f"i{n}", rule=rule, park=B.value) for n in range(count)]


def test_copies_kept_after_a_side_found_empty_are_held_too() -> None:
    """A parked link never syncs again: a calendar answering empty once would cut every item off for good."""
    guard, report = _guard()
    observations = _observed()
    observations[B].view.gone.update({"i0", "i1"})
    actions = guard.apply(_kept(2), _linked(2), observations)
    assert [(a.kind, a.target) for a in actions] == [(ActionKind.HOLD, A)] * 2
    assert "2 of 2 items would be unlinked on A (kept there, no longer synced)" in report.warnings[0]
    assert "B was found empty" in report.warnings[0]


def test_copies_kept_after_deletions_go_through_when_the_side_was_not_found_empty() -> None:
    """The guard's numbers weigh what is deleted; a park deletes nothing."""
    guard, report = _guard()
    observations = _observed()
    observations[B].view.gone.update({"i0", "i1"})
    actions = guard.apply(_kept(2), _linked(10), observations)
    assert [a.kind for a in actions] == [ActionKind.PARK] * 2 and not report.warnings


def test_a_hold_says_what_it_held_and_what_letting_it_through_does() -> None:
    guard, report = _guard()
    observations = _observed()
    observations[B].view.gone.update({"i0", "i1"})
    guard.apply(_kept(2), _linked(2), observations)
    assert "nothing was unlinked there" in report.warnings[0] and "to let them go through" in report.warnings[0]
    guard, report = _guard()
    owned = Action(ActionKind.PARK, "i9", rule="the calendar's own meeting: kept on A", park=B.value)
    actions = guard.apply([*_deletions(6, A), owned], _linked(10), _observed(b_seen=("i8",)))
    assert actions[-1].kind is ActionKind.PARK  # the guard's numbers weigh deletions: a park goes through
    assert "nothing was deleted there" in report.warnings[0] and "to let the deletions go through" in report.warnings[0]


def test_a_held_park_is_let_through_when_approved_and_undone_when_rejected() -> None:
    observations = _observed()
    observations[B].view.gone.update({"i0", "i1"})
    decisions = Decisions(approved=frozenset({"i0"}), rejected=frozenset({"i1"}))
    guard, _ = _guard(decisions)
    approved, rejected = guard.apply(_kept(2), _linked(2), observations)
    assert (approved.kind, approved.park) == (ActionKind.PARK, B.value)
    assert (rejected.kind, rejected.target) == (ActionKind.CREATE, B) and "deletion rejected" in rejected.rule


def test_a_rejected_deletion_of_a_linked_item_is_created_again_where_it_was_deleted() -> None:
    guard, _ = _guard(Decisions(rejected=frozenset({"i0"})))
    (action,) = guard.apply(_deletions(1), _linked(1), _observed())
    assert (action.kind, action.target) == (ActionKind.CREATE, A) and "deletion rejected" in action.rule


def test_a_rejected_deletion_of_a_mirrors_own_item_parks_it() -> None:
    """Unlinked: an item that never was on the source (a one-way mirror deletes what the source lacks)."""
    guard, _ = _guard(Decisions(rejected=frozenset({"i0"})))
    (action,) = guard.apply(_deletions(1), {}, _observed())
    assert (action.kind, action.park) == (ActionKind.PARK, A.value)


def test_a_rejected_deletion_of_a_copy_of_what_a_deleted_is_created_again_on_a() -> None:
    """Unlinked, but a copy of an item A deleted (``ItemRules.deleted``): undone as a linked one is."""
    policy = PairPolicy(items=ItemRules(deleted={"i0": "d"}))
    guard, _ = _guard(Decisions(rejected=frozenset({"i0"})), policy)
    (action,) = guard.apply(_deletions(1), {}, _observed())
    assert (action.kind, action.target) == (ActionKind.CREATE, A)


@pytest.mark.parametrize("linked", [True, False], ids=["linked", "copy-of-what-a-deleted"])
def test_a_rejected_deletion_that_cannot_be_undone_on_a_read_only_side_parks_the_copy(linked: bool) -> None:
    """A one-way pair's source is read-only: a create there would become a skip that records nothing, and the
    next run would plan the deletion again and the guard hold it again. Parked, the copy is kept and left alone."""
    policy = PairPolicy(mode=Mode.A_TO_B, read_only_a=True, items=None if linked else ItemRules(deleted={"i0": "d"}))
    guard, _ = _guard(Decisions(rejected=frozenset({"i0"})), policy)
    (action,) = guard.apply(_deletions(1), _linked(1) if linked else {}, _observed())
    assert (action.kind, action.park) == (ActionKind.PARK, A.value)
    assert "deletion rejected: kept on B, not synced" in action.rule and "read-only" in action.rule


def test_a_deletion_found_where_the_pair_was_away_from_the_item_is_not_passed_on_but_undone() -> None:
    """Back on a calendar it had left, the links taken up are marked away from it (``Link.away``): a copy
    deleted there meanwhile was deleted while the pair did not sync it, which says nothing of the item. Any other
    deletion goes through: one found on the other side, and one of an item seen in sync since (unmarked)."""
    guard, _ = _guard()
    links = {ident: replace(link, away="b") for ident, link in _linked(2).items()} | {"i2": _linked(3)["i2"]}
    found_on_b = Action(ActionKind.DELETE, "i0", A, "deleted on B")
    found_on_a = Action(ActionKind.DELETE, "i1", B, "deleted on A")
    since_back = Action(ActionKind.DELETE, "i2", A, "deleted on B")
    unlinked = Action(ActionKind.DELETE, "i9", A, "only on A, which mirrors B")
    back, passed, later, mirrored = guard.apply([found_on_b, found_on_a, since_back, unlinked], links, _observed())
    assert (back.kind, back.target) == (ActionKind.CREATE, B)
    assert "deleted there while this pair was away from it, not passed on: re-created on B" in back.rule
    assert (passed, later, mirrored) == (found_on_a, since_back, unlinked)
    assert guard.undone_away == {"i0"}
