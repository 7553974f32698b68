"""The pure decision table: from what each side shows and what was synced last, the actions of a run.

``plan()`` does no I/O and is total: every combination of the two sides' states has a row (see ``_two_way`` and
``_one_way``), each tested on its own. Only executing the plan writes (``calsync.sync.actions``).

The state of an item on one side, relative to its link (what was synced last):

============  ===========================================================================================
NEW           present, not linked
SAME          linked, content digest unchanged (a new version with the same digest is a server rewrite)
CHANGED       linked, content digest changed
GONE          linked, deleted on this side
OUTSIDE       linked, left the sync window without changing: unlinked, never deleted
ABSENT        neither present nor linked
============  ===========================================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from calsync.model.refs import ItemRef, Side
from calsync.state.store import Link
from calsync.sync import itemrules
from calsync.sync.decisions import Action, ActionKind, Seen, SideView, State
from calsync.sync.rules import ConflictPolicy, Mode, PairPolicy

__all__ = [
    "WINDOW",
    "Action",
    "ActionKind",
    "Seen",
    "SideView",
    "State",
    "decide",
    "decide_again",
    "guard_read_only",
    "kind_of",
    "plan",
    "resolve",
]


def plan(links: Mapping[str, Link], a: SideView, b: SideView, policy: PairPolicy) -> list[Action]:
    """The actions of one run, in a stable order (by identity). Pure and total.

    A linked item observed on neither side is SAME on both and needs nothing, so only observed identities are
    visited: a no-op run over a large pair costs nothing here.
    """
    idents = sorted(set(a.seen) | set(b.seen) | a.gone | b.gone | a.outside | b.outside)
    actions: list[Action] = []
    for ident in idents:
        link = links.get(ident)
        sa, sb = a.state(ident, link, Side.A), b.state(ident, link, Side.B)
        kind = kind_of(ident, link, a, b)
        mode = _mode(ident, kind, link, a, b, policy)
        if link is not None and link.parked:
            forgotten = _forgotten(ident, link, sa, sb, a, b, policy, mode, kind)
            if forgotten is not None:  # decided with the rules of a new item already
                actions.append(forgotten)
                continue
            action = _parked(ident, link, sa, sb, a, b, policy, mode)
        elif link is None and sb is State.NEW and sa is State.ABSENT and _deleted_on_a(ident, b, policy):
            action = _deleted_before_linked(ident, a, b, policy, mode)
        elif link is not None and State.OUTSIDE in (sa, sb) and State.GONE in (sa, sb):
            outside = _deleted_outside(ident, link, sa, sb, a, b, policy, mode, kind)
            if outside is not None:  # through the item rules and the read-only guard already
                actions.append(outside)
                continue
            action = decide(ident, sa, sb, a, b, policy, mode)
        else:
            action = decide(ident, sa, sb, a, b, policy, mode)
        if action is not None and policy.items is not None:
            action = itemrules.apply(action, link, a, b, policy.items, kind)
        if action is None and link is not None and not link.parked and _moved(ident, link, a, b):
            action = Action(ActionKind.LINK, ident, rule="unchanged; new version or href recorded")
        if action is not None:
            actions.append(guard_read_only(action, policy))
    return actions


def decide_again(ident: str, link: Link | None, a: SideView, b: SideView, policy: PairPolicy) -> Action | None:
    """The action for an item whose create met a copy the listing did not show, decided as new on both sides
    and passed through the same rules and read-only guard as every planned action."""
    kind = kind_of(ident, link, a, b)
    action = decide(ident, State.NEW, State.NEW, a, b, policy, policy.mode_for(kind))
    if action is not None and policy.items is not None:
        action = itemrules.apply(action, link, a, b, policy.items, kind)
    return None if action is None else guard_read_only(action, policy)


def _mode(ident: str, kind: str, link: Link | None, a: SideView, b: SideView, policy: PairPolicy) -> Mode:
    """The mode of the item's kind; but a kind that only the target of that kind's mirror claims (a copy of an
    order line made in a calendar: clients keep the X- properties) never makes the mirror delete the copy: the
    item is the calendar's own, left alone as in the merge variant."""
    mode = policy.mode_for(kind)
    if mode is policy.mode or mode.merge or mode.source is None or link is not None:
        return mode
    if ident in (a if mode.source is Side.A else b).seen:
        return mode
    return Mode.A_TO_B_MERGE if mode.source is Side.A else Mode.B_TO_A_MERGE


