"""The hub's item rules, applied to each action the decision table chose (``plan`` calls ``apply``).

Pure like the table: each rule looks at the action, the item's kind and what was observed, and returns the
action to take instead, with a rule text naming why. A rule only ever narrows what the table decided or undoes
a calendar-side removal of an item the business side placed; it never writes on its own.
"""

from __future__ import annotations

from calsync.errors import InvalidItem
from calsync.model.content import Content
from calsync.model.item import ItemKind, PartStat, Sensitivity
from calsync.model.refs import Side
from calsync.state.store import Link
from calsync.sync.decisions import Action, ActionKind, SideView
from calsync.sync.rules import ItemRules

_DAY = 86400.0


def apply(action: Action, link: Link | None, a: SideView, b: SideView, rules: ItemRules, kind: str) -> Action:
    """``action`` as the hub's rules have it (A is the business side, B the calendar)."""
    ident = action.ident
    if ident in rules.calendar_owned:
        return _calendar_owned(action, moved=ident in rules.moved)
    if ident in rules.moved and _undoes_a_removal_from_a(action):  # unlinked too: a copy a crash left behind
        return Action(
            ActionKind.DELETE,
            ident,
            Side.B,
            "reassigned to another user by the business side: removed "
            "from this calendar (an edit made here goes with it)",
        )
    if kind in rules.business_placed:
        placed = _business_placed(action, link, b, kind)
        if placed is not None:
            return placed
    return admitted_as_new(action, a, b, rules) if link is None else action


def admitted_as_new(action: Action, a: SideView, b: SideView, rules: ItemRules) -> Action:
    """``action`` if it is no copy of a new item, or the item is synced (private items, the selection, the
    pair's kinds); else a skip saying why. ``apply`` asks it for items with no link; ``plan`` also for an item
    decided as new beside a link it forgets."""
    if action.kind is not ActionKind.CREATE or action.source is None:
        return action
    seen = (a if action.source is Side.A else b).seen.get(action.ident)
    if seen is not None and seen.content is not None:
        reason = _not_admitted(seen.content, action.source, rules)
        if reason:
            return Action(ActionKind.SKIP, action.ident, action.target, reason)
    return action


def _undoes_a_removal_from_a(action: Action) -> bool:
    """Whether the action keeps an item in B that A no longer has here: re-creating it on A (an edit on B wins
    over a deletion) or parking the link with B's copy kept."""
    return (action.kind is ActionKind.CREATE and action.target is Side.A) or (
        action.kind is ActionKind.PARK and action.park == Side.A.value
    )


def _calendar_owned(action: Action, *, moved: bool = False) -> Action:
    """A meeting with attendees created in the calendar: neither side's edit or deletion crosses over. Reassigned
    by the business side, it stays in its organizer's calendar, unlinked (the new user's pair gets the business
    item): deleting it there would cancel the meeting for every attendee."""
    why = "meeting with attendees created in the calendar"
    if moved and action.kind is ActionKind.DELETE and action.target is Side.B:
        return Action(
            ActionKind.PARK,
            action.ident,
            rule=f"{why}: reassigned by the business side; kept in this calendar, unlinked",
            park=Side.A.value,
        )
    if action.kind is ActionKind.UPDATE:
        done = (
            "the calendar's edit is not taken into"
            if action.target is Side.A
            else "the business edit is not written to"
        )
        return Action(ActionKind.LINK, action.ident, rule=f"{why}: {done} the other side")
    if action.kind is ActionKind.DELETE and action.target is not None:
        deleted = action.target.other
        return Action(
            ActionKind.PARK,
            action.ident,
            rule=f"{why}: deleted on {deleted.value.upper()} only, the other copy is kept",
            park=deleted.value,
        )
    return action


def _business_placed(action: Action, link: Link | None, b: SideView, kind: str) -> Action | None:
    """Assignments and order lines: the business side decides whether they are in the calendar."""
    label = "order line" if kind == ItemKind.ORDER_LINE else str(kind)
    if action.kind is ActionKind.CREATE and action.target is Side.A and link is not None:
        # gone from A (deleted or reassigned) while edited in the calendar: the business side decides
        return Action(
            ActionKind.DELETE,
            action.ident,
            Side.B,
            f"{label} deleted or reassigned by the business side: removed from this calendar, its edit there with it",
        )
    deleted_on_b = (action.kind is ActionKind.DELETE and action.target is Side.A) or (
        action.kind is ActionKind.PARK and action.park == Side.B.value
    )
    if deleted_on_b:
        return Action(
            ActionKind.CREATE,
            action.ident,
            Side.B,
            f"{label} deleted in the calendar: re-created until the business side deletes or reassigns it",
        )
    if action.kind is ActionKind.PARK and action.park == Side.A.value:
        return Action(
            ActionKind.DELETE,
            action.ident,
            Side.B,
            f"{label} deleted or reassigned by the business side: removed from this calendar",
        )
    if action.kind is ActionKind.UPDATE and action.target is Side.A:
        seen = b.seen.get(action.ident)
        if seen is not None and seen.content is not None and declined(seen.content):
            return Action(ActionKind.UPDATE, action.ident, Side.B, f"{label} declined in the calendar: restored")
    return None


def declined(content: Content) -> bool:
    """Whether a calendar item was declined or cancelled there (STATUS:CANCELLED or an attendee's DECLINED).

    The text is searched first so that the common case parses nothing.
    """
    text = content.text
    if "CANCELLED" not in text and "DECLINED" not in text:
        return False
    try:
        item = content.item
    except InvalidItem:
        return False
    return item.status.upper() == "CANCELLED" or any(at.status is PartStat.DECLINED for at in item.attendees)


def _not_admitted(content: Content, source: Side, rules: ItemRules) -> str:
    """Why a new item is not synced, or "" when it is."""
    facts = content.facts
    if rules.kinds and facts.kind not in rules.kinds:
        return f"a {facts.kind.value} is not synced by this pair (its own kind's pair takes it)"
    if rules.skip_private and facts.sensitivity is Sensitivity.PRIVATE:
        return "private item: not synced"
    selection, start, end = rules.selection, facts.span[0], facts.span[1]
    if source is Side.A:
        if selection.only_flagged and not _flagged(content):
            return "not flagged for sync in the business system: not exported"
        if selection.only_future and (start is None or start < rules.now):
            return "starts before the time of the sync: not exported"
        return ""
    if selection.tag and selection.tag.lower() not in facts.title.lower():
        return f"subject without the {selection.tag} tag: not imported"
    if selection.single_only and facts.recurring:
        return "recurring series: only single appointments are imported"
    if selection.within_days:
        last = rules.now + selection.within_days * _DAY
        if start is None or start < rules.now or end is None or end > last:
            return f"not within the next {selection.within_days} days: not imported"
    return ""


def _flagged(content: Content) -> bool:
    if "X-CALSYNC-SYNC-FLAG" not in content.text:
        return False
    try:
        return content.item.extras.sync_flag
    except InvalidItem:
        return False
