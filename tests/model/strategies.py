"""Hypothesis strategies for model values: random ``Item``s that iCalendar and vCard can carry unchanged.

Reuse them wherever a test needs items (``from tests.model.strategies import items, contacts``). What they
leave out, and why (each is a limit of the formats or of this model's mapping, documented in
``calsync.model.ical`` and ``calsync.model.vcard``):

- text without control characters other than ``\\n``, without a byte-order mark (icalendar drops U+FEFF on
  write), without Unicode line or paragraph separators (content lines are split on line ends), without a
  backslash before a capital N (icalendar writes it as a newline), and identifiers without surrounding
  spaces (UIDs are read stripped);
- times to the second (iCalendar has no fractions), ``fold=0``, years 1971-2037, zones from a fixed list;
- RRULE text in icalendar's part order (``FREQ`` first, then ``UNTIL``/``COUNT``, ``INTERVAL``, ``BY…``),
  which is the order the reader gives back;
- a DISPLAY reminder whose text is "Reminder" (the placeholder written for an empty one) is not generated;
- tasks always carry ``TaskInfo`` and show as busy, events never carry ``TaskInfo``; overrides only on series;
- unknown lines with distinct property names (the reader groups repeated names together);
- names (CN), address fields and labels without backslashes: they travel as parameter values, in which
  icalendar reads backslashes as escapes;
- contacts whose ``title`` is their full name and whose type lists put "pref" last.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from calsync.model.item import (
    Address,
    Attendee,
    AttendeeRole,
    Body,
    BusinessExtras,
    ContactInfo,
    Item,
    ItemKind,
    Moment,
    PartStat,
    Person,
    Recurrence,
    Reminder,
    Sensitivity,
    ShowAs,
    TaskInfo,
    TaskStatus,
    Typed,
)

ZONES = (
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Sydney",
    "America/Sao_Paulo",
    "Etc/GMT-3",
)
RULES = (
    "FREQ=DAILY;COUNT=5",
    "FREQ=WEEKLY;BYDAY=MO,WE",
    "FREQ=WEEKLY;COUNT=10;INTERVAL=2;BYDAY=TU,TH",
    "FREQ=MONTHLY;BYDAY=-1FR",
    "FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=15",
    "FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3",
    "FREQ=WEEKLY;UNTIL=20371231T000000Z;BYDAY=FR",
)
UNKNOWN_EVENT_LINES = (
    "SEQUENCE:3",
    "X-MOZ-GENERATION:2",
    "X-MICROSOFT-CDO-IMPORTANCE:1",
    "URL:https://example.com/booking/42",
    "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC",
    "COMMENT:left by a server\\, with a comma",
    "X-CUSTOM;X-PARAM=yes:value",
)
UNKNOWN_CARD_LINES = (
    "NICKNAME:Johnny,JQP",
    "BDAY:19850415",
    "URL:http://www.example.com/~jqpublic",
    "X-ABUID:5AD380FD-B2DE-4261-BA99-DE1D1DB52FBE\\:ABPerson",
    "IMPP;PREF=1:xmpp:john@jabber.example.com",
)

_CHARACTERS = st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\ufeff")
text = st.text(st.one_of(_CHARACTERS, st.just("\n")), max_size=40).filter(lambda value: "\\N" not in value)
"""Any text a TEXT value can carry."""
line_text = st.text(_CHARACTERS, max_size=30).filter(lambda value: "\\N" not in value)
"""Text without line breaks (for values that are one line in practice: names, addresses, labels)."""
param_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\\\ufeff"), max_size=30
)
"""What a parameter value (CN, address fields) keeps: icalendar reads backslashes in parameters as escapes."""
words = st.text(st.characters(whitelist_categories=("Lu", "Ll", "Nd")), min_size=1, max_size=12)
identifiers = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp", "Zs"), blacklist_characters="\ufeff"),
    min_size=1,
    max_size=40,
).filter(lambda value: "\\N" not in value)
emails = st.builds("{}@{}.example".format, words, words)


@st.composite
def timestamps(draw: st.DrawFn) -> datetime:
    """An aware UTC time to the second, as CREATED, LAST-MODIFIED and REV hold."""
    moment = draw(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2037, 12, 31)))
    return moment.replace(microsecond=0, tzinfo=UTC)


def moments(form: str) -> st.SearchStrategy[Moment]:
    """A time of one form: "date" (all-day), "floating", "utc", or an IANA zone name."""
    if form == "date":
        return st.dates(min_value=date(1971, 1, 1), max_value=date(2037, 12, 31))
    naive = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2037, 12, 31)).map(
        lambda moment: moment.replace(microsecond=0)
    )
    if form == "floating":
        return naive
    zone = UTC if form == "utc" else ZoneInfo(form)
    return naive.map(lambda moment: moment.replace(tzinfo=zone))


forms = st.sampled_from(("date", "floating", "utc", *ZONES))


@st.composite
def people(draw: st.DrawFn) -> Person:
    return Person(draw(emails), draw(param_text))


attendees = st.builds(Attendee, people(), st.sampled_from(AttendeeRole), st.sampled_from(PartStat), st.booleans())


@st.composite
def reminders(draw: st.DrawFn) -> Reminder:
    action = draw(st.sampled_from(("DISPLAY", "AUDIO")))
    description = draw(text.filter(lambda value: value != "Reminder"))
    return Reminder(draw(st.integers(-10_000, 10_000)), action, description)


addresses = st.builds(
    Address, param_text, param_text, param_text, param_text, param_text, param_text, words | st.just("")
)
extras = st.builds(
    BusinessExtras,
    st.none() | addresses,
    st.lists(line_text, max_size=3).map(tuple),
    line_text,
    st.booleans(),
    st.booleans(),
)


@st.composite
def recurrences(draw: st.DrawFn, form: str) -> Recurrence:
    rule = draw(st.sampled_from(("", *RULES)))
    rdates = tuple(draw(st.lists(moments(form), max_size=3)))
    exdates = tuple(draw(st.lists(moments(form), max_size=3)))
    return Recurrence(rule, rdates, exdates)


@st.composite
def items(draw: st.DrawFn, kinds: tuple[ItemKind, ...] | None = None, overrides: bool = True) -> Item:
    """An event, task, assignment or order line, possibly a series with overridden occurrences."""
    kind = draw(st.sampled_from(kinds or (ItemKind.EVENT, ItemKind.TASK, ItemKind.ASSIGNMENT, ItemKind.ORDER_LINE)))
    form = draw(forms)
    item = draw(_single(kind, form, draw(identifiers)))
    recurrence = draw(st.none() | recurrences(form))
    if recurrence == Recurrence():
        recurrence = None
    changed: list[Item] = []
    if overrides and recurrence is not None and recurrence.rule:
        for _ in range(draw(st.integers(0, 2))):
            changed.append(draw(_single(kind, form, item.uid, recurrence_id=draw(moments(form)))))
    return _with(item, recurrence=recurrence, overrides=tuple(changed))


def _with(item: Item, **changes: object) -> Item:
    from dataclasses import replace

    return replace(item, **changes)  # type: ignore[arg-type]


@st.composite
def _single(draw: st.DrawFn, kind: ItemKind, form: str, uid: str, recurrence_id: Moment | None = None) -> Item:
    task = kind is ItemKind.TASK
    start = draw(st.none() | moments(form))
    end = None
    if start is not None and not task and draw(st.booleans()):
        end = start + (timedelta(days=draw(st.integers(1, 3))) if form == "date" else draw(_durations))
    info = None
    if task:
        info = TaskInfo(
            draw(st.sampled_from(TaskStatus)),
            draw(st.none() | moments(form)),
            draw(st.none() | timestamps()),
            draw(st.integers(0, 100)),
        )
    return Item(
        uid=uid,
        kind=kind,
        title=draw(text),
        body=Body(draw(text), draw(text)),
        location=draw(text),
        start=start,
        end=end,
        recurrence_id=recurrence_id,
        sensitivity=draw(st.sampled_from(Sensitivity)),
        priority=draw(st.integers(0, 9)),
        categories=tuple(draw(st.lists(identifiers, max_size=3))),
        reminders=tuple(draw(st.lists(reminders(), max_size=2))),
        organizer=draw(st.none() | people()),
        attendees=tuple(draw(st.lists(attendees, max_size=3))),
        show_as=ShowAs.BUSY if task else draw(st.sampled_from(ShowAs)),
        status="" if task else draw(st.sampled_from(("", "confirmed", "tentative", "cancelled"))),
        task=info,
        extras=draw(extras),
        created=draw(st.none() | timestamps()),
        last_modified=draw(st.none() | timestamps()),
        unknown=tuple(draw(st.lists(st.sampled_from(UNKNOWN_EVENT_LINES), unique_by=_name, max_size=3))),
    )


_durations = st.integers(1, 3 * 24 * 60).map(lambda minutes: timedelta(minutes=minutes))


def _name(line: str) -> str:
    return line.split(":", 1)[0].split(";", 1)[0]


@st.composite
def kinds_of_type(draw: st.DrawFn) -> str:
    """A vCard TYPE list as ``Typed.kind`` holds it: lower-case, comma-separated, "pref" last."""
    chosen = draw(st.lists(st.sampled_from(("work", "home", "cell", "voice", "fax")), unique=True, max_size=2))
    if draw(st.booleans()):
        chosen.append("pref")
    return ",".join(chosen)


@st.composite
def contacts(draw: st.DrawFn) -> Item:
    """A contact as vCard 3.0 and 4.0 can both carry it."""
    full_name = draw(line_text)
    contact = ContactInfo(
        full_name=full_name,
        given_name=draw(line_text),
        family_name=draw(line_text),
        organization=draw(line_text),
        job_title=draw(line_text),
        emails=tuple(draw(st.lists(st.builds(Typed, emails, kinds_of_type()), max_size=3))),
        phones=tuple(draw(st.lists(st.builds(Typed, words, kinds_of_type()), max_size=3))),
        addresses=tuple(draw(st.lists(_card_addresses(), max_size=2))),
        note=draw(text),
    )
    return Item(
        uid=draw(identifiers),
        kind=ItemKind.CONTACT,
        title=full_name,
        categories=tuple(draw(st.lists(identifiers, max_size=3))),
        contact=contact,
        last_modified=draw(st.none() | timestamps()),
        unknown=tuple(draw(st.lists(st.sampled_from(UNKNOWN_CARD_LINES), unique_by=_name, max_size=3))),
    )


@st.composite
def _card_addresses(draw: st.DrawFn) -> Address:
    """An ADR whose label (a parameter) has no backslash and no surrounding spaces."""
    street, city, region, postal_code, country = (draw(line_text) for _ in range(5))
    return Address(street, city, region, postal_code, country, draw(param_text), draw(kinds_of_type()))
