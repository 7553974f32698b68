"""The content lines of an item's components as written, and the arithmetic of RFC 5545 durations.

Why the lines as written: icalendar parses every value into a type and writes it back in its own spelling, which
is lossy for what the model does not map (``RESOURCES:EASEL,PROJECTOR`` would come back as one resource with an
escaped comma) and for durations (``PT36H`` is read as one day and twelve hours, and a day is not 24 hours
across a change of summer time). So the reader takes these from the unfolded lines, the way ``ical_split``
keeps whole components.

Why durations here: the full parse, the expansion of a series and the cheap scan's facts must all end an item
at the same instant (RFC 5545 3.3.6: the day and week part is nominal, a wall-clock day; the time part is exact).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from calsync.model.contentlines import whole_days
from calsync.model.item import Moment

_NEWLINE = re.compile(r"\r\n|\r|\n")
_FOLD = re.compile(r"(?:\r\n|\r|\n)[ \t]")
_HEAD_END = re.compile(r"[;:]")
_UTC_WINS = re.compile(
    r"^((?:DTSTART|DTEND|DUE|RECURRENCE-ID|RDATE|EXDATE)(?:;[^:\n]*?)?);TZID=(?:\"[^\"\n]*\"|[^;:\n]*)"
    r"((?:;[^:\n]*)?:\d{8}T\d{6}Z(?:,\d{8}T\d{6}Z)*)$",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True, slots=True)
class RawComponent:
    """One component as written: its own unfolded lines (without BEGIN and END) and its subcomponents."""

    name: str
    lines: tuple[str, ...]
    children: tuple[RawComponent, ...]

    def named(self, name: str) -> list[str]:
        """The component's own lines of property ``name`` (upper-case), in file order."""
        return [line for line in self.lines if property_name(line) == name]

    def value(self, name: str) -> str:
        """The value of the first line of property ``name`` ("" if there is none)."""
        lines = self.named(name)
        return lines[0].partition(":")[2] if lines else ""

    def written(self, name: str, index: int, parsed: int) -> str | None:
        """The ``index``-th line of property ``name`` as written, name in upper case; ``None`` when the component
        has not exactly the ``parsed`` lines of that name the parser gave (it dropped or merged one)."""
        lines = self.named(name)
        return with_upper_name(lines[index]) if len(lines) == parsed else None


def property_name(line: str) -> str:
    """The upper-case name of a content line."""
    return _HEAD_END.split(line, maxsplit=1)[0].strip().upper()


def with_upper_name(line: str) -> str:
    """A content line with its name in upper case (names are case-insensitive; parameters and value stay)."""
    name = _HEAD_END.split(line, maxsplit=1)[0]
    return line if name.isupper() else name.upper() + line[len(name) :]


def utc_wins(text: str) -> str:
    """The text with the TZID dropped from date-times that also say ``Z`` (``DTSTART;TZID=X:…T100000Z``).

    Such a value is invalid, and seen in the wild; the ``Z`` is read as the more specific claim, as the cheap scan
    reads it, so the parse, the expansion and the facts agree on the instant.
    """
    if "Z" not in text and "z" not in text:
        return text
    unfolded = _NEWLINE.sub("\n", _FOLD.sub("", text))
    fixed = _UTC_WINS.sub(r"\1\2", unfolded)
    return fixed.replace("\n", "\r\n") if fixed != unfolded else text


def raw_components(text: str) -> list[RawComponent]:
    """The components of the VCALENDAR(s) in ``text`` (VEVENT, VTODO, VTIMEZONE …), as written, in file order."""
    found: list[RawComponent] = []
    stack: list[tuple[str, list[str], list[RawComponent]]] = []
    for line in _NEWLINE.split(_FOLD.sub("", text.lstrip("\ufeff"))):
        upper = line.strip().upper()
        if upper.startswith("BEGIN:"):
            stack.append((upper[6:], [], []))
        elif upper.startswith("END:") and stack:
            name, lines, children = stack.pop()
            done = RawComponent(name, tuple(lines), tuple(children))
            if stack and stack[-1][0] != "VCALENDAR":
                stack[-1][2].append(done)
            elif stack:
                found.append(done)
        elif stack and line.strip():
            stack[-1][1].append(line)
    return found


def add_duration(start: Moment, days: int, seconds: int) -> Moment:
    """``start`` plus a duration: days on the wall clock of the start's zone, then seconds of real time.

    A ``date`` start gives a ``date`` (``whole_days``); a floating time has no zone, so both parts are wall time.
    """
    if not isinstance(start, datetime):
        return start + timedelta(days=whole_days(days, seconds))
    wall = start + timedelta(days=days)
    if wall.tzinfo is None or not seconds:
        return wall + timedelta(seconds=seconds)
    return (wall.astimezone(UTC) + timedelta(seconds=seconds)).astimezone(wall.tzinfo)
