"""Regressions: ways a sync could lose, resurrect or duplicate data that a review found, one test each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calsync.connectors.base import ChangeSet, Locating
from calsync.connectors.folder import FolderConnector
from calsync.connectors.memory import MemoryConnector
from calsync.errors import InvalidItem, Unavailable
from calsync.model.canonical import scan
from calsync.model.content import Content
from calsync.model.item import ItemKind
from calsync.model.refs import ItemRef, Side
from calsync.state.sql import SQLStore
from calsync.sync.engine import PairSpec, RunOptions, sync_pair
from calsync.sync.observe import Endpoint
from calsync.sync.rules import ConflictPolicy, ItemRules, MassDeleteGuard, Mode, PairPolicy
from tests.samples import event
from tests.state.conftest import stored_links

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
RUN = RunOptions(now=NOW)


class BlindMemoryConnector(MemoryConnector):
    """A store that cannot find items by identity (not ``Locating``): a connector that does not implement it."""

    locate = None  # type: ignore[assignment]


def memories(
    policy: PairPolicy | None = None, *, b_class: type[MemoryConnector] = MemoryConnector
) -> tuple[PairSpec, MemoryConnector, MemoryConnector]:
    a, b = MemoryConnector("a"), b_class("b")
    a.make_collection("cal")
    b.make_collection("cal")
    return PairSpec("mem", Endpoint(a, "cal"), Endpoint(b, "cal"), policy or PairPolicy(), (30, 30)), a, b


def title(conn: MemoryConnector, href: str) -> str:
    return scan(conn.texts("cal")[href]).facts.title


def test_a_create_never_overwrites_an_item_with_another_uid(store: SQLStore) -> None:
    spec, a, b = memories()
    a.put_raw("cal", "a-1.ics", event("team-meeting", "Team meeting"))
    b.put_raw("cal", "team-meeting.ics", event("dentist", "Dentist"))
    sync_pair(spec, store, RUN)
    uids = {scan(t).facts.ident for t in b.texts("cal").values()}
    assert "dentist" in uids


def test_an_edit_on_b_survives_a_run_where_a_was_unreadable(store: SQLStore) -> None:
    spec, a, b = memories()
    a.put_raw("cal", "e1.ics", event("e1", "original"))
    sync_pair(spec, store, RUN)
    b.put_raw("cal", "e1.ics", event("e1", "edited on B"))
    a.put_raw("cal", "e1.ics", "BEGIN:VCALENDAR\r\nGARBAGE\r\n")
    sync_pair(spec, store, RUN)
    a.put_raw("cal", "e1.ics", event("e1", "original"))
    sync_pair(spec, store, RUN)
    assert title(a, "e1.ics") == "edited on B"


def test_an_edit_is_not_dropped_because_the_other_copy_aged_out(store: SQLStore) -> None:
    spec, a, b = memories()
    a.put_raw("cal", "job.ics", event("job", "Repair", day="20261001"))
    sync_pair(spec, store, RunOptions(now=datetime(2026, 10, 20, 12, tzinfo=UTC)))
    b.put_raw("cal", "job.ics", event("job", "Repair", day="20261125"))
    for _ in range(2):
        sync_pair(spec, store, RunOptions(now=NOW, full=True))
    assert "20261125" in a.texts("cal")["job.ics"] and "20261125" in b.texts("cal")["job.ics"]


def test_a_bad_last_modified_does_not_fail_the_pair(store: SQLStore) -> None:
    spec, a, b = memories()
    a.put_raw("cal", "e1.ics", event("e1", "v1"))
    sync_pair(spec, store, RUN)
    a.put_raw("cal", "e1.ics", event("e1", "A", extra="LAST-MODIFIED:yesterday\r\n"))
    b.put_raw("cal", "e1.ics", event("e1", "B"))
    a.put_raw("cal", "e2.ics", event("e2"))
    sync_pair(spec, store, RUN)
    assert "e2.ics" in b.texts("cal")


def test_an_item_whose_numbers_overflow_is_one_failed_item_and_the_rest_syncs(store: SQLStore) -> None:
    spec, a, b = memories()
    overflow = event("e1").replace("DTEND;TZID=Europe/Berlin:20261123T100000", "DURATION:P99999999999W")
    a.put_raw("cal", "e1.ics", overflow)
    a.put_raw("cal", "e2.ics", event("e2"))
    report = sync_pair(spec, store, RUN)
    assert set(b.texts("cal")) == {"e2.ics"}
    assert [(line.href, line.outcome) for line in report.lines if line.outcome == "error"] == [("e1.ics", "error")]


def test_an_order_line_stays_owned_by_a_when_b_drops_the_kind(store: SQLStore) -> None:
    spec, a, b = memories(PairPolicy(kind_modes={ItemKind.ORDER_LINE: Mode.A_TO_B}))
    a.put_raw("cal", "o1.ics", event("o1", "Order line", extra="X-CALSYNC-KIND:order-line\r\n"))
    sync_pair(spec, store, RUN)
    b.put_raw("cal", "o1.ics", event("o1", "edited in Outlook"))
    sync_pair(spec, store, RUN)
    assert title(a, "o1.ics") == "Order line"


def test_a_deletion_on_a_is_not_undone_by_a_full_sync_when_deletes_on_b_are_off(store: SQLStore) -> None:
    spec, a, b = memories(PairPolicy(delete_on_b=False))
    a.put_raw("cal", "e1.ics", event("e1"))
    sync_pair(spec, store, RUN)
    assert "e1.ics" in b.texts("cal")
    a.remove_raw("cal", "e1.ics")
    sync_pair(spec, store, RUN)
    sync_pair(spec, store, RunOptions(now=NOW, full=True))
    assert a.texts("cal") == {}


def test_an_item_back_in_the_window_is_not_created_twice(store: SQLStore) -> None:
    spec, a, b = memories()
    b.put_raw("cal", "client-name.ics", event("u77", "Visit", day="20261201"))
    sync_pair(spec, store, RUN)
    a.put_raw("cal", "u77.ics", event("u77", "Visit", day="20270601"))
    sync_pair(spec, store, RUN)
    a.put_raw("cal", "u77.ics", event("u77", "Visit", day="20261202"))
    sync_pair(spec, store, RUN)
    assert len(b.texts("cal")) == 1


def mirror_with_extras(store: SQLStore) -> tuple[PairSpec, MemoryConnector, MemoryConnector]:
    """An A-to-B mirror that synced one item, and eight items made on B since (which the mirror deletes)."""
    spec, a, b = memories(PairPolicy(mode=Mode.A_TO_B))
    a.put_raw("cal", "keep.ics", event("keep"))
    sync_pair(spec, store, RUN)
    for i in range(8):
        b.put_raw("cal", f"s{i}.ics", event(f"s{i}"))
    return spec, a, b


def test_held_deletions_of_target_only_items_come_back(store: SQLStore) -> None:
    spec, _a, _b = mirror_with_extras(store)
    assert sync_pair(spec, store, RUN).b.held == 8
    assert sync_pair(spec, store, RUN).b.held == 8


def test_newest_wins_sees_a_newer_edit_of_one_occurrence(store: SQLStore) -> None:
    spec, a, b = memories(PairPolicy(conflict=ConflictPolicy.NEWEST_WINS))

    def series(t: str, lm: str, extra: str = "") -> str:
        return (
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:s1\r\n"
            f"DTSTAMP:20261101T080000Z\r\nLAST-MODIFIED:{lm}\r\nDTSTART:20261116T090000Z\r\n"
            f"DTEND:20261116T100000Z\r\nRRULE:FREQ=WEEKLY;COUNT=10\r\nSUMMARY:{t}\r\nEND:VEVENT\r\n"
            f"{extra}END:VCALENDAR\r\n"
        )

    a.put_raw("cal", "s1.ics", series("Weekly", "20261101T080000Z"))
    sync_pair(spec, store, RUN)
    a.put_raw("cal", "s1.ics", series("Renamed", "20261121T100000Z"))
    moved = (
        "BEGIN:VEVENT\r\nUID:s1\r\nRECURRENCE-ID:20261123T090000Z\r\nDTSTAMP:20261121T110000Z\r\n"
        "LAST-MODIFIED:20261121T110000Z\r\nDTSTART:20261123T140000Z\r\nDTEND:20261123T150000Z\r\n"
        "SUMMARY:Weekly\r\nEND:VEVENT\r\n"
    )
    b.put_raw("cal", "s1.ics", series("Weekly", "20261101T080000Z", moved))
    sync_pair(spec, store, RUN)
    assert "RECURRENCE-ID" in b.texts("cal")["s1.ics"]


class LosesAnswers(MemoryConnector):
    """Makes each write, then reports a timeout: the server applied it and its answer was lost."""

    lose = False

    def create(self, collection: str, content: Content, key: str) -> ItemRef:
        ref = super().create(collection, content, key)
        if self.lose:
            raise Unavailable("timed out waiting for the server's answer", connector=self.name)
        return ref

    def update(self, collection: str, ref: ItemRef, content: Content) -> ItemRef:
        new = super().update(collection, ref, content)
        if self.lose:
            raise Unavailable("timed out waiting for the server's answer", connector=self.name)
        return new


def losing_pair(policy: PairPolicy | None = None) -> tuple[PairSpec, LosesAnswers, LosesAnswers]:
    a, b = LosesAnswers("a"), LosesAnswers("b")
    a.make_collection("cal")
    b.make_collection("cal")
    spec = PairSpec("mem", Endpoint(a, "cal"), Endpoint(b, "cal"), policy or PairPolicy(), (30, 30))
    return spec, a, b


def test_a_create_whose_answer_was_lost_is_not_resurrected_by_a_deletion(store: SQLStore) -> None:
    spec, a, b = losing_pair()
    a.put_raw("cal", "e1.ics", event("e1", "Dentist"))
    b.lose = True
    assert sync_pair(spec, store, RUN).b.errors == 1 and "e1.ics" in b.texts("cal")
    b.lose = False
    a.remove_raw("cal", "e1.ics")
    report = sync_pair(spec, store, RUN)
    assert a.texts("cal") == {} and b.texts("cal") == {}
    assert [(line.side, line.action) for line in report.lines] == [(Side.B, "delete")]


def test_an_update_whose_answer_was_lost_does_not_undo_a_later_edit(store: SQLStore) -> None:
    spec, a, b = losing_pair()
    a.put_raw("cal", "e1.ics", event("e1", "v1"))
    sync_pair(spec, store, RUN)
    b.put_raw("cal", "e1.ics", event("e1", "v2 from the calendar"))
    a.lose = True
    assert sync_pair(spec, store, RUN).a.errors == 1 and title(a, "e1.ics") == "v2 from the calendar"
    a.lose = False
    b.put_raw("cal", "e1.ics", event("e1", "v3 from the calendar"))
    report = sync_pair(spec, store, RUN)
    assert title(a, "e1.ics") == title(b, "e1.ics") == "v3 from the calendar"
    assert report.a.conflicts == 0


def test_an_update_whose_answer_was_lost_does_not_undo_a_later_edit_under_b_wins(store: SQLStore) -> None:
    spec, a, b = losing_pair(PairPolicy(conflict=ConflictPolicy.B_WINS))
    a.put_raw("cal", "e1.ics", event("e1", "v1"))
    sync_pair(spec, store, RUN)
    a.put_raw("cal", "e1.ics", event("e1", "v2"))
    b.lose = True
    sync_pair(spec, store, RUN)
    b.lose = False
    a.put_raw("cal", "e1.ics", event("e1", "v3"))
    sync_pair(spec, store, RUN)
    assert title(a, "e1.ics") == title(b, "e1.ics") == "v3"


def test_a_failed_write_that_wrote_nothing_leaves_the_link_as_it_was(store: SQLStore) -> None:
    spec, a, b = memories()
    a.put_raw("cal", "e1.ics", event("e1", "v1"))
    sync_pair(spec, store, RUN)
    a.put_raw("cal", "e1.ics", event("e1", "v2"))
    b.fail_writes = lambda _operation, href: Unavailable("refused", connector="b", href=href)
    assert sync_pair(spec, store, RUN).b.errors == 1
    b.fail_writes = None
    sync_pair(spec, store, RUN)
    assert title(b, "e1.ics") == "v2"
    with store.open_pair("mem") as state:
        assert all(link.pending is None for link in state.links().values())


def test_parked_history_does_not_weaken_the_mass_deletion_guard(store: SQLStore) -> None:
    spec, a, _b = memories(PairPolicy(guard=MassDeleteGuard(max_share=0.5, max_count=100, min_items=5)))
    for i in range(60):
        a.put_raw("cal", f"old{i}.ics", event(f"old{i}", day="20260120"))
    sync_pair(spec, store, RunOptions(now=datetime(2026, 1, 15, 12, tzinfo=UTC)))
    for i in range(40):
        a.put_raw("cal", f"cur{i}.ics", event(f"cur{i}"))
    assert sync_pair(spec, store, RunOptions(now=NOW, full=True)).unlinked == 60  # January's links are parked
    for i in range(40):
        a.remove_raw("cal", f"cur{i}.ics")
    wiped = sync_pair(spec, store, RUN)
    assert wiped.b.held == 40 and wiped.b.deleted == 0
    assert "40 of 40 items" in wiped.warnings[0]


def test_a_rejected_deletion_of_a_mirrors_own_item_keeps_it_and_never_writes_the_source(store: SQLStore) -> None:
    spec, a, b = mirror_with_extras(store)
    held = sync_pair(spec, store, RUN)
    assert held.b.held == 8
    idents = frozenset(line.ident for line in held.lines if line.outcome == "held")
    sync_pair(spec, store, RunOptions(now=NOW, rejected=idents))
    later = sync_pair(spec, store, RUN)
    assert set(a.texts("cal")) == {"keep.ics"}
    assert len(b.texts("cal")) == 9 and later.b.held == later.b.deleted == 0


def test_a_calendar_copy_of_an_order_line_is_left_alone(store: SQLStore) -> None:
    spec, a, b = memories(PairPolicy(kind_modes={ItemKind.ORDER_LINE: Mode.A_TO_B}))
    a.put_raw("cal", "keep.ics", event("keep"))
    a.put_raw("cal", "o0.ics", event("o0", "Order line 0", extra="X-CALSYNC-KIND:order-line\r\n"))
    sync_pair(spec, store, RUN)
    copy = event("copy-of-o0", "Order line 0", extra="X-CALSYNC-KIND:order-line\r\n")  # a copy made in the calendar
    b.put_raw("cal", "copy.ics", copy)
    report = sync_pair(spec, store, RUN)
    assert report.writes == 0 and report.b.held == 0
    assert set(b.texts("cal")) == {"keep.ics", "o0.ics", "copy.ics"} and set(a.texts("cal")) == {"keep.ics", "o0.ics"}


def test_a_create_meeting_an_unlisted_copy_never_writes_a_read_only_side(store: SQLStore) -> None:
    spec, a, b = memories(PairPolicy(read_only_a=True, conflict=ConflictPolicy.B_WINS))
    b.put_raw("cal", "e1.ics", event("e1", "B's old copy", day="20250101"))  # outside the window: not listed
    a.put_raw("cal", "a-1.ics", event("e1", "business"))
    writes = a.writes
    report = sync_pair(spec, store, RUN)
    assert a.writes == writes and title(a, "a-1.ics") == "business"
    assert any(line.action == "skip" and "read-only" in line.rule for line in report.lines)


def test_a_deletion_does_not_delete_a_copy_that_left_the_window_since_the_last_full_sync(store: SQLStore) -> None:
    spec, a, b = memories()
    a.put_raw("cal", "e1.ics", event("e1"))
    a.put_raw("cal", "e2.ics", event("e2", day="20261215"))
    a.put_raw("cal", "e3.ics", event("e3", day="20261216"))  # stays: A is not found empty
    sync_pair(spec, store, RUN)
    later = RunOptions(now=datetime(2027, 1, 5, 12, tzinfo=UTC))  # e1 left the window, e2 is still inside
    sync_pair(spec, store, later)
    a.remove_raw("cal", "e1.ics")
    a.remove_raw("cal", "e2.ics")
    report = sync_pair(spec, store, later)
    assert "e1.ics" in b.texts("cal") and "e2.ics" not in b.texts("cal")
    assert {(line.ident, line.action) for line in report.lines} == {("e1", "unlink"), ("e2", "delete")}


def test_an_item_with_a_lone_surrogate_is_one_failed_item_and_the_rest_syncs(store: SQLStore) -> None:
    spec, a, b = memories()
    a.put_raw("cal", "bad.ics", event("bad", "Party \ud83c"))  # half an emoji, as a JSON parser may hand it over
    a.put_raw("cal", "good.ics", event("good"))
    report = sync_pair(spec, store, RUN)
    assert set(b.texts("cal")) == {"good.ics"} and report.a.errors == 1
    assert "not valid Unicode" in next(line.message for line in report.lines if line.ident == "")


@pytest.mark.parametrize("deleted_on", [Side.A, Side.B])
def test_an_item_made_again_after_a_deletion_that_was_not_passed_on_is_no_copy(
    store: SQLStore, deleted_on: Side
) -> None:
    off = {"delete_on_b": False} if deleted_on is Side.A else {"delete_on_a": False}
    spec, a, b = memories(PairPolicy(**off))
    where = a if deleted_on is Side.A else b
    where.put_raw("cal", "x-0.ics", event("x", "first"))
    sync_pair(spec, store, RUN)
    where.remove_raw("cal", "x-0.ics")
    assert [line.action for line in sync_pair(spec, store, RUN).lines] == ["park"]
    where.put_raw("cal", "x-restored.ics", event("x", "restored"))  # from the trash, under a new name
    again = sync_pair(spec, store, RUN)
    assert not any(line.outcome == "error" for line in again.lines)
    assert {title(a, h) for h in a.texts("cal")} == {title(b, h) for h in b.texts("cal")} == {"restored"}
    assert sync_pair(spec, store, RUN).writes == 0


def folder_pair(root: Path) -> PairSpec:
    for side in ("a", "b"):
        (root / side / "cal").mkdir(parents=True)
    return PairSpec("dir", Endpoint(FolderConnector(root / "a"), "cal"), Endpoint(FolderConnector(root / "b"), "cal"))


def months_of_interval_runs(spec: PairSpec, store: SQLStore) -> None:
    """A first run, then interval runs while the window moves on: nothing edited, no full sync."""
    sync_pair(spec, store, RUN)
    for day in (10, 20, 30):
        sync_pair(spec, store, RunOptions(now=datetime(2027, 1, day, 12, tzinfo=UTC)))


def test_an_item_entering_the_window_unchanged_arrives_from_a_store_that_filters(store: SQLStore) -> None:
    spec, a, b = memories()
    a.put_raw("cal", "far.ics", event("far", day="20270215"))  # beyond the first run's window
    months_of_interval_runs(spec, store)
    assert "far.ics" in b.texts("cal")


def test_an_item_entering_the_window_unchanged_arrives_from_a_folder(store: SQLStore, tmp_path: Path) -> None:
    spec = folder_pair(tmp_path)
    (tmp_path / "a" / "cal" / "far.ics").write_text(event("far", day="20270215"), encoding="utf-8")
    months_of_interval_runs(spec, store)
    assert (tmp_path / "b" / "cal" / "far.ics").exists()


def test_a_folder_copy_outside_the_window_at_a_users_name_is_not_written_twice(store: SQLStore, tmp_path: Path) -> None:
    """B's copy lies outside the window (read, left unlinked) at a name of the user's; A's, inside, is created on
    B: the create meets B's copy, as a CalDAV server's UID check would, and B keeps one file of the item."""
    spec = folder_pair(tmp_path)
    (tmp_path / "b" / "cal" / "users-own-name.ics").write_text(event("x", "B's", day="20250101"), encoding="utf-8")
    (tmp_path / "a" / "cal" / "x.ics").write_text(event("x", "A's"), encoding="utf-8")
    sync_pair(spec, store, RUN)
    sync_pair(spec, store, RUN)
    held = [
        p.name for p in (tmp_path / "b" / "cal").iterdir() if scan(p.read_text(encoding="utf-8")).facts.ident == "x"
    ]
    assert held == ["users-own-name.ics"]


def test_the_window_is_asked_again_at_most_hourly_and_quiet_runs_keep_its_edge(store: SQLStore) -> None:
    spec, a, _b = memories()
    a.put_raw("cal", "e1.ics", event("e1"))
    sync_pair(spec, store, RUN)
    asked: list[object] = []
    real = a.list
    a.list = lambda collection, window: asked.append(window) or real(collection, window)  # type: ignore[method-assign]
    for minutes in (5, 30, 50):  # quiet runs: the window moved less than an hour
        sync_pair(spec, store, RunOptions(now=NOW + timedelta(minutes=minutes)))
    assert asked == []
    sync_pair(spec, store, RunOptions(now=NOW + timedelta(minutes=70)))
    assert len(asked) == 1
    sync_pair(spec, store, RunOptions(now=NOW + timedelta(minutes=75)))
    assert len(asked) == 1


def kept_on_b_then_gone(spec: PairSpec, store: SQLStore, a: MemoryConnector, b: MemoryConnector) -> None:
    """u4 synced, deleted on A (deletions on B off: B's copy kept, the link parked "a"), then B's copy deleted."""
    a.put_raw("cal", "u4.ics", event("u4", "first"))
    sync_pair(spec, store, RUN)
    a.remove_raw("cal", "u4.ics")
    sync_pair(spec, store, RUN)
    (kept,) = b.texts("cal")
    b.remove_raw("cal", kept)


def test_an_item_back_on_a_after_its_kept_copy_was_deleted_on_b_reaches_b(store: SQLStore) -> None:
    """Deleted on A with deletions on B off (B's copy kept, the link parked), then B's copy deleted too and the
    item written on A again: the run that forgets the parked link must copy it, as no later incremental run reads
    A's unchanged item again (the steps a property test found)."""
    spec, a, b = memories(PairPolicy(delete_on_b=False))
    kept_on_b_then_gone(spec, store, a, b)
    a.put_raw("cal", "u4-2.ics", event("u4", "written again"))
    sync_pair(spec, store, RUN)
    sync_pair(spec, store, RUN)
    assert [scan(t).facts.title for t in b.texts("cal").values()] == ["written again"]


def test_an_edit_that_brings_a_parked_item_back_into_the_window_reaches_the_side_that_deleted_it(
    store: SQLStore,
) -> None:
    """Parked outside the window, deleted on B meanwhile, then edited on A into the window: created on B, as an
    edit beats a deletion anywhere else (and as a full sync would); never forgotten with A's edit unsynced."""
    spec, a, b = memories()
    a.put_raw("cal", "e1.ics", event("e1", "visit", day="20261122"))
    sync_pair(spec, store, RUN)
    a.put_raw("cal", "e1.ics", event("e1", "visit", day="20270219"))  # 90 days ahead
    sync_pair(spec, store, RUN)  # B gets the move, then both copies are outside the window
    sync_pair(spec, store, RUN)
    (copy,) = b.texts("cal")
    b.remove_raw("cal", copy)
    a.put_raw("cal", "e1.ics", event("e1", "visit, back", day="20261123"))
    sync_pair(spec, store, RUN)
    sync_pair(spec, store, RUN)
    assert [scan(t).facts.title for t in b.texts("cal").values()] == ["visit, back"]


def test_an_item_back_on_a_after_its_kept_copy_went_is_admitted_as_any_new_item(store: SQLStore) -> None:
    """Decided as new, it meets the rules of a new item: private, it is not copied (and the link is forgotten)."""
    spec, a, b = memories(PairPolicy(delete_on_b=False, items=ItemRules()))
    kept_on_b_then_gone(spec, store, a, b)
    a.put_raw("cal", "u4-2.ics", event("u4", "private again", private=True))
    a.put_raw("cal", "u5.ics", event("u5", "private new", private=True))
    report = sync_pair(spec, store, RUN)
    assert b.texts("cal") == {}, report.lines
    assert "u4" not in stored_links(store, "mem")


def test_an_item_back_on_a_outside_the_window_after_its_kept_copy_went_is_not_copied(store: SQLStore) -> None:
    """Like any new item outside the window: read when it enters it, not before."""
    spec, a, b = memories(PairPolicy(delete_on_b=False))
    kept_on_b_then_gone(spec, store, a, b)
    a.put_raw("cal", "u4-2.ics", event("u4", "far ahead", day="20270301"))
    report = sync_pair(spec, store, RUN)
    assert b.texts("cal") == {}, [(x.kind, x.ident, x.rule) for x in report.planned]


def test_a_forgotten_link_whose_copy_cannot_be_written_is_dropped_not_left_parked(store: SQLStore) -> None:
    """A read-only: B's deletion parks the link ("b", A's copy kept). A's copy then goes and B's comes back: a
    create on A is refused before it is tried, so the link is only forgotten; a stale parked link would name
    A's gone copy as the one kept, and A's item written again later would never reach B."""
    spec, a, b = memories(PairPolicy(read_only_a=True, delete_on_a=False))
    a.put_raw("cal", "u4.ics", event("u4", "first"))
    sync_pair(spec, store, RUN)
    (copy,) = b.texts("cal")
    b.remove_raw("cal", copy)
    sync_pair(spec, store, RUN)  # parked "b": A's copy kept
    a.remove_raw("cal", "u4.ics")
    b.put_raw("cal", copy, event("u4", "restored on B"))
    sync_pair(spec, store, RUN)
    a.put_raw("cal", "u4.ics", event("u4", "written again on A"))  # at the href it had
    sync_pair(spec, store, RUN)
    sync_pair(spec, store, RUN)
    assert [scan(t).facts.title for t in b.texts("cal").values()] == ["written again on A"]


def test_an_item_back_on_a_over_a_kept_copy_edited_meanwhile_is_a_conflict_settled_by_the_policy(
    store: SQLStore,
) -> None:
    """Deleted on A (deletions on B off: B's copy kept, the link parked), the kept copy edited on B, then the item
    written on A again: both changed since they last agreed. The write of A's version meets B's newer version (a
    lost race: nothing overwritten), and the next run settles it as a conflict by the policy, A winning here;
    under b-wins the user's edit would stand."""
    spec, a, b = memories(PairPolicy(delete_on_b=False))
    a.put_raw("cal", "u2.ics", event("u2", "first"))
    sync_pair(spec, store, RUN)
    a.remove_raw("cal", "u2.ics")
    sync_pair(spec, store, RUN)
    (href,) = b.texts("cal")
    b.put_raw("cal", href, event("u2", "edited on B"))
    sync_pair(spec, store, RUN)
    a.put_raw("cal", "u2-2.ics", event("u2", "written again on A"))
    raced = sync_pair(spec, store, RUN)
    assert [line.outcome for line in raced.lines if line.ident == "u2"] == ["conflict"], raced.lines
    assert [scan(t).facts.title for t in b.texts("cal").values()] == ["edited on B"]
    settled = sync_pair(spec, store, RUN)
    assert [a.conflict for a in settled.planned if a.ident == "u2"] == [True], settled.planned
    assert [scan(t).facts.title for t in b.texts("cal").values()] == ["written again on A"]


def test_a_calendar_answering_empty_once_cuts_no_item_off_where_deletions_on_a_are_off(store: SQLStore) -> None:
    """Each copy found gone on B would have its link parked (A's copy kept): a parked link never syncs again, so
    a calendar that answered empty once, then as before, would have had no edit of A reach it again."""
    spec, a, b = memories(PairPolicy(delete_on_a=False))
    for n in range(3):
        a.put_raw("cal", f"e{n}.ics", event(f"e{n}", "visit"))
    sync_pair(spec, store, RUN)
    _answering_empty(b)
    report = sync_pair(spec, store, RUN)
    assert report.a.held == 3 and "B was found empty" in report.warnings[0]
    _answering_again(b)
    sync_pair(spec, store, RUN)
    a.put_raw("cal", "e0.ics", event("e0", "visit, edited on A"))
    sync_pair(spec, store, RUN)
    assert title(b, "e0.ics") == "visit, edited on A"
    assert {link.parked for link in stored_links(store, "mem").values()} == {""}


def parked_far_ahead(
    store: SQLStore, *idents: str, extra: str = "", b_class: type[MemoryConnector] = MemoryConnector
) -> tuple[PairSpec, MemoryConnector, MemoryConnector]:
    """Items synced, then moved on A 90 days ahead: the move is copied to B, then both links are parked outside
    the window (``Link.parked == "window"``). ``extra``: more lines for each item (an RRULE, say)."""
    spec, a, b = memories(b_class=b_class)
    for ident in idents:
        a.put_raw("cal", f"{ident}.ics", event(ident, "visit", day="20261122", extra=extra))
    sync_pair(spec, store, RUN)
    for ident in idents:
        a.put_raw("cal", f"{ident}.ics", event(ident, "visit", day="20270219", extra=extra))
    sync_pair(spec, store, RUN)
    assert {link.parked for link in stored_links(store, "mem").values()} == {"window"}
    return spec, a, b


IN_THE_WINDOW = RunOptions(now=NOW + timedelta(days=70))
"""A run 70 days on: 19 February 2027 lies within the window then."""


@pytest.mark.parametrize("edited_on", [Side.A, Side.B])
def test_an_edit_made_outside_the_window_reaches_the_other_side_when_the_item_enters_it(
    store: SQLStore, edited_on: Side
) -> None:
    """The run that reads the edit leaves it unsynced (outside the window) and its token moves past it; once
    time brings the item into the window, the sweep reads it again (before, only a full sync did)."""
    spec, a, b = parked_far_ahead(store, "e1")
    where = a if edited_on is Side.A else b
    (href,) = where.texts("cal")
    where.put_raw("cal", href, event("e1", "visit, new address", day="20270219"))
    assert sync_pair(spec, store, RUN).writes == 0  # read, outside the window: not synced
    sync_pair(spec, store, IN_THE_WINDOW)
    assert {title(a, h) for h in a.texts("cal")} == {title(b, h) for h in b.texts("cal")} == {"visit, new address"}
    assert sync_pair(spec, store, IN_THE_WINDOW).writes == 0


def test_the_sweep_reads_a_parked_item_entering_the_window_only_when_it_was_edited(store: SQLStore) -> None:
    spec, a, b = parked_far_ahead(store, "e1", "e2")
    a.put_raw("cal", "e1.ics", event("e1", "visit, new address", day="20270219"))
    sync_pair(spec, store, RUN)
    read: list[str] = []
    real = a.get
    a.get = lambda collection, hrefs: read.extend(hrefs) or real(collection, hrefs)  # type: ignore[method-assign]
    sync_pair(spec, store, IN_THE_WINDOW)
    assert read == ["e1.ics"]
    assert sorted(title(b, h) for h in b.texts("cal")) == ["visit", "visit, new address"]


def test_an_assignment_gone_from_a_while_its_calendar_copy_came_back_into_the_window_leaves_the_calendar(
    store: SQLStore,
) -> None:
    """An assignment parked outside the window, deleted on A while its calendar copy is edited into the window:
    decided as new there, it still meets the rule of a business-placed item (the business side decides whether
    it is in the calendar), never created on A again from the calendar."""
    assignment = "X-CALSYNC-KIND:assignment\r\n"
    spec, a, b = memories(PairPolicy(items=ItemRules()))
    a.put_raw("cal", "s1.ics", event("s1", "assignment", day="20261122", extra=assignment))
    sync_pair(spec, store, RUN)
    later = RunOptions(now=datetime(2027, 1, 15, 12, tzinfo=UTC))  # both copies left the window
    sync_pair(spec, store, replace(later, full=True))
    assert stored_links(store, "mem")["s1"].parked == "window"
    (href,) = b.texts("cal")
    a.remove_raw("cal", "s1.ics")
    b.put_raw("cal", href, event("s1", "assignment, moved", day="20270118", extra=assignment))
    report = sync_pair(spec, store, later)
    assert a.texts("cal") == {} and b.texts("cal") == {}, [(x.kind, x.target, x.rule) for x in report.planned]


def test_a_parked_series_given_a_new_version_unchanged_is_read_once_when_it_enters_the_window(
    store: SQLStore,
) -> None:
    """A weekly series moved 90 days ahead (parked outside the window); B's store then gives its copy a new
    version with the same content (a changekey bump). Read once, its new version is recorded, still parked: the
    sweep of each later run, which reads a parked item at another version than its link's, leaves it alone."""
    spec, _a, b = parked_far_ahead(store, "e1", extra="RRULE:FREQ=WEEKLY\r\n")
    (href,) = b.texts("cal")
    b.put_raw("cal", href, b.texts("cal")[href])  # same text, new version
    sync_pair(spec, store, RUN)
    read: list[str] = []
    real = b.get
    b.get = lambda collection, hrefs: read.extend(hrefs) or real(collection, hrefs)  # type: ignore[method-assign]
    for hours in range(48):  # two days of hourly runs once the series is in the window
        assert sync_pair(spec, store, RunOptions(now=NOW + timedelta(days=70, hours=hours))).writes == 0
    assert len(read) <= 1, f"read {len(read)} times in 48 hourly runs"
    assert stored_links(store, "mem")["e1"].parked == "window"


@pytest.mark.parametrize("deleted_on", [Side.A, Side.B])
def test_a_far_ahead_item_deleted_on_one_side_while_outside_the_window_stays_deleted_when_it_enters_it(
    store: SQLStore, deleted_on: Side
) -> None:
    """Forgotten, the other copy came back as new once time brought it into the window, undoing the deletion.
    Ahead of the window, the deletion is passed on as in it."""
    spec, a, b = parked_far_ahead(store, "e1")
    where = a if deleted_on is Side.A else b
    (copy,) = where.texts("cal")
    where.remove_raw("cal", copy)  # the user deletes the appointment, 90 days ahead
    report = sync_pair(spec, store, RUN)
    assert "while outside the window" in report.planned[0].rule
    sync_pair(spec, store, IN_THE_WINDOW)
    assert a.texts("cal") == b.texts("cal") == {}
    assert stored_links(store, "mem") == {}


def test_a_far_ahead_item_deleted_where_the_other_sides_deletions_are_off_is_kept_there_and_not_copied_back(
    store: SQLStore,
) -> None:
    spec, a, b = parked_far_ahead(store, "e1")
    spec = replace(spec, policy=PairPolicy(delete_on_a=False))
    (copy,) = b.texts("cal")
    b.remove_raw("cal", copy)
    sync_pair(spec, store, RUN)
    assert stored_links(store, "mem")["e1"].parked == "b"
    sync_pair(spec, store, IN_THE_WINDOW)
    assert list(a.texts("cal")) == ["e1.ics"] and b.texts("cal") == {}


def test_a_past_item_deleted_in_the_calendar_is_never_deleted_on_a(store: SQLStore) -> None:
    """A calendar purging old items says nothing of the business system's record: the link is forgotten."""
    spec, a, b = memories()
    a.put_raw("cal", "e1.ics", event("e1", "visit", day="20261120"))
    sync_pair(spec, store, RUN)
    sync_pair(spec, store, RunOptions(now=NOW + timedelta(days=40), full=True))  # aged out of the window: parked
    assert stored_links(store, "mem")["e1"].parked == "window"
    (copy,) = b.texts("cal")
    b.remove_raw("cal", copy)
    sync_pair(spec, store, RunOptions(now=NOW + timedelta(days=41)))
    assert list(a.texts("cal")) == ["e1.ics"] and stored_links(store, "mem") == {}


def test_a_far_ahead_item_edited_on_a_after_b_deleted_it_comes_back_when_it_enters_the_window(
    store: SQLStore,
) -> None:
    """Deleted on one side, edited on the other: the edit wins, as in the window."""
    spec, a, b = parked_far_ahead(store, "e1")
    (copy,) = b.texts("cal")
    b.remove_raw("cal", copy)
    a.put_raw("cal", "e1.ics", event("e1", "visit, new address", day="20270219"))
    sync_pair(spec, store, RUN)
    assert list(a.texts("cal")) == ["e1.ics"]
    sync_pair(spec, store, IN_THE_WINDOW)
    assert [title(b, h) for h in b.texts("cal")] == ["visit, new address"]


def test_a_far_ahead_copy_deleted_on_a_mirrors_target_is_made_again_when_it_enters_the_window(
    store: SQLStore,
) -> None:
    """One-way: the source's copy is the item; the mirror's deletion is undone when it enters the window."""
    spec, a, b = parked_far_ahead(store, "e1")
    spec = replace(spec, policy=PairPolicy(mode=Mode.A_TO_B))
    (copy,) = b.texts("cal")
    b.remove_raw("cal", copy)
    sync_pair(spec, store, RUN)
    assert list(a.texts("cal")) == ["e1.ics"] and b.texts("cal") == {}
    sync_pair(spec, store, IN_THE_WINDOW)
    assert [title(b, h) for h in b.texts("cal")] == ["visit"]


def test_the_deletion_of_a_far_ahead_copy_waits_for_the_guard_when_the_calendar_answers_empty(
    store: SQLStore,
) -> None:
    spec, a, b = parked_far_ahead(store, "e1")
    for n in range(3):
        a.put_raw("cal", f"n{n}.ics", event(f"n{n}", "visit"))
    sync_pair(spec, store, RUN)
    _answering_empty(b)
    report = sync_pair(spec, store, RUN)
    assert report.a.held == 4 and sorted(a.texts("cal")) == ["e1.ics", "n0.ics", "n1.ics", "n2.ics"]
    _answering_again(b)
    sync_pair(spec, store, IN_THE_WINDOW)
    assert len(b.texts("cal")) == 4 and len(a.texts("cal")) == 4


def test_a_far_ahead_copy_deleted_while_the_pair_was_away_is_made_again_not_passed_on(store: SQLStore) -> None:
    """Links parked outside the window are marked away when taken up again too: a copy deleted while the pair
    synced another calendar was deleted by someone tidying a calendar no longer synced, which says nothing of
    the item. (A lists everything, as a folder does: its copy is read, not taken as outside unread.)"""
    spec, a, b = parked_far_ahead(store, "e1")
    a.capabilities = replace(a.capabilities, filters_window=False)
    b.make_collection("other")
    sync_pair(replace(spec, b=Endpoint(b, "other")), store, RUN)
    (copy,) = b.texts("cal")
    b.remove_raw("cal", copy)
    sync_pair(spec, store, RUN)  # the first run back lists B whole: its deletion waits (a move, maybe)
    assert list(a.texts("cal")) == ["e1.ics"]
    sync_pair(spec, store, IN_THE_WINDOW)  # the deletion, read again, is one made while away: forgotten
    sync_pair(spec, store, replace(IN_THE_WINDOW, full=True))
    assert [title(b, h) for h in b.texts("cal")] == ["visit"]


def _answering_empty(conn: MemoryConnector) -> None:
    """``conn`` answers every listing and every query by identity empty, as a calendar does while re-pointed."""
    conn.changes = lambda collection, token: ChangeSet([], (), "999999", complete=True)  # type: ignore[method-assign]
    if isinstance(conn, Locating):
        conn.locate = lambda collection, keys: {}  # type: ignore[method-assign]


def _answering_again(conn: MemoryConnector) -> None:
    for patched in ("changes", "locate"):
        vars(conn).pop(patched, None)  # the class's methods answer again


def test_a_far_ahead_deletion_is_passed_on_when_the_kept_side_lists_everything(store: SQLStore) -> None:
    """A's token expired: its complete listing places A's copy outside the window without reading it (one range
    query); it is read all the same, to tell a copy ahead of the window from one behind it."""
    spec, a, b = parked_far_ahead(store, "e1")
    (copy,) = b.texts("cal")
    b.remove_raw("cal", copy)
    answers = a.changes
    a.changes = lambda collection, token: answers(collection, None)  # type: ignore[method-assign]
    sync_pair(spec, store, RUN)
    a.changes = answers  # type: ignore[method-assign]
    sync_pair(spec, store, IN_THE_WINDOW)
    assert a.texts("cal") == b.texts("cal") == {}


@pytest.mark.parametrize("in_the_window", [0, 1])
@pytest.mark.parametrize("locating", [True, False])
def test_a_calendar_answering_empty_deletes_nothing_ahead_of_the_window(
    store: SQLStore, in_the_window: int, locating: bool
) -> None:
    """With fewer than two items in sync the side did not count as found empty: every far-ahead deletion went
    to A unasked. A store that finds items by identity confirms the deletions, and the guard holds them with the
    rest; on another store, a listing that reads nothing outside the window cannot tell them from moves: they
    only forget their links. Either way they make the side found empty, so an item in the window is held."""
    spec, a, b = parked_far_ahead(
        store, "e1", "e2", "e3", b_class=MemoryConnector if locating else BlindMemoryConnector
    )
    for n in range(in_the_window):
        a.put_raw("cal", f"n{n}.ics", event(f"n{n}", "visit"))
    sync_pair(spec, store, RUN)
    _answering_empty(b)
    report = sync_pair(spec, store, RUN)
    assert len(a.texts("cal")) == 3 + in_the_window
    assert report.a.held == (3 if locating else 0) + in_the_window


def test_far_ahead_deletions_count_against_the_items_in_sync(store: SQLStore) -> None:
    """Parked links are left out of the guard's total (history that only grows); the deletions a run would pass
    on from them count all the same, so the guard errs on the side of asking."""
    spec, a, b = parked_far_ahead(store, "e1", "e2", "e3", "e4", "e5")
    for n in range(8):
        a.put_raw("cal", f"n{n}.ics", event(f"n{n}", "visit"))
    sync_pair(spec, store, RUN)
    for href in [h for h in b.texts("cal") if h.startswith("e")]:
        b.remove_raw("cal", href)
    report = sync_pair(spec, store, RUN)
    assert report.a.held == 5 and "5 of 8 items would be deleted on A" in report.warnings[0]


def test_a_copy_ahead_of_a_shortened_window_deleted_before_a_full_sync_parked_it_is_passed_on(
    store: SQLStore,
) -> None:
    """The run that finds the deletion also finds the other copy outside the window (read before a deletion is
    passed on): behind it, it is kept; ahead of it, time brings it back in, so the deletion is passed on."""
    spec, a, b = memories()
    a.put_raw("cal", "e1.ics", event("e1", "visit", day="20270110"))  # 50 days ahead
    sync_pair(replace(spec, window=(30, 60)), store, RUN)
    (copy,) = b.texts("cal")
    b.remove_raw("cal", copy)
    sync_pair(spec, store, RUN)  # the admin made the window 30 days forward
    sync_pair(spec, store, RunOptions(now=NOW + timedelta(days=40), full=True))
    assert a.texts("cal") == b.texts("cal") == {}


def test_a_far_ahead_deletion_long_after_the_pair_came_back_is_passed_on(store: SQLStore) -> None:
    """The away mark of a link parked outside the window goes when a listing names its copy: it is never read
    while it stays outside, and the mark would otherwise stay until an edit."""
    spec, a, b = parked_far_ahead(store, "e1")
    b.make_collection("other")
    sync_pair(replace(spec, b=Endpoint(b, "other")), store, RUN)
    sync_pair(spec, store, RUN)  # back on ``cal``: its copy is listed there
    assert stored_links(store, "mem")["e1"].away == ""
    (copy,) = b.texts("cal")
    b.remove_raw("cal", copy)
    sync_pair(spec, store, RUN)
    sync_pair(spec, store, IN_THE_WINDOW)
    assert a.texts("cal") == b.texts("cal") == {}


@pytest.mark.parametrize("deleted_on", [Side.A, Side.B])
def test_a_crash_after_a_far_ahead_deletion_was_passed_on_settles(store: SQLStore, deleted_on: Side) -> None:
    def crash(_written: object) -> None:
        raise KeyboardInterrupt

    spec, a, b = parked_far_ahead(store, "e1")
    where = a if deleted_on is Side.A else b
    (copy,) = where.texts("cal")
    where.remove_raw("cal", copy)
    with pytest.raises(KeyboardInterrupt):
        sync_pair(spec, store, replace(RUN, after_write=crash))
    sync_pair(spec, store, RUN)
    assert stored_links(store, "mem") == {}
    sync_pair(spec, store, IN_THE_WINDOW)
    assert a.texts("cal") == b.texts("cal") == {}


def test_a_far_ahead_deletion_held_and_rejected_then_made_for_real_is_passed_on(store: SQLStore) -> None:
    """A rejection makes the copies again, outside the window and linked as in sync; a later deletion of one of
    them is passed on as one of a parked link is."""
    spec, a, b = parked_far_ahead(store, "e1", "e2", "e3")
    spec = replace(spec, policy=PairPolicy(guard=MassDeleteGuard(max_count=2)))
    for href in list(b.texts("cal")):
        b.remove_raw("cal", href)
    assert sync_pair(spec, store, RUN).a.held == 3
    sync_pair(spec, store, replace(RUN, rejected=frozenset({"e1", "e2", "e3"})))
    assert len(b.texts("cal")) == 3
    b.remove_raw("cal", "e1.ics")
    sync_pair(spec, store, RUN)
    sync_pair(spec, store, replace(IN_THE_WINDOW, full=True))
    assert sorted(a.texts("cal")) == ["e2.ics", "e3.ics"] and len(b.texts("cal")) == 2


def test_an_assignment_deleted_in_the_calendar_ahead_of_the_window_is_made_again_only_when_it_enters_it(
    store: SQLStore,
) -> None:
    """The item rules make a business-placed item deleted in the calendar again; never outside the window."""
    assignment = "X-CALSYNC-KIND:assignment\r\n"
    spec, a, b = parked_far_ahead(store, "s1", extra=assignment)
    spec = replace(spec, policy=PairPolicy(items=ItemRules()))
    (copy,) = b.texts("cal")
    b.remove_raw("cal", copy)
    assert sync_pair(spec, store, RUN).writes == 0
    sync_pair(spec, store, IN_THE_WINDOW)
    assert list(a.texts("cal")) == ["s1.ics"] and [title(b, h) for h in b.texts("cal")] == ["visit"]


BEGUN = RunOptions(now=NOW + timedelta(days=90))
"""A run three hours after the far-ahead item of ``parked_far_ahead`` began (19 February 2027, 09:00 Berlin)."""


@pytest.mark.parametrize("deleted_on", [Side.A, Side.B])
@pytest.mark.parametrize("tokens", [True, False], ids=["tokens", "tokenless"])
def test_a_parked_item_that_entered_the_window_and_began_stays_deleted(
    store: SQLStore, deleted_on: Side, tokens: bool
) -> None:
    """Entering the window unchanged, the item stays parked; deleted once it has begun, it was forgotten, and the
    next full sync (every run, without tokens) found the other copy new in the window and copied it back. In
    the window, the deletion is passed on, as for a link in sync."""
    spec, a, b = parked_far_ahead(store, "e1")
    for conn in (a, b):
        conn.capabilities = replace(conn.capabilities, has_sync_token=tokens)
    sync_pair(spec, store, IN_THE_WINDOW)
    assert stored_links(store, "mem")["e1"].parked == "window"
    where = a if deleted_on is Side.A else b
    (copy,) = where.texts("cal")
    where.remove_raw("cal", copy)
    sync_pair(spec, store, BEGUN)
    sync_pair(spec, store, replace(BEGUN, full=True))
    assert a.texts("cal") == b.texts("cal") == {}


def _ahead_in_sync(store: SQLStore, policy: PairPolicy | None = None, extra: str = "") -> tuple[
    PairSpec, MemoryConnector, MemoryConnector
]:  # fmt: skip
    """An item 50 days ahead synced in a 60-day window, which the admin then makes 30 days: linked, not parked
    (no full sync has found it outside yet)."""
    spec, a, b = memories(policy)
    a.put_raw("cal", "e1.ics", event("e1", "visit", day="20270110", extra=extra))
    sync_pair(replace(spec, window=(30, 60)), store, RUN)
    assert stored_links(store, "mem")["e1"].parked == ""
    return spec, a, b


def test_a_copy_ahead_of_a_shortened_window_deleted_is_passed_on_when_the_kept_side_lists_everything(
    store: SQLStore,
) -> None:
    spec, a, b = _ahead_in_sync(store)
    (copy,) = b.texts("cal")
    b.remove_raw("cal", copy)
    a.capabilities = replace(a.capabilities, has_sync_token=False)
    sync_pair(spec, store, RUN)
    sync_pair(spec, store, RunOptions(now=NOW + timedelta(days=40), full=True))
    assert a.texts("cal") == b.texts("cal") == {}


@pytest.mark.parametrize(
    ("policy", "extra"),
    [(PairPolicy(mode=Mode.A_TO_B), ""), (PairPolicy(items=ItemRules()), "X-CALSYNC-KIND:assignment\r\n")],
    ids=["mirror", "assignment"],
)
def test_a_copy_made_again_for_a_deletion_ahead_of_the_window_is_made_when_it_enters_it(
    store: SQLStore, policy: PairPolicy, extra: str
) -> None:
    """A mirror's copy, or an assignment the calendar may not drop, deleted in the calendar ahead of the
    window: never written outside the window, made again as new when the item enters it."""
    spec, _a, b = _ahead_in_sync(store, policy, extra)
    (copy,) = b.texts("cal")
    b.remove_raw("cal", copy)
    assert sync_pair(spec, store, RUN).writes == 0
    sync_pair(spec, store, RunOptions(now=NOW + timedelta(days=40), full=True))
    assert [title(b, h) for h in b.texts("cal")] == ["visit"]


@pytest.mark.parametrize("mode", [Mode.A_TO_B, Mode.A_TO_B_MERGE])
def test_a_far_ahead_item_the_source_deleted_leaves_the_mirror(store: SQLStore, mode: Mode) -> None:
    """A merge mirror leaves unlinked items alone: forgotten, the copy of a cancelled job stayed for good."""
    spec, a, b = parked_far_ahead(store, "e1")
    spec = replace(spec, policy=PairPolicy(mode=mode))
    (copy,) = a.texts("cal")
    a.remove_raw("cal", copy)
    sync_pair(spec, store, RUN)
    sync_pair(spec, store, replace(IN_THE_WINDOW, full=True))
    assert b.texts("cal") == {}


def test_a_far_ahead_deletion_after_the_window_was_set_to_all_stays_deleted(store: SQLStore) -> None:
    spec, a, b = parked_far_ahead(store, "e1")
    spec = replace(spec, window=None)
    (copy,) = b.texts("cal")
    b.remove_raw("cal", copy)
    sync_pair(spec, store, RUN)
    sync_pair(spec, store, replace(RUN, full=True))
    assert a.texts("cal") == b.texts("cal") == {}


def test_a_parked_item_moved_to_another_href_outside_the_window_is_a_move_when_edited_into_it(
    store: SQLStore,
) -> None:
    """The run that read the move left the link as it was (an edit outside the window syncs when it enters), so
    the next run found the item at a new href while its link named the old one, and took it for a copy: 'two
    items carry the identity', nothing synced until a later run read the old href again."""
    spec, a, b = parked_far_ahead(store, "e1")
    (old,) = b.texts("cal")
    b.remove_raw("cal", old)
    b.put_raw("cal", "moved.ics", event("e1", "visit, edited", day="20270219"))  # a client re-saves it elsewhere
    sync_pair(spec, store, RUN)
    b.put_raw("cal", "moved.ics", event("e1", "visit, brought forward", day="20261130"))
    report = sync_pair(spec, store, RUN)
    assert not [line for line in report.lines if line.outcome == "error"], report.lines
    assert [title(a, h) for h in a.texts("cal")] == ["visit, brought forward"]
    assert sync_pair(spec, store, RUN).writes == 0


def test_an_item_new_in_the_window_meets_its_identity_held_outside_the_window_on_the_other_side(
    store: SQLStore,
) -> None:
    """Nothing reads an unlinked copy outside the window, so the create of A's item on B met B's own copy of that
    identity (from before the pair started afresh, say): the store's refusal makes it one item, not two."""
    spec, a, b = memories()
    b.put_raw("cal", "own-name.ics", event("e1", "old copy", day="20261001"))  # behind the window
    a.put_raw("cal", "e1.ics", event("e1", "visit"))
    sync_pair(spec, store, RUN)
    assert [title(b, h) for h in b.texts("cal")] == ["visit"]
    assert sync_pair(spec, store, RUN).writes == 0


def _moved_on_b(b: MemoryConnector, text: str | None = None) -> None:
    """B's client saves the far-ahead item under another name (a calendar moved and back, say)."""
    (old,) = b.texts("cal")
    text = text or b.texts("cal")[old]
    b.remove_raw("cal", old)
    b.put_raw("cal", "moved.ics", text)


BLIND_OR_NOT = pytest.mark.parametrize("b_class", [MemoryConnector, BlindMemoryConnector], ids=["locating", "blind"])
"""B as a store that finds items by identity (``Locating``, as CalDAV) and as one that cannot (as EWS, Graph)."""


@BLIND_OR_NOT
@pytest.mark.parametrize("how", ["tokenless B", "full sync", "token expired on B"])
def test_a_far_ahead_item_moved_on_b_seen_by_a_complete_listing_is_never_deleted_on_a(
    store: SQLStore, how: str, b_class: type[MemoryConnector]
) -> None:
    """A listing that reads nothing outside the window never reads the new name: the old one looked deleted,
    and the deletion was passed on though no one deleted anything. A store asked by identity finds the new
    name; on another, such a deletion only forgets the link, and when the item enters the window both copies
    are read, and one identity makes one item again."""
    spec, a, b = parked_far_ahead(store, "e1", b_class=b_class)
    _moved_on_b(b)
    if how == "tokenless B":
        b.capabilities = replace(b.capabilities, has_sync_token=False)
        sync_pair(spec, store, RUN)
    elif how == "full sync":
        sync_pair(spec, store, replace(RUN, full=True))
    else:
        answers = b.changes
        b.changes = lambda collection, token: answers(collection, None)  # type: ignore[method-assign]
        sync_pair(spec, store, RUN)
        b.changes = answers  # type: ignore[method-assign]
    assert list(a.texts("cal")) == ["e1.ics"]
    sync_pair(spec, store, RUN)
    assert list(a.texts("cal")) == ["e1.ics"] and a.writes == 0
    sync_pair(spec, store, replace(IN_THE_WINDOW, full=True))
    assert list(a.texts("cal")) == ["e1.ics"] and list(b.texts("cal")) == ["moved.ics"] and a.writes == 0


@pytest.mark.parametrize("how", ["tokenless B", "full sync", "token expired on B"])
def test_a_far_ahead_item_deleted_on_b_seen_by_a_complete_listing_is_deleted_on_a(store: SQLStore, how: str) -> None:
    """The price a store without queries by identity still pays (``BlindMemoryConnector``): the deletion only
    forgot the link, and A's copy came back to B when it entered the window. A store that answers for the
    identity confirms the deletion, which is then decided as in the window."""
    spec, a, b = parked_far_ahead(store, "e1")
    (copy,) = b.texts("cal")
    b.remove_raw("cal", copy)
    _complete_listing_on_b(spec, store, b, how)
    sync_pair(spec, store, IN_THE_WINDOW)
    assert a.texts("cal") == b.texts("cal") == {}


def test_a_far_ahead_deletion_on_a_blind_store_still_comes_back_when_it_enters_the_window(store: SQLStore) -> None:
    spec, a, b = parked_far_ahead(store, "e1", b_class=BlindMemoryConnector)
    (copy,) = b.texts("cal")
    b.remove_raw("cal", copy)
    _complete_listing_on_b(spec, store, b, "full sync")
    sync_pair(spec, store, IN_THE_WINDOW)
    assert list(a.texts("cal")) == ["e1.ics"] and len(b.texts("cal")) == 1


@pytest.mark.parametrize("how", ["tokenless B", "full sync", "token expired on B", "incremental"])
def test_an_item_moved_and_rescheduled_out_of_the_window_in_one_save_is_never_deleted_on_a(
    store: SQLStore, how: str
) -> None:
    """A client that saves a move as a delete and a create, under another name and 90 days later: a complete
    listing read no new name (it lies outside the window), took the old one for a deletion and, the other copy
    being in the window, passed it on. Asked by identity, B names the item, read as the move it is: what a run
    with a sync token, which names the new href, does."""
    spec, a, b = memories()
    a.put_raw("cal", "e1.ics", event("e1", "visit", day="20261122"))
    sync_pair(spec, store, RUN)
    (old,) = b.texts("cal")
    b.remove_raw("cal", old)
    b.put_raw("cal", "saved-again.ics", event("e1", "visit, later", day="20270219"))
    _complete_listing_on_b(spec, store, b, how)
    assert list(a.texts("cal")) == ["e1.ics"] and list(b.texts("cal")) == ["saved-again.ics"]
    sync_pair(spec, store, replace(IN_THE_WINDOW, full=True))
    assert [title(a, "e1.ics"), title(b, "saved-again.ics")] == ["visit, later"] * 2


def test_an_item_found_by_identity_but_unreadable_is_never_deleted_on_a(store: SQLStore) -> None:
    """The store names where the item is now, but that copy cannot be read: it exists, so it is no deletion; it
    is reported and read again next run."""
    spec, a, b = memories()
    a.put_raw("cal", "e1.ics", event("e1", "visit", day="20261122"))
    sync_pair(spec, store, RUN)
    (old,) = b.texts("cal")
    b.remove_raw("cal", old)
    b.put_raw("cal", "saved-again.ics", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:e1\r\n")  # cut short
    b.locate = lambda collection, keys: {"e1": "saved-again.ics"}  # type: ignore[method-assign]
    report = sync_pair(spec, store, replace(RUN, full=True))
    assert list(a.texts("cal")) == ["e1.ics"]
    assert sorted(line.ident for line in report.lines if line.outcome == "error") == ["", "e1"]  # the file, the item


def test_a_store_that_cannot_answer_by_identity_leaves_the_missing_items_for_the_next_run(store: SQLStore) -> None:
    """A failing query by identity fails nothing else: the item missing from the listing is reported and left as
    it was (its link kept, not forgotten: a held or approved deletion stays so), then decided once the store
    answers."""
    spec, a, b = parked_far_ahead(store, "e1")
    (copy,) = b.texts("cal")
    b.remove_raw("cal", copy)

    def unavailable(collection: str, keys: object) -> dict[str, str]:
        raise Unavailable("the server refused the query")

    b.locate = unavailable  # type: ignore[method-assign]
    report = sync_pair(spec, store, replace(RUN, full=True))
    assert list(a.texts("cal")) == ["e1.ics"] and list(stored_links(store, "mem")) == ["e1"]
    assert [line.ident for line in report.lines if "refused the query" in line.message] == ["e1"]
    vars(b).pop("locate")
    sync_pair(spec, store, replace(RUN, full=True))
    sync_pair(spec, store, IN_THE_WINDOW)
    assert a.texts("cal") == b.texts("cal") == {}


class UidContainsMemory(MemoryConnector):
    """A CalDAV server that ignores ``match-type="equals"`` and matches a UID query as a substring (RFC 4791's
    ``text-match`` is a substring match; SabreDAV-based servers, for one, do so): a key finds every UID holding it."""

    def locate(self, collection: str, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for href, text in self.texts(collection).items():
            try:
                uid = Content.from_text(text).ident
            except InvalidItem:
                continue
            for key in keys:
                if key in uid:
                    found.setdefault(key, href)
        return found


def test_an_item_located_at_a_name_holding_another_item_is_reported_not_blocked_silently(store: SQLStore) -> None:
    """An identity whose located name holds another item was blocked with no line in the report: on a store whose
    every run is a complete listing (no sync token), B's deletion of e1 was never passed on, and every job said
    "completed"."""
    spec, a, b = memories(b_class=UidContainsMemory)
    a.put_raw("cal", "e1.ics", event("e1", "visit"))
    a.put_raw("cal", "e10.ics", event("e10", "visit"))
    sync_pair(spec, store, RUN)
    b.capabilities = replace(b.capabilities, has_sync_token=False)
    b.remove_raw("cal", "e1.ics")
    for _ in range(3):
        report = sync_pair(spec, store, RUN)
    assert any(line.ident == "e1" for line in report.lines), (report.outcome, report.lines)


def test_two_identities_located_at_one_name_do_not_block_the_item_there_as_a_duplicate(store: SQLStore) -> None:
    """Two keys answered with one href: it was fetched twice, and the second read reported "two items carry the
    identity 'e10' (saved-again.ics and saved-again.ics)", blocking e10's move."""
    spec, a, b = memories(b_class=UidContainsMemory)
    a.put_raw("cal", "e1.ics", event("e1", "visit"))
    a.put_raw("cal", "e10.ics", event("e10", "visit"))
    sync_pair(spec, store, RUN)
    b.remove_raw("cal", "e1.ics")
    b.remove_raw("cal", "e10.ics")
    b.put_raw("cal", "saved-again.ics", event("e10", "visit, later", day="20270219"))
    report = sync_pair(spec, store, replace(RUN, full=True))
    assert not [line.message for line in report.lines if "two items carry" in line.message]
    assert stored_links(store, "mem")["e10"].b.href == "saved-again.ics"


def test_a_query_by_identity_that_answers_nothing_turns_no_move_into_a_deletion(store: SQLStore) -> None:
    """A store whose query on the UID answers nothing (a server ignoring the filter, a broken index) made every
    item moved out of the window look deleted. An identity the run read on that side, asked along, tells."""
    spec, a, b = parked_far_ahead(store, "e1", "e2")
    b.remove_raw("cal", "e1.ics")
    b.put_raw("cal", "moved.ics", a.texts("cal")["e1.ics"])
    b.put_raw("cal", "e2.ics", a.texts("cal")["e2.ics"].replace("visit", "visit, edited"))  # read in this run
    b.locate = lambda collection, keys: {}  # type: ignore[method-assign]
    sync_pair(spec, store, replace(RUN, full=True))
    assert "e1.ics" in a.texts("cal")


def test_an_approved_far_ahead_deletion_is_not_undone_when_the_store_cannot_answer_once(store: SQLStore) -> None:
    """A deletion the guard held and an admin approved, decided in a run where the query by identity fails: the
    link was forgotten instead, and the item the user deleted came back to B when it entered the window."""
    spec, _a, b = parked_far_ahead(store, "e1")
    spec = replace(spec, policy=PairPolicy(guard=MassDeleteGuard(max_count=0)))
    (copy,) = b.texts("cal")
    b.remove_raw("cal", copy)
    assert sync_pair(spec, store, replace(RUN, full=True)).a.held == 1

    def unavailable(collection: str, keys: object) -> dict[str, str]:
        raise Unavailable("timed out")

    b.locate = unavailable  # type: ignore[method-assign]
    sync_pair(spec, store, replace(RUN, full=True, approved=frozenset({"e1"})))
    vars(b).pop("locate")
    sync_pair(spec, store, IN_THE_WINDOW)
    assert b.texts("cal") == {}


def test_a_connector_opting_out_of_locating_on_the_instance_is_not_called(store: SQLStore) -> None:
    """``isinstance(conn, Locating)`` is True for an instance whose ``locate`` is None (the class check comes
    first): the run died with "'NoneType' object is not callable"."""
    spec, _a, b = parked_far_ahead(store, "e1")
    (copy,) = b.texts("cal")
    b.remove_raw("cal", copy)
    b.locate = None  # type: ignore[assignment]
    sync_pair(spec, store, replace(RUN, full=True))


def _complete_listing_on_b(spec: PairSpec, store: SQLStore, b: MemoryConnector, how: str) -> None:
    """One run in which B is read by a complete listing (or, ``incremental``, by its changes since the token)."""
    if how == "tokenless B":
        b.capabilities = replace(b.capabilities, has_sync_token=False)
        sync_pair(spec, store, RUN)
        b.capabilities = replace(b.capabilities, has_sync_token=True)
    elif how == "full sync":
        sync_pair(spec, store, replace(RUN, full=True))
    elif how == "token expired on B":
        answers = b.changes
        b.changes = lambda collection, token: answers(collection, None)  # type: ignore[method-assign]
        sync_pair(spec, store, RUN)
        vars(b).pop("changes")
    else:
        sync_pair(spec, store, RUN)


def test_a_moved_items_old_name_taken_by_another_item_outside_the_window_is_no_copy(store: SQLStore) -> None:
    """The old name, read to tell a move from a copy, holds an unlinked item outside the window: it was not
    recorded as read, so the move was taken for a copy, blocked in every run."""
    spec, a, b = parked_far_ahead(store, "e1")
    (old,) = b.texts("cal")
    _moved_on_b(b, event("e1", "visit, edited", day="20270219"))
    sync_pair(spec, store, RUN)
    b.put_raw("cal", old, event("x9", "old thing", day="20261001"))
    b.put_raw("cal", "moved.ics", event("e1", "visit, brought forward", day="20261130"))
    report = sync_pair(spec, store, RUN)
    assert not [line for line in report.lines if line.outcome == "error"], report.lines
    assert [title(a, h) for h in a.texts("cal")] == ["visit, brought forward"]
