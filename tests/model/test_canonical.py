"""The canonical scan: identity, facts, and a digest that ignores exactly what servers rewrite."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calsync.errors import InvalidItem
from calsync.model.canonical import VCARD, canonical_duration, scan, unfold
from calsync.model.item import ItemKind, Sensitivity
from tests.samples import contact, event, task

BERLIN_TZ = (
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n"
    "END:VTIMEZONE\r\n"
)


def digest(text: str) -> str:
    return scan(text).digest


def with_alarm(trigger: str) -> str:
    return event("a1", extra=f"BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:x\r\nTRIGGER:{trigger}\r\nEND:VALARM\r\n")


# -- what must not change the digest -----------------------------------------------------------------------------


def test_server_bookkeeping_is_ignored() -> None:
    base = event("e1")
    rewritten = base.replace("PRODID:-//calsync tests//EN", "PRODID:-//Radicale//NONSGML Radicale Server//EN").replace(
        "DTSTAMP:20261101T080000Z",
        "DTSTAMP:20261121T101010Z\r\nSEQUENCE:3\r\nLAST-MODIFIED:20261121T101010Z\r\nCREATED:20261121T101010Z",
    )
    assert digest(rewritten) == digest(base)


def test_line_endings_and_folding_are_ignored() -> None:
    base = event("e1", "A title long enough that a server folds it somewhere in the middle of the line")
    folded = base.replace("somewhere in", "somewhere\r\n  in").replace("\r\n", "\n")
    assert digest(folded) == digest(base)


def test_property_and_parameter_order_and_case_are_ignored() -> None:
    a = event("e1", extra="ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;CN=Tech:mailto:t@example.com\r\n")
    b = event("e1", extra='attendee;partstat=ACCEPTED;CN="Tech";ROLE=REQ-PARTICIPANT:mailto:t@example.com\r\n')
    lines = b.split("\r\n")
    lines[5], lines[7] = lines[7], lines[5]
    assert digest("\r\n".join(lines)) == digest(a)


def test_regenerated_or_missing_vtimezones_are_ignored() -> None:
    base = event("e1")
    with_tz = base.replace("BEGIN:VEVENT", BERLIN_TZ + "BEGIN:VEVENT")
    assert digest(with_tz) == digest(base)


def test_equivalent_durations_are_equal() -> None:
    assert digest(with_alarm("-PT60M")) == digest(with_alarm("-PT1H"))
    assert digest(with_alarm("-P1W")) == digest(with_alarm("-P7D"))
    assert digest(with_alarm("-PT90M")) == digest(with_alarm("-PT1H30M"))


@pytest.mark.parametrize(
    ("given_", "canonical"),
    [("-PT60M", "-PT1H"), ("PT0M", "PT0S"), ("P1W", "P7D"), ("-P1DT24H", "-P1DT24H"), ("PT3600S", "PT1H")],
)
def test_canonical_duration(given_: str, canonical: str) -> None:
    assert canonical_duration(given_) == canonical


def test_rrule_part_order_and_text_escaping_are_ignored() -> None:
    a = event("e1", extra="RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4\r\nLOCATION:Main St\\, 5\r\n")
    b = event("e1", extra="RRULE:COUNT=4;BYDAY=MO,WE;FREQ=WEEKLY\r\nLOCATION:Main St, 5\r\n")
    assert digest(a) == digest(b)


def test_a_windows_tzid_equals_its_iana_zone() -> None:
    iana = event("e1", tzid="Europe/Berlin")
    windows = event("e1", tzid="W. Europe Standard Time")
    assert digest(windows) == digest(iana)


def test_token_parameters_defaults_and_address_case_are_ignored() -> None:
    a = event("e1", extra="ATTENDEE;PARTSTAT=ACCEPTED;CN=Tech:mailto:Tech@Example.com\r\n")
    b = event(
        "e1",
        extra="ATTENDEE;partstat=accepted;RSVP=FALSE;ROLE=REQ-PARTICIPANT;CUTYPE=individual;CN=Tech:MAILTO:tech@example.com\r\n",
    )
    assert digest(b) == digest(a)
    assert digest(with_alarm("-PT15M").replace("TRIGGER:", "TRIGGER;RELATED=START:")) == digest(with_alarm("-PT15M"))
    quoted = a.replace("CN=Tech", 'CN="Tech, Senior"')
    assert digest(quoted.replace("mailto:Tech", "MAILTO:TECH")) == digest(quoted)


def test_exdates_on_one_line_or_several_are_equal() -> None:
    series = "RRULE:FREQ=DAILY;COUNT=9\r\n"
    one = event("e1", extra=series + "EXDATE;TZID=Europe/Berlin:20261125T090000,20261124T090000\r\n")
    several = event(
        "e1",
        extra=series + "EXDATE;TZID=Europe/Berlin:20261124T090000\r\nexdate;tzid=Europe/Berlin:20261125T090000\r\n",
    )
    assert digest(several) == digest(one)
    utc = event("e1", extra=series + "EXDATE:20261124T080000Z,20261125T080000Z\r\n")
    utc_split = event("e1", extra=series + "EXDATE:20261125T080000Z\r\nEXDATE:20261124T080000Z\r\n")
    assert digest(utc_split) == digest(utc)


# -- what must change it -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changed",
    [
        event("e1", "Another title"),
        event("e1", start="093000"),
        event("e1", day="20261124"),
        event("e1", tzid="Europe/London"),
        event("e1", private=True),
        event("e1", extra="DESCRIPTION:bring the ladder\r\n"),
        with_alarm("-PT15M"),
    ],
)
def test_real_edits_change_the_digest(changed: str) -> None:
    assert digest(changed) != digest(event("e1"))


def test_an_exdate_more_or_a_relative_trigger_to_the_end_changes_the_digest() -> None:
    series = event("e1", extra="RRULE:FREQ=DAILY;COUNT=9\r\nEXDATE:20261124T080000Z\r\n")
    assert digest(series.replace("EXDATE:20261124T080000Z", "EXDATE:20261124T080000Z,20261125T080000Z")) != digest(
        series
    )
    assert digest(with_alarm("-PT15M").replace("TRIGGER:", "TRIGGER;RELATED=END:")) != digest(with_alarm("-PT15M"))


def test_an_attendee_answer_changes_the_digest() -> None:
    accepted = event("e1", extra="ATTENDEE;PARTSTAT=ACCEPTED:mailto:t@example.com\r\n")
    declined = event("e1", extra="ATTENDEE;PARTSTAT=DECLINED:mailto:t@example.com\r\n")
    assert digest(accepted) != digest(declined)


# -- facts --------------------------------------------------------------------------------------------------------


def test_facts_of_a_timed_event() -> None:
    facts = scan(event("e1", "Boiler", private=True, extra="ATTENDEE:mailto:x@example.com\r\n")).facts
    assert (facts.ident, facts.kind, facts.title, facts.sensitivity) == (
        "e1",
        ItemKind.EVENT,
        "Boiler",
        Sensitivity.PRIVATE,
    )
    assert facts.has_attendees and not facts.recurring
    start = datetime(2026, 11, 23, 8, tzinfo=UTC).timestamp()  # 09:00 in Berlin
    assert facts.span == (start, start + 3600)
    assert facts.modified == datetime(2026, 11, 1, 8, tzinfo=UTC).timestamp()


def test_facts_of_kinds() -> None:
    assert scan(task("t1")).facts.kind is ItemKind.TASK
    assert scan(event("o1", extra="X-CALSYNC-KIND:order-line\r\n")).facts.kind is ItemKind.ORDER_LINE
    assert scan(contact("c1"), VCARD).facts.kind is ItemKind.CONTACT


def test_a_vcard_s_title_is_its_first_fn_as_the_parse_reads_it() -> None:
    # a second FN is another language; the scan took the last one, the parse the first
    card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c1\r\nFN:Jörg Müller\r\nFN;LANGUAGE=en:George Miller\r\nEND:VCARD\r\n"
    assert scan(card, VCARD).facts.title == "Jörg Müller"


def test_an_endless_series_is_unbounded_and_one_with_until_ends() -> None:
    endless = scan(event("r1", extra="RRULE:FREQ=DAILY\r\n")).facts
    assert endless.recurring and endless.span[1] is None
    until = scan(event("r2", extra="RRULE:FREQ=DAILY;UNTIL=20261130T000000Z\r\n")).facts
    end = until.span[1]
    assert end is not None and end > datetime(2026, 11, 30, tzinfo=UTC).timestamp()


def test_an_overridden_occurrence_widens_the_span() -> None:
    master = event("r1", extra="RRULE:FREQ=WEEKLY;UNTIL=20261201T000000Z\r\n")
    moved = (
        "BEGIN:VEVENT\r\nUID:r1\r\nRECURRENCE-ID;TZID=Europe/Berlin:20261130T090000\r\n"
        "DTSTART;TZID=Europe/Berlin:20270115T090000\r\nDTEND;TZID=Europe/Berlin:20270115T100000\r\n"
        "SUMMARY:moved\r\nEND:VEVENT\r\n"
    )
    facts = scan(master.replace("END:VCALENDAR", moved + "END:VCALENDAR")).facts
    assert facts.span[1] is not None and facts.span[1] > datetime(2027, 1, 15, tzinfo=UTC).timestamp()
    assert facts.title == "Visit"  # the master's title, not the override's


def test_an_all_day_event_spans_its_day_with_slack_for_any_zone() -> None:
    text = event("d1").replace("DTSTART;TZID=Europe/Berlin:20261123T090000", "DTSTART;VALUE=DATE:20261123")
    text = text.replace("DTEND;TZID=Europe/Berlin:20261123T100000\r\n", "")
    lo, hi = scan(text).facts.span
    day = datetime(2026, 11, 23, tzinfo=UTC).timestamp()
    assert lo is not None and hi is not None and lo < day and hi > day + 86400


# -- bad input ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("hello", "BEGIN:VCALENDAR"),
        ("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "no VEVENT"),
        (event("e1").replace("UID:e1\r\n", ""), "no UID"),
        (event("e1").replace("END:VEVENT\r\nEND:VCALENDAR\r\n", ""), "cut short"),
        (
            event("e1").replace(
                "END:VCALENDAR",
                event("e2").split("VERSION:2.0\r\n", 1)[1].split("PRODID")[0]
                + "BEGIN:VEVENT\r\nUID:e2\r\nEND:VEVENT\r\nEND:VCALENDAR",
            ),
            "two UIDs",
        ),
        (event("e1", day="2026XX23"), "not a date"),
        (event("e1", extra="GARBAGE LINE\r\n"), "not a content line"),
        (event("e1").replace("DTEND;TZID=Europe/Berlin:20261123T100000", "DURATION:P99999999999W"), "cannot be read"),
        (event("e1") + event("e2"), "more than one calendar object"),
        (event("e1").removesuffix("END:VCALENDAR\r\n"), "does not end with END:VCALENDAR"),
        (event("e1", "Party \ud83c"), "not valid Unicode"),
    ],
)
def test_bad_input_is_an_invalid_item_with_a_clear_message(text: str, says: str) -> None:
    with pytest.raises(InvalidItem, match=says):
        scan(text)


def test_a_vcard_without_uid_is_invalid() -> None:
    with pytest.raises(InvalidItem, match="UID"):
        scan(contact("c1").replace("UID:c1\r\n", ""), VCARD)


def test_an_address_book_export_of_several_vcards_is_invalid() -> None:
    with pytest.raises(InvalidItem, match="more than one vCard"):
        scan(contact("c1") + contact("c2"), VCARD)


def test_an_escaped_backslash_before_n_is_not_a_newline() -> None:
    literal = event("e1", extra="DESCRIPTION:Backup to C:\\\\new\\, then check\r\n")  # C:\new
    newline = event("e1", extra="DESCRIPTION:Backup to C:\\\\\\new\\, then check\r\n")  # C:\ and a newline
    assert digest(literal) != digest(newline)
    assert scan(event("e1", "C:\\\\new")).facts.title == "C:\\new"


def test_vcard_digest_ignores_rev_and_order() -> None:
    base = contact("c1")
    lines = base.split("\r\n")
    lines[3], lines[4] = lines[4], lines[3]
    shuffled = "\r\n".join(lines).replace("END:VCARD", "REV:20261121T000000Z\r\nEND:VCARD")
    assert scan(shuffled, VCARD).digest == scan(base, VCARD).digest


# -- property: any server-style rewrite keeps the digest ---------------------------------------------------------


@settings(max_examples=200)
@given(seed=st.integers(0, 2**32), width=st.integers(20, 75), crlf=st.booleans())
def test_server_style_rewrites_never_change_the_digest(seed: int, width: int, crlf: bool) -> None:
    rng = random.Random(seed)
    base = event(
        "p1",
        "Quarterly boiler inspection, bring the pressure gauge; ask for the key",
        extra="ATTENDEE;CN=Tech;PARTSTAT=ACCEPTED:mailto:t@example.com\r\nCATEGORIES:Service\r\n"
        "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:x\r\nTRIGGER:-PT60M\r\nEND:VALARM\r\n",
    )
    lines = unfold(base)
    begin, end = lines.index("BEGIN:VEVENT"), lines.index("BEGIN:VALARM")
    body = lines[begin + 1 : end]
    rng.shuffle(body)
    body = [line.replace("TRIGGER:-PT60M", "TRIGGER:-PT1H") for line in body]
    rewritten = (
        lines[: begin + 1]
        + ["DTSTAMP:20300101T000000Z"]
        + [b for b in body if not b.startswith("DTSTAMP")]
        + lines[end:]
    )
    folded = []
    for line in rewritten:
        chunks = [line[i : i + width] for i in range(0, len(line), width)] or [""]
        folded.append(("\r\n " if crlf else "\n ").join(chunks))
    text = ("\r\n" if crlf else "\n").join(folded)
    assert digest(text) == digest(base)


@pytest.mark.parametrize("tzid", ["Europe", "America/", "/", "Bogus/Zone", "../../etc/passwd"])
def test_a_tzid_that_names_no_zone_is_floating_not_a_crash(tzid: str) -> None:
    lo, hi = scan(event("z1", tzid=tzid)).facts.span
    day = datetime(2026, 11, 23, 9, tzinfo=UTC).timestamp()
    assert lo is not None and hi is not None and lo < day < hi
