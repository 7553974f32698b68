"""``calsync demo``: two sample calendar folders and a configuration that pairs them.

Why folders: they need no server and no account, and a person can open, edit and delete the ``.ics`` files to
watch the next sync carry the change across. The sample items are the kinds that break naive sync tools:
a time-zoned appointment with its VTIMEZONE, a meeting with attendees, an all-day event over two days, a
weekly series with a moved and a cancelled occurrence, a private appointment and a task. Dates are relative
to today so that everything falls inside the sync window.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from calsync.errors import ConfigError

MARKER = "# calsync demo configuration"
"""The first line of a demo's config: the demo run again in that folder syncs again instead of refusing."""

CONFIG = f"""{MARKER}: written by `calsync demo`; edit it freely.
# Two folders of .ics files stand in for the business system (side A) and Anna's calendar (side B).
# The state (what was synced) goes to calsync.db next to this file.

[[connections]]
name = "business"
type = "folder"
path = "business"

[[connections]]
name = "calendar"
type = "folder"
path = "calendar"

[[pairs]]
name = "anna"
a = "business:anna"
b = "calendar:anna"
mode = "two-way"
conflict = "a-wins"
window = [30, 60]
"""

_BERLIN = """BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE"""


def prepare(directory: Path, today: date | None = None) -> tuple[Path, bool]:
    """The demo's configuration file in ``directory``, written with the sample folders unless a demo is there.

    Returns the file and whether it was written now. Raises ``ConfigError`` when ``directory`` holds
    something else (nothing of a person's is overwritten) or cannot be written.
    """
    config = directory / "calsync.toml"
    if config.is_file() and config.read_text(encoding="utf-8", errors="replace").startswith(MARKER):
        return config, False
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ConfigError(
            "exists and is not an empty folder or a calsync demo; choose another --dir", where=str(directory)
        )
    try:
        _write(directory, config, today or date.today())
    except OSError as exc:
        raise ConfigError(f"cannot write the demo: {exc.strerror or exc}", where=str(directory)) from exc
    return config, True


def _write(directory: Path, config: Path, today: date) -> None:
    for side, items in (("business", business_items(today)), ("calendar", calendar_items(today))):
        folder = directory / side / "anna"
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in items.items():
            (folder / name).write_bytes(text.encode("utf-8"))
    config.write_text(CONFIG, encoding="utf-8")


def business_items(today: date) -> dict[str, str]:
    """The business side's sample items by file name."""
    day = _days(today)
    monday = today + timedelta(days=7 - today.weekday())
    mon = _days(monday)
    return {
        "visit-mueller.ics": _calendar(
            _BERLIN,
            _event(
                "demo-visit-mueller",
                f"DTSTART;TZID=Europe/Berlin:{day(1)}T090000",
                f"DTEND;TZID=Europe/Berlin:{day(1)}T103000",
                "SUMMARY:Maintenance visit: Müller GmbH",
                "LOCATION:Hafenstraße 12\\, 20457 Hamburg",
                "DESCRIPTION:Annual boiler maintenance.\\nAsk for Mr Keller at the gate.",
                "CATEGORIES:Service",
            ),
        ),
        "planning.ics": _calendar(
            _BERLIN,
            _event(
                "demo-planning",
                f"DTSTART;TZID=Europe/Berlin:{day(2)}T140000",
                f"DTEND;TZID=Europe/Berlin:{day(2)}T150000",
                "SUMMARY:Service planning",
                "ORGANIZER;CN=Jonas Weber:mailto:jonas.weber@example.com",
                "ATTENDEE;CN=Anna Schmidt;PARTSTAT=ACCEPTED:mailto:anna.schmidt@example.com",
                "ATTENDEE;CN=Lea Fischer;PARTSTAT=NEEDS-ACTION:mailto:lea.fischer@example.com",
            ),
        ),
        "trade-fair.ics": _calendar(
            _event(
                "demo-trade-fair",
                f"DTSTART;VALUE=DATE:{day(7)}",
                f"DTEND;VALUE=DATE:{day(9)}",
                "SUMMARY:Trade fair (stand B4)",
                "TRANSP:TRANSPARENT",
            )
        ),
        "service-round.ics": _calendar(
            _BERLIN,
            _event(
                "demo-service-round",
                f"DTSTART;TZID=Europe/Berlin:{mon(0)}T080000",
                f"DTEND;TZID=Europe/Berlin:{mon(0)}T090000",
                "SUMMARY:Weekly service round",
                "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6",
                f"EXDATE;TZID=Europe/Berlin:{mon(21)}T080000",
            ),
            _event(
                "demo-service-round",
                f"RECURRENCE-ID;TZID=Europe/Berlin:{mon(7)}T080000",
                f"DTSTART;TZID=Europe/Berlin:{mon(7)}T100000",
                f"DTEND;TZID=Europe/Berlin:{mon(7)}T110000",
                "SUMMARY:Weekly service round (moved: team training at 8)",
            ),
        ),
        "private-dentist.ics": _calendar(
            _BERLIN,
            _event(
                "demo-dentist",
                f"DTSTART;TZID=Europe/Berlin:{day(3)}T160000",
                f"DTEND;TZID=Europe/Berlin:{day(3)}T170000",
                "SUMMARY:Dentist",
                "CLASS:PRIVATE",
            ),
        ),
        "task-quote.ics": _calendar(
            _component(
                "VTODO",
                "demo-quote-mueller",
                f"DUE;VALUE=DATE:{day(2)}",
                "SUMMARY:Send quote to Müller GmbH",
                "PRIORITY:1",
                "STATUS:NEEDS-ACTION",
            )
        ),
    }


def calendar_items(today: date) -> dict[str, str]:
    """The calendar side's sample items: one Anna made in her calendar, which the sync carries to A."""
    day = _days(today)
    return {
        "lunch-supplier.ics": _calendar(
            _BERLIN,
            _event(
                "demo-lunch-supplier",
                f"DTSTART;TZID=Europe/Berlin:{day(1)}T123000",
                f"DTEND;TZID=Europe/Berlin:{day(1)}T133000",
                "SUMMARY:Lunch with the supplier",
                "LOCATION:Café am Markt",
            ),
        ),
    }


def _days(start: date) -> Callable[[int], str]:
    return lambda offset: (start + timedelta(days=offset)).strftime("%Y%m%d")


def _event(uid: str, *lines: str) -> str:
    return _component("VEVENT", uid, *lines)


def _component(name: str, uid: str, *lines: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return "\n".join((f"BEGIN:{name}", f"UID:{uid}@calsync.example", f"DTSTAMP:{stamp}", *lines, f"END:{name}"))


def _calendar(*components: str) -> str:
    body = "\n".join(("BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calsync//demo//EN", *components, "END:VCALENDAR"))
    return body.replace("\n", "\r\n") + "\r\n"
