"""Recurring series: their occurrences in a range, and the span a whole series covers.

Why recurring-ical-events: RRULE expansion with RDATEs, EXDATEs, moved and cancelled occurrences and time
zones is easy to get subtly wrong; that library is the reference the icalendar ecosystem tests against. It is
imported inside the functions so that reading and writing items never pays for it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from icalendar import Calendar

from calsync.errors import InvalidItem
from calsync.model.item import Item, Moment

__all__ = ["occurrences", "series_span"]

_EXPANSION_ERRORS = (ValueError, TypeError, KeyError, AttributeError, OverflowError)


def occurrences(source: str | Calendar | Item, start: Moment, end: Moment) -> tuple[Item, ...]:
    """The occurrences overlapping ``[start, end)``, overrides applied and excluded dates left out, in time
    order.

    ``source`` is iCalendar text (any number of items), a parsed calendar, or an ``Item``. Each occurrence is
    an ``Item`` with ``recurrence_id`` set to the start it has in the series (a single event is its own only
    occurrence) and no recurrence of its own. Raises ``InvalidItem`` for text that cannot be read or expanded.

    An occurrence of a component with DURATION ends as the full parse ends that component: its days on the wall
    clock, its hours exact (RFC 5545 3.3.6), where the expansion would add them all on the wall clock.
    """
    import recurring_ical_events

    from calsync.model.ical_read import Reader, parse_calendar

    calendar = _calendar(source, parse_calendar)
    lengths = _durations(calendar, source if isinstance(source, str) else None)
    try:
        found = list(recurring_ical_events.of(calendar, components=["VEVENT", "VTODO"]).between(start, end))
    except (*_EXPANSION_ERRORS, recurring_ical_events.InvalidCalendar) as exc:
        raise InvalidItem(f"cannot expand the series: {' '.join(str(exc).split())[:200]}") from exc
    reader = Reader(calendar)
    items = (_exact_end(reader.item(component), lengths) for component in found)
    return tuple(sorted(items, key=lambda item: _key(item.start)))


_Lengths = dict[tuple[str, datetime | None], tuple[int, int] | None]
"""(UID, the instant of RECURRENCE-ID or ``None`` for the master) -> its DURATION as (days, seconds), if any."""


def _durations(calendar: Calendar, text: str | None) -> _Lengths:
    """The DURATION of each VEVENT and VTODO, read as written when the text is at hand."""
    from calsync.model.contentlines import duration_parts
    from calsync.model.ical_lines import raw_components, utc_wins
    from calsync.model.ical_read import Reader, all_values, first

    components = [c for c in calendar.subcomponents if c.name in ("VEVENT", "VTODO")]
    written = [r for r in raw_components(utc_wins(text)) if r.name in ("VEVENT", "VTODO")] if text else []
    reader = Reader(calendar)
    lengths: _Lengths = {}
    for index, component in enumerate(components):
        rid = reader.moment(first(component, "RECURRENCE-ID")) if "RECURRENCE-ID" in component else None
        key = (str(component.get("UID", "")).strip(), None if rid is None else _key(rid))
        length = None
        if "DURATION" in component and "DTEND" not in component and "DUE" not in component:
            lines = written[index].named("DURATION") if len(written) == len(components) else []
            value = first(component, "DURATION").dt
            length = duration_parts(lines[0].partition(":")[2]) if lines else (value.days, value.seconds)
        lengths.setdefault(key, length)
        for value in all_values(component, "RDATE"):  # an occurrence from an RDATE period has the period's end
            tzid = value.params.get("TZID")
            for one in value.dts:
                if isinstance(one.dt, tuple):
                    start = one.dt[0]
                    zoned = start.replace(tzinfo=reader.zone(str(tzid))) if tzid else start
                    lengths[(key[0], _key(zoned))] = None
    return lengths


def _exact_end(item: Item, lengths: _Lengths) -> Item:
    """The occurrence with the end its own component's DURATION gives (an override's, else the master's)."""
    from dataclasses import replace

    from calsync.model.ical_lines import add_duration

    rid = None if item.recurrence_id is None else _key(item.recurrence_id)
    length = lengths[(item.uid, rid)] if (item.uid, rid) in lengths else lengths.get((item.uid, None))
    if length is None or item.start is None or (item.end is None and item.task is None):
        return item
    end = add_duration(item.start, *length)
    if item.task is not None:
        return replace(item, task=replace(item.task, due=end))
    return replace(item, end=end)


def series_span(item: Item) -> tuple[Moment, Moment | None]:
    """When a series (or a single item) begins and when its last occurrence ends; ``None`` for no end.

    A series whose rule has neither COUNT nor UNTIL never ends. Overrides that move an occurrence earlier or
    later count. An item without end ends when it starts (a whole day for all-day items, as RFC 5545 says).
    Raises ``InvalidItem`` for an item with neither start nor due date.
    """
    first = item.start if item.start is not None else (item.task.due if item.task else None)
    if first is None:
        raise InvalidItem(f"item {item.uid!r} has no start or due date, so it spans no time")
    if not item.is_recurring:
        return first, _end(item, first)
    rule = item.recurrence.rule.upper() if item.recurrence else ""
    if rule and "COUNT=" not in rule and "UNTIL=" not in rule:
        return first, None
    every = occurrences(item, _far_past(first), _far_future(first)) or (item,)
    starts = [one.start or first for one in every]
    ends = [_end(one, one.start or first) for one in every]
    return min(starts, key=_key), max(ends, key=_key)


def _calendar(source: str | Calendar | Item, parse: Any) -> Calendar:
    if isinstance(source, Calendar):
        return source
    if isinstance(source, Item):
        from calsync.model.ical import item_to_ical

        source = item_to_ical(source)
    calendar: Calendar = parse(source)
    return calendar


def _end(item: Item, start: Moment) -> Moment:
    if item.end is not None:
        return item.end
    if item.task is not None and item.task.due is not None:
        return item.task.due
    return start + timedelta(days=1) if not isinstance(start, datetime) else start


def _key(moment: Moment | None) -> datetime:
    """An instant to order moments of any form by: dates at midnight and floating times read as UTC."""
    if moment is None:
        return datetime.min.replace(tzinfo=UTC)
    if not isinstance(moment, datetime):
        return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _far_past(first: Moment) -> date:
    """Before anything a bounded series holds: overrides may move occurrences, but not by years."""
    return date(max(first.year - 10, 1), 1, 1)


def _far_future(first: Moment) -> date:
    """After the end of any bounded series worth syncing (COUNT and UNTIL keep it finite)."""
    return date(min(first.year + 200, 9999), 1, 1)
