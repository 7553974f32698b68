"""Occurrences of real series (with exceptions and moved occurrences) and the span of a series."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from calsync.errors import InvalidItem
from calsync.model.ical import ical_to_item
from calsync.model.item import Item, ItemKind, Recurrence, TaskInfo
from calsync.model.recurrence import occurrences, series_span

DATA = Path(__file__).parents[1] / "data" / "ical"
BERLIN = ZoneInfo("Europe/Berlin")
LONDON = ZoneInfo("Europe/London")


def text_of(file: str) -> str:
    return (DATA / file).read_text(encoding="utf-8")


def test_excluded_dates_are_left_out() -> None:
    found = occurrences(text_of("each_week_but_two_deleted.ics"), date(2019, 1, 1), date(2020, 1, 1))
    days = [o.start.date() for o in found if isinstance(o.start, datetime)]
    assert days == [
        date(2019, 3, 4),
        date(2019, 3, 18),
        date(2019, 4, 1),
        date(2019, 4, 8),
        date(2019, 4, 15),
        date(2019, 4, 22),
    ]
    assert all(o.recurrence is None and o.recurrence_id == o.start for o in found)


def test_moved_and_edited_occurrences_replace_the_rule_s_ones() -> None:
    found = occurrences(text_of("issue_223_thunderbird.ics"), date(2025, 4, 24), date(2025, 4, 26))
    assert [(o.start, o.recurrence_id, o.location) for o in found] == [
        (datetime(2025, 4, 24, 11, tzinfo=LONDON), datetime(2025, 4, 24, 9, tzinfo=LONDON), ""),
        (datetime(2025, 4, 25, 9, tzinfo=LONDON), datetime(2025, 4, 25, 9, tzinfo=LONDON), "new place"),
    ]


def test_a_cancelled_occurrence_is_reported_as_cancelled() -> None:
    found = occurrences(text_of("issue_18_cancel_status.ics"), date(2020, 1, 1), date(2020, 2, 1))
    assert [o.status for o in found] == ["", "cancelled", ""]


def test_an_item_a_parsed_calendar_and_text_give_the_same_occurrences() -> None:
    text = text_of("recurring_events_moved.ics")
    window = (date(2019, 3, 1), date(2019, 4, 1))
    from_text = occurrences(text, *window)
    assert occurrences(Calendar.from_ical(text), *window) == from_text
    assert len(from_text) == 7  # two series of 3 and 4 days
    series = Item(
        "s", start=datetime(2026, 1, 5, 9, tzinfo=BERLIN), end=datetime(2026, 1, 5, 10, tzinfo=BERLIN),
        recurrence=Recurrence("FREQ=WEEKLY;COUNT=3"),
    )  # fmt: skip
    assert [o.start for o in occurrences(series, date(2026, 1, 1), date(2026, 2, 1))] == [
        datetime(2026, 1, day, 9, tzinfo=BERLIN) for day in (5, 12, 19)
    ]


def test_unreadable_text_raises_invalid_item() -> None:
    with pytest.raises(InvalidItem):
        occurrences(text_of("broken_dtstart.ics"), date(2000, 1, 1), date(2030, 1, 1))


def test_the_span_of_a_bounded_series_ends_with_its_last_occurrence() -> None:
    weekly = ical_to_item(text_of("each_week_but_two_deleted.ics"))
    assert series_span(weekly) == (
        datetime(2019, 3, 4, 0, 30, tzinfo=BERLIN),
        datetime(2019, 4, 22, 1, tzinfo=BERLIN),
    )
    edited = ical_to_item(text_of("issue_223_thunderbird.ics"))  # UNTIL
    assert series_span(edited)[1] == datetime(2025, 4, 27, 10, tzinfo=LONDON)


def test_an_unbounded_series_has_no_end() -> None:
    daily = ical_to_item(text_of("one_day_event_repeat_every_day.ics"))
    assert series_span(daily) == (daily.start, None)


def test_an_override_moved_past_the_end_extends_the_span() -> None:
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    moved = Item("s", start=start + timedelta(days=30), end=start + timedelta(days=30, hours=1), recurrence_id=start)
    series = Item(
        "s",
        start=start,
        end=start + timedelta(hours=1),
        recurrence=Recurrence("FREQ=DAILY;COUNT=2"),
        overrides=(moved,),
    )
    assert series_span(series) == (start + timedelta(days=1), start + timedelta(days=30, hours=1))


def test_single_items_span_their_own_time() -> None:
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert series_span(Item("a", start=start, end=start + timedelta(hours=2))) == (
        start,
        start + timedelta(hours=2),
    )
    assert series_span(Item("b", start=start)) == (start, start)
    assert series_span(Item("c", start=date(2026, 1, 5))) == (date(2026, 1, 5), date(2026, 1, 6))
    due = date(2026, 2, 1)
    assert series_span(Item("d", kind=ItemKind.TASK, task=TaskInfo(due=due))) == (due, due)
    with pytest.raises(InvalidItem, match="no start"):
        series_span(Item("e"))


def test_occurrences_of_a_series_with_a_duration_end_as_the_parse_ends_them() -> None:
    # the expansion added PT8H on the wall clock: the night of the change to summer time lasted 7 hours
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:shift\r\nDTSTAMP:20250101T000000Z\r\n"
        "DTSTART;TZID=Europe/Berlin:20250328T220000\r\nDURATION:PT8H\r\nRRULE:FREQ=DAILY;COUNT=3\r\n"
        "RDATE;VALUE=PERIOD:20250401T100000Z/PT1H\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    found = occurrences(text, date(2025, 3, 1), date(2025, 5, 1))
    lengths = [o.end.astimezone(UTC) - o.start.astimezone(UTC) for o in found]  # type: ignore[union-attr]
    assert lengths == [timedelta(hours=8)] * 3 + [timedelta(hours=1)]
    assert found[0].end == ical_to_item(text).end
