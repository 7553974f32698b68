"""Item -> iCalendar: business fields, zones of every kind, HTML bodies, and random items that survive."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings

from calsync.model.ical import ical_to_item, item_to_ical
from calsync.model.item import Address, Body, BusinessExtras, Item, ItemKind, Recurrence, Reminder, ShowAs
from tests.model.strategies import items

DATA = Path(__file__).parents[1] / "data" / "ical"
BERLIN = ZoneInfo("Europe/Berlin")


# -- writing -----------------------------------------------------------------------------------------------


def test_business_fields_travel_as_x_calsync_properties() -> None:
    item = Item(
        "order-4711",
        kind=ItemKind.ORDER_LINE,
        title="Replace boiler",
        start=datetime(2026, 11, 23, 9, tzinfo=BERLIN),
        end=datetime(2026, 11, 23, 12, tzinfo=BERLIN),
        extras=BusinessExtras(
            Address("Gneisenaustr. 12", "Berlin", "", "10961", "DE", "Hinterhaus;\n3. OG", "ship-to"),
            ("Van B-XY 123", "Ladder, 3 m"),
            "installation",
            sync_flag=True,
            needs_review=True,
        ),
    )
    text = item_to_ical(item)
    assert "X-CALSYNC-KIND:order-line" in text
    assert "X-CALSYNC-EQUIPMENT:Ladder\\, 3 m" in text
    assert "X-CALSYNC-SYNC-FLAG:TRUE" in text
    assert ical_to_item(text) == item


def test_html_body_show_as_and_zones_of_every_kind_survive() -> None:
    fixed = timezone(timedelta(hours=5, minutes=45), "Kathmandu office")
    item = Item(
        "x",
        body=Body("plain", "<p>rich &amp; <b>bold</b></p>"),
        start=datetime(2026, 1, 5, 9, tzinfo=fixed),
        end=datetime(2026, 1, 5, 10, tzinfo=fixed),
        recurrence=Recurrence("FREQ=DAILY;COUNT=3", exdates=(datetime(2026, 1, 6, 9, tzinfo=fixed),)),
        show_as=ShowAs.OUT_OF_OFFICE,
        reminders=(Reminder(0), Reminder(-30, "AUDIO")),
    )
    text = item_to_ical(item)
    assert "X-ALT-DESC;FMTTYPE=text/html:" in text
    assert "X-MICROSOFT-CDO-BUSYSTATUS:OOF" in text
    back = ical_to_item(text)
    assert back == item
    assert back.start.utcoffset() == timedelta(hours=5, minutes=45)  # type: ignore[union-attr]


def test_dtstamp_is_the_last_modification() -> None:
    modified = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert "DTSTAMP:20260203T040506Z" in item_to_ical(Item("x", last_modified=modified))


def test_a_task_is_a_vtodo_with_its_fields() -> None:
    item = replace(ical_to_item((DATA / "issue_97_simple_todo.ics").read_text(encoding="utf-8")), uid="t")
    text = item_to_ical(item)
    assert "BEGIN:VTODO" in text and "DUE:19920516T045959Z" in text and "STATUS:NEEDS-ACTION" in text


def test_parameter_values_of_unusual_spaces_survive() -> None:
    for label in ("\xa0", "\u3000Hof ", "Tor\u2009B"):  # found by the property below: a no-break space vanished
        address = Address(country=" ", label=label)
        item = Item(uid="u", kind=ItemKind.EVENT, extras=BusinessExtras(customer_address=address))
        assert ical_to_item(item_to_ical(item)).extras.customer_address == address


# -- property ----------------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items())
def test_random_items_survive_ical_unchanged(item: Item) -> None:
    assert ical_to_item(item_to_ical(item)) == item


# -- a custom zone read from its VTIMEZONE, written and read again --------------------------------------------
# Rewriting its table as observances moved the spring change an hour later on every round trip (RFC 5545 reads
# an observance's DTSTART in the offset before it); the rules stopped at icalendar's 2037 horizon.

ODD_ZONE = """BEGIN:VTIMEZONE
TZID:My Odd Zone
BEGIN:STANDARD
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
TZOFFSETFROM:+0245
TZOFFSETTO:+0145
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
TZOFFSETFROM:+0145
TZOFFSETTO:+0245
END:DAYLIGHT
END:VTIMEZONE
"""


def odd_zone_event(start: str, end: str, rrule: str = "") -> str:
    text = (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\n" + ODD_ZONE + "BEGIN:VEVENT\nUID:u1\nDTSTAMP:20240101T000000Z\n"
        f"DTSTART;TZID=My Odd Zone:{start}\nDTEND;TZID=My Odd Zone:{end}\n{rrule}SUMMARY:x\n"
        "END:VEVENT\nEND:VCALENDAR\n"
    )
    return text.replace("\n", "\r\n")


def test_a_time_just_after_the_spring_change_keeps_its_instant_through_a_round_trip() -> None:
    # 2025-03-30 is the last Sunday of March: at 02:00 (+01:45) clocks go to 03:00 (+02:45)
    first = ical_to_item(odd_zone_event("20250330T033000", "20250330T043000"))
    assert first.start.astimezone(UTC) == datetime(2025, 3, 30, 0, 45, tzinfo=UTC)  # as the VTIMEZONE says
    again = ical_to_item(item_to_ical(first))
    assert again.start.astimezone(UTC) == first.start.astimezone(UTC)


def test_a_series_keeps_its_instants_over_several_round_trips() -> None:
    item = ical_to_item(odd_zone_event("20240715T100000", "20240715T110000", "RRULE:FREQ=YEARLY\n"))
    probe = datetime(2025, 3, 30, 3, 30, tzinfo=item.start.tzinfo)
    before = probe.astimezone(UTC)
    for _ in range(3):
        item = ical_to_item(item_to_ical(item))
    assert datetime(2025, 3, 30, 3, 30, tzinfo=item.start.tzinfo).astimezone(UTC) == before


def test_a_custom_vtimezone_is_written_back_as_it_was_read() -> None:
    item = ical_to_item(odd_zone_event("20240715T100000", "20240715T110000", "RRULE:FREQ=YEARLY\n"))
    first = item_to_ical(item)
    second = item_to_ical(ical_to_item(first))
    assert vtimezone_of(second) == vtimezone_of(first)
    assert "DTSTART:19700329T020000" in vtimezone_of(first)  # the spring change where the VTIMEZONE put it


def vtimezone_of(text: str) -> str:
    return text[text.index("BEGIN:VTIMEZONE") : text.index("END:VTIMEZONE")].replace("\r\n", "\n")


def test_summer_after_2037_follows_the_vtimezone_rules() -> None:
    item = ical_to_item(odd_zone_event("20400715T100000", "20400715T110000"))
    assert item.start.utcoffset().total_seconds() == 2 * 3600 + 45 * 60
