"""Expanding a Graph ``patternedRecurrence`` the way Exchange does: in the wall time of the event's zone.

Written straight from the recurrencePattern and recurrenceRange pages, independent of the connector's own RRULE
conversion, so the tests compare two separate readings of Microsoft's documentation rather than one with itself.
https://learn.microsoft.com/en-us/graph/api/resources/recurrencepattern
https://learn.microsoft.com/en-us/graph/api/resources/recurrencerange
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from dateutil import rrule

_DAYS = {
    name: i for i, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
}
_INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
_FREQ = {
    "daily": rrule.DAILY,
    "weekly": rrule.WEEKLY,
    "absoluteMonthly": rrule.MONTHLY,
    "relativeMonthly": rrule.MONTHLY,
    "absoluteYearly": rrule.YEARLY,
    "relativeYearly": rrule.YEARLY,
}


def expand(recurrence: dict[str, Any], first: datetime, until: datetime) -> list[datetime]:
    """Naive local starts of the series beginning at ``first`` (naive local), up to ``until`` (exclusive)."""
    pattern, span = recurrence["pattern"], recurrence["range"]
    kind = pattern["type"]
    options: dict[str, Any] = {"interval": int(pattern.get("interval") or 1), "dtstart": first}
    days = [rrule.weekday(_DAYS[d]) for d in pattern.get("daysOfWeek") or ()]
    if kind == "weekly":
        options["byweekday"] = days
        options["wkst"] = _DAYS[pattern.get("firstDayOfWeek") or "sunday"]
    elif kind in ("relativeMonthly", "relativeYearly"):
        n = _INDEX[pattern.get("index") or "first"]
        options["byweekday"] = [day(n) for day in days]
    elif kind in ("absoluteMonthly", "absoluteYearly"):
        options["bymonthday"] = int(pattern["dayOfMonth"])
    if kind in ("absoluteYearly", "relativeYearly"):
        options["bymonth"] = int(pattern["month"])
    if span["type"] == "numbered":
        options["count"] = int(span["numberOfOccurrences"])
    elif span["type"] == "endDate":
        options["until"] = datetime.combine(date.fromisoformat(span["endDate"]), time(23, 59, 59))
    starts = []
    for start in rrule.rrule(_FREQ[kind], **options):
        if start >= until:
            break
        starts.append(start)
    return starts
