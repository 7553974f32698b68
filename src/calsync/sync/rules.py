"""What a pair is allowed to do: its mode, conflict policy, deletion switches and mass-deletion guard.

These are values the pure ``plan()`` reads; nothing here does I/O. Kind-specific rules (order lines, assignments,
private items, imports) build on these in the hub.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from calsync.model.item import ItemKind
from calsync.model.refs import Side


class Mode(StrEnum):
    """Which way changes flow.

    ``a-to-b``: B mirrors A (B's edits are overwritten, B's deletions re-created, items only on B deleted).
    ``a-to-b-merge``: as ``a-to-b``, but items created on B are left alone. ``b-to-a`` and ``b-to-a-merge``
    mirror the other way. ``two-way``: both sides edit, conflicts go to the ``ConflictPolicy``.
    """

    A_TO_B = "a-to-b"
    A_TO_B_MERGE = "a-to-b-merge"
    B_TO_A = "b-to-a"
    B_TO_A_MERGE = "b-to-a-merge"
    TWO_WAY = "two-way"

    @property
    def source(self) -> Side | None:
        """The side that wins every difference in a one-way mode; ``None`` for two-way."""
        if self in (Mode.A_TO_B, Mode.A_TO_B_MERGE):
            return Side.A
        if self in (Mode.B_TO_A, Mode.B_TO_A_MERGE):
            return Side.B
        return None

    @property
    def merge(self) -> bool:
        """Whether items created on the target side are left alone."""
        return self in (Mode.A_TO_B_MERGE, Mode.B_TO_A_MERGE)


class ConflictPolicy(StrEnum):
    """Who wins when both sides changed one item differently (two-way only).

    ``newest-wins`` compares LAST-MODIFIED (or DTSTAMP); on a tie or when either is unknown, A wins, because A is
    the business system of record.
    """

    A_WINS = "a-wins"
    B_WINS = "b-wins"
    NEWEST_WINS = "newest-wins"


@dataclass(frozen=True, slots=True)
class MassDeleteGuard:
    """Hold a run's deletions on one side when they exceed ``max_count`` items, or ``max_share`` of that side's
    items once at least ``min_items`` would go (so deleting 3 of 4 appointments is not held, emptying a
    calendar of 40 is)."""

    max_share: float = 0.5
    max_count: int = 100
    min_items: int = 5

    def trips(self, deletions: int, total: int) -> bool:
        """Whether ``deletions`` of ``total`` items on one side is too many to do unasked."""
        if deletions > self.max_count:
            return True
        return deletions >= self.min_items and total > 0 and deletions > self.max_share * total


@dataclass(frozen=True, slots=True)
class Selection:
    """Which new items are exported to the calendar (A -> B) and imported from it (B -> A); all off = every item
    in the window. Selection decides only whether an item is *linked*: a synced item stays synced.

    Export: ``only_flagged`` items whose business sync flag is set; ``only_future`` items starting after the
    time of the run. Import: ``tag`` calendar items whose title carries it (e.g. ``[sync]``); ``single_only`` no
    recurring series; ``within_days`` items starting after the run and ending within that many days (0 = off).
    """

    only_flagged: bool = False
    only_future: bool = False
    tag: str = ""
    single_only: bool = False
    within_days: int = 0


@dataclass(frozen=True, slots=True)
class ItemRules:
    """The rules of a hub pair, where A is the business side and B a user's calendar (DESIGN.md, sync semantics).

    - ``skip_private``: new private items are not synced on either side (an item made private after it was
      synced stays synced: the change, private flag included, is copied, so it is private on both sides);
    - ``calendar_owned``: idents of meetings with attendees created in the calendar: calendar edits and
      deletions never change the business side, and business edits never overwrite the meeting;
    - ``business_placed``: kinds the business side places in calendars (assignments, order lines): a deletion
      or decline in the calendar is undone, and the business side's deletion or reassignment always removes it;
    - ``selection`` of new items; ``now`` (POSIX seconds) is the time of the run for the "after now" checks;
    - ``moved``: idents the business side moved to another user's collection (reassigned): they leave this
      calendar, an edit made here with them;
    - ``kinds``: the kinds this pair carries (a calendar that holds events and tasks is read by both the events
      pair and the tasks pair; each takes only its own; empty: all);
    - ``deleted``: of the items found in the calendar with no link and not on the business side, those the
      business system deleted (not a calendar's deletion it took in), each with the digest of the content it
      served last; filled in by the engine for each run (``PairSpec.deleted_on_a``). Such a copy is one this
      pair wrote before it started afresh (a user moved back to an earlier mailbox, a state store restored
      from a backup): a copy of a deleted item, never a new one to import (see ``plan``).
    """

    skip_private: bool = True
    calendar_owned: frozenset[str] = frozenset()
    business_placed: frozenset[ItemKind] = frozenset({ItemKind.ASSIGNMENT, ItemKind.ORDER_LINE})
    selection: Selection = field(default_factory=Selection)
    now: float = 0.0
    kinds: frozenset[ItemKind] = frozenset()
    moved: frozenset[str] = frozenset()
    deleted: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PairPolicy:
    """Everything ``plan()`` needs to know about a pair besides what it observed."""

    mode: Mode = Mode.TWO_WAY
    conflict: ConflictPolicy = ConflictPolicy.A_WINS
    delete_on_a: bool = True
    delete_on_b: bool = True
    read_only_a: bool = False
    read_only_b: bool = False
    guard: MassDeleteGuard = field(default_factory=MassDeleteGuard)
    kind_modes: Mapping[ItemKind, Mode] = field(default_factory=dict)
    items: ItemRules | None = None

    def mode_for(self, kind: str) -> Mode:
        """The mode for items of ``kind``: a kind's own mode (order lines are one-way from the business side,
        whatever the pair's mode) or the pair's."""
        try:
            return self.kind_modes.get(ItemKind(kind), self.mode)
        except ValueError:
            return self.mode

    def may_delete(self, side: Side) -> bool:
        """Whether deletions propagate to ``side``."""
        return self.delete_on_a if side is Side.A else self.delete_on_b

    def read_only(self, side: Side) -> bool:
        """Whether ``side`` must never be written."""
        return self.read_only_a if side is Side.A else self.read_only_b
