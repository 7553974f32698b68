"""Splitting a calendar of many items into one VCALENDAR per UID (see ``calsync.model.ical.split_ical``).

Why on the raw lines: an item is one UID, but exported .ics files and feeds bundle hundreds, and one broken
event must not take the others with it, nor be repaired silently. So each piece carries its components exactly
as written (a parser would drop a line it cannot read), plus VERSION and PRODID and the VTIMEZONEs its TZIDs
name; ``ical_to_item`` then judges each piece on its own.
"""

from __future__ import annotations

import re

from calsync.errors import InvalidItem

_ITEM_COMPONENTS = ("VEVENT", "VTODO")
_TZID_PARAM = re.compile(r";TZID=(\"[^\"]*\"|[^;:]*)", re.IGNORECASE)
_FOLD = re.compile(r"\r?\n[ \t]")
_NEWLINE = re.compile(r"\r\n|\r|\n")  # not str.splitlines: U+2028 and friends may sit inside a value


def split(text: str) -> list[str]:
    """One VCALENDAR text per UID, in the order the UIDs first appear; components without UID are dropped."""
    head, blocks = _blocks(text)
    vtimezones: dict[str, list[str]] = {}
    groups: dict[str, list[list[str]]] = {}
    for name, block in blocks:
        own = _own_lines(block)
        if name == "VTIMEZONE":
            vtimezones.setdefault(_value(own, "TZID"), block)
        elif name in _ITEM_COMPONENTS and (uid := _value(own, "UID")):
            groups.setdefault(uid, []).append(block)
    return [_piece(head, members, vtimezones) for members in groups.values()]


def _blocks(text: str) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The first VERSION and PRODID lines, and the components of every VCALENDAR as (name, physical lines).

    Lenient where nothing is lost (a byte-order mark, text after the calendar, a missing END:VCALENDAR),
    strict where a component's extent is unknown.
    """
    head: dict[str, str] = {}
    blocks: list[tuple[str, list[str]]] = []
    depth = 0
    calendars = 0
    for line in _NEWLINE.split(text.lstrip("\ufeff")):
        upper = line.strip().upper()
        if not upper:
            continue
        if upper.startswith("BEGIN:"):
            depth += 1
            if depth == 1 and upper != "BEGIN:VCALENDAR":
                raise InvalidItem(f"expected BEGIN:VCALENDAR, found {line.strip()[:60]!r}")
            calendars += depth == 1
            if depth == 2:  # a component of the calendar
                blocks.append((upper[6:], []))
        if depth >= 2:
            blocks[-1][1].append(line)
        elif depth == 1 and (name := upper.split(":", 1)[0].split(";", 1)[0]) in ("VERSION", "PRODID"):
            head.setdefault(name, line)
        if upper.startswith("END:") and depth:
            depth -= 1
    if not calendars:
        raise InvalidItem("the text holds no VCALENDAR")
    if depth > 1:
        raise InvalidItem("a component of the calendar never ends")
    return list(head.values()), blocks


def _own_lines(block: list[str]) -> list[str]:
    """The unfolded content lines of a component itself, without those of its subcomponents."""
    own: list[str] = []
    depth = 0
    for line in _NEWLINE.split(_FOLD.sub("", "\r\n".join(block))):
        upper = line.upper()
        depth += upper.startswith("BEGIN:")
        if depth == 1:
            own.append(line)
        depth -= upper.startswith("END:")
    return own


def _value(own: list[str], name: str) -> str:
    """The value of the first ``name`` property among a component's own lines ("" if absent)."""
    for line in own:
        key, _, value = line.partition(":")
        if key.split(";", 1)[0].strip().upper() == name:
            return value.strip()
    return ""


def _piece(head: list[str], members: list[list[str]], vtimezones: dict[str, list[str]]) -> str:
    used: dict[str, None] = {}
    for member in members:
        for match in _TZID_PARAM.finditer(_FOLD.sub("", "\r\n".join(member))):
            used.setdefault(match.group(1).strip('"').strip(), None)
    lines = ["BEGIN:VCALENDAR", *(head or ["VERSION:2.0"])]
    for tzid in used:
        lines += vtimezones.get(tzid, [])
    for member in members:
        lines += member
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"
