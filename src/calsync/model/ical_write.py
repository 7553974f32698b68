"""``Item`` -> iCalendar text (RFC 5545), with the icalendar library.

One VCALENDAR: the VTIMEZONEs the item's times use (generated from zoneinfo, so a reader without the tz
database still gets the rules), the master VEVENT or VTODO, and its overridden occurrences. Properties are
written in one fixed order and unknown ones after them in the order read, so writing what was read gives the
same text again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from itertools import groupby
from typing import Any

from icalendar import Alarm, Calendar, Component, Event, Timezone, Todo, vCalAddress, vText
from icalendar.parser import Parameters
from icalendar.parser.string import _foldline
from icalendar.parser_tools import to_unicode

from calsync.errors import InvalidItem
from calsync.model import ical_maps as maps
from calsync.model.contentlines import split_line
from calsync.model.item import Item, ItemKind, Moment, Reminder, Sensitivity, ShowAs, TaskInfo
from calsync.model.timezones import resolve_tzid
from calsync.model.tzoffsets import TableZone

_FOLD_AT = 75  # icalendar folds a line once it would reach 75 octets
_UTC_KEYS = frozenset({"UTC", "Etc/UTC", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu", "UCT", "Etc/UCT"})
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_TZID_PARAM = re.compile(r";TZID=(\"[^\"]*\"|[^;:]*)", re.IGNORECASE)
_ROLES = maps.invert(maps.ROLES)
_PARTSTATS = maps.invert(maps.PARTSTATS)
_TASK_STATUSES = maps.invert(maps.TASK_STATUSES)
_BUSY_STATUSES = maps.invert(maps.BUSY_STATUSES)
_BUSINESS_KINDS = maps.invert(maps.BUSINESS_KINDS)


def write_item(item: Item) -> str:
    """The item, its overrides and their VTIMEZONEs as one VCALENDAR (CRLF, folded at 75 octets)."""
    text = _serialise(_calendar(item))
    zones = "".join(_vtimezone_text(*zone) for zone in _vtimezones(item))
    if not zones:
        return text
    first_component = text.index("\r\nBEGIN:", text.index("BEGIN:VCALENDAR")) + 2
    return text[:first_component] + zones + text[first_component:]


def _calendar(item: Item) -> Calendar:
    """The VCALENDAR of the item and its overrides, without VTIMEZONEs (``write_item`` adds their cached text)."""
    todo = item.kind is ItemKind.TASK
    calendar = Calendar()
    calendar.add("PRODID", maps.PRODID)
    calendar.add("VERSION", "2.0")
    for one in (item, *item.overrides):
        calendar.add_component(_component(one, todo))
    return calendar


def _serialise(component: Component) -> str:
    """``component.to_ical(sorted=False)`` as text, made the same way but without icalendar's per-character
    folding of lines that need none (most lines are short ASCII): it is most of the time writing an item takes.
    A test holds the two to the same output."""
    lines = []
    for name, value in component.property_items(sorted=False):
        params = getattr(value, "params", None)
        if isinstance(value, bytes) or type(value) is str:  # BEGIN and END (vText is a str too, and escapes)
            text = to_unicode(value)
        else:
            text = to_unicode(value.to_ical() if hasattr(value, "to_ical") else vText(str(value)).to_ical())
        rendered = to_unicode(params.to_ical(sorted=False)) if params else ""
        line = f"{name};{rendered}:{text}" if rendered else f"{name}:{text}"
        lines.append(line if len(line) < _FOLD_AT and line.isascii() else _foldline(line))
    return "\r\n".join(lines) + "\r\n"


def _component(item: Item, todo: bool) -> Component:
    """One VEVENT or VTODO with every field of the item."""
    component: Component = Todo() if todo else Event()
    component.add("UID", item.uid)
    component.add("DTSTAMP", _utc(item.last_modified or item.created or datetime.now(UTC).replace(microsecond=0)))
    _add_times(component, item, todo)
    _add_texts(component, item)
    _add_people(component, item)
    _add_state(component, item, todo)
    _add_extras(component, item, todo)
    _add_unknown_properties(component, item.unknown)
    for reminder in item.reminders:
        component.add_component(_alarm(reminder))
    for block in item.unknown:
        if _is_block(block):
            component.add_component(_parse_block(block))
    return component


def _add_times(component: Component, item: Item, todo: bool) -> None:
    """DTSTART, DTEND or DUE, RECURRENCE-ID, RRULE, RDATE and EXDATE."""
    if item.start is not None:
        component.add("DTSTART", _moment(item.start))
    if todo and item.task is not None and item.task.due is not None:
        component.add("DUE", _moment(item.task.due))
    if not todo and item.end is not None:
        component.add("DTEND", _moment(item.end))
    if item.recurrence_id is not None:
        component.add("RECURRENCE-ID", _moment(item.recurrence_id))
    recurrence = item.recurrence
    if recurrence is None:
        return
    if recurrence.rule:
        component.add("RRULE", _rule(recurrence.rule))
    for name, moments in (("RDATE", recurrence.rdates), ("EXDATE", recurrence.exdates)):
        for run in _runs(moments):
            component.add(name, run)


def _rule(text: str) -> Any:
    """An RRULE from its text form; ``InvalidItem`` when it is not one."""
    from icalendar import vRecur

    try:
        rule = vRecur.from_ical(text.strip().removeprefix("RRULE:"))
    except ValueError as exc:
        raise InvalidItem(f"cannot write RRULE {text!r}: {exc}") from exc
    if "FREQ" not in rule:  # icalendar reads any text without "=" as an empty rule
        raise InvalidItem(f"cannot write RRULE {text!r}: it has no FREQ")
    return rule


def _add_texts(component: Component, item: Item) -> None:
    """SUMMARY, DESCRIPTION, the HTML body as X-ALT-DESC, and LOCATION; empty texts are left out."""
    if item.title:
        component.add("SUMMARY", item.title)
    if item.body.text:
        component.add("DESCRIPTION", item.body.text)
    if item.body.html:
        component.add("X-ALT-DESC", vText(item.body.html), parameters={"FMTTYPE": "text/html"})
    if item.location:
        component.add("LOCATION", item.location)


def _add_people(component: Component, item: Item) -> None:
    """ORGANIZER and ATTENDEEs, with CN, ROLE, PARTSTAT and RSVP."""
    if item.organizer is not None:
        params = {"CN": item.organizer.name} if item.organizer.name else {}
        component.add("ORGANIZER", _with_params(vCalAddress(_address(item.organizer.email)), params))
    for attendee in item.attendees:
        params = {"CN": attendee.person.name} if attendee.person.name else {}
        params |= {"ROLE": _ROLES[attendee.role], "PARTSTAT": _PARTSTATS[attendee.status]}
        if attendee.rsvp:
            params["RSVP"] = "TRUE"
        component.add("ATTENDEE", _with_params(vCalAddress(_address(attendee.person.email)), params))


def _with_params(value: Any, params: dict[str, str]) -> Any:
    """A property value whose parameters read back as written.

    icalendar quotes a parameter value only when it holds ``,;:'``; unquoted, its parser trims surrounding
    spaces, drops spaces around ``=`` and reads a backslash before ``;`` or ``:`` as an escape (so
    ``CN=Doe\\;ROLE=CHAIR`` would come back as one CN). Quoting values with spaces of any kind, ``=`` or a
    backslash keeps them whole.
    """
    value.params.update(params)
    quote_also = dict(value.params.quote_also)
    for key in params:
        quote_also[key.upper()] = quote_also.get(key.upper(), "") + _SPACES + "=\\"
    value.params.quote_also = quote_also
    return value


_SPACES = "".join(c for c in map(chr, range(0x3001)) if c.isspace())
"""Every character ``str.strip`` trims (a no-break space too), which the parser would trim from an unquoted
parameter value."""


def _address(email: str) -> str:
    """A CAL-ADDRESS: ``mailto:`` for e-mail addresses, other URIs as they are."""
    return email if _SCHEME.match(email) and "@" not in email.split(":", 1)[0] else f"mailto:{email}"


def _add_state(component: Component, item: Item, todo: bool) -> None:
    """CLASS, PRIORITY, CATEGORIES, show-as, STATUS, the task's fields, CREATED and LAST-MODIFIED."""
    if item.sensitivity is not Sensitivity.PUBLIC:
        component.add("CLASS", item.sensitivity.value.upper())
    if item.priority:
        component.add("PRIORITY", item.priority)
    if item.categories:
        component.add("CATEGORIES", list(item.categories))
    if not todo:
        component.add("TRANSP", "TRANSPARENT" if item.show_as is ShowAs.FREE else "OPAQUE")
        if item.show_as not in (ShowAs.FREE, ShowAs.BUSY):
            component.add("X-MICROSOFT-CDO-BUSYSTATUS", vText(_BUSY_STATUSES[item.show_as]))
        if item.status:
            component.add("STATUS", item.status.upper())
    else:
        task = item.task or TaskInfo()
        component.add("STATUS", _TASK_STATUSES[task.status])
        if task.completed is not None:
            component.add("COMPLETED", _utc(task.completed))
        if task.percent_complete:
            component.add("PERCENT-COMPLETE", task.percent_complete)
    if item.created is not None:
        component.add("CREATED", _utc(item.created))
    if item.last_modified is not None:
        component.add("LAST-MODIFIED", _utc(item.last_modified))


