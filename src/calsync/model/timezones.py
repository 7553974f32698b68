"""Time-zone names: Windows <-> IANA from CLDR, and every TZID a calendar may carry resolved to a ``tzinfo``.

Why: Exchange, Graph and Outlook name zones the Windows way ("W. Europe Standard Time"), everyone else the
IANA way ("Europe/Berlin"), and iCalendar files carry whatever their writer liked: IANA names behind vendor
prefixes, Outlook display names ("(UTC+01:00) Amsterdam, Berlin, …"), Lotus Notes' short names, or a made-up
TZID whose meaning is only in its VTIMEZONE. A time must never silently move to UTC, so resolution walks from
the most exact evidence to the least: an IANA name, a Windows name, a display name, the VTIMEZONE's rules
(matched to the IANA zone that behaves the same, see ``calsync.model.tzoffsets``, else followed as written),
offsets written in the
name, and only then gives up.

The Windows table is CLDR's windowsZones.xml, shipped as ``data/windows_zones.json`` with the CLDR commit it
was taken from (``cldr_version()``). Link names (``Asia/Calcutta`` -> ``Asia/Kolkata``) are read from the tz
database that ``zoneinfo`` itself uses. Every look-up is cached: these run for each time value an item holds.
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import TYPE_CHECKING

from calsync.errors import InvalidItem
from calsync.model import tznames, tzoffsets

if TYPE_CHECKING:
    from icalendar import Component

__all__ = ["cldr_version", "iana_to_windows", "resolve_tzid", "windows_to_iana"]

_OFFSET = re.compile(r"(?:UTC|GMT)\s*([+-])\s*(\d{1,2})(?:[:.]?(\d{2}))?", re.IGNORECASE)
_DISPLAY = re.compile(r"^\(\s*(?:UTC|GMT)\s*(?:([+-])\s*(\d{1,2})(?:[:.]?(\d{2}))?)?\s*\)\s*(.*)$", re.IGNORECASE)
_UTC_NAMES = frozenset({"z", "utc", "gmt", "tzone://microsoft/utc"})


def cldr_version() -> str:
    """The CLDR commit the Windows table was taken from, for reports and bug hunts."""
    return tznames.table().version


# -- Windows <-> IANA ----------------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def windows_to_iana(name: str) -> str | None:
    """The IANA zone for a Windows zone name (CLDR's main zone for it, in its current spelling), else
    ``None``.

    Case-insensitive; only real Windows names match, so callers may pass any TZID and keep it when this says
    ``None``.
    """
    key = name.strip().lower()
    zone = tznames.table().by_name.get(key)
    if zone is not None:
        return tznames.modern(zone.golden)
    return tznames.table().supplement.get(key)


@lru_cache(maxsize=1024)
def iana_to_windows(name: str) -> str | None:
    """The Windows zone for an IANA zone, else ``None`` for a name that is no zone at all.

    CLDR's territory table first (every zone CLDR lists, whichever spelling), then the Windows zone whose main
    IANA zone behaves the same this year, so every zone ``zoneinfo.available_timezones()`` lists gets an
    answer.
    """
    table = tznames.table()
    found = table.by_iana.get(name) or _windows_by_canonical().get(tznames.canonical(name))
    if found is not None:
        return found
    zone = tznames.zone_named(name)
    if zone is None:
        return None
    found = table.by_iana.get(zone.key) or _windows_by_canonical().get(tznames.canonical(zone.key))
    if found is not None:
        return found
    year = _reference_year()
    target = tzoffsets.behaviour(tzoffsets.zone_offset_at(zone), year)
    golden = _golden_by_iana()
    match = tzoffsets.nearest(target, golden, year)
    return golden[match] if match else None


@lru_cache(maxsize=1)
def _windows_by_canonical() -> dict[str, str]:
    """Canonical IANA name -> Windows name; a zone listed under its own canonical name wins over its links."""
    result: dict[str, str] = {}
    by_iana = tznames.table().by_iana
    for name, windows in by_iana.items():
        if tznames.canonical(name) == name:
            result[name] = windows
    for name, windows in by_iana.items():
        result.setdefault(tznames.canonical(name), windows)
    return result


@lru_cache(maxsize=1)
def _golden_by_iana() -> dict[str, str]:
    """Each Windows zone's main IANA zone (as zoneinfo knows it) -> the Windows name.

    Ordered by how many IANA zones the Windows zone covers, then CLDR's order: when zones behave alike, the
    widely used one wins ("Pacific Standard Time" over "Pacific Standard Time (Mexico)").
    """
    result: dict[str, str] = {}
    for zone in sorted(tznames.table().zones, key=lambda zone: -len(zone.zones)):
        found = tznames.zone_named(tznames.modern(zone.golden)) or tznames.zone_named(zone.golden)
        if found is not None:
            result.setdefault(found.key, zone.name)
    return result


def _reference_year() -> int:
    """The year zones are compared in: this one, because today's rules are what future events follow."""
    return datetime.now(UTC).year


# -- TZID resolution -----------------------------------------------------------------------------------------


def resolve_tzid(tzid: str, vtimezone: Component | None = None) -> tzinfo:
    """The ``tzinfo`` a TZID stands for, given the VTIMEZONE that came with it (if any).

    In order: an IANA name (also case-insensitive, and behind a vendor prefix like ``/mozilla.org/…/``), a
    Windows name (also Lotus Notes' short form "W. Europe" and "… Daylight Time"), an Outlook display name,
    the IANA zone that behaves like the VTIMEZONE (else a zone named after the TZID that follows the
    VTIMEZONE's own transitions, never one offset for a zone that has several), and offsets written in the
    name ("GMT+0100"). Never UTC by default.

    Raises ``InvalidItem`` when neither the name nor a VTIMEZONE says anything about the zone.
    """
    name = tzid.strip().strip('"').strip()
    zone = _zone_for_name(name)
    if zone is not None:
        return zone
    if vtimezone is not None:
        zone = _zone_for_rules(name, bytes(vtimezone.to_ical()))
        if zone is not None:
            return zone
    zone = _zone_for_offsets_in_name(name)
    if zone is not None:
        return zone
    raise InvalidItem(f"unknown time zone {tzid!r} and no VTIMEZONE describes it")


@lru_cache(maxsize=512)
def _zone_for_name(name: str) -> tzinfo | None:
    """What the TZID's text alone identifies, without guessing from offsets.

    A name with slashes is also tried without its leading parts, longest rest first: globally unique TZIDs
    (RFC 5545 3.2.19) such as ``/mozilla.org/20050126_1/Europe/Berlin``, or "Western/Central Europe".
    """
    if name.lower() in _UTC_NAMES:
        return UTC
    zone = tznames.zone_named(name) or _windows(name) or _display(name)
    if zone is not None or "/" not in name:
        return zone
    parts = [part.strip() for part in name.split("/") if part.strip()]
    for first in range(len(parts)):
        rest = "/".join(parts[first:])
        zone = tznames.zone_named(rest) or _windows(rest)
        if zone is not None:
            return zone
    return None


def _windows(name: str) -> zoneinfo.ZoneInfo | None:
    """A Windows name, its "Daylight Time" twin, or Lotus Notes' form without " Standard Time"."""
    low = name.lower()
    for candidate in (low, low.replace(" daylight time", " standard time"), low + " standard time"):
        iana = windows_to_iana(candidate)
        if iana is not None:
            return tznames.zone_named(iana)
    return None


def _display(name: str) -> zoneinfo.ZoneInfo | None:
    """An Outlook display name: "(UTC+01:00) Amsterdam, Berlin, …", older "(GMT+01.00) Amsterdam / Berlin /
    …", or the place list alone. With an offset, the places shared decide among the zones of that offset;
    without one, every place named must belong to one zone."""
    match = _DISPLAY.match(name)
    offset = _offset(*match.group(1, 2, 3)) if match else None
    places = _places(match.group(4) if match else name)
    if not places:
        return None
    best: tuple[int, tznames.WindowsZone] | None = None
    for zone, (zone_offset, zone_places) in _displays():
        shared = len(places & zone_places)
        fits = shared > 0 if offset is not None else places <= zone_places
        if fits and (offset is None or offset == zone_offset) and (best is None or shared > best[0]):
            best = (shared, zone)
    return tznames.zone_named(tznames.modern(best[1].golden)) if best else None


@lru_cache(maxsize=1)
def _displays() -> tuple[tuple[tznames.WindowsZone, tuple[int, frozenset[str]]], ...]:
    """Each Windows zone with the offset and the places of its display name."""
    result = []
    for zone in tznames.table().zones:
        match = _DISPLAY.match(zone.display)
        if match:
            result.append((zone, (_offset(*match.group(1, 2, 3)), _places(match.group(4)))))
    return tuple(result)


def _places(text: str) -> frozenset[str]:
    """The places of a display name, normalised: "Cabo Verde Is." -> "cabo verde is", "Brasília" -> "brasilia"
    (localised Outlooks write accents CLDR's English names lack)."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    parts = re.split(r"[,/;:]", plain.lower().replace(".", ""))
    return frozenset(" ".join(part.split()) for part in parts if part.strip())


def _offset(sign: str | None, hours: str | None, minutes: str | None) -> int:
    """Seconds east of UTC from the pieces of "+01:00"; no pieces is UTC itself."""
    if hours is None:
        return 0
    seconds = int(hours) * 3600 + int(minutes or 0) * 60
    return -seconds if sign == "-" else seconds


@lru_cache(maxsize=256)
def _zone_for_rules(tzid: str, vtimezone: bytes) -> tzinfo | None:
    """The IANA zone that behaves like the VTIMEZONE, else a zone following the VTIMEZONE's own transitions,
    named ``tzid`` (one fixed offset when it has a single one).

    Keyed by the VTIMEZONE's text, so the same custom zone in a thousand items is matched once.
    """
    from icalendar import Component

    try:
        component = Component.from_ical(vtimezone)
    except ValueError:
        return None
    table = _transitions(component)
    if table is None:
        return None
    times, offsets, dsts = table
    year = min(_reference_year(), max(times).year) if times else _reference_year()
    target = tzoffsets.behaviour(tzoffsets.table_offset_at(times, offsets), year)
    candidates = (
        *_golden_by_iana(),
        *(name for name in tznames.real_zones() if name not in _golden_by_iana()),
    )
    match = tzoffsets.best_match(target, candidates, year)
    if match is not None:
        return zoneinfo.ZoneInfo(match)
    if len(set(offsets)) == 1:
        offset = timedelta(seconds=offsets[0])
        return timezone(offset, tzid) if tzid else timezone(offset)
    return _table_zone(tzid, times, offsets, dsts, vtimezone.decode("utf-8", "replace"))


_TABLE_ZONES: dict[tuple[str, tuple[datetime, ...], tuple[int, ...]], tzinfo] = {}
_TABLE_ZONES_KEPT = 256


def _table_zone(tzid: str, times: list[datetime], offsets: list[int], dsts: list[int], source: str) -> tzinfo:
    """One zone object per TZID and behaviour, whichever VTIMEZONE text described it.

    Why: Python never calls two times in a repeated hour equal when their zones are different objects
    (PEP 495), so the VTIMEZONE written for a zone must read back as the very zone it was written from.
    Transitions that change nothing are left out, and so is the first one's instant (before it the first offset
    applies anyway), because writers spell those differently.
    """
    rows = [(times[0], offsets[0], dsts[0])]
    for row in zip(times[1:], offsets[1:], dsts[1:], strict=True):
        if row[1] != rows[-1][1]:
            rows.append(row)
    key = (tzid, tuple(time for time, _, _ in rows[1:]), tuple(offset for _, offset, _ in rows))
    zone = _TABLE_ZONES.get(key)
    if zone is None:
        if len(_TABLE_ZONES) >= _TABLE_ZONES_KEPT:
            _TABLE_ZONES.clear()
        kept = [time for time, _, _ in rows], [offset for _, offset, _ in rows], [dst for _, _, dst in rows]
        zone = _TABLE_ZONES[key] = tzoffsets.TableZone(tzid, *kept, source=source)
    return zone


def _transitions(component: Component) -> tuple[list[datetime], list[int], list[int]] | None:
    """The VTIMEZONE's transitions as aware UTC instants with the offset and the DST amount after each;
    ``None`` without rules."""
    from icalendar import Timezone

    if not isinstance(component, Timezone):
        return None
    try:
        times, infos = component.get_transitions()
    except (AttributeError, KeyError, TypeError, ValueError, OverflowError):
        return None
    if not infos:
        return None
    rows = sorted(
        (when.replace(tzinfo=UTC), int(info[0].total_seconds()), _seconds(info[1]))
        for when, info in zip(times, infos, strict=False)
    )
    return [when for when, _, _ in rows], [offset for _, offset, _ in rows], [dst for _, _, dst in rows]


def _seconds(amount: object) -> int:
    """A DST amount in seconds; icalendar leaves ``False`` where it found none."""
    return int(amount.total_seconds()) if isinstance(amount, timedelta) else 0


def _zone_for_offsets_in_name(name: str) -> tzinfo | None:
    """Offsets written in the TZID ("GMT+0100", "GMT -0500 (Standard) / GMT -0400 (Daylight)").

    One offset: the matching ``Etc/GMT±N`` zone, or a fixed offset. Two: the first Windows zone's main zone
    that uses exactly those two offsets this year.
    """
    found = [_offset(*match.group(1, 2, 3)) for match in _OFFSET.finditer(name)]
    if not found:
        return None
    if len(set(found)) == 1:
        seconds = found[0]
        if seconds % 3600 == 0 and abs(seconds) <= 14 * 3600:  # Etc/GMT-14 is the last
            return tznames.zone_named("Etc/GMT" + (f"{-seconds // 3600:+d}" if seconds else ""))
        return timezone(timedelta(seconds=seconds), name)
    year = _reference_year()
    for golden in _golden_by_iana():
        if tzoffsets.zone_behaviour(golden, year).offsets == frozenset(found):
            return zoneinfo.ZoneInfo(golden)
    return timezone(timedelta(seconds=min(found)), name)
