"""The decision table of ``plan()``, row by row, without any store."""

from __future__ import annotations

from dataclasses import replace

import pytest

from calsync.model.content import Content
from calsync.model.item import ItemKind
from calsync.model.refs import ItemRef, Side
from calsync.state.store import NO_STATUS, Link, SideStatus
from calsync.sync.plan import Action, ActionKind, Seen, SideView, State, plan, resolve
from calsync.sync.rules import ConflictPolicy, ItemRules, MassDeleteGuard, Mode, PairPolicy
from tests.samples import event

A, B = Side.A, Side.B
N, S, C, G, OUT, X = State.NEW, State.SAME, State.CHANGED, State.GONE, State.OUTSIDE, State.ABSENT
LINKED = {S, C, G, OUT}


def views(
    sa: State, sb: State, *, equal: bool = False, modified: tuple[float, float] = (1.0, 2.0)
) -> tuple[dict[str, Link], SideView, SideView]:
    """Links and views in which item ``i`` is in state ``sa`` on A and ``sb`` on B."""
    links = {}
    if sa in LINKED or sb in LINKED:
        links["i"] = Link("i", SideStatus("a.ics", "va1", "d-old"), SideStatus("b.ics", "vb1", "d-old"))
    out = []
    for side, state, when in ((A, sa, modified[0]), (B, sb, modified[1])):
        view = SideView()
        href = f"{side.value}.ics"
        if state in (N, C):
            digest = "d-both" if equal else f"d-{side.value}"
            view.seen["i"] = Seen(ItemRef(href, f"v{side.value}2"), digest, when)
        elif state is G:
            view.gone.add("i")
        elif state is OUT:
            view.outside.add("i")
        out.append(view)
    return links, out[0], out[1]


def one(sa: State, sb: State, policy: PairPolicy | None = None, **kw: object) -> Action | None:
    links, a, b = views(sa, sb, **kw)  # type: ignore[arg-type]
    actions = plan(links, a, b, policy or PairPolicy())
    assert len(actions) <= 1
    return actions[0] if actions else None


def kind_target(action: Action | None) -> tuple[ActionKind, Side | None] | None:
    return None if action is None else (action.kind, action.target)


TWO_WAY_ROWS = [
    (N, X, (ActionKind.CREATE, B)),
    (X, N, (ActionKind.CREATE, A)),
    (C, S, (ActionKind.UPDATE, B)),
    (S, C, (ActionKind.UPDATE, A)),
    (G, S, (ActionKind.DELETE, B)),
    (S, G, (ActionKind.DELETE, A)),
    (G, C, (ActionKind.CREATE, A)),
    (C, G, (ActionKind.CREATE, B)),
    (G, G, (ActionKind.UNLINK, None)),
    (OUT, S, (ActionKind.PARK, None)),
    (S, OUT, (ActionKind.PARK, None)),
    (OUT, C, (ActionKind.UPDATE, A)),  # an edit beats a copy that aged out: it moved back into the window
    (C, OUT, (ActionKind.UPDATE, B)),
    (OUT, G, (ActionKind.UNLINK, None)),
    (S, S, None),
]


@pytest.mark.parametrize(("sa", "sb", "expected"), TWO_WAY_ROWS, ids=[f"{r[0]}-{r[1]}" for r in TWO_WAY_ROWS])
def test_two_way_row(sa: State, sb: State, expected: tuple[ActionKind, Side | None] | None) -> None:
    assert kind_target(one(sa, sb)) == expected


@pytest.mark.parametrize("state", [N, C])
def test_two_way_both_sides_with_equal_content_are_linked_without_writing(state: State) -> None:
    assert kind_target(one(state, state, equal=True)) == (ActionKind.LINK, None)