def _add_extras(component: Component, item: Item, todo: bool) -> None:
    """The business fields as X-CALSYNC-* properties."""
    if not todo and item.kind in _BUSINESS_KINDS:
        component.add("X-CALSYNC-KIND", vText(_BUSINESS_KINDS[item.kind]))
    extras = item.extras
    address = extras.customer_address
    if address is not None:
        params = {param: getattr(address, field) for param, field in maps.ADDRESS_PARAMS if getattr(address, field)}
        line = address.one_line() or address.label
        component.add("X-CALSYNC-CUSTOMER-ADDRESS", _with_params(vText(line), params))
    for piece in extras.equipment:
        component.add("X-CALSYNC-EQUIPMENT", vText(piece))
    if extras.activity_type:
        component.add("X-CALSYNC-ACTIVITY-TYPE", vText(extras.activity_type))
    if extras.sync_flag:
        component.add("X-CALSYNC-SYNC-FLAG", vText("TRUE"))
    if extras.needs_review:
        component.add("X-CALSYNC-NEEDS-REVIEW", vText("TRUE"))


def _add_unknown_properties(component: Component, unknown: tuple[str, ...]) -> None:
    """The kept content lines, written back exactly as they were read (only folded).

    Why not through icalendar's value types: it would respell them (``RESOURCES:EASEL,PROJECTOR`` as one
    resource with an escaped comma, ``REQUEST-STATUS:2.0;Success`` with an escaped semicolon).
    """
    for line in unknown:
        if not _is_block(line):
            name, params, value = _split_kept(line)
            component.add(name, _Written(";".join(params), value), encode=False)


