"""Recurring series with modified and deleted occurrences round-trip through the fake Exchange: the occurrences
are really changed and deleted there (Outlook sees them), and the content read back has the writer's digest."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from calsync.connectors.base import Fetched
from calsync.connectors.ews.connector import EwsConnector
from calsync.model.content import Content
from calsync.model.item import Item
from tests.connectors.ews.conftest import new_mailbox
from tests.connectors.ews.fake import series
from tests.connectors.ews.fake.server import FakeEws

SERIES = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync tests//EN\r\n"
    "BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20261101T080000Z\r\n"
    "DTSTART;TZID=Europe/Berlin:20261102T090000\r\nDTEND;TZID=Europe/Berlin:20261102T100000\r\n"
    "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6\r\nSUMMARY:Stand-up\r\nLOCATION:Room 1\r\n"
    "EXDATE;TZID=Europe/Berlin:20261116T090000\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20261101T080000Z\r\n"
    "RECURRENCE-ID;TZID=Europe/Berlin:20261123T090000\r\n"
    "DTSTART;TZID=Europe/Berlin:20261123T113000\r\nDTEND;TZID=Europe/Berlin:20261123T123000\r\n"
    "SUMMARY:Stand-up (moved)\r\nLOCATION:Room 2\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@pytest.fixture
def conn(fake: FakeEws, connect: Callable[..., EwsConnector]) -> EwsConnector:
    return connect(mailboxes=[new_mailbox(fake)])


def _read(conn: EwsConnector, href: str) -> Item:
    (got,) = conn.get(conn.mailboxes[0], [href])
    assert isinstance(got, Fetched)
    return got.content.item


def test_a_series_with_a_moved_and_a_deleted_occurrence_round_trips(conn: EwsConnector, fake: FakeEws) -> None:
    content = Content.from_text(SERIES)
    ref = conn.create(conn.mailboxes[0], content, "weekly-1")
    (got,) = conn.get(conn.mailboxes[0], [ref.href])
    assert isinstance(got, Fetched) and got.ref == ref
    assert got.content.digest == content.digest
    stored = fake.store.items[ref.href]
    assert stored.removed == {"2026-11-16T08:00:00Z"}
    (moved,) = stored.modified.values()
    assert series.when(moved.findtext("{*}Start") or "") == series.when("2026-11-23T10:30:00Z")


def test_what_exchange_holds_is_read_as_exceptions_and_excluded_dates(conn: EwsConnector, fake: FakeEws) -> None:
    ref = conn.create(conn.mailboxes[0], Content.from_text(SERIES), "weekly-1")
    with fake.lock:
        for prop in fake.store.items[ref.href].element.findall("{*}ExtendedProperty"):
            if "residue" in (prop.find("{*}ExtendedFieldURI").get("PropertyName") or ""):
                prop.getparent().remove(prop)  # an Outlook-made series has no residue: read what Exchange holds
    item = _read(conn, ref.href)
    assert item.recurrence is not None and item.recurrence.rule == "FREQ=WEEKLY;BYDAY=MO;COUNT=6"
    assert [x.isoformat() for x in item.recurrence.exdates] == ["2026-11-16T09:00:00+01:00"]
    (override,) = item.overrides
    assert override.recurrence_id is not None and override.recurrence_id.isoformat() == "2026-11-23T09:00:00+01:00"
    assert override.title == "Stand-up (moved)" and override.location == "Room 2"
    assert override.start is not None and override.start.isoformat() == "2026-11-23T11:30:00+01:00"


def test_updating_a_series_rewrites_its_exceptions(conn: EwsConnector, fake: FakeEws) -> None:
    ref = conn.create(conn.mailboxes[0], Content.from_text(SERIES), "weekly-1")
    changed = SERIES.replace("EXDATE;TZID=Europe/Berlin:20261116T090000", "EXDATE;TZID=Europe/Berlin:20261109T090000")
    new = conn.update(conn.mailboxes[0], ref, Content.from_text(changed))
    assert new.version != ref.version
    stored = fake.store.items[ref.href]
    assert stored.removed == {"2026-11-09T08:00:00Z"} and len(stored.modified) == 1
    (got,) = conn.get(conn.mailboxes[0], [ref.href])
    assert isinstance(got, Fetched) and got.content.digest == Content.from_text(changed).digest


def test_the_window_lists_a_series_by_its_master(conn: EwsConnector) -> None:
    from datetime import UTC, datetime

    from calsync.model.window import Window

    ref = conn.create(conn.mailboxes[0], Content.from_text(SERIES), "weekly-1")
    listed = conn.list(conn.mailboxes[0], Window(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)))
    assert listed == [ref]


ALL_DAY = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync tests//EN\r\n"
    "BEGIN:VEVENT\r\nUID:allday-1\r\nDTSTAMP:20261101T080000Z\r\n"
    "DTSTART;VALUE=DATE:20261201\r\nDTEND;VALUE=DATE:20261202\r\n"
    "RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=4\r\nSUMMARY:Duty\r\n"
    "EXDATE;VALUE=DATE:20261208\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def _drop_residue(fake: FakeEws, href: str) -> None:
    with fake.lock:
        for prop in fake.store.items[href].element.findall("{*}ExtendedProperty"):
            if "residue" in (prop.find("{*}ExtendedFieldURI").get("PropertyName") or ""):
                prop.getparent().remove(prop)


def test_a_deleted_all_day_occurrence_is_read_on_its_date_in_the_series_zone(conn: EwsConnector, fake: FakeEws) -> None:
    """Exchange reports the deleted Tuesday of a Berlin all-day series as Monday 23:00 UTC. Reading it used to
    raise (exchangelib refuses astimezone with a stdlib zone) and, below that, took the UTC date: the cancelled
    Tuesday came back and a Monday that is no occurrence was "excluded"."""
    from datetime import date

    ref = conn.create(conn.mailboxes[0], Content.from_text(ALL_DAY), "allday-1")
    _drop_residue(fake, ref.href)  # as Outlook made it: what Exchange holds is read
    item = _read(conn, ref.href)
    assert item.start == date(2026, 12, 1)
    assert item.recurrence is not None and item.recurrence.exdates == (date(2026, 12, 8),)


def test_an_all_day_series_with_an_excluded_date_reads_back_as_written(conn: EwsConnector) -> None:
    """The same series as calsync wrote it: get() yields it with the writer's digest, not an exception."""
    content = Content.from_text(ALL_DAY)
    ref = conn.create(conn.mailboxes[0], content, "allday-1")
    (got,) = conn.get(conn.mailboxes[0], [ref.href])
    assert isinstance(got, Fetched) and got.content.digest == content.digest


