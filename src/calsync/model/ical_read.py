"""iCalendar text (RFC 5545) -> ``Item``, with the icalendar library.

Why a reader class: the VTIMEZONEs of a calendar belong to the calendar, not to one component, so the reader
holds them and resolves each TZID once (``calsync.model.timezones.resolve_tzid``): Windows names, custom
VTIMEZONEs and vendor prefixes all become zoneinfo zones, and a time never silently becomes UTC. icalendar's
own TZID handling (a process-wide cache of custom zones) is bypassed on purpose: the wall time written in the
file is kept and the zone is attached here.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from icalendar import Calendar, Component

from calsync.errors import InvalidItem
from calsync.model import ical_maps as maps
from calsync.model.contentlines import duration_parts
from calsync.model.ical_lines import (
    RawComponent,
    add_duration,
    raw_components,
    utc_wins,
)
from calsync.model.item import (
    Address,
    Attendee,
    AttendeeRole,
    Body,
    BusinessExtras,
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
)
from calsync.model.timezones import resolve_tzid

_ITEM_COMPONENTS = ("VEVENT", "VTODO")
_REMINDER_PROPERTIES = frozenset({"ACTION", "TRIGGER", "DESCRIPTION"})
_UTC_KEYS = frozenset({"UTC", "Etc/UTC", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu", "UCT", "Etc/UCT"})


def read_item(text: str) -> Item:
    """The one item a VCALENDAR holds: its master (or first override) with the other overrides attached.

    Raises ``InvalidItem`` when the text is no calendar, holds no VEVENT/VTODO, holds more than one UID, lacks
    a UID, or a property the model maps has a value that cannot be read.
    """
    text = utc_wins(text)
    calendar = _parse(text)
    components = [c for c in calendar.subcomponents if c.name in _ITEM_COMPONENTS]
    if not components:
        raise InvalidItem("the calendar holds no VEVENT or VTODO")
    uids = {str(c.get("UID", "")).strip() for c in components}
    if "" in uids:
        raise InvalidItem(f"a {components[0].name} has no UID")
    if len(uids) > 1:
        raise InvalidItem(f"the calendar holds {len(uids)} items (UIDs {', '.join(sorted(uids)[:3])} …), not one")
    if len({c.name for c in components}) > 1:
        raise InvalidItem("one UID names both a VEVENT and a VTODO")
    masters = [c for c in components if "RECURRENCE-ID" not in c]
    if len(masters) > 1:
        raise InvalidItem(f"{len(masters)} components share UID {uids.pop()!r} and none is an override")
    reader = Reader(calendar)
    written = [raw for raw in raw_components(text) if raw.name in _ITEM_COMPONENTS]
    pairs = list(zip(components, written, strict=False)) if len(written) == len(components) else []
    if not all(raw.value("UID").strip() == str(c["UID"]).strip() for c, raw in pairs):
        pairs = []  # the lines as written cannot be told apart: icalendar's spelling is used instead
    raws = {id(component): raw for component, raw in pairs}
    rest = [c for c in components if "RECURRENCE-ID" in c]
    head = masters[0] if masters else rest.pop(0)
    return replace(
        reader.item(head, raws.get(id(head))), overrides=tuple(reader.item(c, raws.get(id(c))) for c in rest)
    )


def parse_calendar(text: str) -> Calendar:
    """icalendar's parse of one VCALENDAR; ``InvalidItem`` for anything else.

    A date-time with both a TZID and ``Z`` is read as UTC (``ical_lines.utc_wins``).
    """
    return _parse(utc_wins(text))


def _parse(text: str) -> Calendar:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # icalendar warns about guessed TZIDs; resolution happens here
        try:
            parsed = Calendar.from_ical(text)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise InvalidItem(f"not readable as iCalendar: {one_line(exc)}") from exc
    if not isinstance(parsed, Component) or parsed.name != "VCALENDAR":
        raise InvalidItem("the text is not one VCALENDAR")
    return parsed


def one_line(exc: BaseException) -> str:
    """An exception as one short line for an error message."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def all_values(component: Component, name: str) -> list[Any]:
    """Every occurrence of a property (icalendar gives a list only when there are several)."""
    value = component.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def first(component: Component, name: str) -> Any:
    """The first occurrence of a property the caller knows is present."""
    return all_values(component, name)[0]


