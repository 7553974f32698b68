"""One pair's state in a run (links, checkpoints, sync tokens), on SQLite and PostgreSQL alike (every
``store``/``backend`` test runs on both)."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, update

from calsync.errors import LeaseLost, StateError
from calsync.model.refs import Side
from calsync.state import sql
from calsync.state.sql import SQLStore
from calsync.state.store import NO_STATUS, Link, PairState, Pending, Rebound, changed_sides
from calsync.state.tables.sync import links, shelved_links, sync_tokens
from tests.state.conftest import Backend, make_link, stored_links

# -- links ---------------------------------------------------------------------------------------------------


def test_links_round_trip(store: SQLStore) -> None:
    recorded = {ident: make_link(ident) for ident in ("one", "two", "ünïcode@example.com")}
    with store.open_pair("p") as state:
        assert state.links() == {}
        for link in recorded.values():
            state.put_link(link)
    assert stored_links(store) == recorded


def test_a_pending_write_round_trips_and_clears(store: SQLStore) -> None:
    confirmed = make_link("x")
    creating = Link("x", confirmed.a, NO_STATUS, Pending(Side.B, confirmed.a, "digest-being-written"))
    updating = replace(confirmed, pending=Pending(Side.A, confirmed.b, "other-digest"))
    with store.open_pair("p") as state:
        state.put_link(creating)
        state.put_link(make_link("plain"))
    assert stored_links(store) == {"x": creating, "plain": make_link("plain")}
    with store.open_pair("p") as state:
        state.put_link(updating)
    assert stored_links(store)["x"] == updating
    with store.open_pair("p") as state:
        state.put_link(confirmed)
    assert stored_links(store)["x"] == confirmed


def test_put_link_replaces_and_drop_link_forgets(store: SQLStore) -> None:
    with store.open_pair("p") as state:
        state.put_link(make_link("kept"))
        state.put_link(make_link("changed"))
        state.put_link(make_link("dropped"))
    with store.open_pair("p") as state:
        state.put_link(make_link("changed", version="2"))
        state.drop_link("dropped")
        state.drop_link("never-existed")
    assert stored_links(store) == {"kept": make_link("kept"), "changed": make_link("changed", "2")}


def test_links_shows_what_is_recorded_but_not_yet_checkpointed(store: SQLStore) -> None:
    with store.open_pair("p") as state:
        state.put_link(make_link("old"))
    with store.open_pair("p") as state:
        state.drop_link("old")
        state.put_link(make_link("new"))
        state.put_link(make_link("put-then-dropped"))
        state.drop_link("put-then-dropped")
        assert state.links() == {"new": make_link("new")}


def test_pairs_do_not_share_links_or_tokens(store: SQLStore) -> None:
    with store.open_pair("first") as state:
        state.put_link(make_link("same-ident", version="first"))
        state.set_token(Side.A, "first-token")
    with store.open_pair("second") as state:
        state.put_link(make_link("same-ident", version="second"))
    assert stored_links(store, "first") == {"same-ident": make_link("same-ident", "first")}
    assert stored_links(store, "second") == {"same-ident": make_link("same-ident", "second")}
    with store.open_pair("second") as state:
        assert state.token(Side.A) is None


def test_loading_links_leaves_the_garbage_collector_as_it_was(store: SQLStore) -> None:
    with store.open_pair("p") as state:
        state.put_link(make_link("x"))
        state.checkpoint()
        assert gc.isenabled()
        assert state.links() == {"x": make_link("x")}
        assert gc.isenabled()
        gc.disable()
        try:
            state.links()
            assert not gc.isenabled()
        finally:
            gc.enable()


def test_ten_thousand_links_round_trip(store: SQLStore) -> None:
    recorded = {f"item-{n:05d}@example.com": make_link(f"item-{n:05d}@example.com") for n in range(10_000)}
    with store.open_pair("big") as state:
        for link in recorded.values():
            state.put_link(link)
        state.checkpoint()
        for ident in list(recorded)[::2]:
            state.drop_link(ident)
    assert stored_links(store, "big") == {ident: recorded[ident] for ident in list(recorded)[1::2]}


# -- checkpoints ---------------------------------------------------------------------------------------------


def test_an_exception_loses_only_what_came_after_the_last_checkpoint(store: SQLStore) -> None:
    with store.open_pair("p") as state:
        state.put_link(make_link("before"))
        state.set_token(Side.A, "token-1")
    with pytest.raises(RuntimeError, match="crash"), store.open_pair("p") as state:
        state.put_link(make_link("checkpointed"))
        state.checkpoint()
        state.put_link(make_link("lost"))
        state.put_link(make_link("before", version="lost"))
        state.drop_link("checkpointed")
        state.set_token(Side.A, "token-lost")
        raise RuntimeError("crash")
    with store.open_pair("p") as state:
        assert state.links() == {"before": make_link("before"), "checkpointed": make_link("checkpointed")}
        assert state.token(Side.A) == "token-1"


def test_checkpoint_commits_links_and_tokens_together(backend: Backend, store: SQLStore) -> None:
    with store.open_pair("p") as state:
        state.put_link(make_link("x"))
        state.set_token(Side.B, "t")
        assert backend.scalar("SELECT count(*) FROM links") == 0
        state.checkpoint()
        assert backend.scalar("SELECT count(*) FROM links") == 1
        assert backend.scalar("SELECT token FROM sync_tokens") == "t"


def test_checkpoint_stamps_what_it_writes_in_utc(backend: Backend, store: SQLStore) -> None:
    before = datetime.now(UTC)
    with store.open_pair("p") as state:
        state.put_link(make_link("x"))
        state.set_token(Side.A, "t")
    for column in (links.c.updated_at, sync_tokens.c.updated_at):
        stamp = backend.scalar(select(column))
        assert stamp.tzinfo is UTC
        assert before - timedelta(seconds=5) <= stamp <= datetime.now(UTC) + timedelta(seconds=5)


# -- tokens --------------------------------------------------------------------------------------------------


def test_tokens_are_per_side_and_can_be_cleared(store: SQLStore) -> None:
    with store.open_pair("p") as state:
        assert state.token(Side.A) is None
        state.set_token(Side.A, "sync-a")
        state.set_token(Side.B, "sync-b")
        assert state.token(Side.A) == "sync-a"
    with store.open_pair("p") as state:
        assert (state.token(Side.A), state.token(Side.B)) == ("sync-a", "sync-b")
        state.set_token(Side.A, "sync-a2")
        state.set_token(Side.B, None)
    with store.open_pair("p") as state:
        assert (state.token(Side.A), state.token(Side.B)) == ("sync-a2", None)


def test_a_one_megabyte_token_round_trips(store: SQLStore) -> None:
    token = '{"delta": "' + "ünï-" * 262_144 + '"}'
    assert len(token.encode()) > 1_000_000
    with store.open_pair("p") as state:
        state.set_token(Side.B, token)
    with store.open_pair("p") as state:
        assert state.token(Side.B) == token


# -- binding -------------------------------------------------------------------------------------------------


def _filled(store: SQLStore, collections: str | None = None) -> None:
    with store.open_pair("p") as state:
        if collections is not None:
            state.bind(collections)
        state.put_link(make_link("one"))
        state.set_token(Side.B, "token-b")


def test_a_pair_made_before_binding_is_bound_as_it_is_with_its_links_trusted(store: SQLStore) -> None:
    _filled(store)
    with store.open_pair("p") as state:
        assert state.bind("A: tech1/events\nB: tech1") is None
        assert (list(state.links()), state.token(Side.B)) == (["one"], "token-b")
    with store.open_pair("p") as state:  # bound now: the same collections keep everything
        assert state.bind("A: tech1/events\nB: tech1") is None
        assert list(state.links()) == ["one"]
    with store.open_pair("p") as state:  # another case is another collection (a CalDAV path, a folder)
        assert state.bind("A: tech1/events\nB: TECH1") == Rebound("A: tech1/events\nB: tech1")
        assert state.links() == {}


def test_a_pair_bound_to_other_collections_starts_afresh(store: SQLStore) -> None:
    """Links name the items of the collections they were made with: kept for a user's new mailbox, every one
    of them read as deleted there."""
    _filled(store, "A: tech1/events\nB: tech1")
    with store.open_pair("other") as other:  # another pair's state is not touched
        other.bind("A: x\nB: y")
        other.put_link(make_link("two"))
    with store.open_pair("p") as state:
        assert state.bind("A: tech1/events\nB: tech1-new", dry_run=True) == Rebound("A: tech1/events\nB: tech1")
        assert (state.links(), state.token(Side.B), state.census().links) == ({}, None, 0)
    with store.open_pair("p") as state:  # the dry run changed nothing
        assert (list(state.links()), state.token(Side.B)) == (["one"], "token-b")
        assert state.bind("A: tech1/events\nB: tech1-new") == Rebound("A: tech1/events\nB: tech1")
        assert (state.links(), state.token(Side.B)) == ({}, None)
    with store.open_pair("p") as state:
        assert state.bind("A: tech1/events\nB: tech1-new") is None
        assert (state.links(), state.token(Side.B)) == ({}, None)
    with store.open_pair("other") as other:
        assert list(other.links()) == ["two"]


def test_a_pair_back_on_collections_it_synced_before_takes_up_its_links_there(
    store: SQLStore, backend: Backend
) -> None:
    """A user moved to another mailbox and back: the links made with the earlier one are kept apart meanwhile and
    taken up again, so the copies left there are still known as copies (one of an item deleted meanwhile is then
    deleted there like any linked copy, not imported again). Tokens are not kept: the first run back reads all."""
    old, new = "A: tech1/events\nB: tech1", "A: tech1/events\nB: tech1-new"
    _filled(store, old)
    with store.open_pair("p") as state:
        state.put_link(replace(make_link("two"), parked="a"))  # every column is kept
    with store.open_pair("p") as state:
        assert state.bind(new) == Rebound(old, 0)
        state.put_link(make_link("three"))
        state.set_token(Side.B, "token-new")
    with store.open_pair("p") as state:  # a dry run back reads the links it would take up, and writes nothing
        assert state.bind(old, dry_run=True) == Rebound(new, 2)
        assert (sorted(state.links()), state.census().links, state.token(Side.B)) == (["one", "two"], 2, None)
    assert backend.scalar("SELECT COUNT(*) FROM shelved_links") == 2
    with store.open_pair("p") as state:
        assert state.bind(old) == Rebound(new, 2)
        assert sorted(state.links()) == ["one", "two"] and state.links()["two"].parked == "a"
        assert state.links()["one"] == replace(make_link("one"), away="b")
        assert state.token(Side.B) is None
    with store.open_pair("p") as state:
        assert state.bind(old) is None
    with store.open_pair("p") as state:  # and forth again: the new mailbox's links come back in turn
        assert state.bind(new) == Rebound(old, 1)
        assert list(state.links()) == ["three"]
    assert backend.scalar("SELECT COUNT(*) FROM shelved_links") == 2  # each binding's links kept once
    with store.open_pair("other") as other:
        other.bind("A: x\nB: y")
    assert backend.scalar("SELECT COUNT(*) FROM shelved_links") == 2  # another pair's binding shelves nothing


def test_links_taken_up_are_marked_away_from_the_sides_that_changed_until_written_without(
    store: SQLStore, backend: Backend
) -> None:
    """The mark goes to the shelf and back with the rest of the link, is read as it would be by a dry run, is
    added to one a link still had, given to a link parked outside the window but never to one parked for a
    deletion, and goes when a run writes the link without."""
    first, second, third = "A: tech1/events\nB: tech1", "A: tech1/events\nB: tech1-new", "A: other/events\nB: tech1"
    _filled(store, first)
    with store.open_pair("p") as state:
        state.put_link(replace(make_link("parked"), parked="window"))
        state.put_link(replace(make_link("deleted"), parked="b"))
        state.put_link(replace(make_link("marked"), away="a"))  # still marked from an earlier way back
    with store.open_pair("p") as state:
        state.bind(second)
    with store.open_pair("p") as state:
        state.bind(first, dry_run=True)
        assert {ident: link.away for ident, link in state.links().items()} == {
            "one": "b",
            "parked": "b",
            "deleted": "",
            "marked": "ab",
        }
    with store.open_pair("p") as state:
        state.bind(first)
        assert {ident: link.away for ident, link in state.links().items()} == {
            "one": "b",
            "parked": "b",
            "deleted": "",
            "marked": "ab",
        }
        state.put_link(replace(state.links()["one"], away=""))  # seen in sync
    assert {ident: link.away for ident, link in stored_links(store).items()} == {
        "one": "",
        "parked": "b",
        "deleted": "",
        "marked": "ab",
    }
    with store.open_pair("p") as state:
        state.bind(third)  # the links go to the shelf marked as they are
    assert backend.scalar("SELECT away FROM shelved_links WHERE ident = 'marked'") == "ab"
    with store.open_pair("p") as state:
        state.bind(first)
        assert {ident: link.away for ident, link in state.links().items()} == {
            "one": "a",
            "parked": "ab",
            "deleted": "",
            "marked": "ab",
        }
        state.put_link(replace(make_link("new"), away="b"))
        state.put_link(replace(state.links()["marked"], pending=Pending(Side.B, make_link("marked").a, "d")))
    kept = stored_links(store)
    assert (kept["new"].away, kept["marked"].away, kept["marked"].pending is not None) == ("b", "ab", True)


def test_the_sides_a_pair_came_back_to_are_those_whose_binding_changed() -> None:
    assert changed_sides("A: a:cal\nB: b:old", "A: a:cal\nB: b:new") == "b"
    assert changed_sides("A: a:old\nB: b:cal", "A: a:new\nB: b:cal") == "a"
    assert changed_sides("A: a:one\nB: b:cal", "A: a:two\nB: b:other") == "ab"
    assert changed_sides("something else", "another key") == "ab"


def test_what_a_pair_is_bound_to_is_read_without_making_the_pair(store: SQLStore, backend: Backend) -> None:
    assert store.bound_to("p") is None
    assert backend.scalar("SELECT COUNT(*) FROM pairs") == 0
    _filled(store)
    assert store.bound_to("p") is None  # made before binding
    with store.open_pair("p") as state:
        state.bind("A: tech1/events\nB: /tech1/work/")
    with store.open_pair("p") as state:
        state.bind("A: tech1/events\nB: /tech1/other/", dry_run=True)
    assert store.bound_to("p") == "A: tech1/events\nB: /tech1/work/"


def test_the_bindings_of_pairs_named_with_a_prefix_are_read_at_once(store: SQLStore, backend: Backend) -> None:
    """Exact prefix, case and all (SQLite's LIKE is blind to case): ``acme/`` is not ``ACME/`` nor ``acme-2/``."""
    for name in ("acme/anna/events", "acme/bob/events", "ACME/anna/events", "acme-2/anna/events", "acme_x/a/b"):
        with store.open_pair(name) as state:
            state.bind(f"A: x\nB: {name}")
    with store.open_pair("acme/never/events"):
        pass  # made, never bound: left out
    pairs = backend.scalar("SELECT COUNT(*) FROM pairs")
    assert store.bindings("acme/") == {
        "acme/anna/events": "A: x\nB: acme/anna/events",
        "acme/bob/events": "A: x\nB: acme/bob/events",
    }
    assert store.bindings("acme/bob/") == {"acme/bob/events": "A: x\nB: acme/bob/events"}
    assert store.bindings("nobody/") == {}
    assert backend.scalar("SELECT COUNT(*) FROM pairs") == pairs  # reading made no pair


def test_the_shelved_bindings_of_the_pairs_named_are_read_at_once_latest_first(
    store: SQLStore, backend: Backend
) -> None:
    """Latest shelved first: the collection a pair synced last on a server it comes back to. When its links
    were last written says nothing of that (links taken up and shelved again keep their times). Only the pairs
    named are read: an integration's shelves pile up with each move, and reading them all for the few pairs that
    need them cost a scan of every shelved link (hundreds of milliseconds at 600,000)."""
    for name in ("acme/anna/events", "ACME/anna/events", "acme-2/anna/events"):
        for where in ("first", "second", "third"):
            with store.open_pair(name) as state:
                state.bind(f"A: x\nB: {where}")
                state.put_link(make_link(where))
    with store.open_pair("acme/bob/events") as state:
        state.bind("A: x\nB: only")  # bound, nothing shelved: left out
    later = datetime.now(UTC) + timedelta(days=1)
    backend.scalar(update(shelved_links).where(shelved_links.c.bound_to == "A: x\nB: first").values(updated_at=later))
    pairs = backend.scalar("SELECT COUNT(*) FROM pairs")
    both = ["A: x\nB: second", "A: x\nB: first"]  # "second" was shelved when the pair moved on to "third"
    assert store.shelved_bindings(["acme/anna/events"]) == {"acme/anna/events": both}
    named = ["acme/anna/events", "acme-2/anna/events", "acme/bob/events", "nobody/anna/events"]
    assert store.shelved_bindings(named) == {"acme/anna/events": both, "acme-2/anna/events": both}
    assert store.shelved_bindings(["Acme/anna/events"]) == {}  # names are compared case and all
    assert store.shelved_bindings([]) == {}
    assert backend.scalar("SELECT COUNT(*) FROM pairs") == pairs  # reading made no pair
    for where in ("first", "third"):  # back to "first", then on: "first" is the latest shelved now
        with store.open_pair("acme/anna/events") as state:
            state.bind(f"A: x\nB: {where}")
    assert store.shelved_bindings(["acme/anna/events"]) == {"acme/anna/events": ["A: x\nB: first", both[0]]}


def test_the_shelved_bindings_of_many_pairs_are_read_some_thousands_of_names_a_query(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL takes at most 65,535 parameters in a statement: an integration with more users than that had
    their shelves read in one query naming them all, and refused. Now ``_NAMES_PER_QUERY`` names a query (two
    here), each pair's order as in one query; names as many as that still take one."""
    names = [f"acme/U{number}/events" for number in range(5)]
    for name in names:
        for where in ("first", "second", "third"):
            with store.open_pair(name) as state:
                state.bind(f"A: x\nB: {where}")
                state.put_link(make_link(where))
    monkeypatch.setattr(sql, "_NAMES_PER_QUERY", 2)
    with _shelf_reads() as reads:
        found = store.shelved_bindings([*names, "nobody/U1/events"])
    assert found == {name: ["A: x\nB: second", "A: x\nB: first"] for name in names}
    assert reads == [2, 2, 2]
    with _shelf_reads() as reads:
        assert sorted(store.shelved_bindings(names[:2])) == names[:2]
    assert reads == [2]


@contextmanager
def _shelf_reads() -> Iterator[list[int]]:
    """How many pairs each query on the shelved links inside the block names."""
    reads: list[int] = []

    def seen(_conn: object, _cursor: object, statement: str, parameters: Sequence[object], *_: object) -> None:
        if "shelved_links" in statement:
            reads.append(len(parameters))

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        yield reads
    finally:
        event.remove(Engine, "before_cursor_execute", seen)


def test_a_pair_keeps_every_shelf_however_old_until_it_binds_back_to_it(store: SQLStore, backend: Backend) -> None:
    """A copy left without its link would be met as new on the pair's return: in a pair with no record of A's
    deletions, an item A deleted would come back. So no shelf goes for its age."""
    for where in ("old", "recent", "now"):
        with store.open_pair("p") as state:
            state.bind(f"A: x\nB: {where}")
            state.put_link(make_link(where))
    long_ago = datetime.now(UTC) - timedelta(days=3650)
    backend.scalar(update(shelved_links).where(shelved_links.c.bound_to == "A: x\nB: old").values(shelved_at=long_ago))
    with store.open_pair("p") as state:
        state.bind("A: x\nB: elsewhere")
    assert store.shelved_bindings(["p"]) == {"p": ["A: x\nB: now", "A: x\nB: recent", "A: x\nB: old"]}
    with store.open_pair("p") as state:
        rebound = state.bind("A: x\nB: old")  # back after ten years: taken up
        assert rebound is not None and rebound.resumed == 1 and list(state.links()) == ["old"]


REMOVED = "the sync state of pair p was removed while this run held it"


@pytest.mark.parametrize(
    "step",
    [
        lambda state: state.bind("A: a\nB: b"),
        lambda state: state.bind("A: a\nB: b", dry_run=True),
        lambda state: (state.put_link(make_link("two")), state.checkpoint()),
        lambda state: (state.set_token(Side.A, "token-2"), state.checkpoint()),
    ],
    ids=["bind", "dry-bind", "link", "token"],
)
def test_a_pair_removed_while_a_run_holds_it_fails_that_run_saying_so(
    store: SQLStore, backend: Backend, step: Callable[[PairState], object]
) -> None:
    """An admin's move forgets a pair no run has bound yet, and removing a user or integration takes its pairs,
    whichever run holds one. That run failed on the first statement to meet the missing row, in the database's
    words (a foreign key; "No row was found when one was required" from ``bind``). It says what happened now,
    and records nothing for the pair that is gone."""
    with store.open_pair("p") as state:
        state.put_link(make_link("one"))
    with store.open_pair("p") as state:
        for table in ("links", "pairs"):  # as the admin's removal, by cascade
            backend.scalar(f"DELETE FROM {table}")
        with pytest.raises(StateError, match=REMOVED) as failed:
            step(state)
        assert "next run starts afresh" in str(failed.value)
        state.discard()
    assert backend.scalar("SELECT COUNT(*) FROM pairs") == 0
    assert backend.scalar("SELECT COUNT(*) FROM links") == backend.scalar("SELECT COUNT(*) FROM sync_tokens") == 0


def test_a_run_that_lost_its_lease_drops_nothing_when_binding(store: SQLStore, backend: Backend) -> None:
    _filled(store, "A: a\nB: b")
    with store.lock_pair("p", "run-1", ttl_seconds=60), store.open_pair("p") as state:
        backend.scalar("UPDATE locks SET owner = 'run-2'")  # taken over while this run stood still
        with pytest.raises(LeaseLost):
            state.bind("A: a\nB: elsewhere")
    with store.open_pair("p") as state:
        assert list(state.links()) == ["one"]


def test_an_admins_removal_during_a_checkpoint_waits_for_it_instead_of_deadlocking(
    store: SQLStore, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpoint deletes the links it drops, then writes the others; an admin removing the pair between the
    two waited for those rows while the checkpoint waited for the pair's row: PostgreSQL broke the deadlock by
    failing the checkpoint in its own words. The checkpoint takes the pair's row first now, as the removal does."""
    with store.open_pair("p") as state:
        state.put_link(make_link("x"))
    removed: list[str] = []

    def admin() -> None:
        backend.scalar("DELETE FROM pairs WHERE name = 'p'")  # as removing a user, or forgetting an unbound pair
        removed.append("p")

    write_links = store._db.upsert_many
    started: list[threading.Thread] = []

    def slowed(conn: Any, table: Any, keys: Any, rows: Any) -> Any:
        if table.name == "links" and not started:  # the drops are made; the admin comes before the puts
            started.append(threading.Thread(target=admin))
            started[0].start()
            time.sleep(0.5)
        return write_links(conn, table, keys, rows)

    monkeypatch.setattr(store._db, "upsert_many", slowed)
    with store.open_pair("p") as state:
        state.drop_link("x")
        state.put_link(make_link("y"))
        state.checkpoint()
    started[0].join(timeout=30)
    assert removed == ["p"] and backend.scalar("SELECT COUNT(*) FROM pairs") == 0
