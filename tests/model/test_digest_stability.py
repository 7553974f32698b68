"""The digest never changes between versions: a changed digest would make every synced item look edited, and the
next run would upload every item of every user again.

The expected values were recorded with the scan as it shipped; a change of the scan (a faster loop, a cache) must
reproduce them exactly. If one of these fails, the change is wrong, not the value.

The one exception is a deliberate new normalisation, made before any release (0.1.0 re-recorded the values when it
began to ignore the case of token parameters and addresses, default parameters and how EXDATEs are split over
lines). After a release, a new normalisation needs a digest version in the state: an item fetched after the upgrade
would otherwise look changed against the digest its link recorded, and an edit on the other side would become a
conflict.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from calsync.errors import InvalidItem
from calsync.model import canonical, canonical_spelling, facts
from calsync.model.canonical import ICALENDAR, VCARD, scan
from calsync.model.item import ItemKind

DATA = Path(__file__).resolve().parent.parent / "data"

RECORDED = {
    "ical/alarm_1_week_before_event.ics": "65d76169379cc1ae49669bcadacba792",
    "ical/alarm_absolute.ics": "cb3e1f29cb6a71fa3c5ccd483cd1a39c",
    "ical/alarm_google_future.ics": "e6a2f90b69bc052d141b39782a90f94e",
    "ical/alarm_thunderbird_future.ics": "92eda957548128e5e6f1206632173f10",
    "ical/broken_ical.ics": "d5271277a65b8da99d94fd0bb1ceafc3",
    "ical/each_week_but_two_deleted.ics": "65d480a66d11293b9e2003ef24649a75",
    "ical/issue_1081_invalid_rrule_freq.ics": "9680e1ddb7feb05578331fca04a5b2db",
    "ical/issue_127_categories_with_commas.ics": "9d5aa0a123d7cd237238ff94db9ddfa5",
    "ical/issue_18_cancel_status.ics": "204b0b998bbe23b74ad59cca9916af3d",
    "ical/issue_218_bad_tzid.ics": "b629923cc29fb854f29a04662e52f4e4",
    "ical/issue_223_thunderbird.ics": "2c393ed7ac4d216af507786721d245f2",
    "ical/issue_27_t1.ics": "40e89204a951307ec1e22ee0be63a8f0",
    "ical/issue_466_respect_unique_timezone.ics": "5f94171cf6d04dd437119694ff50fb23",
    "ical/issue_62_moved_event.ics": "2ed59c9c421dc75d0735f4df2e740070",
    "ical/issue_836_do_not_quote_tzid.ics": "90207362334c803c53d69af7742946ea",
    "ical/issue_97_simple_todo.ics": "fc4f12d5bc19a6db635b7463f3ea61be",
    "ical/one_day_event_repeat_every_day.ics": "dd712461015ab006eed5168fa709158b",
    "ical/pacific_fiji.ics": "dfa8aecb67b6ac565d5fdab2d3c9579a",
    "ical/property_params.ics": "114d68fac01f2a11b272661d5a900f87",
    "ical/timezone_same_start_and_offset.ics": "edd050340abc870b006c1efcdaa132fe",
    "vcard/apple_style_v3.vcf": "9da8cc8e77bd1db9041b62c73c06eaaf",
    "vcard/bad_rev_v3.vcf": "2177fa46c9546d3c4f05328afb88e4e5",
    "vcard/google_style_v3.vcf": "32efe20a6080d19ae1cc81a73fe162e7",
    "vcard/rfc6350_style_v4.vcf": "abc8801ca76c765bc62caf32f547ae3e",
    "vcard/sabre_style_v3.vcf": "a6d900dc5a804c9c0c8368a7e33e35d8",
}
"""Real-world files (see ``tests/data/*/SOURCES.md``) and the digest each had when the scan first shipped."""

INVALID = [
    "vcard/two_cards_v3.vcf",  # an address-book export: one item is one contact
    "ical/broken_dtstart.ics",
    "ical/issue_1050_calendar_with_events_and_todos.ics",
    "ical/issue_165_missing_event.ics",
    "ical/issue_237_fail_to_parse_timezone_with_non_ascii_tzid.ics",
    "ical/issue_28_rrule_with_UTC_endinginZ.ics",
    "ical/issue_313_globally_unique_tzid.ics",
    "ical/issue_526_calendar_with_events.ics",
    "ical/issue_722_timezone_transition_ambiguity.ics",
    "ical/parsing_error_in_UTC_offset.ics",
    "ical/recurring_events_moved.ics",
    "vcard/no_uid_v4.vcf",
    "vcard/truncated_v3.vcf",
]
"""Files that are not one item each (several UIDs, several cards, no UID, cut short): refused."""

SPELLINGS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:t1\r\nDTSTAMP:20261101T080000Z\r\n"
    'DTSTART;TZID=W. Europe Standard Time:20261123T090000\r\nDTEND;TZID="Europe/Berlin":20261123T100000\r\n'
    "summary;LANGUAGE=de:Boiler\\, pump\\; valve\\nsecond line\r\nDescription:a,b;c\\\\d\\Ne\r\n"
    'ATTENDEE;CN="Doe; John";PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT:mailto:j@example.com\r\n'
    "ORGANIZER;cn=Dispatch:mailto:d@example.com\r\nRRULE:count=4;FREQ=weekly;BYDAY=MO,WE\r\n"
    "EXDATE;VALUE=DATE-TIME;TZID=Europe/Berlin:20261130T090000\r\nX-CALSYNC-KIND:assignment\r\n"
    "exdate;tzid=Europe/Berlin:20261207T090000,20261202T090000\r\n"
    "ATTENDEE;partstat=tentative;RSVP=FALSE;CUTYPE=INDIVIDUAL:MAILTO:K.Tech@Example.COM\r\n"
    "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER;VALUE=DATE-TIME:20261123T080000Z\r\nDESCRIPTION:x\r\nEND:VALARM\r\n"
    "BEGIN:VALARM\r\naction:AUDIO\r\nTRIGGER;RELATED=END:-PT90M\r\nEND:VALARM\r\n"
    "END:VEVENT\r\nBEGIN:VEVENT\r\nUID:t1\r\nRECURRENCE-ID;TZID=Europe/Berlin:20261125T090000\r\n"
    "DTSTART;TZID=Europe/Berlin:20261126T140000\r\nDURATION:PT60M\r\nSUMMARY:moved\r\nEND:VEVENT\r\n"
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n"
)
"""One item with every spelling the scan normalises: Windows and quoted TZIDs, lower-case names, escaped and
unescaped TEXT, quoted parameters holding ``;``, rule parts in any order and case, token parameters in lower
case, default parameters, a ``MAILTO:`` address in capitals, EXDATEs on several lines, a date-time trigger, a
duration, an overridden occurrence and a VTIMEZONE."""
SPELLINGS_DIGEST = "95c774a30a39337c718c5a1e338ef3bf"


def _media_type(name: str) -> str:
    return VCARD if name.endswith(".vcf") else ICALENDAR


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_real_world_files_keep_their_digest(name: str) -> None:
    text = (DATA / name).read_text(encoding="utf-8")
    assert scan(text, _media_type(name)).digest == RECORDED[name]


@pytest.mark.parametrize("name", INVALID)
def test_files_that_are_not_one_item_are_still_refused(name: str) -> None:
    with pytest.raises(InvalidItem):
        scan((DATA / name).read_text(encoding="utf-8"), _media_type(name))


def test_every_normalised_spelling_keeps_its_digest_and_facts() -> None:
    found = scan(SPELLINGS)
    assert found.digest == SPELLINGS_DIGEST
    assert (found.facts.ident, found.facts.kind, found.facts.title) == (
        "t1",
        ItemKind.ASSIGNMENT,
        "Boiler, pump; valve\nsecond line",
    )
    assert found.facts.span == (1795420800.0, None)
    assert found.facts.recurring and found.facts.has_attendees


def test_remembered_lines_and_moments_give_what_a_first_reading_gives() -> None:
    first = {name: scan((DATA / name).read_text(encoding="utf-8"), _media_type(name)) for name in RECORDED}
    canonical._LINES.clear()
    canonical_spelling.canonical_head.cache_clear()
    facts._moment.cache_clear()
    again = {name: scan((DATA / name).read_text(encoding="utf-8"), _media_type(name)) for name in reversed(RECORDED)}
    assert again == first


def test_long_lines_are_read_but_not_remembered() -> None:
    huge = "x" * 100_000
    text = SPELLINGS.replace("Description:a,b;c\\\\d\\Ne", f"DESCRIPTION:{huge}")
    canonical._LINES.clear()
    assert scan(text).facts.ident == "t1"
    assert all(len(line) <= canonical._SHORT for line in canonical._LINES)