def _split_kept(line: str) -> tuple[str, list[str], str]:
    try:
        return split_line(line)
    except InvalidItem as exc:
        raise InvalidItem(f"cannot write unknown iCalendar content: {exc}") from exc


class _WrittenParameters(Parameters):
    """Parameters rendered as written."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def __bool__(self) -> bool:
        return bool(self.text)

    def to_ical(self, sorted: bool = True) -> bytes:  # icalendar's signature
        return self.text.encode()


class _Written:
    """A property value that icalendar (and ``_serialise``) writes exactly as it was read."""

    def __init__(self, params: str, value: str) -> None:
        self.params = _WrittenParameters(params)
        self.value = value

    def to_ical(self) -> bytes:
        return self.value.encode()


def _is_block(line: str) -> bool:
    return line[:6].upper() == "BEGIN:"


def _parse_block(text: str) -> Component:
    """A kept subcomponent or holder; ``InvalidItem`` when an item was built with unknown lines that do not
    parse."""
    try:
        parsed = Component.from_ical(text + "\r\n")
    except ValueError as exc:
        raise InvalidItem(f"cannot write unknown iCalendar content: {exc}") from exc
    if not isinstance(parsed, Component):
        raise InvalidItem("cannot write unknown iCalendar content: not one component")
    return parsed


def _alarm(reminder: Reminder) -> Component:
    """A VALARM ``minutes_before`` the start (a DISPLAY alarm always has a DESCRIPTION, as RFC 5545
    requires)."""
    alarm = Alarm()
    action = reminder.action.upper() or "DISPLAY"
    alarm.add("ACTION", action)
    alarm.add("TRIGGER", timedelta(minutes=-reminder.minutes_before))
    description = reminder.description or (maps.DISPLAY_PLACEHOLDER if action == "DISPLAY" else "")
    if description:
        alarm.add("DESCRIPTION", description)
    _add_unknown_properties(alarm, reminder.extras)
    return alarm


# -- times and zones -----------------------------------------------------------------------------------------


def _is_utc(zone: tzinfo | None) -> bool:
    return zone is UTC or getattr(zone, "key", None) in _UTC_KEYS


def _moment(moment: Moment) -> Moment:
    """A time as icalendar should write it: UTC zones in any spelling become ``Z``."""
    if isinstance(moment, datetime) and _is_utc(moment.tzinfo):
        return moment.replace(tzinfo=UTC)
    return moment


def _utc(moment: datetime) -> datetime:
    """A timestamp (DTSTAMP, CREATED, …) in UTC, as RFC 5545 wants; a floating one is taken to be UTC already
    (the reader does the same)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _form(moment: Moment) -> object:
    """What one RDATE/EXDATE property must share: all dates, all floating, all UTC, or one zone."""
    if not isinstance(moment, datetime):
        return "date"
    if moment.tzinfo is None:
        return "floating"
    return "utc" if _is_utc(moment.tzinfo) else moment.tzinfo


