"""The names behind time-zone resolution: CLDR's Windows table, the tz database's links and country zones.

Why apart from ``calsync.model.timezones``: these are the data (loaded once, cached); that module is the logic
that walks them. The Windows table is CLDR's windowsZones.xml as ``data/windows_zones.json``, with the commit
it was taken from; links (``Asia/Calcutta`` -> ``Asia/Kolkata``) and ``zone.tab`` come from the tz database
``zoneinfo`` itself reads, so names agree with the zones that load.
"""

from __future__ import annotations

import json
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

DATA_FILE = "windows_zones.json"


@dataclass(frozen=True, slots=True)
class WindowsZone:
    """One Windows zone as CLDR lists it: its display name, its main IANA zone and every IANA zone it
    covers."""

    name: str
    display: str
    golden: str
    zones: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Table:
    version: str
    zones: tuple[WindowsZone, ...]
    by_name: dict[str, WindowsZone]
    by_iana: dict[str, str]
    supplement: dict[str, str]


@lru_cache(maxsize=1)
def table() -> Table:
    """The packaged CLDR table, loaded once."""
    raw: dict[str, Any] = json.loads(resources.files("calsync.model").joinpath("data", DATA_FILE).read_text("utf-8"))
    zones = tuple(
        WindowsZone(
            name=entry["windows"],
            display=entry["display"],
            golden=entry["territories"]["001"],
            zones=tuple(dict.fromkeys(z for value in entry["territories"].values() for z in value.split())),
        )
        for entry in raw["zones"]
    )
    by_iana: dict[str, str] = {}
    for zone in zones:
        for name in zone.zones:
            by_iana.setdefault(name, zone.name)
    supplement = {name.lower(): iana for name, iana in raw["supplement"]["zones"].items()}
    return Table(raw["cldr_commit"], zones, {z.name.lower(): z for z in zones}, by_iana, supplement)


# -- the tz database's own names -----------------------------------------------------------------------------


def tzdb_text(name: str) -> str:
    """A text file of the tz database zoneinfo reads: the system's (zoneinfo prefers it), else tzdata's."""
    for folder in zoneinfo.TZPATH:
        path = Path(folder) / name
        if path.is_file():
            return path.read_text("utf-8", errors="replace")
    try:
        return resources.files("tzdata").joinpath("zoneinfo", name).read_bytes().decode("utf-8", "replace")
    except (ModuleNotFoundError, FileNotFoundError):
        return ""


@lru_cache(maxsize=1)
def links() -> dict[str, str]:
    """Link name -> target, from ``tzdata.zi`` (lines ``L target link``)."""
    links: dict[str, str] = {}
    for line in tzdb_text("tzdata.zi").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "L":  # "L target link"
            links[parts[2]] = parts[1]
    return links


@lru_cache(maxsize=1)
def country_zones() -> frozenset[str]:
    """Zones ``zone.tab`` names for a country: names people use, kept even where tzdata made them links."""
    rows = (line.split("\t") for line in tzdb_text("zone.tab").splitlines() if not line.startswith("#"))
    return frozenset(row[2] for row in rows if len(row) > 2)  # country, coordinates, zone


def canonical(name: str) -> str:
    """The zone a link name finally points to (``US/Eastern`` -> ``America/New_York``)."""
    table_of_links = links()
    for _ in range(8):
        if name not in table_of_links:
            break
        name = table_of_links[name]
    return name


def modern(name: str) -> str:
    """The current spelling of a zone name: renamed zones (``Asia/Calcutta``) follow their link, country zones
    that tzdata merged into another (``Atlantic/Reykjavik``) keep their own name."""
    return name if name in country_zones() else canonical(name)


@lru_cache(maxsize=1)
def lower_names() -> dict[str, str]:
    """Every zone name by its lower-case spelling, for TZIDs written in the wrong case."""
    return {name.lower(): name for name in zoneinfo.available_timezones()}


@lru_cache(maxsize=1)
def real_zones() -> tuple[str, ...]:
    """Every zone that is not a link, sorted: the candidates when matching by behaviour."""
    skip = links().keys() | {"localtime", "posixrules", "Factory"}
    return tuple(sorted(name for name in zoneinfo.available_timezones() if name not in skip))


def zone_named(name: str) -> zoneinfo.ZoneInfo | None:
    """``ZoneInfo(name)``, trying the name's case-insensitive match; ``None`` when there is no such zone."""
    zone = _load(name)
    if zone is None and (other := lower_names().get(name.lower())) is not None:
        zone = _load(other)
    return zone


def _load(key: str) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(key)
    except (KeyError, ValueError, OSError):  # not found, not a valid key, a folder
        return None
