"""Every Graph pattern and range round-trips through RRULE, and every exception kind through the fake."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from calsync.connectors.base import Fetched
from calsync.connectors.graph import recurrence
from calsync.connectors.graph.connector import GraphConnector
from calsync.errors import InvalidItem
from calsync.model.content import Content
from tests.connectors.graph.conftest import new_mailbox
from tests.connectors.graph.fake.server import FakeGraph
from tests.samples import event

START = datetime(2026, 11, 23, 9, tzinfo=ZoneInfo("Europe/Berlin"))  # a Monday
ZONE = "W. Europe Standard Time"

PATTERNS = {
    "FREQ=DAILY;INTERVAL=2;COUNT=10": {"type": "daily", "interval": 2},
    "FREQ=WEEKLY;BYDAY=MO,WE": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday", "wednesday"]},
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO;WKST=SU": {"type": "weekly", "interval": 2, "firstDayOfWeek": "sunday"},
    "FREQ=MONTHLY;BYMONTHDAY=23;COUNT=5": {"type": "absoluteMonthly", "dayOfMonth": 23},
    "FREQ=MONTHLY;BYDAY=4MO": {"type": "relativeMonthly", "index": "fourth", "daysOfWeek": ["monday"]},
    "FREQ=MONTHLY;BYDAY=-1FR": {"type": "relativeMonthly", "index": "last", "daysOfWeek": ["friday"]},
    "FREQ=YEARLY;BYMONTH=11;BYMONTHDAY=23": {"type": "absoluteYearly", "month": 11, "dayOfMonth": 23},
    "FREQ=YEARLY;BYMONTH=11;BYDAY=4MO;COUNT=3": {"type": "relativeYearly", "month": 11, "index": "fourth"},
    "FREQ=WEEKLY;BYDAY=MO;UNTIL=20261221T225959Z": {"type": "weekly", "daysOfWeek": ["monday"]},
}


@pytest.mark.parametrize("rule", list(PATTERNS))
def test_each_pattern_and_range_round_trips(rule: str) -> None:
    graph = recurrence.from_rrule(rule, START, ZONE)
    for key, value in PATTERNS[rule].items():
        assert graph["pattern"][key] == value
    assert graph["range"]["startDate"] == "2026-11-23"
    expected_range = "numbered" if "COUNT" in rule else ("endDate" if "UNTIL" in rule else "noEnd")
    assert graph["range"]["type"] == expected_range
    back = recurrence.to_rrule(graph, START)
    assert dict(p.split("=") for p in back.split(";")) == dict(p.split("=") for p in rule.split(";"))


def test_the_end_date_is_the_local_day_of_until() -> None:
    graph = recurrence.from_rrule("FREQ=DAILY;UNTIL=20261130T080000Z", START, ZONE)
    assert graph["range"]["endDate"] == "2026-11-30"


@pytest.mark.parametrize("rule", ["FREQ=HOURLY", "FREQ=MONTHLY;BYMONTHDAY=1,15", "FREQ=YEARLY;BYWEEKNO=20"])
def test_a_rule_graph_cannot_hold_is_an_invalid_item(rule: str) -> None:
    with pytest.raises(InvalidItem):
        recurrence.from_rrule(rule, START, ZONE)


SERIES = {
    "plain": "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6\r\n",
    "cancelled": "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6\r\nEXDATE;TZID=Europe/Berlin:20261130T090000\r\n",
    "monthly-no-end": "RRULE:FREQ=MONTHLY;BYDAY=4MO\r\n",
}
OVERRIDE = (
    "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T080000Z\r\nRECURRENCE-ID;TZID=Europe/Berlin:20261207T090000\r\n"
    "DTSTART;TZID=Europe/Berlin:20261207T140000\r\nDTEND;TZID=Europe/Berlin:20261207T150000\r\n"
    "SUMMARY:Moved\r\nEND:VEVENT\r\n"
)


def _series(uid: str, extra: str, override: bool = False) -> str:
    text = event(uid, "Standup", extra=extra)
    if override:
        text = text.replace("END:VCALENDAR", OVERRIDE.format(uid=uid) + "END:VCALENDAR")
    return text


@pytest.mark.parametrize(("kind", "override"), [*((k, False) for k in SERIES), ("cancelled", True)])
def test_a_series_with_each_exception_kind_reads_back_with_the_same_digest(
    fake: FakeGraph, connect: Callable[..., GraphConnector], kind: str, override: bool
) -> None:
    mailbox = new_mailbox(fake)
    conn = connect()
    content = Content.from_text(_series(f"s-{kind}", SERIES[kind], override))
    ref = conn.create(mailbox, content, f"s-{kind}")
    (got,) = conn.get(mailbox, [ref.href])
    assert isinstance(got, Fetched)
    assert got.ref == ref
    assert got.content.digest == content.digest
    item = got.content.item
    assert item.recurrence is not None
    if kind == "cancelled":
        assert [x.isoformat() for x in item.recurrence.exdates] == ["2026-11-30T09:00:00+01:00"]
    if override:
        assert [o.title for o in item.overrides] == ["Moved"]


def test_exceptions_made_in_outlook_are_read_as_overrides_and_excluded_dates(
    fake: FakeGraph, connect: Callable[..., GraphConnector]
) -> None:
    mailbox = new_mailbox(fake)
    conn = connect()
    ref = conn.create(mailbox, Content.from_text(_series("s-outlook", SERIES["plain"])), "s-outlook")
    box = fake.mailboxes[mailbox]
    with fake.lock:
        stored = box.events[ref.href]
        stored.cancelled.add("2026-12-14T08:00:00Z")
        stored.exceptions["2026-12-21T08:00:00Z"] = ({"subject": "Christmas standup"}, box.next_change())
        stored.change = box.next_change()
    (got,) = conn.get(mailbox, [ref.href])
    assert isinstance(got, Fetched) and got.ref.version != ref.version
    item = got.content.item
    assert item.recurrence is not None
    assert [x.isoformat() for x in item.recurrence.exdates] == ["2026-12-14T09:00:00+01:00"]
    assert [(o.recurrence_id.isoformat() if o.recurrence_id else "", o.title) for o in item.overrides] == [
        ("2026-12-21T09:00:00+01:00", "Christmas standup")
    ]


def _all_day_series_made_in_berlin(fake: FakeGraph, mailbox: str) -> str:
    body = {
        "subject": "Holiday duty",
        "isAllDay": True,
        "start": {"dateTime": "2026-12-01T00:00:00", "timeZone": ZONE},
        "end": {"dateTime": "2026-12-02T00:00:00", "timeZone": ZONE},
        "originalStartTimeZone": ZONE,
        "originalEndTimeZone": ZONE,
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"], "firstDayOfWeek": "monday"},
            "range": {
                "type": "numbered",
                "numberOfOccurrences": 4,
                "startDate": "2026-12-01",
                "recurrenceTimeZone": ZONE,
            },
        },
    }
    with fake.lock:
        return str(fake.mailboxes[mailbox.lower()].add(body).data["id"])


def test_an_all_day_series_made_east_of_utc_reads_with_its_occurrences(
    fake: FakeGraph, connect: Callable[..., GraphConnector]
) -> None:
    """Graph gives the all-day Tuesday of a Berlin series as originalStart Monday 23:00 UTC. Its UTC date used to be
    taken, which no occurrence of the rule has: every occurrence read as excluded. The date is the series' zone's."""
    from datetime import date

    from tests.connectors.graph.fake.mailbox import stamp

    mailbox = new_mailbox(fake)
    conn = connect()
    href = _all_day_series_made_in_berlin(fake, mailbox)
    (got,) = conn.get(mailbox, [href])
    assert isinstance(got, Fetched)
    item = got.content.item
    assert item.start == date(2026, 12, 1) and item.recurrence is not None
    assert item.recurrence.exdates == ()
    with fake.lock:  # the user cancels the second Tuesday in Outlook
        stored = fake.mailboxes[mailbox.lower()].events[href]
        stored.cancelled.add(stamp(datetime(2026, 12, 7, 23, tzinfo=ZoneInfo("UTC"))))
    (got,) = conn.get(mailbox, [href])
    assert isinstance(got, Fetched) and got.content.item.recurrence is not None
    assert got.content.item.recurrence.exdates == (date(2026, 12, 8),)


def test_occurrences_of_an_all_day_series_are_found_by_their_date_in_the_series_zone() -> None:
    """Writing an excluded date finds the instance to delete the same way reading names it."""
    from datetime import date
    from zoneinfo import ZoneInfo as Zone

    from calsync.connectors.graph import series
    from calsync.model.item import Item, Recurrence

    item = Item(
        uid="allday-1",
        start=date(2026, 12, 1),
        end=date(2026, 12, 2),
        recurrence=Recurrence("FREQ=WEEKLY;BYDAY=TU;COUNT=4", (), (date(2026, 12, 8),)),
    )
    days = ("2026-11-30", "2026-12-07", "2026-12-14", "2026-12-21")  # the Tuesdays, midnight in Berlin, in UTC
    found = [{"id": f"occ-{n}", "originalStart": f"{day}T23:00:00Z"} for n, day in enumerate(days)]
    deletions, patches = series.occurrence_targets(item, found, Zone("Europe/Berlin"))
    assert deletions == ["occ-1"] and patches == []


STANDUP = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync tests//EN\r\n"
    "BEGIN:VEVENT\r\nUID:standup-1\r\nDTSTAMP:20231101T080000Z\r\n"
    "DTSTART;TZID=Europe/Berlin:20240101T090000\r\nDTEND;TZID=Europe/Berlin:20240101T093000\r\n"
    "RRULE:FREQ=WEEKLY;BYDAY=MO\r\nSUMMARY:Stand-up\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
)
THIS_YEAR = "2026-11-30T08:00:00Z"  # Mon 30 Nov 2026, 09:00 Berlin: near the fake's now, years after the start


def _cancel(fake: FakeGraph, mailbox: str, href: str, original: str) -> None:
    with fake.lock:  # the user deletes one occurrence in Outlook
        box = fake.mailboxes[mailbox.lower()]
        stored = box.events[href]
        stored.cancelled.add(original)
        stored.change = box.next_change()


def test_a_recent_change_to_a_series_that_began_years_ago_is_read(
    fake: FakeGraph, connect: Callable[..., GraphConnector]
) -> None:
    """Instances used to be read only over two years from the series' start: a stand-up begun in 2024 and
    cancelled once this year read without the cancellation, and the business side kept the meeting."""
    mailbox = new_mailbox(fake)
    conn = connect()
    ref = conn.create(mailbox, Content.from_text(STANDUP.format(extra="")), "standup-1")
    _cancel(fake, mailbox, ref.href, THIS_YEAR)
    (got,) = conn.get(mailbox, [ref.href])
    assert isinstance(got, Fetched) and got.content.item.recurrence is not None
    assert [x.isoformat() for x in got.content.item.recurrence.exdates] == ["2026-11-30T09:00:00+01:00"]


def test_an_update_of_a_series_that_began_years_ago_keeps_this_years_exceptions(
    fake: FakeGraph, connect: Callable[..., GraphConnector]
) -> None:
    """An update PATCHes the recurrence, which drops every exception on Exchange; they used to be written again
    only over two years from the start, so the user's cancellation of this year came back in Outlook."""
    from dataclasses import replace

    mailbox = new_mailbox(fake)
    conn = connect()
    ref = conn.create(mailbox, Content.from_text(STANDUP.format(extra="")), "standup-1")
    _cancel(fake, mailbox, ref.href, THIS_YEAR)
    (got,) = conn.get(mailbox, [ref.href])
    assert isinstance(got, Fetched)
    renamed = Content.from_item(replace(got.content.item, title="Daily stand-up"))
    conn.update(mailbox, got.ref, renamed)
    assert THIS_YEAR in fake.mailboxes[mailbox.lower()].events[ref.href].cancelled