def _runs(moments: Iterable[Moment]) -> Iterator[list[Moment]]:
    """Consecutive dates of one form, one property each, so reading them back keeps their order."""
    for _, run in groupby((_moment(m) for m in moments), key=_form):
        yield list(run)


def _moments(item: Item) -> Iterator[Moment]:
    """Every time the item and its overrides hold."""
    for one in (item, *item.overrides):
        yield from (m for m in (one.start, one.end, one.recurrence_id) if m is not None)
        if one.task is not None and one.task.due is not None:
            yield one.task.due
        if one.recurrence is not None:
            yield from one.recurrence.rdates
            yield from one.recurrence.exdates


def _vtimezones(item: Item) -> list[tuple[str, tzinfo, date, date]]:
    """A VTIMEZONE for every zone the item uses, covering the years it spans (to 2038 for a series)."""
    zones: dict[str, tzinfo] = {}
    years: list[int] = []
    for moment in _moments(item):
        years.append(moment.year)
        if isinstance(moment, datetime) and moment.tzinfo is not None and not _is_utc(moment.tzinfo):
            zones.setdefault(_tzid(moment.tzinfo, moment), moment.tzinfo)
    for line in item.unknown:
        for match in _TZID_PARAM.finditer(line.split(":", 1)[0] + ":" if not _is_block(line) else ""):
            tzid = match.group(1).strip('"')
            if tzid not in zones and (zone := _known_zone(tzid)) is not None:
                zones[tzid] = zone
    if not zones:
        return []
    first = date(min(years, default=2000), 1, 1)
    last = date(max(years, default=2000) + 1, 1, 1)
    if any(one.is_recurring for one in (item, *item.overrides)):
        last = max(last, Timezone.DEFAULT_LAST_DATE)
    return [(tzid, zone, first, last) for tzid, zone in zones.items()]


def _tzid(zone: tzinfo, moment: datetime) -> str:
    """The TZID icalendar writes for a zone: the zoneinfo key, else the zone's name."""
    key = getattr(zone, "key", None)
    return str(key) if key else str(zone.tzname(moment))


def _known_zone(tzid: str) -> tzinfo | None:
    try:
        return resolve_tzid(tzid)
    except InvalidItem:
        return None


@lru_cache(maxsize=256)
def _vtimezone_text(tzid: str, zone: tzinfo, first: date, last: date) -> str:
    """The VTIMEZONE's text, folded and CRLF-terminated: most items use one of a few zones and years, and
    serialising a VTIMEZONE costs more than the event it goes with. A custom zone read from a VTIMEZONE is
    written as it was read (see ``TableZone``)."""
    if isinstance(zone, TableZone) and zone.source:
        return zone.source if zone.source.endswith("\r\n") else zone.source + "\r\n"
    return str(_vtimezone(tzid, zone, first, last).to_ical().decode())


@lru_cache(maxsize=256)
def _vtimezone(tzid: str, zone: tzinfo, first: date, last: date) -> Component:
    """icalendar's VTIMEZONE for a zone over ``[first, last)``; cached, and never changed once made."""
    return Timezone.from_tzinfo(zone, tzid=tzid, first_date=first, last_date=last)