@pytest.mark.parametrize(
    ("policy", "winner"),
    [(ConflictPolicy.A_WINS, A), (ConflictPolicy.B_WINS, B), (ConflictPolicy.NEWEST_WINS, B)],
)
@pytest.mark.parametrize("state", [N, C])
def test_two_way_conflict_is_resolved_by_policy_and_flagged(state: State, policy: ConflictPolicy, winner: Side) -> None:
    action = one(state, state, PairPolicy(conflict=policy), modified=(1.0, 2.0))
    assert action is not None and action.conflict
    assert (action.kind, action.target) == (ActionKind.UPDATE, winner.other)
    assert "conflict" in action.rule


def test_newest_wins_falls_back_to_a_on_a_tie_or_unknown_time() -> None:
    assert resolve(ConflictPolicy.NEWEST_WINS, 5.0, 5.0) is A
    assert resolve(ConflictPolicy.NEWEST_WINS, None, 9.0) is A
    assert resolve(ConflictPolicy.NEWEST_WINS, 9.0, 1.0) is A


@pytest.mark.parametrize(("sa", "sb", "target"), [(G, S, B), (S, G, A)])
def test_deletion_with_deletes_switched_off_only_unlinks(sa: State, sb: State, target: Side) -> None:
    policy = PairPolicy(delete_on_a=target is not A, delete_on_b=target is not B)
    action = one(sa, sb, policy)
    assert kind_target(action) == (ActionKind.PARK, None)
    assert action is not None and "off" in action.rule and action.park == target.other.value


ONE_WAY_ROWS = [
    (Mode.A_TO_B, N, X, (ActionKind.CREATE, B)),
    (Mode.A_TO_B, X, N, (ActionKind.DELETE, B)),
    (Mode.A_TO_B_MERGE, X, N, None),
    (Mode.A_TO_B, C, S, (ActionKind.UPDATE, B)),
    (Mode.A_TO_B, S, C, (ActionKind.UPDATE, B)),
    (Mode.A_TO_B, C, C, (ActionKind.UPDATE, B)),
    (Mode.A_TO_B, N, N, (ActionKind.UPDATE, B)),
    (Mode.A_TO_B, G, S, (ActionKind.DELETE, B)),
    (Mode.A_TO_B, G, C, (ActionKind.DELETE, B)),
    (Mode.A_TO_B, S, G, (ActionKind.CREATE, B)),
    (Mode.A_TO_B, C, G, (ActionKind.CREATE, B)),
    (Mode.A_TO_B, G, G, (ActionKind.UNLINK, None)),
    (Mode.A_TO_B, OUT, S, (ActionKind.PARK, None)),
    (Mode.A_TO_B, S, S, None),
    (Mode.B_TO_A, X, N, (ActionKind.CREATE, A)),
    (Mode.B_TO_A, N, X, (ActionKind.DELETE, A)),
    (Mode.B_TO_A_MERGE, N, X, None),
    (Mode.B_TO_A, C, S, (ActionKind.UPDATE, A)),
    (Mode.B_TO_A, S, G, (ActionKind.DELETE, A)),
    (Mode.B_TO_A, G, S, (ActionKind.CREATE, A)),
]


@pytest.mark.parametrize(
    ("mode", "sa", "sb", "expected"), ONE_WAY_ROWS, ids=[f"{r[0]}-{r[1]}-{r[2]}" for r in ONE_WAY_ROWS]
)
def test_one_way_row(mode: Mode, sa: State, sb: State, expected: tuple[ActionKind, Side | None] | None) -> None:
    assert kind_target(one(sa, sb, PairPolicy(mode=mode))) == expected


def test_one_way_equal_content_on_both_sides_is_linked() -> None:
    assert kind_target(one(N, N, PairPolicy(mode=Mode.A_TO_B), equal=True)) == (ActionKind.LINK, None)


def test_one_way_target_only_item_with_deletes_off_is_left_alone() -> None:
    assert one(X, N, PairPolicy(mode=Mode.A_TO_B, delete_on_b=False)) is None


def test_a_write_to_a_read_only_side_becomes_a_skip() -> None:
    action = one(S, C, PairPolicy(read_only_a=True))
    assert action is not None and action.kind is ActionKind.SKIP and "read-only" in action.rule


