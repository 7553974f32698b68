"""Graph's ``patternedRecurrence`` <-> RFC 5545 RRULE text, both ways, pure.

Graph says six patterns (daily, weekly, absoluteMonthly, relativeMonthly, absoluteYearly, relativeYearly) and
three ranges (numbered, endDate, noEnd); RRULE says far more. What has no Graph form (hourly rules, several
month days, BYWEEKNO …) raises ``InvalidItem`` on the way in, so the engine reports that one item instead of
writing a different series.
https://learn.microsoft.com/en-us/graph/api/resources/patternedrecurrence
https://learn.microsoft.com/en-us/graph/api/resources/recurrencepattern
https://learn.microsoft.com/en-us/graph/api/resources/recurrencerange
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from calsync.errors import InvalidItem
from calsync.model.item import Moment

Json = dict[str, Any]

_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
_INDEX_NAME = {n: name for name, n in _INDEX.items()}
_BYDAY = re.compile(r"^([+-]?\d)?(MO|TU|WE|TH|FR|SA|SU)$")
_KNOWN = frozenset({"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS", "WKST"})


def to_rrule(recurrence: Json, start: Moment) -> str:
    """The RRULE text of a Graph recurrence for a series starting at ``start`` (its zone places UNTIL)."""
    pattern, span = recurrence["pattern"], recurrence["range"]
    kind = pattern["type"]
    parts: dict[str, str] = {"FREQ": _freq(kind)}
    interval = int(pattern.get("interval") or 1)
    if interval > 1:
        parts["INTERVAL"] = str(interval)
    days = [_CODES[_DAYS.index(d.lower())] for d in pattern.get("daysOfWeek") or ()]
    if kind == "weekly":
        parts["BYDAY"] = ",".join(days)
        first = (pattern.get("firstDayOfWeek") or "sunday").lower()
        if first != "monday":
            parts["WKST"] = _CODES[_DAYS.index(first)]
    if kind in ("relativeMonthly", "relativeYearly"):
        index = _INDEX[pattern.get("index") or "first"]
        if len(days) == 1:
            parts["BYDAY"] = f"{index}{days[0]}"
        else:
            parts["BYDAY"], parts["BYSETPOS"] = ",".join(days), str(index)
    if kind in ("absoluteMonthly", "absoluteYearly"):
        parts["BYMONTHDAY"] = str(pattern["dayOfMonth"])
    if kind in ("absoluteYearly", "relativeYearly"):
        parts["BYMONTH"] = str(pattern["month"])
    if span["type"] == "numbered":
        parts["COUNT"] = str(span["numberOfOccurrences"])
    elif span["type"] == "endDate":
        parts["UNTIL"] = _until(date.fromisoformat(span["endDate"]), start)
    return ";".join(f"{key}={value}" for key, value in parts.items())


def from_rrule(rule: str, start: Moment, zone_name: str) -> Json:
    """The Graph recurrence of an RRULE for a series starting at ``start``; ``zone_name`` is its Windows zone.

    Raises ``InvalidItem`` for a rule Graph cannot hold.
    """
    parts = _parts(rule)
    interval = int(parts.get("INTERVAL", "1"))
    pattern: Json = {"type": _kind(parts, start), "interval": interval}
    days = parts.get("BYDAY", "")
    if pattern["type"] == "weekly":
        codes = [d for d in days.split(",") if d] or [_CODES[start.weekday()]]
        pattern["daysOfWeek"] = [_DAYS[_CODES.index(_plain_day(code))] for code in codes]
        pattern["firstDayOfWeek"] = _DAYS[_CODES.index(parts.get("WKST", "MO"))]
    elif pattern["type"].startswith("relative"):
        index, names = _relative(days, parts.get("BYSETPOS"))
        pattern["index"], pattern["daysOfWeek"] = index, names
    else:
        pattern["dayOfMonth"] = int(parts.get("BYMONTHDAY", str(start.day)))
    if pattern["type"].endswith("Yearly"):
        pattern["month"] = int(parts.get("BYMONTH", str(start.month)))
    first = start.date() if isinstance(start, datetime) else start
    span: Json = {"type": "noEnd", "startDate": first.isoformat(), "recurrenceTimeZone": zone_name}
    if "COUNT" in parts:
        span.update(type="numbered", numberOfOccurrences=int(parts["COUNT"]))
    elif "UNTIL" in parts:
        span.update(type="endDate", endDate=_until_date(parts["UNTIL"], start).isoformat())
    return {"pattern": pattern, "range": span}


def _freq(kind: str) -> str:
    return {"daily": "DAILY", "weekly": "WEEKLY"}.get(kind) or ("MONTHLY" if "Monthly" in kind else "YEARLY")


def _parts(rule: str) -> dict[str, str]:
    parts = {}
    for piece in rule.upper().split(";"):
        key, _, value = piece.partition("=")
        if key:
            parts[key.strip()] = value.strip()
    unknown = set(parts) - _KNOWN
    if unknown:
        raise InvalidItem(f"Graph cannot hold a rule with {', '.join(sorted(unknown))}: {rule}")
    return parts


def _kind(parts: dict[str, str], start: Moment) -> str:
    freq = parts.get("FREQ", "")
    plural = "," in parts.get("BYMONTHDAY", "") or "," in parts.get("BYMONTH", "")
    if freq not in ("DAILY", "WEEKLY", "MONTHLY", "YEARLY") or plural:
        raise InvalidItem(f"Graph has no pattern for the rule {';'.join(f'{k}={v}' for k, v in parts.items())}")
    if freq == "DAILY" and not {"BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS"} & set(parts):
        return "daily"
    if freq == "WEEKLY" and "BYSETPOS" not in parts:
        return "weekly"
    if freq == "MONTHLY":
        return "relativeMonthly" if "BYDAY" in parts else "absoluteMonthly"
    if freq == "YEARLY" and "BYWEEKNO" not in parts:
        return "relativeYearly" if "BYDAY" in parts else "absoluteYearly"
    raise InvalidItem(f"Graph has no pattern for the rule {';'.join(f'{k}={v}' for k, v in parts.items())}")


def _plain_day(code: str) -> str:
    match = _BYDAY.match(code)
    if match is None or match.group(1):
        raise InvalidItem(f"Graph cannot hold the weekday {code!r} in a weekly rule")
    return match.group(2)


def _relative(days: str, setpos: str | None) -> tuple[str, list[str]]:
    """Graph's index and weekdays from ``BYDAY=2TU`` or ``BYDAY=MO,TU;BYSETPOS=1``."""
    found = [_BYDAY.match(code) for code in days.split(",") if code]
    if not found or any(m is None for m in found):
        raise InvalidItem(f"Graph cannot hold the weekdays {days!r}")
    numbers = {int(m.group(1)) for m in found if m is not None and m.group(1)}
    if setpos is not None:
        numbers |= {int(setpos)}
    if len(numbers) != 1 or next(iter(numbers)) not in _INDEX_NAME:
        raise InvalidItem(f"Graph needs one week index (1 to 4 or -1), not {days!r}")
    return _INDEX_NAME[numbers.pop()], [_DAYS[_CODES.index(m.group(2))] for m in found if m is not None]


def _until(end: date, start: Moment) -> str:
    """UNTIL for Graph's inclusive end date: the date itself for all-day series, else that day's last second."""
    if not isinstance(start, datetime):
        return end.strftime("%Y%m%d")
    last = datetime.combine(end, time(23, 59, 59))
    if start.tzinfo is None:
        return last.strftime("%Y%m%dT%H%M%S")
    return last.replace(tzinfo=start.tzinfo).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _until_date(value: str, start: Moment) -> date:
    """Graph's end date of an UNTIL: the local date of the last moment the rule allows."""
    if "T" not in value:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    moment = datetime.strptime(value.rstrip("Z"), "%Y%m%dT%H%M%S")
    if value.endswith("Z") and isinstance(start, datetime) and start.tzinfo is not None:
        moment = moment.replace(tzinfo=UTC).astimezone(start.tzinfo).replace(tzinfo=None)
    if isinstance(start, datetime) and moment.time() < start.replace(tzinfo=None).time():
        moment -= timedelta(days=1)  # the last occurrence starts on the day before
    return moment.date()
