"""The cheap scan's facts agree with the full parse: a window or a rule must see the item the sync writes.

Where they disagreed, the window could treat an item as outside (and leave it alone) while the parse put it inside,
or a rule could read another title or sensitivity than the one synced.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from calsync.model.canonical import ICALENDAR, scan
from calsync.model.ical import ical_to_item
from calsync.model.item import Moment, Sensitivity


def calendar(*components: str) -> str:
    return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n" + "".join(components) + "END:VCALENDAR\r\n"


def event(*lines: str, component: str = "VEVENT") -> str:
    body = "".join(f"{line}\r\n" for line in lines)
    return f"BEGIN:{component}\r\nUID:u1\r\nDTSTAMP:20250101T000000Z\r\n{body}END:{component}\r\n"


def posix(moment: Moment | None) -> float:
    assert isinstance(moment, datetime) and moment.tzinfo is not None
    return moment.timestamp()


@pytest.mark.parametrize(
    "duration",
    ["PT8H", "P1D", "P1DT1H", "PT25H", "-PT1H", "P1W"],
)
def test_the_end_from_a_duration_is_the_parse_s_across_a_change_of_summer_time(duration: str) -> None:
    text = calendar(event("DTSTART;TZID=Europe/Berlin:20250329T220000", f"DURATION:{duration}"))
    assert scan(text, ICALENDAR).facts.span[1] == posix(ical_to_item(text).end)


def test_a_date_time_with_a_tzid_and_z_is_the_same_instant_for_facts_and_parse() -> None:
    text = calendar(event("DTSTART;TZID=Europe/Berlin:20250101T100000Z", "DTEND:20250101T110000Z"))
    assert scan(text, ICALENDAR).facts.span[0] == posix(ical_to_item(text).start)


def test_an_all_day_duration_with_hours_ends_on_the_parse_s_day() -> None:
    text = calendar(event("DTSTART;VALUE=DATE:20250101", "DURATION:PT36H"))
    end = ical_to_item(text).end
    assert end == date(2025, 1, 3)
    hi = scan(text, ICALENDAR).facts.span[1]
    assert hi is not None and hi >= datetime(2025, 1, 3, tzinfo=UTC).timestamp()


def test_the_span_covers_rdates_after_the_rule_s_until_and_before_dtstart() -> None:
    # the window treated the series as over on 5 January, though it has one more occurrence in 2026
    text = calendar(
        event(
            "DTSTART:20250101T100000Z",
            "DTEND:20250101T110000Z",
            "RRULE:FREQ=DAILY;UNTIL=20250105T100000Z",
            "RDATE:20260601T100000Z",
            "RDATE:20241201T100000Z,20260301T100000Z",
        )
    )
    lo, hi = scan(text, ICALENDAR).facts.span
    assert lo is not None and lo <= datetime(2024, 12, 1, 10, tzinfo=UTC).timestamp()
    assert hi is not None and hi >= datetime(2026, 6, 1, 11, tzinfo=UTC).timestamp()


def test_rdate_lines_with_different_parameters_all_widen_the_span() -> None:
    # only the line reaching furthest counted: an occurrence the other line adds before DTSTART fell outside
    text = calendar(
        event(
            "DTSTART:20250601T100000Z",
            "DTEND:20250601T110000Z",
            "RDATE;TZID=Europe/Berlin:20250101T100000",
            "RDATE:20260101T100000Z",
        )
    )
    assert datetime(2025, 1, 1, 9, tzinfo=UTC) in [posix_utc(r) for r in ical_to_item(text).recurrence.rdates]
    lo, hi = scan(text, ICALENDAR).facts.span
    assert lo is not None and lo <= datetime(2025, 1, 1, 9, tzinfo=UTC).timestamp()
    assert hi is not None and hi >= datetime(2026, 1, 1, 11, tzinfo=UTC).timestamp()


def posix_utc(moment: Moment) -> datetime:
    return datetime.fromtimestamp(posix(moment), UTC)


def test_an_rdate_period_ends_the_span_where_the_period_ends() -> None:
    text = calendar(
        event("DTSTART:20250101T100000Z", "DTEND:20250101T110000Z", "RDATE;VALUE=PERIOD:20250301T100000Z/PT30H")
    )
    hi = scan(text, ICALENDAR).facts.span[1]
    assert hi is not None and hi >= datetime(2025, 3, 2, 16, tzinfo=UTC).timestamp()


def test_an_item_of_only_overrides_has_the_facts_of_its_first_override() -> None:
    # an invitation to one occurrence of a series: the parse returns the first override, the facts took the last
    def override(day: int, title: str, klass: str) -> str:
        start = f"2025010{day}T100000Z"
        return event(f"RECURRENCE-ID:{start}", f"DTSTART:{start}", f"SUMMARY:{title}", f"CLASS:{klass}")

    text = calendar(override(1, "first", "PRIVATE"), override(2, "second", "PUBLIC"))
    item, facts = ical_to_item(text), scan(text, ICALENDAR).facts
    assert (facts.title, facts.sensitivity) == (item.title, item.sensitivity) == ("first", Sensitivity.PRIVATE)


@pytest.mark.parametrize("kind", ["task", "contact", "event", "bogus", "assignment"])
def test_the_kind_an_event_says_is_the_parse_s(kind: str) -> None:
    # X-CALSYNC-KIND:task on a VEVENT is still an event: only the business kinds are taken from it
    text = calendar(event("DTSTART:20250101T100000Z", f"X-CALSYNC-KIND:{kind}"))
    assert scan(text, ICALENDAR).facts.kind is ical_to_item(text).kind