def test_a_changed_item_that_left_the_window_is_copied_then_unlinked() -> None:
    links, a, b = views(C, S)
    seen = a.seen["i"]
    a.seen["i"] = Seen(seen.ref, seen.digest, seen.modified, leaves_window=True)
    (action,) = plan(links, a, b, PairPolicy())
    assert (action.kind, action.target, action.park_after) == (ActionKind.UPDATE, B, True)


def test_an_unchanged_item_that_left_the_window_is_parked() -> None:
    links, a, b = views(S, S)
    a.seen["i"] = Seen(ItemRef("a.ics", "va1"), "d-old", leaves_window=True)
    (action,) = plan(links, a, b, PairPolicy())
    assert (action.kind, action.park) == (ActionKind.PARK, "window")


def parked(state_a: State, state_b: State, how: str, **kw: object) -> Action | None:
    links, a, b = views(state_a, state_b, **kw)  # type: ignore[arg-type]
    link = links["i"]
    links["i"] = Link(link.ident, link.a, link.b, parked=how)
    actions = plan(links, a, b, PairPolicy())
    return actions[0] if actions else None


def test_a_tombstone_keeps_the_copy_from_being_copied_back() -> None:
    assert parked(S, C, "a") is None  # deleted on A; B's copy is the user's: never copied back
    action = parked(S, G, "a")
    assert action is not None and action.kind is ActionKind.UNLINK  # the last copy went: forget the tombstone


def test_an_item_back_on_the_side_it_was_deleted_from_after_the_kept_copy_went_is_new_there() -> None:
    """Forgetting the link alone would leave the item unsynced: no incremental run reads it again."""
    action = parked(C, G, "a")
    assert kind_target(action) == (ActionKind.CREATE, B)
    assert action is not None and action.rule.startswith("the copy kept on B is gone too; ")
    one_way = plan(*_parked_views(C, G, "a"), PairPolicy(mode=Mode.B_TO_A))
    assert [kind_target(x) for x in one_way] == [(ActionKind.DELETE, A)]  # B mirrors to A: as a full sync decides


def _parked_views(state_a: State, state_b: State, how: str) -> tuple[dict[str, Link], SideView, SideView]:
    links, a, b = views(state_a, state_b)
    links["i"] = replace(links["i"], parked=how)
    return links, a, b


def test_an_item_back_on_the_side_it_was_deleted_from_links_again() -> None:
    action = parked(C, S, "a")
    assert action is not None and (action.kind, action.target) == (ActionKind.UPDATE, B)


def _back_on_a_where_never_linked(digest: str, policy: PairPolicy, *, kept_edited: bool = False) -> Action | None:
    """Item ``i`` parked on A with no A status (B's copy, ``d-kept``, kept when A had deleted it before the pair
    linked it), now on A again holding ``digest``; B's copy unchanged since (not read) or edited (``d-edit``)."""
    links = {"i": Link("i", NO_STATUS, SideStatus("b.ics", "vb1", "d-kept"), parked="a")}
    a = SideView(seen={"i": Seen(ItemRef("a.ics", "va1"), digest, 1.0)})
    b = SideView(seen={"i": Seen(ItemRef("b.ics", "vb2"), "d-edit", 2.0)} if kept_edited else {})
    actions = plan(links, a, b, policy)
    assert len(actions) <= 1
    return actions[0] if actions else None


BACK_WHERE_NEVER_LINKED = [
    ("d-kept", False, PairPolicy(), (ActionKind.LINK, None), False),
    ("d-edit", True, PairPolicy(), (ActionKind.LINK, None), False),
    ("d-a", False, PairPolicy(), (ActionKind.UPDATE, B), True),
    ("d-a", False, PairPolicy(conflict=ConflictPolicy.B_WINS), (ActionKind.UPDATE, A), True),
    ("d-a", False, PairPolicy(conflict=ConflictPolicy.NEWEST_WINS), (ActionKind.UPDATE, B), True),  # B's time unknown
    ("d-a", True, PairPolicy(conflict=ConflictPolicy.NEWEST_WINS), (ActionKind.UPDATE, A), True),
    ("d-a", False, PairPolicy(mode=Mode.A_TO_B), (ActionKind.UPDATE, B), False),
]