def test_exceptions_before_the_range_read_are_kept_as_written(
    fake: FakeGraph, connect: Callable[..., GraphConnector]
) -> None:
    """Instances are read around now, so an exception from years ago is not read; it is taken from what calsync
    wrote. Otherwise the series would read differently as the range moves on: a change nobody made, written to
    the other side without its old exceptions."""
    mailbox = new_mailbox(fake)
    conn = connect()
    content = Content.from_text(STANDUP.format(extra="EXDATE;TZID=Europe/Berlin:20240108T090000\r\n"))
    ref = conn.create(mailbox, content, "standup-1")
    (got,) = conn.get(mailbox, [ref.href])
    assert isinstance(got, Fetched) and got.content.digest == content.digest
    _cancel(fake, mailbox, ref.href, THIS_YEAR)  # a change in Outlook: what Graph holds is read, the old one kept
    (got,) = conn.get(mailbox, [ref.href])
    assert isinstance(got, Fetched) and got.content.item.recurrence is not None
    assert [x.isoformat() for x in got.content.item.recurrence.exdates] == [
        "2024-01-08T09:00:00+01:00",
        "2026-11-30T09:00:00+01:00",
    ]


def test_a_series_made_in_outlook_reads_the_same_a_month_later(
    fake: FakeGraph, connect: Callable[..., GraphConnector], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Why: with no copy calsync wrote, a series read only around now lost a cancellation once it fell behind the
    # range: a change nobody made, which the engine would copy to the other side
    import datetime as clock
    from datetime import UTC, timedelta

    from calsync.connectors.graph import connector as graph_connector
    from tests.connectors.graph.outlook import put

    mailbox = new_mailbox(fake)
    conn = connect()
    href = put(fake, mailbox, "outlook-standup", STANDUP.format(extra=""))
    _cancel(fake, mailbox, href, "2025-11-03T08:00:00Z")  # cancelled last year, inside the range today
    (today,) = conn.get(mailbox, [href])
    assert isinstance(today, Fetched) and today.content.item.recurrence is not None
    assert today.content.item.recurrence.exdates
    later = clock.datetime.now(UTC) + timedelta(days=30)

    class MonthLater(clock.datetime):
        @classmethod
        def now(cls, tz: clock.tzinfo | None = None) -> MonthLater:
            return later if tz is not None else later.replace(tzinfo=None)  # type: ignore[return-value]

    monkeypatch.setattr(graph_connector, "datetime", MonthLater)
    (month_later,) = conn.get(mailbox, [href])
    assert isinstance(month_later, Fetched) and month_later.content.digest == today.content.digest


def test_a_series_whose_key_holds_a_comma_is_written_with_its_exceptions_and_read_back(
    fake: FakeGraph, connect: Callable[..., GraphConnector]
) -> None:
    """The key is an identity, its comma escaped: the projection a write is signed with must take the UID that
    identity spells, or its master and its overrides hold two UIDs and no series with an exception is written."""
    mailbox = new_mailbox(fake)
    conn = connect()
    content = Content.from_text(_series("s\\,1", SERIES["cancelled"], override=True))
    ref = conn.create(mailbox, content, content.ident)
    (got,) = conn.get(mailbox, [ref.href])
    assert isinstance(got, Fetched)
    assert got.content.ident == "s\\,1" and got.content.digest == content.digest