WINDOW = "window"
"""``Link.parked`` of an item that left the sync window."""


def _parked(ident: str, link: Link, sa: State, sb: State, a: SideView, b: SideView, policy: PairPolicy,
            mode: Mode) -> Action | None:  # fmt: skip
    """The rows for a parked link with both copies there (``_forgotten`` takes those with one gone): it stays
    parked until an edit brings it back."""
    if link.parked == WINDOW:
        if not _edited_into_window(sa, sb, a, b, ident):
            return _new_version_outside(ident, link, a, b)
        sa, sb = (State.SAME if s is State.OUTSIDE else s for s in (sa, sb))
        return decide(ident, sa, sb, a, b, policy, mode)
    deleted = Side(link.parked)
    if (a if deleted is Side.A else b).seen.get(ident) is not None:  # back on the side it was deleted from
        if not link.side(deleted).digest:
            return _back_where_never_linked(ident, link, deleted, a, b, policy, mode)
        return decide(ident, sa, sb, a, b, policy, mode) or Action(
            ActionKind.LINK, ident, rule=f"back on {deleted.value.upper()}: linked again"
        )
    return None  # the kept copy is the user's now: left alone, never copied back


def _new_version_outside(ident: str, link: Link, a: SideView, b: SideView) -> Action | None:
    """A copy of an item parked outside the window read with its content unchanged but a new version or href (a
    changekey bumped, a client's re-save): recorded, still parked. Why: the sweep reads an item entering the
    window when its version is not the link's (an edit made outside it); an unrecorded new version would have
    it read at every sweep. An edit (another digest) is never recorded here: it is synced when it enters."""
    for side, view in ((Side.A, a), (Side.B, b)):
        seen = view.seen.get(ident)
        if seen is not None and seen.digest != link.side(side).digest:
            return None  # an edit outside the window, on either side: left to the sweep, never recorded
    if not _moved(ident, link, a, b):
        return None
    return Action(ActionKind.PARK, ident, rule="outside the window, unchanged: new version recorded", park=WINDOW)


def _forgotten(ident: str, link: Link, sa: State, sb: State, a: SideView, b: SideView, policy: PairPolicy,
               mode: Mode, kind: str) -> Action | None:  # fmt: skip
    """A parked link whose copy on one side is gone (for a link parked on a side: the copy kept on the other) is
    forgotten, unless the deletion is decided as in the window (``_deleted_outside``); ``None`` when no copy is
    gone.

    A copy this run read in the window on the other side (back on the side it was deleted from, or edited into
    the window) is decided as new there, with the item rules (a business-placed item gone from A leaves the
    calendar), those of a new item (private, selection, kinds) and the read-only guard. Why: no later run reads
    it again unless it changes (a sync token names only changes), so forgetting the link alone would leave it
    unsynced until a full sync found it new. Should that decide nothing to write, the link is only forgotten."""
    if link.parked == WINDOW:
        if State.GONE not in (sa, sb):
            return None
        why = "deleted while outside the window: forgotten, copy kept"
        back = next((side for side in Side if _edited_into_window(sa, sb, a, b, ident, only=side)), None)
    else:
        deleted = Side(link.parked)
        if (sb if deleted is Side.A else sa) is not State.GONE:
            return None
        why = f"the copy kept on {deleted.other.value.upper()} is gone too"
        back = deleted if _in_window(a if deleted is Side.A else b, ident) else None
    forget = Action(ActionKind.UNLINK, ident, rule=why)
    if back is None:
        return _deleted_outside(ident, link, sa, sb, a, b, policy, mode, kind) or forget
    new_a, new_b = (State.NEW, State.ABSENT) if back is Side.A else (State.ABSENT, State.NEW)
    action = decide(ident, new_a, new_b, a, b, policy, mode)
    if action is not None and policy.items is not None:  # the rules with the link (a business-placed item gone
        # from A leaves the calendar), then those of a new item (not admitted: skipped)
        action = itemrules.apply(action, link, a, b, policy.items, kind)
        action = itemrules.admitted_as_new(action, a, b, policy.items)
    action = None if action is None else guard_read_only(action, policy)
    if action is None or not action.writes:
        return forget
    return replace(action, rule=f"{why}; {action.rule}")


