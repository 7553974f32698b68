"""``Item`` <-> iCalendar (RFC 5545): one item is one VCALENDAR with its VEVENT or VTODO, its overridden
occurrences and the VTIMEZONEs they use.

What maps where (reader in ``ical_read``, writer in ``ical_write``, shared names in ``ical_maps``):

- UID, SUMMARY, DESCRIPTION, X-ALT-DESC;FMTTYPE=text/html (HTML body), LOCATION
- DTSTART, DTEND or DURATION (read as an end: its days on the wall clock, its hours exact, RFC 5545 3.3.6), DUE
  and VTODO DURATION (read as a due date), RECURRENCE-ID; a date-time with both TZID and ``Z`` is read as UTC;
  times keep their form: ``date`` (all-day), naive (floating), ``datetime.UTC``, or a zoneinfo zone. Any
  TZID is resolved by ``calsync.model.timezones.resolve_tzid``: "W. Europe Standard Time" is read as
  Europe/Berlin and written as TZID=Europe/Berlin with a VTIMEZONE for it.
- RRULE (as text), RDATE, EXDATE, CLASS, PRIORITY, CATEGORIES, VALARM with a trigger relative to the start
  (``Reminder``, its other properties kept as written in ``Reminder.extras``), ORGANIZER and ATTENDEE (CN, ROLE,
  PARTSTAT, RSVP), TRANSP and X-MICROSOFT-CDO-BUSYSTATUS (show-as), STATUS (an event's, lower-case, in
  ``Item.status``; a task's in ``TaskInfo``), COMPLETED, PERCENT-COMPLETE, CREATED, LAST-MODIFIED
- business extras as X-CALSYNC-KIND, -CUSTOMER-ADDRESS, -EQUIPMENT, -ACTIVITY-TYPE, -SYNC-FLAG, -NEEDS-REVIEW
- everything else, X- properties included, kept in ``Item.unknown`` as the content lines written (name in upper
  case; subcomponents such as VALARMs with absolute triggers as whole BEGIN…END blocks) and written back as they
  were, after the mapped properties.

DTSTAMP is not kept: servers rewrite it, and it is written as the item's LAST-MODIFIED (else CREATED, else
now). Calendar-level properties (PRODID, METHOD, X-WR-CALNAME …) are not part of an item.

Known limits, each a place where the model has no field: parameters of mapped properties other than those listed
(ATTENDEE's CUTYPE, DELEGATED-*, SENT-BY; RECURRENCE-ID's RANGE) are dropped; a second occurrence of a single-valued
mapped property (two DTSTARTs) is dropped. RRULE text comes back in icalendar's part order. Through icalendar
itself, a backslash in a parameter value is read as an escape, and TEXT holding a backslash before a capital N comes
back as a newline.

Reading then writing then reading gives the item read first; writing an item and reading it gives that item.
"""

from __future__ import annotations

from calsync.errors import InvalidItem
from calsync.model.item import Item

__all__ = ["ical_to_item", "item_to_ical", "split_ical"]

_LIBRARY_ERRORS = (ValueError, KeyError, IndexError, TypeError, AttributeError, OverflowError)


def ical_to_item(text: str) -> Item:
    """The one item (master plus overrides) of a VCALENDAR.

    Raises ``InvalidItem`` with a one-line reason for text that is not iCalendar, holds no or several items
    (UIDs), lacks a UID, or has an unreadable value in a property the model maps.
    """
    from calsync.model.ical_read import one_line, read_item

    try:
        return read_item(text)
    except InvalidItem:
        raise
    except _LIBRARY_ERRORS as exc:
        raise InvalidItem(f"malformed iCalendar: {one_line(exc)}") from exc


def item_to_ical(item: Item) -> str:
    """The item as one VCALENDAR text, CRLF line ends, folded as icalendar folds.

    Raises ``InvalidItem`` when a field cannot be said in iCalendar (an RRULE text that is no rule, unknown
    lines that do not parse).
    """
    from calsync.model.ical_read import one_line
    from calsync.model.ical_write import write_item

    try:
        return write_item(item)
    except InvalidItem:
        raise
    except _LIBRARY_ERRORS as exc:
        raise InvalidItem(f"cannot write item {item.uid!r} as iCalendar: {one_line(exc)}") from exc


def split_ical(text: str) -> list[str]:
    """A calendar holding many items as one VCALENDAR text per UID, each with the VTIMEZONEs it refers to.

    For files and feeds that bundle events (an exported .ics); components without a UID are dropped, since
    nothing could identify them on the other side. Raises ``InvalidItem`` when the text is not iCalendar.
    """
    from calsync.model.ical_split import split

    try:
        return split(text)
    except InvalidItem:
        raise
    except _LIBRARY_ERRORS as exc:
        from calsync.model.ical_read import one_line

        raise InvalidItem(f"malformed iCalendar: {one_line(exc)}") from exc