class Reader:
    """Reads components of one calendar, resolving each TZID once against the calendar's VTIMEZONEs."""

    def __init__(self, calendar: Component) -> None:
        self._vtimezones = {str(tz["TZID"]).strip(): tz for tz in calendar.walk("VTIMEZONE") if "TZID" in tz}
        self._zones: dict[str, tzinfo] = {}

    def zone(self, tzid: str) -> tzinfo:
        """The zone a TZID stands for in this calendar; UTC in any spelling becomes ``datetime.UTC``."""
        if tzid not in self._zones:
            zone = resolve_tzid(tzid, self._vtimezones.get(tzid.strip()))
            self._zones[tzid] = UTC if getattr(zone, "key", None) in _UTC_KEYS else zone
        return self._zones[tzid]

    def moment(self, value: Any, tzid: str | None = None) -> Moment:
        """A DATE or DATE-TIME value: all-day ``date``, floating, UTC, or wall time in the TZID's zone."""
        moment = value.dt
        tzid = value.params.get("TZID", tzid) if hasattr(value, "params") else tzid
        if isinstance(moment, datetime):
            if tzid:
                return moment.replace(tzinfo=None).replace(tzinfo=self.zone(str(tzid)))
            return moment if moment.tzinfo is None else moment.astimezone(UTC)  # "Z"
        if isinstance(moment, date):
            return moment
        raise InvalidItem(f"expected a date or date-time, got {type(moment).__name__}")

    def moments(self, values: list[Any]) -> tuple[Moment, ...]:
        """The dates of RDATE/EXDATE properties, each possibly a list sharing one TZID."""
        result: list[Moment] = []
        for value in values:
            tzid = value.params.get("TZID")
            result.extend(self.moment(one, tzid) for one in value.dts)
        return tuple(result)

    def instant(self, component: Component, name: str) -> datetime | None:
        """A timestamp property (CREATED, LAST-MODIFIED, COMPLETED) as an aware datetime.

        RFC 5545 says these are UTC; a floating or date value is read as UTC rather than refused.
        """
        if name not in component:
            return None
        moment = self.moment(first(component, name))
        if not isinstance(moment, datetime):
            return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

    def item(self, component: Component, raw: RawComponent | None = None) -> Item:
        """One VEVENT or VTODO as an ``Item`` (overrides are attached by the caller).

        ``raw`` is the component as written, when the caller has it: unmapped properties are then kept exactly as
        read, and durations are read as written (icalendar reads ``PT36H`` as a day and 12 hours).
        """
        mapped = maps.MAPPED_TODO if component.name == "VTODO" else maps.MAPPED_EVENT
        for name, message in getattr(component, "errors", []):
            # a line icalendar could not split is dropped (name None): refuse rather than lose it silently
            if name is None or str(name).upper() in mapped:
                raise InvalidItem(f"{component.name} {name or 'line'}: {one_line(Exception(message))}")
        duration = _duration(component, raw)
        start, end = self._span(component, duration)
        reminders, blocks = self._alarms(component, raw)
        return Item(
            uid=str(component["UID"]).strip(),
            kind=_kind(component),
            title=_text(component, "SUMMARY"),
            body=Body(_text(component, "DESCRIPTION"), _html(component)),
            location=_text(component, "LOCATION"),
            start=start,
            end=end,
            recurrence=self._recurrence(component),
            recurrence_id=self.moment(first(component, "RECURRENCE-ID")) if "RECURRENCE-ID" in component else None,
            sensitivity=maps.CLASSES.get(_text(component, "CLASS").upper(), Sensitivity.PUBLIC),
            priority=int(first(component, "PRIORITY")) if "PRIORITY" in component else 0,
            categories=tuple(cat for value in all_values(component, "CATEGORIES") for cat in value.cats),
            reminders=reminders,
            organizer=_person(first(component, "ORGANIZER")) if "ORGANIZER" in component else None,
            attendees=tuple(_attendee(value) for value in all_values(component, "ATTENDEE")),
            show_as=_show_as(component),
            status=_text(component, "STATUS").lower() if component.name == "VEVENT" else "",
            task=self._task(component, start, duration),
            extras=_extras(component),
            created=self.instant(component, "CREATED"),
            last_modified=self.instant(component, "LAST-MODIFIED"),
            unknown=_unknown(component, mapped, raw) + blocks,
        )

    def _span(self, component: Component, duration: tuple[int, int] | None) -> tuple[Moment | None, Moment | None]:
        """DTSTART and DTEND (or DTSTART + DURATION) of an event; a task's end stays ``None`` (it has DUE)."""
        start = self.moment(first(component, "DTSTART")) if "DTSTART" in component else None
        if component.name == "VTODO":
            return start, None
        if "DTEND" in component:
            return start, self.moment(first(component, "DTEND"))
        if duration is not None and start is not None:
            return start, add_duration(start, *duration)
        return start, None

    def _recurrence(self, component: Component) -> Recurrence | None:
        """RRULE (the first one), RDATEs without periods, and EXDATEs; ``None`` when there are none."""
        rules = all_values(component, "RRULE")
        rdates = [value for value in all_values(component, "RDATE") if not _has_periods(value)]
        exdates = all_values(component, "EXDATE")
        rule = rules[0].to_ical().decode() if rules else ""
        recurrence = Recurrence(rule, self.moments(rdates), self.moments(exdates))
        return recurrence if recurrence != Recurrence() else None

    def _task(self, component: Component, start: Moment | None, duration: tuple[int, int] | None) -> TaskInfo | None:
        """STATUS, DUE (or DTSTART + DURATION), COMPLETED and PERCENT-COMPLETE of a VTODO."""
        if component.name != "VTODO":
            return None
        due = self.moment(first(component, "DUE")) if "DUE" in component else None
        if due is None and start is not None and duration is not None:
            due = add_duration(start, *duration)
        return TaskInfo(
            status=maps.TASK_STATUSES.get(_text(component, "STATUS").upper(), TaskStatus.NEEDS_ACTION),
            due=due,
            completed=self.instant(component, "COMPLETED"),
            percent_complete=int(first(component, "PERCENT-COMPLETE")) if "PERCENT-COMPLETE" in component else 0,
        )

    def _alarms(self, component: Component, raw: RawComponent | None) -> tuple[tuple[Reminder, ...], tuple[str, ...]]:
        """VALARMs the model can say as reminders, and every other subcomponent as verbatim text."""
        reminders: list[Reminder] = []
        blocks: list[str] = []
        written = list(raw.children) if raw is not None else []
        if [child.name for child in written] != [sub.name for sub in component.subcomponents]:
            written = []
        for index, sub in enumerate(component.subcomponents):
            reminder = _reminder(sub, written[index] if written else None) if sub.name == "VALARM" else None
            if reminder is not None:
                reminders.append(reminder)
            else:
                blocks.append(sub.to_ical(sorted=False).decode().rstrip("\r\n"))
        return tuple(reminders), tuple(blocks)


