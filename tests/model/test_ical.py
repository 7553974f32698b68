"""Item <-> iCalendar over real-world files (tests/data/ical/SOURCES.md): round trips, what each file says,
and malformed input. Writing and the property test over random items are in test_ical_write.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from calsync.errors import InvalidItem
from calsync.model.ical import ical_to_item, item_to_ical, split_ical
from calsync.model.item import (
    Attendee,
    AttendeeRole,
    Item,
    ItemKind,
    PartStat,
    Person,
    Recurrence,
    Reminder,
    Sensitivity,
    ShowAs,
    TaskStatus,
)

DATA = Path(__file__).parents[1] / "data" / "ical"
BERLIN = ZoneInfo("Europe/Berlin")
LONDON = ZoneInfo("Europe/London")

GOOD = [
    "alarm_google_future.ics",
    "alarm_thunderbird_future.ics",
    "issue_313_globally_unique_tzid.ics",
    "issue_466_respect_unique_timezone.ics",
    "issue_836_do_not_quote_tzid.ics",
    "timezone_same_start_and_offset.ics",
    "issue_218_bad_tzid.ics",
    "issue_526_calendar_with_events.ics",
    "issue_127_categories_with_commas.ics",
    "property_params.ics",
    "issue_1050_calendar_with_events_and_todos.ics",
    "pacific_fiji.ics",
    "issue_722_timezone_transition_ambiguity.ics",
    "each_week_but_two_deleted.ics",
    "issue_62_moved_event.ics",
    "recurring_events_moved.ics",
    "issue_27_t1.ics",
    "issue_28_rrule_with_UTC_endinginZ.ics",
    "one_day_event_repeat_every_day.ics",
    "issue_97_simple_todo.ics",
    "alarm_absolute.ics",
    "issue_18_cancel_status.ics",
    "issue_223_thunderbird.ics",
    "alarm_1_week_before_event.ics",
]
MALFORMED = [
    "broken_ical.ics",
    "broken_dtstart.ics",
    "issue_1081_invalid_rrule_freq.ics",
    "parsing_error_in_UTC_offset.ics",
]


def text_of(file: str) -> str:
    return (DATA / file).read_text(encoding="utf-8")


def read(file: str, index: int = 0) -> Item:
    """The ``index``-th item of a test calendar."""
    return ical_to_item(split_ical(text_of(file))[index])


def pieces() -> list[tuple[str, int]]:
    return [(file, index) for file in GOOD for index in range(len(split_ical(text_of(file))))]


def facts(text: str) -> list[tuple[Any, ...]]:
    """What icalendar itself reads from each VEVENT/VTODO, to compare with what the model carries."""
    calendar = Calendar.from_ical(text)
    result = []
    for component in calendar.subcomponents:
        if component.name not in ("VEVENT", "VTODO"):
            continue
        attendees = component.get("ATTENDEE", [])
        result.append(
            (
                str(component["UID"]),
                str(component.get("SUMMARY", "")),
                str(component.get("LOCATION", "")),
                _start(component.get("DTSTART")),
                component.get("RRULE").to_ical().decode() if "RRULE" in component else "",
                len(attendees) if isinstance(attendees, list) else 1,
                len([sub for sub in component.subcomponents if sub.name == "VALARM"]),
            )
        )
    return sorted(result, key=repr)


def _start(start: Any) -> object:
    """The wall time under a TZID (icalendar cannot resolve every TZID the model can), else the value."""
    if start is None:
        return None
    if isinstance(start, list):  # pacific_fiji.ics has two DTSTARTs; the first one counts
        start = start[0]
    if "TZID" in start.params:
        return start.dt.replace(tzinfo=None)
    return start.dt.astimezone(UTC) if isinstance(start.dt, datetime) and start.dt.tzinfo else start.dt


# -- round trips over real-world files ---------------------------------------------------------------------


@pytest.mark.parametrize(("file", "index"), pieces())
def test_reading_is_a_fixed_point_after_one_write(file: str, index: int) -> None:
    item = read(file, index)
    assert ical_to_item(item_to_ical(item)) == item


@pytest.mark.parametrize(("file", "index"), pieces())
def test_writing_keeps_what_icalendar_reads_from_the_original(file: str, index: int) -> None:
    original = split_ical(text_of(file))[index]
    assert facts(item_to_ical(ical_to_item(original))) == facts(original)


@pytest.mark.parametrize(("file", "index"), pieces())
def test_written_text_is_crlf_folded_and_every_tzid_has_a_vtimezone(file: str, index: int) -> None:
    text = item_to_ical(read(file, index))
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    calendar = Calendar.from_ical(text)
    defined = {str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")}
    params = [getattr(value, "params", {}) for c in calendar.walk() for _, value in c.property_items()]
    used = {str(p["TZID"]) for p in params if "TZID" in p}
    assert used - {"UTC"} <= defined


def test_split_keeps_one_calendar_per_uid_with_the_timezones_it_needs() -> None:
    texts = split_ical(text_of("issue_1050_calendar_with_events_and_todos.ics"))
    assert [ical_to_item(text).uid for text in texts] == [
        "event-1@example.com",
        "event-2@example.com",
        "todo-1@example.com",
    ]
    assert all("TZID:America/New_York" in text for text in texts[:2])
    assert "VTIMEZONE" not in texts[2]
    assert "VJOURNAL" not in "".join(texts)


def test_split_keeps_a_broken_item_broken_and_the_others_readable() -> None:
    calendar = text_of("broken_ical.ics").replace(
        "END:VCALENDAR", "BEGIN:VEVENT\nUID:fine\nSUMMARY:ok\nEND:VEVENT\nEND:VCALENDAR"
    )
    broken, fine = split_ical(calendar)
    with pytest.raises(InvalidItem):
        ical_to_item(broken)
    assert ical_to_item(fine).title == "ok"


# -- what real files say -----------------------------------------------------------------------------------


def test_a_windows_tzid_is_read_as_iana_and_written_as_iana() -> None:
    item = read("issue_836_do_not_quote_tzid.ics")
    assert item.start == datetime(2024, 10, 28, 17, tzinfo=ZoneInfo("America/New_York"))
    assert isinstance(item.start, datetime)
    assert item.start.tzinfo == ZoneInfo("America/New_York")
    text = item_to_ical(item)
    assert "DTSTART;TZID=America/New_York:20241028T170000" in text
    assert "TZID:America/New_York" in text
    assert "Eastern Standard Time" not in text


def test_an_exchange_export_keeps_its_zone_and_unknown_lines() -> None:
    item = read("issue_27_t1.ics")
    assert item.start == datetime(2020, 4, 26, 14, tzinfo=BERLIN)
    assert item.recurrence == Recurrence(
        "FREQ=DAILY;UNTIL=20200429T000000", (), (datetime(2020, 4, 27, 12, tzinfo=UTC),)
    )
    assert "SEQUENCE:7" in item.unknown
    assert sum(line.startswith("X-LIC-ERROR;X-LIC-ERRORTYPE=VALUE-PARSE-ERROR:") for line in item.unknown) == 2
    assert "X-LIC-ERRORTYPE=VALUE-PARSE-ERROR" in item_to_ical(item)


def test_exchange_all_day_series_with_an_override_and_outlook_properties() -> None:
    item = read("issue_28_rrule_with_UTC_endinginZ.ics")
    assert (item.start, item.end, item.all_day) == (date(2020, 4, 2), date(2020, 4, 3), True)
    assert item.show_as is ShowAs.FREE  # X-MICROSOFT-CDO-BUSYSTATUS, agreeing with TRANSP:TRANSPARENT
    assert (item.priority, item.status, item.sensitivity) == (5, "confirmed", Sensitivity.PUBLIC)
    assert "X-MICROSOFT-CDO-INTENDEDSTATUS:BUSY" in item.unknown
    override = item.overrides[0]
    assert override.recurrence_id == datetime(2020, 4, 16, tzinfo=LONDON)  # TZID=GMT Standard Time
    assert override.start == date(2020, 4, 17)


def test_vendor_prefixed_tzids_resolve() -> None:
    zones = [read("issue_313_globally_unique_tzid.ics", index).start.tzinfo for index in range(3)]  # type: ignore[union-attr]
    assert zones == [
        ZoneInfo("Europe/Berlin"),
        ZoneInfo("America/New_York"),
        ZoneInfo("America/Argentina/Buenos_Aires"),
    ]


def test_a_custom_vtimezone_becomes_the_iana_zone_that_behaves_alike() -> None:
    item = read("issue_466_respect_unique_timezone.ics")
    assert isinstance(item.start, datetime)
    assert item.start.utcoffset() == timedelta(hours=2)  # 21 October 2022, summer time
    assert item.start.replace(tzinfo=None) == datetime(2022, 10, 21, 20)
    assert "TZID=/Europe/CUSTOM" not in item_to_ical(item)


def test_a_custom_vtimezone_no_zone_matches_keeps_the_offset_it_gives_each_time() -> None:
    # "MyTimezone" is +12 until 2024-05-05 08:00 and +10 after; a single fixed offset put this event two
    # hours early, and the written VTIMEZONE must read back as the same zone
    summer = next(
        item
        for item in map(ical_to_item, split_ical(text_of("issue_722_timezone_transition_ambiguity.ics")))
        if item.uid == "1"
    )
    assert isinstance(summer.start, datetime)
    assert summer.start.astimezone(UTC) == datetime(2024, 8, 2, 22, tzinfo=UTC)
    assert "TZID=MyTimezone" in item_to_ical(summer)
    assert ical_to_item(item_to_ical(summer)) == summer


def test_a_tzid_without_vtimezone_is_resolved_by_its_name_not_moved_to_utc() -> None:
    item = read("issue_526_calendar_with_events.ics")
    assert isinstance(item.start, datetime)
    assert item.start.replace(tzinfo=None) == datetime(2021, 11, 1, 16)
    assert item.start.utcoffset() == timedelta(hours=1)


def test_alarms_relative_to_the_start_become_reminders_and_others_stay_verbatim() -> None:
    item = read("alarm_google_future.ics")
    reminder = "This is an event reminder"
    assert item.reminders == tuple(Reminder(minutes, "DISPLAY", reminder) for minutes in (10, 14, 15))
    (email_alarm,) = [line for line in item.unknown if line.startswith("BEGIN:VALARM")]
    assert "ACTION:EMAIL" in email_alarm
    assert "ACTION:EMAIL" in item_to_ical(item)
    assert [r.minutes_before for r in read("alarm_1_week_before_event.ics").reminders] == [
        7 * 24 * 60,
        2 * 24 * 60,
    ]
    absolute = read("alarm_absolute.ics")
    assert absolute.reminders == ()
    assert any("TRIGGER;VALUE=DATE-TIME:20241003T130000Z" in line for line in absolute.unknown)


def test_meeting_request_people() -> None:
    item = read("property_params.ics")
    assert item.organizer == Person("rembrand@daxlab.com")
    assert item.attendees[0] == Attendee(
        Person("rembrand@xs4all.nl", "RembrandXS"), AttendeeRole.REQUIRED, PartStat.NEEDS_ACTION, rsvp=True
    )
    assert [a.person.name for a in item.attendees] == ["RembrandXS", "RembrandDX", "RembrandSB"]
    assert item.is_meeting
    assert (item.start, item.end) == (date(2012, 8, 14), date(2012, 8, 15))


def test_series_with_exdates_and_overrides() -> None:
    weekly = read("each_week_but_two_deleted.ics")
    assert weekly.recurrence is not None
    assert weekly.recurrence.rule == "FREQ=WEEKLY;COUNT=8"
    assert weekly.recurrence.exdates == (
        datetime(2019, 3, 10, 23, 30, tzinfo=UTC),
        datetime(2019, 3, 24, 23, 30, tzinfo=UTC),
    )
    moved = read("issue_62_moved_event.ics")  # the override comes before its master in the file
    assert moved.recurrence is not None and moved.recurrence_id is None
    (override,) = moved.overrides
    assert override.recurrence_id == datetime(2021, 12, 31, 21, 30, tzinfo=BERLIN)
    assert override.start == datetime(2021, 12, 17, 21, 30, tzinfo=BERLIN)
    edited = read("issue_223_thunderbird.ics")
    assert [o.location for o in edited.overrides] == ["", "new place"]
    assert read("issue_18_cancel_status.ics").overrides[0].status == "cancelled"


def test_all_day_series_and_tasks() -> None:
    daily = read("one_day_event_repeat_every_day.ics")
    assert daily.all_day and daily.is_recurring
    task = read("issue_97_simple_todo.ics")
    assert task.kind is ItemKind.TASK and task.task is not None
    assert task.task.due == datetime(1992, 5, 16, 4, 59, 59, tzinfo=UTC)
    assert task.task.status is TaskStatus.NEEDS_ACTION
    assert (task.sensitivity, task.priority, task.categories) == (
        Sensitivity.CONFIDENTIAL,
        1,
        ("FAMILY", "FINANCE"),
    )


def test_categories_with_commas() -> None:
    assert read("issue_127_categories_with_commas.ics").categories == (
        "Meeting, John",
        "Work, Sarah",
        "Project",
    )


# -- malformed input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("file", MALFORMED)
def test_malformed_files_raise_invalid_item_with_one_line(file: str) -> None:
    with pytest.raises(InvalidItem) as raised:
        ical_to_item(text_of(file))
    assert "\n" not in str(raised.value)
    assert str(raised.value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "iCalendar"),
        ("hello", "iCalendar"),
        ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\nEND:VCARD\r\n", "VCALENDAR"),
        ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", "no VEVENT"),
        ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "no UID"),
        (
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nPRIORITY:high\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            "PRIORITY",
        ),
        (
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART;TZID=Nowhere:20240101T100000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            "Nowhere",
        ),
    ],
)
def test_bad_input_says_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(InvalidItem, match=reason):
        ical_to_item(text)


def test_a_calendar_of_several_items_is_not_one_item() -> None:
    with pytest.raises(InvalidItem, match="2 items"):
        ical_to_item(text_of("issue_526_calendar_with_events.ics"))
    with pytest.raises(InvalidItem, match="no UID"):
        ical_to_item(text_of("issue_165_missing_event.ics"))


def test_unwritable_items_raise_invalid_item() -> None:
    with pytest.raises(InvalidItem, match="RRULE"):
        item_to_ical(Item("a", start=date(2024, 1, 1), recurrence=Recurrence("every tuesday")))
    with pytest.raises(InvalidItem, match="unknown"):
        item_to_ical(Item("a", unknown=("BEGIN:VALARM",)))


# -- the fast serialiser writes exactly what icalendar writes ---------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from calsync.model import ical_write  # noqa: E402

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200)


@settings(max_examples=60, deadline=None)
@given(title=_TEXT, description=_TEXT, location=_TEXT, categories=st.lists(_TEXT.filter(bool), max_size=3))
def test_the_fast_serialiser_writes_what_icalendar_writes(
    title: str, description: str, location: str, categories: list[str]
) -> None:
    from dataclasses import replace
    from datetime import UTC, datetime

    from calsync.model.item import Body, Item

    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    item = Item(
        uid="fast-1",
        title=title,
        body=Body(description),
        location=location,
        start=start,
        end=start,
        categories=tuple(categories),
        last_modified=start,
    )
    for one in (item, replace(item, title=title * 3)):
        calendar = ical_write._calendar(one)
        assert ical_write._serialise(calendar) == calendar.to_ical(sorted=False).decode()


def test_the_fast_serialiser_matches_icalendar_on_every_sample_file() -> None:
    from pathlib import Path

    from calsync.errors import InvalidItem
    from calsync.model.ical import ical_to_item

    checked = 0
    for path in sorted(Path(__file__).parents[1].glob("data/ical/*.ics")):
        try:
            item = ical_to_item(path.read_text())
        except InvalidItem:
            continue
        calendar = ical_write._calendar(item)
        assert ical_write._serialise(calendar) == calendar.to_ical(sorted=False).decode(), path.name
        checked += 1
    assert checked >= 3


# -- what the model reads as written -----------------------------------------------------------------------


def calendar(*lines: str, component: str = "VEVENT") -> str:
    """One calendar of one component with ``lines`` besides its UID and DTSTAMP."""
    body = "".join(f"{line}\r\n" for line in lines)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
        f"BEGIN:{component}\r\nUID:u1\r\nDTSTAMP:20250101T000000Z\r\n{body}END:{component}\r\nEND:VCALENDAR\r\n"
    )


def test_a_duration_s_hours_are_exact_time_and_its_days_wall_clock_days() -> None:
    # RFC 5545 3.3.6: a night shift from 22:00 CET for eight hours ends 07:00 CEST; a day is a calendar day
    shift = ical_to_item(calendar("DTSTART;TZID=Europe/Berlin:20250329T220000", "DURATION:PT8H"))
    assert isinstance(shift.start, datetime) and isinstance(shift.end, datetime)
    assert shift.end.astimezone(UTC) - shift.start.astimezone(UTC) == timedelta(hours=8)
    day = ical_to_item(calendar("DTSTART;TZID=Europe/Berlin:20250329T220000", "DURATION:P1D"))
    assert day.end == datetime(2025, 3, 30, 22, tzinfo=BERLIN)
    # icalendar reads PT24H as one day: the text as written decides
    task = ical_to_item(calendar("DTSTART;TZID=America/New_York:20251101T120000", "DURATION:PT24H", component="VTODO"))
    assert task.task is not None and task.task.due == datetime(2025, 11, 2, 11, tzinfo=ZoneInfo("America/New_York"))


def test_an_all_day_duration_with_hours_covers_whole_days() -> None:
    item = ical_to_item(calendar("DTSTART;VALUE=DATE:20250101", "DURATION:PT36H"))
    assert item.end == date(2025, 1, 3)


def test_unknown_properties_are_written_back_as_read() -> None:
    # RESOURCES is a list and REQUEST-STATUS structured: icalendar respelled both (one resource, an escaped ";")
    lines = ["RESOURCES:EASEL,PROJECTOR", "REQUEST-STATUS:2.0;Success", 'X-THING;X-P="a:b";x-q=1:raw\\,text']
    item = ical_to_item(calendar("DTSTART:20250101T100000Z", *lines))
    assert item.unknown == tuple(lines)
    written = item_to_ical(item).split("\r\n")
    assert all(line in written for line in lines)


def test_the_properties_of_a_reminder_alarm_survive() -> None:
    # without ACKNOWLEDGED a dismissed alarm would fire again
    extras = ["REPEAT:3", "DURATION:PT5M", "ACKNOWLEDGED:20250101T090000Z", "X-WR-ALARMUID:a-1"]
    alarm = ["BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT15M", "DESCRIPTION:x", *extras, "END:VALARM"]
    item = ical_to_item(calendar("DTSTART:20250101T100000Z", *alarm))
    assert item.reminders == (Reminder(15, "DISPLAY", "x", tuple(extras)),)
    written = item_to_ical(item)
    assert all(line in written.split("\r\n") for line in extras)
    assert ical_to_item(written) == item


def test_a_date_time_with_a_tzid_and_z_is_read_as_utc() -> None:
    # invalid, seen in the wild; the Z is the more specific claim, and the scan's facts read it so too
    item = ical_to_item(
        calendar("DTSTART;TZID=Europe/Berlin:20250101T100000Z", "DTEND;TZID=Europe/Berlin:20250101T110000")
    )
    assert item.start == datetime(2025, 1, 1, 10, tzinfo=UTC)
    assert item.end == datetime(2025, 1, 1, 11, tzinfo=BERLIN)
