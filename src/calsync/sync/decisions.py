"""The values the decision table reads and writes: an item's state on one side, what a run saw of it, and the
action decided for it (``calsync.sync.plan`` decides; ``calsync.sync.itemrules`` refines; the executor acts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from calsync.model.content import Content
from calsync.model.refs import ItemRef, Side
from calsync.state.store import Link


class State(StrEnum):
    """An item's state on one side relative to its link."""

    NEW = "new"
    SAME = "same"
    CHANGED = "changed"
    GONE = "gone"
    OUTSIDE = "outside"
    ABSENT = "absent"


@dataclass(frozen=True, slots=True)
class Seen:
    """One item as observed on one side in this run.

    ``content`` is ``None`` when the item was not fetched because its version matched the link (the executor
    fetches it only if it must be copied). ``leaves_window`` marks a changed item whose new time lies outside the
    window: the change is still copied, then the link dropped. ``ahead`` marks a copy still to come (it starts
    after the run's moment: outside the window, ahead of it), where a run read it because the other copy of its
    item was deleted (``observe.read_kept_copies``); elsewhere it is not set.
    """

    ref: ItemRef
    digest: str
    stamp: float | None = None
    content: Content | None = field(default=None, compare=False)
    leaves_window: bool = False
    ahead: bool = False

    @property
    def kind(self) -> str:
        """The item's kind from its content, or "" when it was not read."""
        return "" if self.content is None else self.content.facts.kind.value

    @property
    def modified(self) -> float | None:
        """When the item was last modified (for newest-wins), from ``stamp`` or, lazily, from its content."""
        if self.stamp is not None or self.content is None:
            return self.stamp
        return self.content.facts.modified


@dataclass(slots=True)
class SideView:
    """Everything observed on one side: fetched items by identity, linked items gone, linked items aged out."""

    seen: dict[str, Seen] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    outside: set[str] = field(default_factory=set)

    def state(self, ident: str, link: Link | None, side: Side) -> State:
        """The state of ``ident`` on this side."""
        seen = self.seen.get(ident)
        if seen is not None:
            if link is None:
                return State.NEW
            same = seen.digest == link.side(side).digest
            if same and seen.leaves_window:
                return State.OUTSIDE
            return State.SAME if same else State.CHANGED
        if link is None:
            return State.ABSENT
        if ident in self.outside:
            return State.OUTSIDE
        return State.GONE if ident in self.gone else State.SAME


class ActionKind(StrEnum):
    """What the executor does for one item."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    LINK = "link"
    UNLINK = "unlink"
    SKIP = "skip"
    HOLD = "hold"
    PARK = "park"


@dataclass(frozen=True, slots=True)
class Action:
    """One step of a plan: ``kind`` on ``target`` (the other side is the source of content), and why.

    ``rule`` names the row of the table that decided it, in words a person reads in the job's details.
    """

    kind: ActionKind
    ident: str
    target: Side | None = None
    rule: str = ""
    conflict: bool = False
    park_after: bool = False
    park: str = ""

    @property
    def source(self) -> Side | None:
        """The side whose content a create or update copies."""
        return None if self.target is None else self.target.other

    @property
    def writes(self) -> bool:
        """Whether the action writes to a side."""
        return self.kind in (ActionKind.CREATE, ActionKind.UPDATE, ActionKind.DELETE)