def _deleted_outside(ident: str, link: Link, sa: State, sb: State, a: SideView, b: SideView, policy: PairPolicy,
                     mode: Mode, kind: str) -> Action | None:  # fmt: skip
    """A copy deleted while its link was parked outside the window, or while the other copy lay outside it: the
    action, or ``None`` for the caller's row (the link forgotten or unlinked, the other copy kept).

    The other copy, read unchanged (``observe.read_kept_copies``), is decided as in the window when it is in the
    window by now (the link stayed parked while time brought it in) or ahead of it (``Seen.ahead``: time will
    bring it in). Why: forgotten, it would come back as new in the window, undoing the user's deletion. But
    nothing is written outside the window (a copy the rules make again is made as new when it enters it).
    ``None`` for a copy behind the window (a calendar purging old items says nothing of the business system's
    record), one edited since (the edit wins: new when it enters), one not read, and a side the pair was away
    from (``Link.away``: undone)."""
    if (sa is State.GONE) == (sb is State.GONE):
        return None
    gone = Side.A if sa is State.GONE else Side.B
    kept = gone.other
    seen = (a if kept is Side.A else b).seen.get(ident)
    if link.away_from(gone) or seen is None or seen.digest != link.side(kept).digest:
        return None
    if seen.leaves_window and not seen.ahead:
        return None
    states = (State.GONE, State.SAME) if gone is Side.A else (State.SAME, State.GONE)
    action = decide(ident, *states, a, b, policy, mode)
    if action is not None and policy.items is not None:
        action = itemrules.apply(action, link, a, b, policy.items, kind)
    if action is None or (action.kind is ActionKind.CREATE and seen.leaves_window):
        return None
    where = "ahead of the window" if seen.leaves_window else "in the window now"
    why = f"deleted on {gone.value.upper()} while outside the window; the copy on {kept.value.upper()} is {where}"
    return guard_read_only(replace(action, rule=f"{why}: {action.rule}"), policy)


def _edited_into_window(sa: State, sb: State, a: SideView, b: SideView, ident: str, only: Side | None = None) -> bool:
    """Whether a copy (of side ``only``, or either) was edited and is in the window now."""
    return any(
        state is State.CHANGED and _in_window(view, ident)
        for side, state, view in ((Side.A, sa, a), (Side.B, sb, b))
        if only is None or side is only
    )


def _back_where_never_linked(ident: str, link: Link, deleted: Side, a: SideView, b: SideView, policy: PairPolicy,
                             mode: Mode) -> Action | None:  # fmt: skip
    """An item back on the side it was deleted from, where the link never held a copy (``NO_STATUS``: parked for
    a copy of an item A deleted before the pair linked it, or for a mirror's own item whose deletion an admin
    rejected). Its state there would read as changed, and a plain "changed on A" would overwrite the kept copy
    (an edit made there, maybe) unrecorded; but nothing says what either side held in common, so it is decided
    as new on both sides, as ``decide`` does: equal content links, different content is a conflict for the
    pair's policy (a one-way pair's source wins). A kept copy not read in this run is unchanged since it was
    parked: what the link recorded of it stands in for it (its time unknown: newest-wins gives A the win)."""
    kept = deleted.other
    views = {Side.A: a, Side.B: b}
    if ident not in views[kept].seen:
        status = link.side(kept)
        views[kept] = SideView(seen={ident: Seen(ItemRef(status.href, status.version), status.digest)})
    action = decide(ident, State.NEW, State.NEW, views[Side.A], views[Side.B], policy, mode)
    if action is None:
        return None
    return replace(action, rule=f"back on {deleted.value.upper()}, where it had no link: {action.rule}")


def _deleted_on_a(ident: str, b: SideView, policy: PairPolicy) -> bool:
    """Whether B's copy, with no link and not on A, is of an item A deleted (``ItemRules.deleted``) and of a kind
    this pair carries (a calendar read by the events pair and the tasks pair: each decides its own)."""
    items = policy.items
    if items is None or ident not in items.deleted:
        return False
    content = b.seen[ident].content
    return not items.kinds or (content is not None and content.facts.kind in items.kinds)


