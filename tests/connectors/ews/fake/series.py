"""Expanding a stored series the way Exchange does: the pattern in the series' own zone, then the range.

Patterns and ranges as in the EWS reference (Recurrence, RecurrenceType):
https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/recurrence-recurrencetype
Occurrences are keyed by their original start in UTC; an occurrence's id names its master and that key.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta, tzinfo

from dateutil import rrule
from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

from tests.connectors.ews.fake.soap import Element, ItemError, t, text
from tests.connectors.ews.fake.store import Stored

_DAYS = {"Sunday": rrule.SU, "Monday": rrule.MO, "Tuesday": rrule.TU, "Wednesday": rrule.WE}
_DAYS |= {"Thursday": rrule.TH, "Friday": rrule.FR, "Saturday": rrule.SA}
_INDEX = {"First": 1, "Second": 2, "Third": 3, "Fourth": 4, "Last": -1}
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September"]
_MONTHS += ["October", "November", "December"]
_MARK = "|occ|"


def when(value: str) -> datetime:
    """An xs:dateTime as EWS writes it (UTC with Z, or with an offset) as an aware UTC datetime."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def zone(stored: Stored) -> tzinfo:
    node = stored.child("StartTimeZone")
    name = node.get("Id", "UTC") if node is not None else "UTC"
    try:
        return zoneinfo.ZoneInfo(MS_TIMEZONE_TO_IANA_MAP.get(name, "UTC"))
    except zoneinfo.ZoneInfoNotFoundError:
        return UTC


def is_series(stored: Stored) -> bool:
    return stored.child("Recurrence") is not None


def starts(stored: Stored, until: datetime) -> list[datetime]:
    """Every occurrence's original start (UTC) up to ``until``, deleted ones included, in order."""
    recurrence = stored.child("Recurrence")
    start = when(stored.value("Start"))
    if recurrence is None:
        return [start]
    local = zone(stored)
    first = start.astimezone(local).replace(tzinfo=None)
    rule = _rule(recurrence, first)
    limit = until.astimezone(local).replace(tzinfo=None)
    return [o.replace(tzinfo=local).astimezone(UTC) for o in rule.between(first, limit, inc=True)]


def _rule(recurrence: Element, first: datetime) -> rrule.rrule:
    pattern, boundary = recurrence[0], recurrence[1]
    kind = pattern.tag.split("}")[1]
    interval = int(text(pattern, "t:Interval", "1"))
    days = [_DAYS[d] for d in text(pattern, "t:DaysOfWeek").split()]
    options: dict[str, object] = {"dtstart": first, "interval": interval}
    if kind == "DailyRecurrence":
        freq = rrule.DAILY
    elif kind == "WeeklyRecurrence":
        freq = rrule.WEEKLY
        options["byweekday"] = days
        options["wkst"] = _DAYS.get(text(pattern, "t:FirstDayOfWeek", "Sunday"), rrule.SU)
    elif kind in ("AbsoluteMonthlyRecurrence", "RelativeMonthlyRecurrence"):
        freq = rrule.MONTHLY
        if kind.startswith("Absolute"):
            options["bymonthday"] = int(text(pattern, "t:DayOfMonth"))
        else:
            options["byweekday"] = [d(_INDEX[text(pattern, "t:DayOfWeekIndex")]) for d in days]
    elif kind in ("AbsoluteYearlyRecurrence", "RelativeYearlyRecurrence"):
        freq = rrule.YEARLY
        options["interval"] = 1
        options["bymonth"] = _MONTHS.index(text(pattern, "t:Month")) + 1
        if kind.startswith("Absolute"):
            options["bymonthday"] = int(text(pattern, "t:DayOfMonth"))
        else:
            options["byweekday"] = [d(_INDEX[text(pattern, "t:DayOfWeekIndex")]) for d in days]
    else:
        raise ItemError("ErrorInvalidRecurrencePattern", f"unsupported pattern {kind}")
    end_kind = boundary.tag.split("}")[1]
    if end_kind == "NumberedRecurrence":
        options["count"] = int(text(boundary, "t:NumberOfOccurrences"))
    elif end_kind == "EndDateRecurrence":
        day = datetime.fromisoformat(text(boundary, "t:EndDate")[:10])
        options["until"] = day + timedelta(days=1, seconds=-1)
    return rrule.rrule(freq, **options)  # type: ignore[arg-type]


def occurrence_id(master: str, original: str) -> str:
    return f"{master}{_MARK}{original}"


def split_id(ident: str) -> tuple[str, str]:
    master, _, original = ident.partition(_MARK)
    return master, original


def by_index(stored: Stored, index: int) -> str:
    """The original start of the ``index``-th occurrence (1-based), as Exchange's InstanceIndex counts them."""
    found = starts(stored, when(stored.value("Start")) + timedelta(days=366 * 30))
    if not 1 <= index <= len(found):
        raise ItemError("ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange", "The occurrence index is out of range.")
    original = stamp(found[index - 1])
    if original in stored.removed:
        raise ItemError("ErrorCalendarOccurrenceIsDeletedFromRecurrence", "The occurrence was deleted.")
    return original


def span(stored: Stored, original: str) -> tuple[datetime, datetime]:
    """Where the occurrence starting (originally) at ``original`` lies now."""
    changed = stored.modified.get(original)
    source = changed if changed is not None else stored.element
    start, end = when(_child(source, "Start")), when(_child(source, "End"))
    if changed is not None:
        return start, end
    length = when(stored.value("End")) - when(stored.value("Start"))
    begin = when(original)
    return begin, begin + length


def _child(node: Element, name: str) -> str:
    found = node.find(t(name))
    return (found.text or "") if found is not None else ""
