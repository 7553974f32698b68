"""The engine end to end over real stores (folders and memory) and a real SQLite state store."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from calsync.connectors.base import ChangeSet
from calsync.connectors.folder import FolderConnector
from calsync.connectors.memory import MemoryConnector
from calsync.errors import NotFound, PairLocked, ReadOnly, StateError, Unavailable
from calsync.model.canonical import scan
from calsync.model.refs import ItemRef, Side
from calsync.state.sql import SQLStore
from calsync.state.store import JobOutcome, Link, SideStatus
from calsync.sync.engine import PairSpec, RunOptions, sync_pair
from calsync.sync.observe import Endpoint
from calsync.sync.plan import ActionKind, Seen, SideView
from calsync.sync.rules import MassDeleteGuard, Mode, PairPolicy
from tests.samples import event, task

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
RUN = RunOptions(now=NOW)


def crash(_action: object) -> None:
    """Die between a remote write and its state commit."""
    raise KeyboardInterrupt


def folders(
    tmp_path: Path, policy: PairPolicy | None = None, window: tuple[int, int] | None = (30, 30)
) -> tuple[PairSpec, Path, Path]:
    for name in ("a", "b"):
        (tmp_path / name / "cal").mkdir(parents=True)
    spec = PairSpec(
        "folders",
        Endpoint(FolderConnector(tmp_path / "a"), "cal"),
        Endpoint(FolderConnector(tmp_path / "b"), "cal"),
        policy or PairPolicy(),
        window,
    )
    return spec, tmp_path / "a" / "cal", tmp_path / "b" / "cal"


def write_events(folder: Path, count: int) -> None:
    """Events ``e0`` … in files ``e0.ics`` …"""
    for i in range(count):
        (folder / f"e{i}.ics").write_text(event(f"e{i}"), encoding="utf-8")


def idents(folder: Path) -> dict[str, str]:
    return {
        scan(p.read_text(encoding="utf-8")).facts.ident: scan(p.read_text(encoding="utf-8")).facts.title
        for p in folder.glob("*.ics")
    }


def memories(
    policy: PairPolicy | None = None, **b_options: object
) -> tuple[PairSpec, MemoryConnector, MemoryConnector]:
    a, b = MemoryConnector("a"), MemoryConnector("b", **b_options)  # type: ignore[arg-type]
    a.make_collection("cal")
    b.make_collection("cal")
    return PairSpec("mem", Endpoint(a, "cal"), Endpoint(b, "cal"), policy or PairPolicy(), (30, 30)), a, b


def test_a_malformed_file_is_one_failed_item_and_the_rest_syncs(tmp_path: Path, store: SQLStore) -> None:
    spec, a, b = folders(tmp_path)
    write_events(a, 3)
    (a / "broken.ics").write_text("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:no end\r\n", encoding="utf-8")
    report = sync_pair(spec, store, RUN)
    assert set(idents(b)) == {"e0", "e1", "e2"}
    assert report.a.errors == 1 and report.b.created == 3
    (line,) = [x for x in report.lines if x.outcome == "error"]
    assert line.href == "broken.ics" and "cut short" in line.message
    assert store.jobs()[0].outcome is JobOutcome.WARNINGS


def test_a_rerun_reads_only_what_changed_and_writes_nothing(
    tmp_path: Path, store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, a, _b = folders(tmp_path)
    write_events(a, 5)
    sync_pair(spec, store, RUN)
    monkeypatch.setattr("calsync.connectors.folder.connector.etag_of", lambda data: pytest.fail("a file was read"))
    report = sync_pair(spec, store, RUN)
    assert report.writes == 0 and report.unchanged == 5


def test_the_mass_deletion_guard_holds_deletions_until_allowed(tmp_path: Path, store: SQLStore) -> None:
    spec, a, b = folders(tmp_path, PairPolicy(guard=MassDeleteGuard(max_share=0.5, max_count=100)))
    write_events(a, 10)
    sync_pair(spec, store, RUN)
    for i in range(6):
        (a / f"e{i}.ics").unlink()
    held = sync_pair(spec, store, RUN)
    assert held.b.held == 6 and held.b.deleted == 0 and len(idents(b)) == 10
    assert "mass-deletion guard" in held.warnings[0]
    assert sync_pair(spec, store, RUN).b.held == 6  # still held on the next run
    done = sync_pair(spec, store, RunOptions(now=NOW, allow_mass_delete=True))
    assert done.b.deleted == 6 and len(idents(b)) == 4


def test_a_small_calendar_found_empty_is_not_emptied_on_the_other_side_unasked(tmp_path: Path, store: SQLStore) -> None:
    """Four items are fewer than ``min_items``, yet a side found empty (a folder re-pointed, a drive not mounted)
    is far more often a mistake than four deletions; a new item there, or one deletion, is ordinary."""
    spec, a, b = folders(tmp_path, PairPolicy())
    write_events(a, 4)
    sync_pair(spec, store, RUN)
    (a / "e0.ics").unlink()
    assert sync_pair(spec, store, RUN).b.deleted == 1
    for path in a.glob("*.ics"):
        path.unlink()
    held = sync_pair(spec, store, RUN)
    assert held.b.held == 3 and held.b.deleted == 0 and len(idents(b)) == 3
    assert "A was found empty" in held.warnings[0]
    assert sync_pair(spec, store, RunOptions(now=NOW, allow_mass_delete=True)).b.deleted == 3


def test_a_dry_run_plans_without_writing_anything(tmp_path: Path, store: SQLStore) -> None:
    spec, a, b = folders(tmp_path)
    (a / "e1.ics").write_text(event("e1"), encoding="utf-8")
    report = sync_pair(spec, store, RunOptions(now=NOW, dry_run=True))
    assert [(x.kind, x.target) for x in report.planned] == [(ActionKind.CREATE, Side.B)]
    assert report.lines[0].outcome == "planned"
    assert idents(b) == {} and store.jobs() == []
    with store.open_pair("folders") as state:
        assert state.links() == {} and state.token(Side.A) is None


def test_items_outside_the_window_are_not_synced(tmp_path: Path, store: SQLStore) -> None:
    spec, a, b = folders(tmp_path)
    (a / "near.ics").write_text(event("near", day="20261201"), encoding="utf-8")
    (a / "far.ics").write_text(event("far", day="20270401"), encoding="utf-8")
    (a / "old.ics").write_text(event("old", day="20260101"), encoding="utf-8")
    (a / "weekly.ics").write_text(event("weekly", day="20250106", extra="RRULE:FREQ=WEEKLY\r\n"), encoding="utf-8")
    sync_pair(spec, store, RUN)
    assert set(idents(b)) == {"near", "weekly"}  # a series that began long ago still recurs in the window


def test_an_item_that_ages_out_of_the_window_is_unlinked_never_deleted(tmp_path: Path, store: SQLStore) -> None:
    spec, a, b = folders(tmp_path)
    (a / "e1.ics").write_text(event("e1", day="20261201"), encoding="utf-8")
    sync_pair(spec, store, RUN)
    later = sync_pair(spec, store, RunOptions(now=datetime(2027, 3, 1, tzinfo=UTC), full=True))
    assert later.unlinked == 1
    (a / "e1.ics").unlink()
    gone = sync_pair(spec, store, RunOptions(now=datetime(2027, 3, 1, tzinfo=UTC)))
    assert gone.b.deleted == 0 and set(idents(b)) == {"e1"}


def test_an_item_moved_out_of_the_window_is_moved_on_the_other_side_then_unlinked(
    tmp_path: Path, store: SQLStore
) -> None:
    spec, a, b = folders(tmp_path)
    (a / "e1.ics").write_text(event("e1", day="20261201"), encoding="utf-8")
    sync_pair(spec, store, RUN)
    (a / "e1.ics").write_text(event("e1", day="20270601"), encoding="utf-8")
    report = sync_pair(spec, store, RUN)
    assert report.b.updated == 1 and report.unlinked == 1
    assert "20270601" in (b / "e1.ics").read_text(encoding="utf-8")


def test_a_server_that_rewrites_on_save_causes_no_ping_pong(store: SQLStore) -> None:
    def radicale(text: str) -> str:
        return (
            text.replace("PRODID:-//calsync tests//EN", "PRODID:-//Radicale//NONSGML Radicale Server//EN")
            .replace("TRIGGER:-PT60M", "TRIGGER:-PT1H")
            .replace("\r\nDTSTAMP:20261101T080000Z", "")
            .replace("END:VEVENT", "DTSTAMP:20261121T120000Z\r\nEND:VEVENT")
        )

    spec, a, b = memories(rewrite=radicale)
    alarm = "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:x\r\nTRIGGER:-PT60M\r\nEND:VALARM\r\n"
    a.put_raw("cal", "e1.ics", event("e1", extra=alarm))
    sync_pair(spec, store, RUN)
    assert "-PT1H" in b.texts("cal")["e1.ics"]
    assert sync_pair(spec, store, RUN).writes == 0
    assert sync_pair(spec, store, RunOptions(now=NOW, full=True)).writes == 0


def test_two_runs_of_one_pair_never_overlap(store: SQLStore) -> None:
    spec, a, _b = memories()
    a.put_raw("cal", "e1.ics", event("e1"))
    inside = threading.Event()
    release = threading.Event()

    def hold(_action: object) -> None:
        inside.set()
        release.wait(10)

    runner = threading.Thread(target=sync_pair, args=(spec, store, RunOptions(now=NOW, after_write=hold)))
    runner.start()
    assert inside.wait(10)
    with pytest.raises(PairLocked):
        sync_pair(spec, store, RUN)
    release.set()
    runner.join(10)
    assert sync_pair(spec, store, RUN).writes == 0


def test_with_deletions_off_the_link_is_dropped_and_the_copy_kept(store: SQLStore) -> None:
    spec, a, b = memories(PairPolicy(delete_on_b=False))
    a.put_raw("cal", "e1.ics", event("e1"))
    sync_pair(spec, store, RUN)
    a.remove_raw("cal", "e1.ics")
    report = sync_pair(spec, store, RUN)
    assert report.unlinked == 1 and "e1.ics" in b.texts("cal")
    with store.open_pair("mem") as state:
        assert state.links()["e1"].parked == "a"
    full = sync_pair(spec, store, RunOptions(now=NOW, full=True))
    assert full.writes == 0 and a.texts("cal") == {}  # the copy kept on B is not new: never copied back


def test_a_read_only_side_is_never_written(store: SQLStore) -> None:
    a, b = MemoryConnector("a", read_only=True), MemoryConnector("b")
    a.make_collection("cal")
    b.make_collection("cal")
    a.put_raw("cal", "e1.ics", event("e1"))
    spec = PairSpec("ro", Endpoint(a, "cal"), Endpoint(b, "cal"), PairPolicy(read_only_a=True))
    sync_pair(spec, store, RUN)
    b.put_raw("cal", "e1.ics", event("e1", "edited on B"))
    b.put_raw("cal", "e2.ics", event("e2"))
    report = sync_pair(spec, store, RUN)
    assert a.writes == 0 and report.a.skipped == 2
    assert all(x.outcome != "error" for x in report.lines)


def test_a_crash_after_a_create_then_a_deletion_does_not_resurrect_the_item(store: SQLStore) -> None:
    spec, a, b = memories()
    a.put_raw("cal", "e1.ics", event("e1"))
    with pytest.raises(KeyboardInterrupt):
        sync_pair(spec, store, RunOptions(now=NOW, after_write=crash))
    assert "e1.ics" in b.texts("cal")
    assert store.jobs()[0].outcome is JobOutcome.FAILED
    a.remove_raw("cal", "e1.ics")
    report = sync_pair(spec, store, RUN)
    assert report.b.deleted == 1 and b.texts("cal") == {} and a.texts("cal") == {}


def test_a_crash_after_an_update_then_a_new_edit_of_the_source_goes_through_without_conflict(
    store: SQLStore,
) -> None:
    spec, a, b = memories()
    a.put_raw("cal", "e1.ics", event("e1", "v1"))
    sync_pair(spec, store, RUN)
    a.put_raw("cal", "e1.ics", event("e1", "v2"))
    with pytest.raises(KeyboardInterrupt):
        sync_pair(spec, store, RunOptions(now=NOW, after_write=crash))
    a.put_raw("cal", "e1.ics", event("e1", "v3"))
    report = sync_pair(spec, store, RUN)
    assert report.b.updated == 1 and report.b.conflicts == 0
    assert scan(b.texts("cal")["e1.ics"]).facts.title == "v3"


def test_a_crash_after_an_update_then_an_edit_of_the_copy_is_a_recorded_conflict(store: SQLStore) -> None:
    """Whether the lost write happened cannot be told from an edited copy: the policy decides, on the record."""
    spec, a, b = memories()
    a.put_raw("cal", "e1.ics", event("e1", "v1"))
    sync_pair(spec, store, RUN)
    a.put_raw("cal", "e1.ics", event("e1", "v2"))
    with pytest.raises(KeyboardInterrupt):
        sync_pair(spec, store, RunOptions(now=NOW, after_write=crash))
    b.put_raw("cal", "e1.ics", event("e1", "v3 on B"))
    report = sync_pair(spec, store, RUN)
    assert report.b.conflicts == 1 and "conflict" in report.lines[0].rule


def test_two_items_with_one_uid_on_a_side_are_reported_and_not_synced(store: SQLStore) -> None:
    spec, a, b = memories()
    a.put_raw("cal", "x.ics", event("same", "first"))
    a.put_raw("cal", "y.ics", event("same", "second"))
    a.put_raw("cal", "z.ics", event("other"))
    report = sync_pair(spec, store, RUN)
    assert list(b.texts("cal")) == ["other.ics"]
    assert any("two items carry the identity" in x.message for x in report.lines)


def test_a_failed_write_is_retried_on_the_next_run(store: SQLStore) -> None:
    failing = {"on": True}
    spec, a, _b = memories(fail_writes=lambda op, href: Unavailable("server down") if failing["on"] else None)
    a.put_raw("cal", "e1.ics", event("e1"))
    first = sync_pair(spec, store, RUN)
    assert first.b.errors == 1 and "server down" in first.lines[0].message
    failing["on"] = False
    assert sync_pair(spec, store, RUN).b.created == 1


def test_an_item_its_store_will_not_let_calsync_change_is_skipped_with_the_reason_not_an_error(
    store: SQLStore,
) -> None:
    """A meeting someone else organises refuses every update (``ReadOnly``): counted as an error, it marked every
    job of the pair as failing for good, though no rerun could change it."""
    refused = ReadOnly("a meeting organised by boss@example.com: calsync never changes it", connector="b")
    spec, a, b = memories(fail_writes=lambda op, href: refused if op == "update" and href == "e1.ics" else None)
    a.put_raw("cal", "e1.ics", event("e1"))
    a.put_raw("cal", "e2.ics", event("e2"))
    assert sync_pair(spec, store, RUN).b.created == 2
    a.put_raw("cal", "e1.ics", event("e1", "moved"))
    a.put_raw("cal", "e2.ics", event("e2", "moved"))
    report = sync_pair(spec, store, RUN)
    assert (report.b.updated, report.b.skipped, report.b.errors) == (1, 1, 0)
    (line,) = [x for x in report.lines if x.ident == "e1"]
    assert (line.outcome, line.message) == ("skipped", str(refused))
    assert store.jobs()[0].outcome is JobOutcome.COMPLETED
    assert "moved" not in b.texts("cal")["e1.ics"]


def test_the_same_collection_name_on_another_store_starts_afresh(store: SQLStore) -> None:
    """Every account of a Nextcloud names its calendar ``personal``: a pair moved from anna's connection to bob's
    names the same collection, and kept links would have deleted anna's items from A."""
    spec, a, _b = memories()
    for uid in ("e1", "e2", "e3"):
        a.put_raw("cal", f"{uid}.ics", event(uid))
    sync_pair(spec, store, RUN)
    other = MemoryConnector("bob")
    other.make_collection("cal")
    report = sync_pair(replace(spec, b=Endpoint(other, "cal")), store, replace(RUN, full=True))
    assert (report.b.created, report.a.deleted) == (3, 0) and "B: b:cal before" in report.warnings[0]