def _deleted_before_linked(ident: str, a: SideView, b: SideView, policy: PairPolicy, mode: Mode) -> Action | None:
    """B holds a copy of an item A deleted, with no link: one made before the pair started afresh (a user moved
    back to an earlier mailbox). Never new on B, so never copied to A (where B is the mode's source, A mirrors
    it as always). Holding what A served last, it is a linked copy deleted on A: deleted where B's deletions are
    allowed, else kept. Holding anything else (an edit made there, or a form B's store made of it: EWS and
    Graph convert), it is kept and left alone, as no one can tell an edit from an old version."""
    if mode.source is Side.B:
        return decide(ident, State.ABSENT, State.NEW, a, b, policy, mode)
    assert policy.items is not None
    why = "deleted on A; this copy on B has no link (left from before the pair started afresh)"
    if b.seen[ident].digest == policy.items.deleted[ident]:
        return _deletion(ident, Side.B, why, policy)
    return Action(
        ActionKind.PARK,
        ident,
        rule=f"{why} and differs from what A held last (edited there?): kept there, not synced",
        park=Side.A.value,
    )


def _in_window(view: SideView, ident: str) -> bool:
    seen = view.seen.get(ident)
    return seen is not None and not seen.leaves_window


def kind_of(ident: str, link: Link | None, a: SideView, b: SideView) -> str:
    """The item's kind: as A (the business side, which owns kinds) shows it, else as the link remembers it,
    else as B shows it. B's content never changes a known kind: calendars and clients drop X- properties, and
    an order line must not turn into a plain event because Outlook rewrote it."""
    seen_a, seen_b = a.seen.get(ident), b.seen.get(ident)
    if seen_a is not None and seen_a.content is not None:
        return seen_a.kind
    if link is not None and link.kind:
        return link.kind
    if seen_b is not None and seen_b.content is not None:
        return seen_b.kind
    return ""


def decide(ident: str, sa: State, sb: State, a: SideView, b: SideView, policy: PairPolicy,
           mode: Mode | None = None) -> Action | None:  # fmt: skip
    """One row of the table: the action for one item given its state on both sides, in ``mode`` (by default
    the pair's; ``plan`` passes the mode of the item's kind)."""
    if State.OUTSIDE in (sa, sb):
        if State.GONE in (sa, sb):
            return Action(ActionKind.UNLINK, ident, rule="deleted; the other copy is outside the window: kept")
        if State.CHANGED not in (sa, sb):
            return Action(ActionKind.PARK, ident, rule="left the sync window: unlinked, both copies kept", park=WINDOW)
        # one copy aged out unchanged, the other was edited (moved back into the window, say): the edit wins
        sa, sb = (State.SAME if sa is State.OUTSIDE else sa), (State.SAME if sb is State.OUTSIDE else sb)
    mode = mode or policy.mode
    source = mode.source
    if source is None:
        action = _two_way(ident, sa, sb, a, b, policy)
    else:
        action = _one_way(ident, sa if source is Side.A else sb, sb if source is Side.A else sa, source, a, b, policy,
                          mode)  # fmt: skip
    if action is not None and action.kind in (ActionKind.CREATE, ActionKind.UPDATE):
        view = a if action.source is Side.A else b
        seen = view.seen.get(ident)
        if seen is not None and seen.leaves_window:
            return Action(
                action.kind,
                ident,
                action.target,
                action.rule + "; then unlinked (left the window)",
                action.conflict,
                park_after=True,
            )
    return action


def _two_way(ident: str, sa: State, sb: State, a: SideView, b: SideView, policy: PairPolicy) -> Action | None:
    pair = (sa, sb)
    if pair == (State.NEW, State.ABSENT):
        return Action(ActionKind.CREATE, ident, Side.B, "new on A")
    if pair == (State.ABSENT, State.NEW):
        return Action(ActionKind.CREATE, ident, Side.A, "new on B")
    if pair in ((State.NEW, State.NEW), (State.CHANGED, State.CHANGED)):
        return _both(ident, sa, a, b, policy)
    if pair == (State.CHANGED, State.SAME):
        return Action(ActionKind.UPDATE, ident, Side.B, "changed on A")
    if pair == (State.SAME, State.CHANGED):
        return Action(ActionKind.UPDATE, ident, Side.A, "changed on B")
    if pair == (State.GONE, State.SAME):
        return _deletion(ident, Side.B, "deleted on A", policy)
    if pair == (State.SAME, State.GONE):
        return _deletion(ident, Side.A, "deleted on B", policy)
    if pair == (State.GONE, State.CHANGED):
        return Action(ActionKind.CREATE, ident, Side.A, "deleted on A but changed on B: the edit is kept")
    if pair == (State.CHANGED, State.GONE):
        return Action(ActionKind.CREATE, ident, Side.B, "deleted on B but changed on A: the edit is kept")
    if pair == (State.GONE, State.GONE):
        return Action(ActionKind.UNLINK, ident, rule="deleted on both sides")
    return None  # SAME/SAME needs nothing; ABSENT/ABSENT cannot happen (the ident came from somewhere)