def _duration(component: Component, raw: RawComponent | None) -> tuple[int, int] | None:
    """DURATION as (nominal days, exact seconds): from the line as written, else from icalendar's value."""
    if "DURATION" not in component:
        return None
    written = raw.named("DURATION") if raw is not None else []
    if written:
        return duration_parts(written[0].partition(":")[2])
    value = first(component, "DURATION").dt
    if not isinstance(value, timedelta):
        raise InvalidItem("DURATION is not a duration")
    return value.days, value.seconds


def _text(component: Component, name: str) -> str:
    values = all_values(component, name)
    return str(values[0]) if values else ""


def _raw_text(value: Any) -> str:
    """The text of a property icalendar may keep unparsed (X- properties)."""
    raw = value.to_ical()
    return maps.unescape_text(raw.decode() if isinstance(raw, bytes) else str(raw))


def _html(component: Component) -> str:
    for value in all_values(component, "X-ALT-DESC"):
        if str(value.params.get("FMTTYPE", "")).lower() == "text/html":
            return _raw_text(value)
    return ""


def _has_periods(value: Any) -> bool:
    return any(isinstance(one.dt, tuple) for one in value.dts)


def _kind(component: Component) -> ItemKind:
    if component.name == "VTODO":
        return ItemKind.TASK
    values = all_values(component, "X-CALSYNC-KIND")
    return maps.BUSINESS_KINDS.get(_raw_text(values[0]).strip().lower(), ItemKind.EVENT) if values else ItemKind.EVENT


def _person(value: Any) -> Person:
    """A CAL-ADDRESS: ``mailto:`` is dropped, any other URI (``urn:uuid:…``) is kept whole."""
    address = str(value).strip()
    if address.lower().startswith("mailto:"):
        address = address[len("mailto:") :]
    return Person(address, str(value.params.get("CN", "")))