def test_a_pair_bound_to_nothing_keeps_its_links(store: SQLStore) -> None:
    """A dry run's stand-in for a collection not made yet binds nothing: its id is not the one a sync makes."""
    spec, a, b = memories()
    a.put_raw("cal", "e1.ics", event("e1"))
    sync_pair(spec, store, RUN)
    b.make_collection("stand-in")
    report = sync_pair(replace(spec, b=Endpoint(b, "stand-in"), bound_to=None), store, replace(RUN, dry_run=True))
    assert report.warnings == [] or "afresh" not in report.warnings[0]
    assert sync_pair(spec, store, RUN).warnings == []


def test_a_refused_write_to_a_side_that_is_read_only_as_a_whole_stays_an_error(store: SQLStore) -> None:
    """The connector's own "X is read-only" is a safety net behind the policy: reaching it means a write was
    planned that must not be, which must not pass as a quiet skip."""
    a, b = MemoryConnector("a"), MemoryConnector("b", read_only=True)
    a.make_collection("cal")
    b.make_collection("cal")
    spec = PairSpec("mem", Endpoint(a, "cal"), Endpoint(b, "cal"), PairPolicy(), (30, 30))  # the policy forgot it
    a.put_raw("cal", "e1.ics", event("e1"))
    report = sync_pair(spec, store, RUN)
    assert (report.b.errors, report.b.skipped) == (1, 0)
    assert store.jobs()[0].outcome is JobOutcome.WARNINGS


