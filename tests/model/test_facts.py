"""The cheap scan's facts agree with the full parse: a window or a rule must see the item the sync writes.

Where they disagreed, the window could treat an item as outside (and leave it alone) while the parse put it inside,
or a rule could read another title or sensitivity than the one synced.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from calsync.model.canonical import ICALENDAR, scan
from calsync.model.ical import ical_to_item
from calsync.model.item import Moment


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
