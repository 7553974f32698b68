"""RFC 5545 RRULE text <-> exchangelib's recurrence pattern and range, pure.

EWS has six patterns (daily, weekly, absolute/relative monthly, absolute/relative yearly) and three ranges (no
end, end date, numbered). A rule outside them (BYSETPOS lists, hourly, yearly with an interval …) cannot be
written to Exchange and is an ``InvalidItem``. The end date of a range is a date in the series' zone; an RRULE
read back says it as UNTIL at the series' start time on that day (in UTC for a zoned series), which is what the
end date means.
https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/recurrence-patterns-and-ews
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    Recurrence,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)

from calsync.errors import InvalidItem
from calsync.model.item import Moment

_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_ORDINALS = {1: 1, 2: 2, 3: 3, 4: 4, -1: 5}
_BYDAY = re.compile(r"^([+-]?\d)?(MO|TU|WE|TH|FR|SA|SU)$")


def to_ews(rule: str, start: Moment) -> Recurrence:
    """The exchangelib recurrence of ``rule`` for a series starting at ``start`` (wall time in its own zone)."""
    parts = dict(p.split("=", 1) for p in rule.upper().split(";") if "=" in p)
    first = start.date() if isinstance(start, datetime) else start
    pattern = _pattern(parts, first, rule)
    if "COUNT" in parts:
        return Recurrence(pattern=pattern, boundary=NumberedPattern(start=first, number=int(parts["COUNT"])))
    if "UNTIL" in parts:
        return Recurrence(pattern=pattern, boundary=EndDatePattern(start=first, end=_until_date(parts["UNTIL"], start)))
    return Recurrence(pattern=pattern, boundary=NoEndPattern(start=first))


def _pattern(parts: dict[str, str], first: date, rule: str) -> object:
    freq = parts.get("FREQ", "")
    interval = int(parts.get("INTERVAL", "1"))
    days = [d for d in parts.get("BYDAY", "").split(",") if d]
    unsupported = set(parts) - {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "WKST"}
    if unsupported:
        raise InvalidItem(f"Exchange cannot hold the rule {rule!r} ({', '.join(sorted(unsupported))})")
    if freq == "DAILY" and not days:
        return DailyPattern(interval=interval)
    if freq in ("DAILY", "WEEKLY"):
        names = days or [_DAYS[first.weekday()]]
        if any(not _BYDAY.match(d) or _BYDAY.match(d).group(1) for d in names):  # type: ignore[union-attr]
            raise InvalidItem(f"Exchange cannot hold the rule {rule!r}")
        wkst = _DAYS.index(parts.get("WKST", "MO")) + 1
        return WeeklyPattern(interval=interval, weekdays=[_DAYS.index(d) + 1 for d in names], first_day_of_week=wkst)
    if freq == "MONTHLY":
        return _monthly(parts, first, interval, days, rule)
    if freq == "YEARLY" and interval == 1:
        month = int(parts.get("BYMONTH", str(first.month)))
        if days:
            weekday, number = _relative(days, rule)
            return RelativeYearlyPattern(weekday=weekday, week_number=number, month=month)
        return AbsoluteYearlyPattern(day_of_month=int(parts.get("BYMONTHDAY", str(first.day))), month=month)
    raise InvalidItem(f"Exchange cannot hold the rule {rule!r}")


def _monthly(parts: dict[str, str], first: date, interval: int, days: list[str], rule: str) -> object:
    if days:
        weekday, number = _relative(days, rule)
        return RelativeMonthlyPattern(interval=interval, weekday=weekday, week_number=number)
    return AbsoluteMonthlyPattern(interval=interval, day_of_month=int(parts.get("BYMONTHDAY", str(first.day))))


def _relative(days: list[str], rule: str) -> tuple[int, int]:
    found = _BYDAY.match(days[0]) if len(days) == 1 else None
    if found is None or not found.group(1) or int(found.group(1)) not in _ORDINALS:
        raise InvalidItem(f"Exchange cannot hold the rule {rule!r}")
    return _DAYS.index(found.group(2)) + 1, _ORDINALS[int(found.group(1))]


def _until_date(value: str, start: Moment) -> date:
    """The last day (in the series' own zone) an UNTIL lets an occurrence start on."""
    if "T" not in value:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    moment = datetime.strptime(value.rstrip("Z"), "%Y%m%dT%H%M%S")
    if value.endswith("Z"):
        moment = moment.replace(tzinfo=UTC)
        if isinstance(start, datetime) and start.tzinfo is not None:
            moment = moment.astimezone(start.tzinfo)
    return moment.date()


def from_ews(recurrence: Recurrence, start: Moment) -> str:
    """The RRULE of an exchangelib recurrence for a series starting at ``start``."""
    text = "FREQ=" + _freq(recurrence.pattern)
    boundary = recurrence.boundary
    if isinstance(boundary, NumberedPattern):
        text += f";COUNT={boundary.number}"
    elif isinstance(boundary, EndDatePattern):
        text += ";UNTIL=" + _until_text(boundary.end, start)
    return text


def _freq(pattern: object) -> str:
    if isinstance(pattern, DailyPattern):
        return "DAILY" + _interval(pattern.interval)
    if isinstance(pattern, WeeklyPattern):
        days = ",".join(_DAYS[d - 1] for d in _numbers(pattern.weekdays))
        wkst = "" if pattern.first_day_of_week in (None, 1) else f";WKST={_DAYS[int(pattern.first_day_of_week) - 1]}"
        return f"WEEKLY{_interval(pattern.interval)};BYDAY={days}{wkst}"
    if isinstance(pattern, AbsoluteMonthlyPattern):
        return f"MONTHLY{_interval(pattern.interval)};BYMONTHDAY={pattern.day_of_month}"
    if isinstance(pattern, RelativeMonthlyPattern):
        return f"MONTHLY{_interval(pattern.interval)};BYDAY={_ordinal(pattern.week_number, pattern.weekday)}"
    if isinstance(pattern, AbsoluteYearlyPattern):
        return f"YEARLY;BYMONTH={pattern.month};BYMONTHDAY={pattern.day_of_month}"
    if isinstance(pattern, RelativeYearlyPattern):
        return f"YEARLY;BYMONTH={pattern.month};BYDAY={_ordinal(pattern.week_number, pattern.weekday)}"
    raise InvalidItem(f"an Exchange recurrence calsync cannot read: {type(pattern).__name__}")


def _numbers(weekdays: Any) -> list[int]:
    values = weekdays if isinstance(weekdays, list | tuple) else [weekdays]
    return [int(v) for v in values]


def _interval(interval: int | None) -> str:
    return f";INTERVAL={interval}" if interval and interval != 1 else ""


def _ordinal(week_number: int, weekday: int) -> str:
    number = {v: k for k, v in _ORDINALS.items()}[int(week_number)]
    if int(weekday) > 7:
        raise InvalidItem("Exchange's 'day', 'weekday' and 'weekend day' recurrences have no RRULE form calsync keeps")
    return f"{number}{_DAYS[int(weekday) - 1]}"


def _until_text(end: date, start: Moment) -> str:
    if not isinstance(start, datetime):
        return end.strftime("%Y%m%d")
    moment = datetime.combine(end, start.timetz() if start.tzinfo else start.time())
    if start.tzinfo is None:
        return moment.strftime("%Y%m%dT%H%M%S")
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