def test_a_conflict_whose_settling_write_is_refused_stays_a_conflict(store: SQLStore) -> None:
    """Both sides edited a meeting B refuses to change: A wins, B refuses, and the copies differ until someone
    changes one; a plain skip left every such job Completed with no conflict counted."""
    spec, a, b = memories(fail_writes=lambda op, href: ReadOnly("refused", connector="b") if op == "update" else None)
    a.put_raw("cal", "e1.ics", event("e1"))
    sync_pair(spec, store, RUN)
    a.put_raw("cal", "e1.ics", event("e1", "business edit"))
    b.put_raw("cal", "e1.ics", event("e1", "organiser moved it"))
    report = sync_pair(spec, store, RUN)
    assert report.a.conflicts + report.b.conflicts == 1
    assert store.jobs()[0].outcome is JobOutcome.WARNINGS


def test_a_pair_pointed_at_another_collection_starts_afresh_and_deletes_nothing(store: SQLStore) -> None:
    """Its links name the first collection's items: kept, each would be taken as deleted in the new one and the
    deletion passed on to A (here: held by the guard, and nothing ever reached the new collection)."""
    spec, a, b = memories()
    for uid in ("e1", "e2", "e3"):
        a.put_raw("cal", f"{uid}.ics", event(uid))
    assert sync_pair(spec, store, RUN).b.created == 3
    b.make_collection("other")
    moved = replace(spec, b=Endpoint(b, "other"))
    report = sync_pair(moved, store, RUN)
    assert (report.b.created, report.a.deleted, report.a.held) == (3, 0, 0)
    assert "synced A: a:cal, B: b:cal before, not A: a:cal, B: b:other" in report.warnings[0]
    assert sorted(b.texts("other")) == sorted(b.texts("cal")) and len(a.texts("cal")) == 3
    again = sync_pair(moved, store, RUN)
    assert (again.warnings, again.writes) == ([], 0)