@pytest.mark.parametrize(
    ("digest", "kept_edited", "policy", "expected", "conflict"),
    BACK_WHERE_NEVER_LINKED,
    ids=["equal", "equal-to-an-edit", "a-wins", "b-wins", "newest-b-unknown", "newest-b-edited", "a-to-b"],
)
def test_an_item_back_where_its_parked_link_never_held_it_is_new_on_both_sides(
    digest: str, kept_edited: bool, policy: PairPolicy, expected: tuple[ActionKind, Side | None], conflict: bool
) -> None:
    """Its state on A reads as changed (the link holds no digest there), but B's copy was kept as it was (maybe
    an edit): equal content links, different content is a conflict recorded as one, never a plain "changed on
    A" that overwrites the kept copy."""
    action = _back_on_a_where_never_linked(digest, policy, kept_edited=kept_edited)
    assert kind_target(action) == expected
    assert action is not None and action.conflict is conflict and "where it had no link" in action.rule


def test_a_link_parked_outside_the_window_syncs_again_when_an_edit_brings_it_back() -> None:
    assert parked(S, S, "window") is None
    action = parked(S, C, "window")
    assert action is not None and (action.kind, action.target) == (ActionKind.UPDATE, A)
    gone = parked(G, S, "window")
    assert gone is not None and gone.kind is ActionKind.UNLINK


def test_a_parked_item_edited_into_the_window_after_the_other_copy_went_is_new_there() -> None:
    """An edit beats a deletion, as for linked items (and as a full sync would find it); an unchanged copy does
    not bring the item back."""
    action = parked(G, C, "window")
    assert kind_target(action) == (ActionKind.CREATE, A)
    assert action is not None and action.rule.startswith("deleted while outside the window: forgotten, copy kept; ")
    assert kind_target(parked(G, S, "window")) == (ActionKind.UNLINK, None)


def test_a_link_parked_outside_the_window_records_a_new_version_of_unchanged_content_only() -> None:
    """So the sweep, which reads a parked item at another version than its link's, does not read it again; an
    edit outside the window is left for the sweep to bring when the item enters it."""
    links = {"i": Link("i", SideStatus("a.ics", "va1", "d-old"), SideStatus("b.ics", "vb1", "d-old"), parked="window")}
    rewritten = SideView(seen={"i": Seen(ItemRef("b.ics", "vb2"), "d-old", leaves_window=True)})
    (action,) = plan(links, SideView(), rewritten, PairPolicy())
    assert (action.kind, action.park, action.writes) == (ActionKind.PARK, "window", False)
    edited = SideView(seen={"i": Seen(ItemRef("b.ics", "vb2"), "d-edit", leaves_window=True)})
    assert plan(links, SideView(), edited, PairPolicy()) == []


def test_a_server_rewrite_with_the_same_digest_only_records_the_new_version() -> None:
    links, a, b = views(S, S)
    b.seen["i"] = Seen(ItemRef("b.ics", "vb-rewritten"), "d-old")
    (action,) = plan(links, a, b, PairPolicy())
    assert action.kind is ActionKind.LINK


def test_plan_is_ordered_by_identity() -> None:
    a = SideView(seen={i: Seen(ItemRef(f"{i}.ics", "v"), i) for i in ("c", "a", "b")})
    assert [x.ident for x in plan({}, a, SideView(), PairPolicy())] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("deletions", "total", "trips"),
    [(3, 4, False), (5, 9, True), (5, 10, False), (101, 100_000, True), (100, 100_000, False), (1, 1, False)],
)
def test_mass_delete_guard(deletions: int, total: int, trips: bool) -> None:
    assert MassDeleteGuard().trips(deletions, total) is trips