def _one_way(
    ident: str, s: State, t: State, source: Side, a: SideView, b: SideView, policy: PairPolicy, mode: Mode
) -> Action | None:
    target = source.other
    src, tgt = source.value.upper(), target.value.upper()
    if (s, t) == (State.NEW, State.ABSENT):
        return Action(ActionKind.CREATE, ident, target, f"new on {src}")
    if (s, t) == (State.ABSENT, State.NEW):
        if mode.merge:
            return None
        return _deletion(ident, target, f"only on {tgt}, which mirrors {src}", policy, unlinked=True)
    if (s, t) in ((State.NEW, State.NEW), (State.CHANGED, State.CHANGED)):
        if _equal(ident, a, b):
            return Action(ActionKind.LINK, ident, rule="same content on both sides")
        return Action(ActionKind.UPDATE, ident, target, f"{src} is the source: {tgt}'s version replaced")
    if (s, t) == (State.CHANGED, State.SAME):
        return Action(ActionKind.UPDATE, ident, target, f"changed on {src}")
    if (s, t) == (State.SAME, State.CHANGED):
        return Action(ActionKind.UPDATE, ident, target, f"{src} is the source: edit on {tgt} overwritten")
    if s is State.GONE and t in (State.SAME, State.CHANGED):
        return _deletion(ident, target, f"deleted on {src}", policy)
    if s in (State.SAME, State.CHANGED) and t is State.GONE:
        return Action(ActionKind.CREATE, ident, target, f"{src} is the source: deletion on {tgt} re-created")
    if (s, t) == (State.GONE, State.GONE):
        return Action(ActionKind.UNLINK, ident, rule="deleted on both sides")
    return None


def _both(ident: str, state: State, a: SideView, b: SideView, policy: PairPolicy) -> Action:
    """Both sides are new or both changed: equal content links, different content is a conflict."""
    if _equal(ident, a, b):
        return Action(ActionKind.LINK, ident, rule="same content on both sides")
    winner = resolve(policy.conflict, a.seen[ident].modified, b.seen[ident].modified)
    what = "created on both sides" if state is State.NEW else "changed on both sides"
    return Action(
        ActionKind.UPDATE,
        ident,
        winner.other,
        f"conflict ({what}): {winner.value.upper()} wins by {policy.conflict.value}",
        conflict=True,
    )


def resolve(policy: ConflictPolicy, modified_a: float | None, modified_b: float | None) -> Side:
    """The winning side of a conflict; on a tie or an unknown time, A (the system of record) wins."""
    if policy is ConflictPolicy.B_WINS:
        return Side.B
    if policy is ConflictPolicy.NEWEST_WINS and modified_a is not None and modified_b is not None:
        return Side.B if modified_b > modified_a else Side.A
    return Side.A


def _deletion(ident: str, target: Side, why: str, policy: PairPolicy, *, unlinked: bool = False) -> Action | None:
    if policy.may_delete(target):
        return Action(ActionKind.DELETE, ident, target, why)
    if unlinked:
        return None
    return Action(
        ActionKind.PARK,
        ident,
        rule=f"{why}; deletions on {target.value.upper()} are off: unlinked, the copy there is kept",
        park=target.other.value,
    )


def _equal(ident: str, a: SideView, b: SideView) -> bool:
    return a.seen[ident].digest == b.seen[ident].digest


def _moved(ident: str, link: Link, a: SideView, b: SideView) -> bool:
    """Whether an unchanged item shows a new version or href that the link should record."""
    for seen, status in ((a.seen.get(ident), link.a), (b.seen.get(ident), link.b)):
        if seen is not None and (seen.ref.version != status.version or seen.ref.href != status.href):
            return True
    return False


def guard_read_only(action: Action, policy: PairPolicy) -> Action:
    if action.writes and action.target is not None and policy.read_only(action.target):
        return Action(
            ActionKind.SKIP,
            action.ident,
            action.target,
            f"{action.rule}; not done: {action.target.value.upper()} is read-only",
        )
    return action