def _attendee(value: Any) -> Attendee:
    params = value.params
    return Attendee(
        person=_person(value),
        role=maps.ROLES.get(str(params.get("ROLE", "REQ-PARTICIPANT")).upper(), AttendeeRole.REQUIRED),
        status=maps.PARTSTATS.get(str(params.get("PARTSTAT", "NEEDS-ACTION")).upper(), PartStat.NEEDS_ACTION),
        rsvp=str(params.get("RSVP", "FALSE")).upper() == "TRUE",
    )


def _show_as(component: Component) -> ShowAs:
    """Outlook's X-MICROSOFT-CDO-BUSYSTATUS when present (it can say tentative or away), else TRANSP."""
    if component.name != "VEVENT":
        return ShowAs.BUSY
    for value in all_values(component, "X-MICROSOFT-CDO-BUSYSTATUS"):
        status = maps.BUSY_STATUSES.get(_raw_text(value).strip().upper())
        if status is not None:
            return status
    return ShowAs.FREE if _text(component, "TRANSP").upper() == "TRANSPARENT" else ShowAs.BUSY


def _reminder(alarm: Component, raw: RawComponent | None) -> Reminder | None:
    """A DISPLAY or AUDIO alarm whole minutes before or after the start; ``None`` for any other alarm.

    The alarm's other properties (REPEAT and DURATION, ACKNOWLEDGED, ATTACH, its UID …) go with the reminder as
    written: without ACKNOWLEDGED a dismissed alarm would fire again.
    """
    trigger = alarm.get("TRIGGER")
    action = _text(alarm, "ACTION").upper() or "DISPLAY"
    if not isinstance(getattr(trigger, "dt", None), timedelta) or action not in ("DISPLAY", "AUDIO"):
        return None  # also a TRIGGER icalendar could not read: the alarm is then kept verbatim
    if str(trigger.params.get("RELATED", "START")).upper() != "START":
        return None
    seconds = int(trigger.dt.total_seconds())
    if seconds % 60:
        return None
    description = _text(alarm, "DESCRIPTION")
    if action == "DISPLAY" and description == maps.DISPLAY_PLACEHOLDER:
        description = ""
    extras = _unknown(alarm, _REMINDER_PROPERTIES, raw)
    return Reminder(minutes_before=-seconds // 60, action=action, description=description, extras=extras)


def _extras(component: Component) -> BusinessExtras:
    """The X-CALSYNC-* properties the business side carries through calendars."""
    address: Address | None = None
    for value in all_values(component, "X-CALSYNC-CUSTOMER-ADDRESS")[:1]:
        fields = {field: str(value.params[param]) for param, field in maps.ADDRESS_PARAMS if param in value.params}
        address = Address(**fields) if fields else Address(label=_raw_text(value))

    def flag(name: str) -> bool:
        return any(_raw_text(value).strip().upper() == "TRUE" for value in all_values(component, name))

    activity = all_values(component, "X-CALSYNC-ACTIVITY-TYPE")
    return BusinessExtras(
        customer_address=address,
        equipment=tuple(_raw_text(value) for value in all_values(component, "X-CALSYNC-EQUIPMENT")),
        activity_type=_raw_text(activity[0]) if activity else "",
        sync_flag=flag("X-CALSYNC-SYNC-FLAG"),
        needs_review=flag("X-CALSYNC-NEEDS-REVIEW"),
    )


def _unknown(component: Component, mapped: frozenset[str], raw: RawComponent | None) -> tuple[str, ...]:
    """Content lines of the properties the model does not map, in file order (occurrences of a name together).

    Also kept: every RRULE after the first, RDATEs holding periods, and X-ALT-DESC in formats other than HTML.
    Each line is the one written (name in upper case) when ``raw`` has it, else icalendar's rendering.
    """
    lines: list[str] = []
    rules = 0
    value: Any
    seen: dict[str, int] = {}
    for name, value in component.property_items(recursive=False, sorted=False):
        if name in ("BEGIN", "END"):
            continue
        index = seen[name] = seen.get(name, -1) + 1
        rules += name == "RRULE"
        kept = (
            name not in mapped
            or (name == "RRULE" and rules > 1)
            or (name == "RDATE" and _has_periods(value))
            or (name == "X-ALT-DESC" and str(value.params.get("FMTTYPE", "")).lower() != "text/html")
        )
        if kept:
            written = raw.written(name, index, len(all_values(component, name))) if raw is not None else None
            lines.append(written or str(component.content_line(name, value, sorted=False)))
    return tuple(lines)