# -- a copy of an item A deleted, found on B with no link (ItemRules.deleted) ------------------------------------


def _deleted_on_a(
    policy: PairPolicy, *, last: str = "d-b", calendar_owned: bool = False, kinds: frozenset[ItemKind] = frozenset()
) -> Action | None:
    """Plan item ``i``, found only on B (digest ``d-b``) with no link, which A deleted holding ``last``."""
    links, a, b = views(X, N)
    content = Content.from_text(event("i"))
    b.seen["i"] = replace(b.seen["i"], content=content)
    owned = frozenset({"i"} if calendar_owned else ())
    rules = ItemRules(deleted={"i": last}, calendar_owned=owned, kinds=kinds, business_placed=frozenset())
    actions = plan(links, a, b, replace(policy, items=rules))
    assert len(actions) <= 1
    return actions[0] if actions else None


@pytest.mark.parametrize("mode", [Mode.TWO_WAY, Mode.A_TO_B_MERGE, Mode.A_TO_B])
def test_a_copy_of_what_a_deleted_is_deleted_on_b_not_imported(mode: Mode) -> None:
    """The pair started afresh (a user moved back to an earlier mailbox) after A deleted the item: B's copy holds
    what A held last, so it is what a linked copy deleted on A is (row G-S), also where a merge leaves B's own
    items alone."""
    action = _deleted_on_a(PairPolicy(mode=mode))
    assert kind_target(action) == (ActionKind.DELETE, B)
    assert action is not None and "this copy on B has no link" in action.rule


def test_a_copy_of_what_a_deleted_is_kept_unlinked_when_b_deletions_are_off() -> None:
    action = _deleted_on_a(PairPolicy(delete_on_b=False))
    assert action is not None and (action.kind, action.park) == (ActionKind.PARK, A.value)


def test_a_copy_that_differs_from_what_a_deleted_is_kept_and_left_alone() -> None:
    """An edit made on B, or an older version: no one can tell, so it is neither deleted nor imported."""
    action = _deleted_on_a(PairPolicy(), last="d-older")
    assert action is not None and (action.kind, action.park) == (ActionKind.PARK, A.value)
    assert "kept there, not synced" in action.rule


def test_a_copy_of_what_a_deleted_stays_when_b_is_the_source() -> None:
    assert kind_target(_deleted_on_a(PairPolicy(mode=Mode.B_TO_A))) == (ActionKind.CREATE, A)


def test_a_meeting_the_calendar_owns_is_never_deleted_for_a_deletion_on_a() -> None:
    action = _deleted_on_a(PairPolicy(), calendar_owned=True)
    assert action is not None and action.kind is ActionKind.PARK


def test_a_pair_never_deletes_a_copy_of_a_kind_it_does_not_carry() -> None:
    """A calendar holding events and tasks is read by the events pair and the tasks pair: each decides its own
    kinds, and the other's item is skipped as before."""
    action = _deleted_on_a(PairPolicy(), kinds=frozenset({ItemKind.TASK}))
    assert action is not None and action.kind is ActionKind.SKIP


def test_an_item_a_never_deleted_is_still_new_on_b() -> None:
    links, a, b = views(X, N)
    actions = plan(links, a, b, PairPolicy(items=ItemRules(deleted={"other": "d-b"})))
    assert [kind_target(x) for x in actions] == [(ActionKind.CREATE, A)]


def test_a_linked_copy_is_decided_by_its_link_whatever_a_deleted() -> None:
    """Only an unlinked copy is taken as deleted on A: a linked one's own states decide (an edit made on B after
    a deletion on A is kept, row G-C)."""
    links, a, b = views(G, C)
    actions = plan(links, a, b, PairPolicy(items=ItemRules(deleted={"i": "d-b"})))
    assert [kind_target(x) for x in actions] == [(ActionKind.CREATE, A)]
