"""The contract every connector passes: subclass ``ConnectorContract`` and provide the three hooks.

It checks what the engine relies on: guarded writes (a stale version is refused, never overwritten), creates
that are idempotent by key, incremental changes that report outside edits and deletions, tokens that absorb our
own writes, bulk reads that report one failure as a value, and read-only sides that refuse writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from calsync.connectors.base import Connector, Fetched, FetchFailed, Locating
from calsync.errors import AlreadyExists, NotFound, PreconditionFailed, ReadOnly
from calsync.model.content import Content
from calsync.model.refs import ItemRef
from calsync.model.window import Window
from tests.samples import event, task

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


class ConnectorContract:
    """Subclass and implement ``make``, ``put_external`` and ``remove_external``."""

    collection = "cal"
    refuses_second_identity = True
    """Whether a create of an identity another item holds at a name of its own is ``AlreadyExists`` naming that
    item. Set ``False`` only for a store that truly cannot tell (one that finds a retried create by calsync's own
    key alone), with the reason beside it: the engine then leaves two copies where a user's item met ours."""

    def make(self, *, read_only: bool = False) -> Connector:
        """A fresh connector whose collection ``self.collection`` exists and is empty."""
        raise NotImplementedError

    def put_external(self, connector: Connector, href: str, text: str) -> None:
        """Write an item as another client would (no guard)."""
        raise NotImplementedError

    def remove_external(self, connector: Connector, href: str) -> None:
        """Delete an item as another client would."""
        raise NotImplementedError

    @pytest.fixture
    def conn(self) -> Iterator[Connector]:
        yield self.make()

    def _get(self, conn: Connector, href: str) -> Fetched | FetchFailed:
        results = list(conn.get(self.collection, [href]))
        assert len(results) == 1
        return results[0]

    # -- creating ---------------------------------------------------------------------------------------------

    def test_create_then_get_returns_the_same_content(self, conn: Connector) -> None:
        content = Content.from_text(event("c1", "Boiler service"))
        ref = conn.create(self.collection, content, "c1")
        got = self._get(conn, ref.href)
        assert isinstance(got, Fetched)
        assert got.ref == ref
        assert got.content.ident == "c1"
        assert got.content.digest == content.digest

    def test_create_is_idempotent_by_key(self, conn: Connector) -> None:
        content = Content.from_text(event("c2"))
        first = conn.create(self.collection, content, "c2")
        again = conn.create(self.collection, Content.from_text(event("c2")), "c2")
        assert again.href == first.href
        assert [r.href for r in conn.list(self.collection, None)] == [first.href]

    def test_create_over_other_content_of_the_same_key_is_refused(self, conn: Connector) -> None:
        conn.create(self.collection, Content.from_text(event("c3", "first")), "c3")
        with pytest.raises(AlreadyExists):
            conn.create(self.collection, Content.from_text(event("c3", "second")), "c3")
        (only,) = conn.list(self.collection, None)
        got = self._get(conn, only.href)
        assert isinstance(got, Fetched) and got.content.facts.title == "first"

    def test_an_unrelated_item_at_the_keys_href_is_left_alone(self, conn: Connector) -> None:
        self.put_external(conn, "team-meeting.ics", event("dentist", "Dentist"))
        ref = conn.create(self.collection, Content.from_text(event("team-meeting", "Team")), "team-meeting")
        assert ref.href != "team-meeting.ics"
        assert conn.create(self.collection, Content.from_text(event("team-meeting", "Team")), "team-meeting") == ref
        titles = {}
        for result in conn.get(self.collection, ["team-meeting.ics", ref.href]):
            assert isinstance(result, Fetched)
            titles[result.ref.href] = result.content.facts.title
        assert titles == {"team-meeting.ics": "Dentist", ref.href: "Team"}

    def test_a_create_of_an_identity_held_at_another_href_names_that_item(self, conn: Connector) -> None:
        """As a CalDAV server refuses a second item of one UID (``no-uid-conflict``): the engine then reads that
        item and decides again, instead of leaving two copies of it in the calendar."""
        if not self.refuses_second_identity:
            pytest.skip("this store does not refuse a second item of one identity")
        self.put_external(conn, "users-own-name.ics", event("f3", "made in the calendar"))
        with pytest.raises(AlreadyExists) as raised:
            conn.create(self.collection, Content.from_text(event("f3", "from the other side")), "f3")
        assert raised.value.href == "users-own-name.ics"
        assert [ref.href for ref in conn.list(self.collection, None)] == ["users-own-name.ics"]

    def test_key_that_is_not_a_safe_name_still_creates_one_item(self, conn: Connector) -> None:
        key = "order/4711:line 2"
        ref = conn.create(self.collection, Content.from_text(event(key)), key)
        assert "/" not in ref.href
        assert conn.create(self.collection, Content.from_text(event(key)), key) == ref

    # -- guarded writes -----------------------------------------------------------------------------------------

    def test_update_with_the_current_version_replaces_the_item(self, conn: Connector) -> None:
        ref = conn.create(self.collection, Content.from_text(event("u1", "old")), "u1")
        new = conn.update(self.collection, ref, Content.from_text(event("u1", "new")))
        assert new.href == ref.href and new.version != ref.version
        got = self._get(conn, ref.href)
        assert isinstance(got, Fetched) and got.content.facts.title == "new"

    def test_update_with_a_stale_version_is_refused(self, conn: Connector) -> None:
        ref = conn.create(self.collection, Content.from_text(event("u2", "ours")), "u2")
        self.put_external(conn, ref.href, event("u2", "theirs"))
        with pytest.raises(PreconditionFailed):
            conn.update(self.collection, ref, Content.from_text(event("u2", "overwrite")))
        got = self._get(conn, ref.href)
        assert isinstance(got, Fetched) and got.content.facts.title == "theirs"

    def test_delete_with_a_stale_version_is_refused(self, conn: Connector) -> None:
        ref = conn.create(self.collection, Content.from_text(event("d1", "ours")), "d1")
        self.put_external(conn, ref.href, event("d1", "theirs"))
        with pytest.raises(PreconditionFailed):
            conn.delete(self.collection, ref)
        assert isinstance(self._get(conn, ref.href), Fetched)

    def test_delete_removes_and_a_second_delete_is_no_error(self, conn: Connector) -> None:
        ref = conn.create(self.collection, Content.from_text(event("d2")), "d2")
        conn.delete(self.collection, ref)
        got = self._get(conn, ref.href)
        assert isinstance(got, FetchFailed) and isinstance(got.error, NotFound)
        conn.delete(self.collection, ref)

    # -- reading ------------------------------------------------------------------------------------------------

    def test_get_reports_each_missing_item_as_a_value(self, conn: Connector) -> None:
        ref = conn.create(self.collection, Content.from_text(event("g1")), "g1")
        results = list(conn.get(self.collection, ["missing.ics", ref.href]))
        assert isinstance(results[0], FetchFailed) and isinstance(results[0].error, NotFound)
        assert isinstance(results[1], Fetched) and results[1].ref == ref

    def test_list_shows_every_item_with_its_version(self, conn: Connector) -> None:
        refs = {conn.create(self.collection, Content.from_text(event(f"l{i}")), f"l{i}") for i in range(3)}
        assert set(conn.list(self.collection, None)) == refs

    def test_list_with_a_window_keeps_what_overlaps_it(self, conn: Connector) -> None:
        inside = conn.create(self.collection, Content.from_text(event("w1", day="20261125")), "w1")
        outside = conn.create(self.collection, Content.from_text(event("w2", day="20270601")), "w2")
        listed = {r.href for r in conn.list(self.collection, Window.around(NOW, 30, 30))}
        assert inside.href in listed
        if conn.capabilities.filters_window:
            assert outside.href not in listed

    def test_discover_finds_the_collection(self, conn: Connector) -> None:
        conn.create(self.collection, Content.from_text(event("x1")), "x1")
        assert self.collection in {c.id for c in conn.discover()}

    # -- changes ------------------------------------------------------------------------------------------------

    def test_changes_without_a_token_list_everything(self, conn: Connector) -> None:
        ref = conn.create(self.collection, Content.from_text(event("t1")), "t1")
        changes = conn.changes(self.collection, None)
        assert changes.complete
        assert ref in changes.changed

    def test_changes_report_outside_edits_and_deletions(self, conn: Connector) -> None:
        kept = conn.create(self.collection, Content.from_text(event("t2")), "t2")
        edited = conn.create(self.collection, Content.from_text(event("t3")), "t3")
        token = conn.absorb_writes(self.collection, conn.changes(self.collection, None).token, [])
        self.put_external(conn, edited.href, event("t3", "edited elsewhere"))
        self.put_external(conn, "t4.ics", event("t4", "new elsewhere"))
        self.remove_external(conn, kept.href)
        changes = conn.changes(self.collection, token)
        changed = {r.href for r in changes.changed}
        if conn.capabilities.has_sync_token:
            assert {edited.href, "t4.ics"} <= changed
            assert kept.href in changes.deleted or (changes.complete and kept.href not in changed)
        else:
            assert changes.complete and kept.href not in changed

    def test_a_token_that_absorbed_our_writes_reports_them_unchanged(self, conn: Connector) -> None:
        token = conn.changes(self.collection, None).token
        ref = conn.create(self.collection, Content.from_text(event("t5")), "t5")
        token = conn.absorb_writes(self.collection, token, [ref])
        changes = conn.changes(self.collection, token)
        for changed in changes.changed:
            if changed.href == ref.href:
                assert changed.version == ref.version  # reported, but recognisably our own write

    # -- read-only ----------------------------------------------------------------------------------------------

    def test_a_read_only_side_refuses_every_write(self) -> None:
        conn = self.make(read_only=True)
        self.put_external(conn, "r1.ics", event("r1"))
        (ref,) = conn.list(self.collection, None)
        with pytest.raises(ReadOnly):
            conn.create(self.collection, Content.from_text(event("r2")), "r2")
        with pytest.raises(ReadOnly):
            conn.update(self.collection, ref, Content.from_text(event("r1", "changed")))
        with pytest.raises(ReadOnly):
            conn.delete(self.collection, ItemRef(ref.href, ref.version))
        assert conn.list(self.collection, None) == [ref]


