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
    """
    import recurring_ical_events

    from calsync.model.ical_read import Reader, parse_calendar

    calendar = _calendar(source, parse_calendar)
    try:
        found = list(recurring_ical_events.of(calendar, components=["VEVENT", "VTODO"]).between(start, end))
    except (*_EXPANSION_ERRORS, recurring_ical_events.InvalidCalendar) as exc:
        raise InvalidItem(f"cannot expand the series: {' '.join(str(exc).split())[:200]}") from exc
    reader = Reader(calendar)
    return tuple(sorted((reader.item(component) for component in found), key=lambda item: _key(item.start)))


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