def test_an_unreachable_side_fails_the_job_with_its_message(store: SQLStore) -> None:
    spec, _a, _b = memories()
    broken = PairSpec("broken", spec.a, Endpoint(spec.b.connector, "no-such-collection"))
    with pytest.raises(Exception, match="no collection"):
        sync_pair(broken, store, RUN)
    job = store.jobs("broken")[0]
    assert job.outcome is JobOutcome.FAILED and "no collection" in job.message


def test_a_run_that_starts_afresh_then_fails_says_both_in_its_failed_job(store: SQLStore) -> None:
    """Its links were dropped when it started afresh, failure or not: the admin must see that too."""
    spec, a, _b = memories()
    a.put_raw("cal", "e1.ics", event("e1"))
    sync_pair(spec, store, RUN)
    with pytest.raises(NotFound, match="no collection"):
        sync_pair(replace(spec, b=Endpoint(spec.b.connector, "no-such-collection")), store, RUN)
    job = store.jobs("mem")[0]
    assert job.outcome is JobOutcome.FAILED
    assert job.message.startswith("no collection 'no-such-collection' (before that: this pair synced A: a:cal, B: ")
    assert "not A: a:cal, B: b:no-such-collection: it started afresh there" in job.message
    with store.open_pair("mem") as state:
        assert state.links() == {}


def test_a_run_that_starts_afresh_then_is_interrupted_says_both_in_its_failed_job(store: SQLStore) -> None:
    """Stopped (SIGTERM) after starting afresh: its links are gone all the same, so the admin must see that too."""
    spec, a, b = memories()
    a.put_raw("cal", "e1.ics", event("e1"))
    sync_pair(spec, store, RUN)
    b.make_collection("other")
    with pytest.raises(KeyboardInterrupt):
        sync_pair(replace(spec, b=Endpoint(b, "other")), store, replace(RUN, after_write=crash))
    job = store.jobs("mem")[0]
    assert job.outcome is JobOutcome.FAILED
    assert job.message.startswith("the run was interrupted (before that: this pair synced A: a:cal, B: ")
    assert "started afresh" in job.message, job.message