class LocatingContract(ConnectorContract):
    """The contract of connectors that are also ``Locating``: subclass it instead of ``ConnectorContract``.

    The engine trusts an identity left out of ``locate``'s answer to be deleted, so these check that every item
    is found wherever it lies (at a name of the user's, far outside any window, a task as well as an event), and
    that only what the collection does not hold is left out.
    """

    holds_tasks = True
    """False for a collection of events only (an Exchange or Graph calendar): its tasks live in another folder."""

    def test_locate_finds_items_at_any_name_and_any_date(self, conn: Connector) -> None:
        assert isinstance(conn, Locating)
        self.put_external(conn, "users-own-name.ics", event("moved-far", day="20290301"))
        self.put_external(conn, "old.ics", event("behind", day="20200115"))
        ours = conn.create(self.collection, Content.from_text(event("in-window")), "in-window")
        found = conn.locate(self.collection, ["moved-far", "behind", "in-window", "never-there"])
        assert found == {"moved-far": "users-own-name.ics", "behind": "old.ics", "in-window": ours.href}

    def test_locate_finds_tasks(self, conn: Connector) -> None:
        if not self.holds_tasks:
            pytest.skip("this collection holds events only")
        assert isinstance(conn, Locating)
        self.put_external(conn, "todo-1.ics", task("call-back", due="20300101"))
        assert conn.locate(self.collection, ["call-back"]) == {"call-back": "todo-1.ics"}

    def test_locate_leaves_out_what_was_deleted(self, conn: Connector) -> None:
        assert isinstance(conn, Locating)
        ref = conn.create(self.collection, Content.from_text(event("short-lived")), "short-lived")
        conn.delete(self.collection, ref)
        assert conn.locate(self.collection, ["short-lived"]) == {}
        assert conn.locate(self.collection, []) == {}