def test_an_item_that_cannot_be_read_is_a_failed_fetch_not_a_failed_batch(
    conn: EwsConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """get() promises one value per href: an unexpected error reading one series (here a TypeError, as exchangelib
    raises for a value it refuses) is that item's FetchFailed, and the other items of the batch are still read."""
    from calsync.connectors.base import FetchFailed
    from calsync.connectors.ews import series as ews_series

    single = conn.create(
        conn.mailboxes[0], Content.from_text(SERIES.split("BEGIN:VEVENT", maxsplit=1)[0] + _plain()), "one-1"
    )
    broken = conn.create(conn.mailboxes[0], Content.from_text(SERIES), "weekly-1")

    def fail(*args: object) -> Item:
        raise TypeError("a value exchangelib refuses")

    monkeypatch.setattr(ews_series, "read", fail)
    got = list(conn.get(conn.mailboxes[0], [broken.href, single.href]))
    assert isinstance(got[0], FetchFailed) and "TypeError" in str(got[0].error)
    assert isinstance(got[1], Fetched)


def _plain() -> str:
    return (
        "BEGIN:VEVENT\r\nUID:one-1\r\nDTSTAMP:20261101T080000Z\r\n"
        "DTSTART;TZID=Europe/Berlin:20261102T090000\r\nDTEND;TZID=Europe/Berlin:20261102T100000\r\n"
        "SUMMARY:One\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def test_a_series_whose_key_holds_a_comma_is_written_with_its_exceptions_and_read_back(conn: EwsConnector) -> None:
    """The key is an identity, its comma escaped: the projection a write is signed with must take the UID that
    identity spells, or its master and its overrides hold two UIDs and no series with an exception is written."""
    content = Content.from_text(SERIES.replace("UID:weekly-1", "UID:weekly\\,1"))
    ref = conn.create(conn.mailboxes[0], content, content.ident)
    (got,) = conn.get(conn.mailboxes[0], [ref.href])
    assert isinstance(got, Fetched)
    assert got.content.ident == "weekly\\,1" and got.content.digest == content.digest