def test_a_state_store_failure_while_storing_the_lines_still_closes_the_job(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job left ``running`` after its run ended shows in the admin pages as running until a scheduler's
    recovery closes it, and never where no scheduler uses the database (``calsync sync``)."""

    def dropped_connection(job_id: int, lines: object) -> None:
        raise StateError("state store: server closed the connection unexpectedly")

    spec, a, _b = memories()
    a.put_raw("cal", "e1.ics", event("e1"))
    monkeypatch.setattr(store, "add_job_lines", dropped_connection)
    with pytest.raises(StateError):
        sync_pair(spec, store, RUN)
    (job,) = store.jobs()
    assert job.outcome is JobOutcome.FAILED and job.finished_at is not None
    assert "closed the connection" in job.message


def test_a_stop_while_recording_a_finished_run_still_closes_the_job(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM (``docker stop``) raises wherever the run is, recording its end included."""
    recorded = store.finish_job

    def stopped_once(job_id: int, outcome: JobOutcome, counts: object, message: str = "") -> None:
        if outcome is not JobOutcome.FAILED:
            raise KeyboardInterrupt
        recorded(job_id, outcome, counts, message)  # type: ignore[arg-type]

    spec, a, _b = memories()
    a.put_raw("cal", "e1.ics", event("e1"))
    monkeypatch.setattr(store, "finish_job", stopped_once)
    with pytest.raises(KeyboardInterrupt):
        sync_pair(spec, store, RUN)
    (job,) = store.jobs()
    assert job.outcome is JobOutcome.FAILED and job.message == "the run was interrupted"


def test_one_way_replicate_mirrors_and_merge_leaves_calendar_items_alone(store: SQLStore) -> None:
    for mode, kept in ((Mode.A_TO_B, False), (Mode.A_TO_B_MERGE, True)):
        spec, a, b = memories(PairPolicy(mode=mode))
        spec = PairSpec(f"one-way-{mode}", spec.a, spec.b, spec.policy)
        a.put_raw("cal", "e1.ics", event("e1"))
        b.put_raw("cal", "mine.ics", event("mine"))
        sync_pair(spec, store, RUN)
        assert ("mine.ics" in b.texts("cal")) is kept
        assert "e1.ics" in b.texts("cal") and "mine.ics" not in a.texts("cal")


def test_tasks_sync_like_events(tmp_path: Path, store: SQLStore) -> None:
    spec, a, b = folders(tmp_path)
    (a / "t1.ics").write_text(task("t1", due="20261125"), encoding="utf-8")
    sync_pair(spec, store, RUN)
    assert "VTODO" in (b / "t1.ics").read_text(encoding="utf-8")


def test_a_store_that_filters_by_window_is_not_read_outside_it(store: SQLStore) -> None:
    """A store with tokens lists all it holds; only what overlaps the window is read, aged-out links drop."""
    spec, a, _b = memories()
    a.put_raw("cal", "near.ics", event("near", day="20261201"))
    a.put_raw("cal", "history.ics", event("history", day="20200101"))
    read: list[str] = []
    real_get = a.get

    def counting_get(collection: str, hrefs: list[str]):  # type: ignore[no-untyped-def]
        read.extend(hrefs)
        return real_get(collection, hrefs)

    a.get = counting_get  # type: ignore[method-assign]
    sync_pair(spec, store, RUN)
    assert read == ["near.ics"]
    read.clear()
    aged = sync_pair(spec, store, RunOptions(now=datetime(2027, 3, 1, tzinfo=UTC), full=True))
    assert read == [] and aged.unlinked == 1 and aged.writes == 0


def test_a_kind_can_have_its_own_mode_even_when_its_content_is_not_read(store: SQLStore) -> None:
    """Order lines are owned by A in a two-way pair: B's edit is overwritten, B's deletion re-created."""
    from calsync.model.item import ItemKind

    spec, a, b = memories(PairPolicy(kind_modes={ItemKind.ORDER_LINE: Mode.A_TO_B}))
    line = "X-CALSYNC-KIND:order-line\r\n"
    a.put_raw("cal", "o1.ics", event("o1", "Order 4711 line 1", extra=line))
    a.put_raw("cal", "e1.ics", event("e1", "Ordinary"))
    sync_pair(spec, store, RUN)
    with store.open_pair("mem") as state:
        assert {i: link.kind for i, link in state.links().items()} == {"o1": "order-line", "e1": "event"}
    b.put_raw("cal", "o1.ics", event("o1", "edited on B", extra=line))
    b.put_raw("cal", "e1.ics", event("e1", "edited on B"))
    report = sync_pair(spec, store, RUN)
    assert scan(b.texts("cal")["o1.ics"]).facts.title == "Order 4711 line 1"
    assert scan(a.texts("cal")["e1.ics"]).facts.title == "edited on B"
    assert report.b.updated == 1 and report.a.updated == 1
    b.remove_raw("cal", "o1.ics")
    again = sync_pair(spec, store, RUN)
    assert again.b.created == 1 and "re-created" in again.lines[0].rule


def test_a_users_file_named_like_our_key_is_never_overwritten(tmp_path: Path, store: SQLStore) -> None:
    spec, a, b = folders(tmp_path)
    (a / "a-1.ics").write_text(event("team-meeting", "Team meeting"), encoding="utf-8")
    (b / "team-meeting.ics").write_text(event("dentist", "Dentist"), encoding="utf-8")
    sync_pair(spec, store, RUN)
    assert idents(b) == {"dentist": "Dentist", "team-meeting": "Team meeting"}
    assert idents(a) == {"dentist": "Dentist", "team-meeting": "Team meeting"}
    assert sync_pair(spec, store, RUN).writes == 0


def test_a_rerun_with_no_change_on_either_side_loads_no_link(
    tmp_path: Path, store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, a, _b = folders(tmp_path)
    write_events(a, 5)
    sync_pair(spec, store, RUN)
    monkeypatch.setattr("calsync.state.pair_state.SQLPairState.links", lambda self: pytest.fail("links were loaded"))
    report = sync_pair(spec, store, RUN)
    assert report.writes == 0 and report.unchanged == 5 and report.lines == []
    assert store.jobs()[0].outcome is JobOutcome.COMPLETED and store.jobs()[0].counts["unchanged"] == 5


def test_a_change_on_one_side_or_a_write_in_flight_makes_a_run_load_the_links(
    tmp_path: Path, store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from calsync.state.pair_state import SQLPairState
    from calsync.state.store import Pending

    spec, a, b = folders(tmp_path)
    write_events(a, 3)
    sync_pair(spec, store, RUN)
    loads: list[int] = []
    real = SQLPairState.links

    def counted(self: SQLPairState) -> dict[str, object]:
        loads.append(1)
        return real(self)  # type: ignore[return-value]

    monkeypatch.setattr(SQLPairState, "links", counted)
    copy = next(p for p in b.glob("*.ics") if scan(p.read_text(encoding="utf-8")).facts.ident == "e0")
    copy.write_text(event("e0", "edited on B"), encoding="utf-8")
    assert sync_pair(spec, store, RUN).a.updated == 1 and loads == [1]
    with store.open_pair("folders") as state:  # a write of a run that died, recorded before it was made
        link = state.links()["e1"]
        state.put_link(replace(link, pending=Pending(Side.B, link.a, "a digest B does not hold")))
    loads.clear()
    report = sync_pair(spec, store, RUN)
    assert loads == [1] and report.writes == 0  # settled from what B holds: the old copy stands
    with store.open_pair("folders") as state:
        assert state.census().pending == 0


def test_a_folder_named_like_an_item_and_a_file_that_cannot_be_read_harm_nothing_else(
    tmp_path: Path, store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from calsync.connectors import folder

    spec, a, b = folders(tmp_path)
    write_events(a, 3)
    (a / "a folder.ics").mkdir()
    real_read = folder.connector._read

    def refused(path: str) -> bytes:
        if path.endswith("e1.ics"):
            raise PermissionError(13, "Permission denied")
        return real_read(path)

    monkeypatch.setattr(folder.connector, "_read", refused)
    report = sync_pair(spec, store, RUN)
    assert set(idents(b)) == {"e0", "e2"} and report.a.errors == 1
    (line,) = [x for x in report.lines if x.outcome == "error"]
    assert line.href == "e1.ics" and line.message == "cannot read e1.ics: Permission denied"
    monkeypatch.setattr(folder.connector, "_read", real_read)
    assert sync_pair(spec, store, RUN).b.created == 1  # readable again: it syncs, unchanged as it is
    assert set(idents(b)) == {"e0", "e1", "e2"}


def test_a_synced_file_that_cannot_be_read_any_more_is_not_deleted_on_the_other_side(
    tmp_path: Path, store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from calsync.connectors import folder

    spec, a, b = folders(tmp_path)
    (a / "e1.ics").write_text(event("e1"), encoding="utf-8")
    sync_pair(spec, store, RUN)
    (a / "e1.ics").write_text(event("e1", "edited"), encoding="utf-8")
    monkeypatch.setattr(folder.connector, "_read", lambda path: (_ for _ in ()).throw(OSError(5, "Input/output error")))
    report = sync_pair(spec, store, RUN)
    assert report.b.deleted == 0 and report.a.errors == 1
    monkeypatch.undo()
    assert sync_pair(spec, store, RUN).b.updated == 1
    assert idents(b) == {"e1": "edited"}


def test_a_write_the_disk_refuses_is_one_failed_item_and_the_rest_syncs(
    tmp_path: Path, store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from calsync.connectors.folder import FolderConnector

    spec, a, b = folders(tmp_path)
    write_events(a, 3)
    real_write = FolderConnector._write_temp

    def full_disk(self: FolderConnector, folder: str, data: bytes) -> tuple[str, str]:
        if b"UID:e1" in data:
            raise OSError(28, "No space left on device")
        return real_write(self, folder, data)

    monkeypatch.setattr(FolderConnector, "_write_temp", full_disk)
    report = sync_pair(spec, store, RUN)
    assert set(idents(b)) == {"e0", "e2"} and report.b.errors == 1
    (line,) = [x for x in report.lines if x.outcome == "error"]
    assert line.message == "cannot write a new item in cal: No space left on device"
    monkeypatch.undo()
    assert sync_pair(spec, store, RUN).b.created == 1 and len(idents(b)) == 3


def test_an_entry_whose_stat_fails_is_unreadable_never_deleted(tmp_path: Path, store: SQLStore) -> None:
    """A link loop (stat: ELOOP) where a synced file was: that item's error, not a deletion (second reading)."""
    spec, a, b = folders(tmp_path)
    write_events(a, 10)
    sync_pair(spec, store, RUN)
    (a / "e1.ics").unlink()
    (a / "e1.ics").symlink_to("e1.ics")
    assert {r.href: r.version for r in FolderConnector(tmp_path / "a").list("cal", None)}["e1.ics"] == "unreadable"
    report = sync_pair(spec, store, RUN)
    assert report.b.deleted == 0 and report.a.errors == 1 and "e1" in idents(b)
    (a / "e1.ics").unlink()
    (a / "e1.ics").write_text(event("e1", "back"), encoding="utf-8")
    assert sync_pair(spec, store, RUN).b.updated == 1 and idents(b)["e1"] == "back"


# -- away and back --------------------------------------------------------------------------------------------


def _href(conn: MemoryConnector, collection: str, ident: str) -> str:
    (href,) = [h for h, text in conn.texts(collection).items() if scan(text).facts.ident == ident]
    return href


def _away_and_back(store: SQLStore, *, deleted: tuple[str, ...]) -> tuple[PairSpec, MemoryConnector, MemoryConnector]:
    """e1 to e4 synced into B's ``cal``; the pair pointed at B's ``other`` and synced there, while the user
    deletes ``deleted`` in ``cal`` (tidying a calendar no longer synced); the spec pointing back at ``cal``."""
    spec, a, b = memories()
    for uid in ("e1", "e2", "e3", "e4"):
        a.put_raw("cal", f"{uid}.ics", event(uid))
    sync_pair(spec, store, RUN)
    b.make_collection("other")
    sync_pair(replace(spec, b=Endpoint(b, "other")), store, RUN)
    for uid in deleted:
        b.remove_raw("cal", _href(b, "cal", uid))
    return spec, a, b


def _refuse_e1(operation: str, href: str) -> ReadOnly | None:
    """B refuses, for good, to take a copy of e1 again (a meeting someone else organises, say)."""
    return ReadOnly("the server refuses this item", connector="b") if operation == "create" and "e1" in href else None


def _marks(store: SQLStore) -> dict[str, str]:
    with store.open_pair("mem") as state:
        return {ident: link.away for ident, link in state.links().items()}


def test_a_copy_refused_on_the_way_back_keeps_no_later_deletion_from_passing_on(
    store: SQLStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Back on ``cal``, the copy of e1 deleted there while the pair was away cannot be put back (B refuses it),
    so every run tries again and never passes that deletion on. The user's own deletions there, of other items,
    pass on all the same: that one item's way back does not hold the whole calendar back."""
    caplog.set_level(logging.INFO, logger="calsync.sync.engine")
    spec, a, b = _away_and_back(store, deleted=("e1",))
    b.fail_writes = _refuse_e1
    back = sync_pair(spec, store, RUN)
    assert (back.b.skipped, back.a.deleted) == (1, 0) and set(a.texts("cal")) == {f"e{n}.ics" for n in range(1, 5)}
    b.remove_raw("cal", _href(b, "cal", "e2"))  # back on it, the user deletes another appointment
    later = sync_pair(spec, store, RUN)
    assert later.a.deleted == 1 and set(a.texts("cal")) == {"e1.ics", "e3.ics", "e4.ics"}, later.lines
    (retried,) = [line for line in later.lines if line.ident == "e1"]
    assert (retried.action, retried.outcome) == ("create", "skipped")
    assert "while this pair was away from it, not passed on" in retried.rule and not later.warnings
    assert "mem: still bringing back 1 item deleted while it synced other collections" in caplog.text


def test_the_first_run_back_clears_the_mark_of_every_item_it_finds_in_sync(store: SQLStore) -> None:
    """Only the link whose copy could not be put back stays marked away from B: one found unchanged, one edited
    there meanwhile (its edit passed on) are in sync again, and a deletion days later is the user's."""
    spec, a, b = _away_and_back(store, deleted=("e1",))
    b.put_raw("cal", _href(b, "cal", "e2"), event("e2", "edited while away"))
    b.fail_writes = _refuse_e1
    dry = sync_pair(spec, store, replace(RUN, dry_run=True))
    assert [action.kind for action in dry.planned if action.ident == "e1"] == [ActionKind.CREATE]
    assert _marks(store) == {f"e{n}": "" for n in range(1, 5)}  # a dry run binds and marks nothing
    back = sync_pair(spec, store, RUN)
    assert back.a.updated == 1 and "edited while away" in a.texts("cal")["e2.ics"]
    assert _marks(store) == {"e1": "b", "e2": "", "e3": "", "e4": ""}
    sync_pair(spec, store, RUN)
    sync_pair(spec, store, RUN)
    b.remove_raw("cal", _href(b, "cal", "e3"))
    later = sync_pair(spec, store, RUN)
    assert later.a.deleted == 1 and "e3.ics" not in a.texts("cal"), later.lines
    assert _marks(store) == {"e1": "b", "e2": "", "e4": ""}


def test_a_run_back_that_stops_before_putting_a_copy_back_leaves_the_next_run_to_put_it_back(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies with the intent to put e1 back recorded and the write not made: the link keeps its mark
    through the intent, and the next run still undoes that deletion, never passes it on."""
    spec, a, b = _away_and_back(store, deleted=("e1",))

    def dies(collection: str, content: object, key: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(b, "create", dies)
    with pytest.raises(KeyboardInterrupt):
        sync_pair(spec, store, RUN)
    monkeypatch.undo()
    with store.open_pair("mem") as state:
        stopped = state.links()["e1"]
    assert stopped.away == "b" and stopped.pending is not None
    again = sync_pair(spec, store, RUN)
    assert again.a.deleted == 0 and again.b.created == 1 and len(a.texts("cal")) == 4
    assert "e1" in {scan(text).facts.ident for text in b.texts("cal").values()}
    assert _marks(store) == {f"e{n}": "" for n in range(1, 5)}


def test_an_item_found_where_the_pair_came_back_loses_its_mark_even_when_its_write_fails(store: SQLStore) -> None:
    """e2, edited in ``cal`` while the pair was away, is found there on the way back; its update of A fails.
    Found there, any later absence is the user's: deleted after all, the deletion reaches A."""
    spec, a, b = _away_and_back(store, deleted=())
    b.put_raw("cal", _href(b, "cal", "e2"), event("e2", "edited while away"))
    a.fail_writes = lambda op, href: Unavailable("server down") if href.startswith("e2") else None
    back = sync_pair(spec, store, RUN)
    assert back.a.errors == 1 and _marks(store) == {f"e{n}": "" for n in range(1, 5)}
    a.fail_writes = None
    b.remove_raw("cal", _href(b, "cal", "e2"))
    later = sync_pair(spec, store, RUN)
    assert later.a.deleted == 1 and "e2.ics" not in a.texts("cal"), later.lines


def test_an_item_that_cannot_be_read_on_the_way_back_keeps_its_mark_until_it_is_read(store: SQLStore) -> None:
    """Unreadable in the first run back, e3 is not known to be there: its link stays marked away from B until a
    run reads it; then a deletion of it is the user's."""
    spec, a, b = _away_and_back(store, deleted=())
    href, text = _href(b, "cal", "e3"), event("e3")
    b.put_raw("cal", href, "BEGIN:VCALENDAR\nnot an event\n")
    back = sync_pair(spec, store, RUN)
    assert back.b.errors == 1 and _marks(store) == {"e1": "", "e2": "", "e3": "b", "e4": ""}
    b.put_raw("cal", href, text)
    sync_pair(spec, store, RUN)
    assert _marks(store) == {f"e{n}": "" for n in range(1, 5)}
    b.remove_raw("cal", href)
    assert sync_pair(spec, store, RUN).a.deleted == 1 and "e3.ics" not in a.texts("cal")


def test_an_item_is_found_where_it_is_read_or_listed_at_its_href_and_not_gone() -> None:
    from calsync.sync.engine import _found

    link = Link("e1", SideStatus("1.a", "v", "d"), SideStatus("1.b", "v", "d"), away="b")
    read = SideView(seen={"e1": Seen(ItemRef("moved.b", "w"), "d")})
    assert _found(link, Side.B, read, ())  # read, wherever it is now
    assert _found(link, Side.B, SideView(), {"1.b"})  # listed unchanged (not read) at its href
    assert not _found(link, Side.B, SideView(), {"other.b"})  # an incremental run that does not name it
    assert not _found(link, Side.B, SideView(gone={"e1"}), {"1.b"})  # its href holds another item now
    assert not _found(link, Side.B, SideView(outside={"e1"}), {"1.b"})  # left the window


def test_a_copy_refused_for_good_on_the_way_back_leaves_later_jobs_completed(store: SQLStore) -> None:
    """A copy the server refuses for good is skipped, not an error, so that it does not mark every later job of
    the pair: the jobs after the way back, each retrying it and refused again, end completed."""
    spec, _a, b = _away_and_back(store, deleted=("e1",))
    b.fail_writes = _refuse_e1
    sync_pair(spec, store, RUN)
    later = [sync_pair(spec, store, RUN) for _ in range(3)]
    assert [r.b.skipped for r in later] == [1, 1, 1]
    assert [r.outcome for r in later] == [JobOutcome.COMPLETED] * 3, [r.warnings for r in later]


def test_a_dry_run_that_finds_a_marked_item_leaves_its_mark(store: SQLStore) -> None:
    """A dry run records nothing: an item it finds where the pair came back keeps its mark for a real run."""
    spec, _a, b = _away_and_back(store, deleted=())
    href, text = _href(b, "cal", "e3"), event("e3")
    b.put_raw("cal", href, "BEGIN:VCALENDAR\nnot an event\n")
    sync_pair(spec, store, RUN)
    b.put_raw("cal", href, text)
    sync_pair(spec, store, replace(RUN, dry_run=True))
    assert _marks(store)["e3"] == "b"


def test_an_item_a_listing_in_parts_names_only_in_a_later_run_loses_its_mark(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first listing back comes in parts (a sync-collection the server cuts short): e3 and e4, unchanged,
    are named only by the next run's changes, unread. Named at their hrefs, they are there: a deletion of e3
    afterwards is the user's, and reaches A."""
    spec, a, b = _away_and_back(store, deleted=())
    whole = b.changes

    def in_parts(collection: str, token: str | None) -> ChangeSet:
        listed = whole(collection, token)
        if token is None:  # the first page only, and a token from which the rest is named
            first = [ref for ref in listed.changed if scan(b.texts(collection)[ref.href]).facts.ident in ("e1", "e2")]
            return ChangeSet(first, (), "0", complete=False)
        return listed

    monkeypatch.setattr(b, "changes", in_parts)
    sync_pair(spec, store, RUN)
    assert _marks(store) == {"e1": "", "e2": "", "e3": "b", "e4": "b"}
    sync_pair(spec, store, RUN)
    assert _marks(store) == {f"e{n}": "" for n in range(1, 5)}
    b.remove_raw("cal", _href(b, "cal", "e3"))
    assert sync_pair(spec, store, RUN).a.deleted == 1 and "e3.ics" not in a.texts("cal")
