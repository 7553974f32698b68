"""Regressions: ways a sync could lose, resurrect or duplicate data that a review found, one test each."""

from __future__ import annotations

from datetime import UTC, datetime

from calsync.connectors.memory import MemoryConnector
from calsync.model.canonical import scan
from calsync.model.item import ItemKind
from calsync.state.sql import SQLStore
from calsync.sync.engine import PairSpec, RunOptions, sync_pair
from calsync.sync.observe import Endpoint
from calsync.sync.rules import ConflictPolicy, Mode, PairPolicy
from tests.samples import event

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
RUN = RunOptions(now=NOW)


def memories(policy: PairPolicy | None = None) -> tuple[PairSpec, MemoryConnector, MemoryConnector]:
    a, b = MemoryConnector("a"), MemoryConnector("b")
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


def test_held_deletions_of_target_only_items_come_back(store: SQLStore) -> None:
    spec, a, b = memories(PairPolicy(mode=Mode.A_TO_B))
    a.put_raw("cal", "keep.ics", event("keep"))
    sync_pair(spec, store, RUN)
    for i in range(8):
        b.put_raw("cal", f"s{i}.ics", event(f"s{i}"))
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
