"""Realistic generated calendar items for benchmarks: what a field-service calendar holds.

Timed appointments in a few time zones with descriptions, locations, categories, an alarm, sometimes attendees,
all-day events and weekly series, half of them with a moved occurrence, all within 30 days of a reference time so
every item falls inside the default sync window. An item that names a time zone carries its VTIMEZONE, as RFC 5545
(3.2.19) requires and as clients and servers store items (these are the definitions Thunderbird writes).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

ZONES = ("Europe/Berlin", "Europe/London", "America/New_York", "Europe/Vienna")
_CENTRAL = (
    ("+0100", "+0200", "CEST", "19700329T020000", "3;BYDAY=-1SU"),
    ("+0200", "+0100", "CET", "19701025T030000", "10;BYDAY=-1SU"),
)
_RULES = {
    "Europe/Berlin": _CENTRAL,
    "Europe/Vienna": _CENTRAL,
    "Europe/London": (
        ("+0000", "+0100", "BST", "19700329T010000", "3;BYDAY=-1SU"),
        ("+0100", "+0000", "GMT", "19701025T020000", "10;BYDAY=-1SU"),
    ),
    "America/New_York": (
        ("-0500", "-0400", "EDT", "19700308T020000", "3;BYDAY=2SU"),
        ("-0400", "-0500", "EST", "19701101T020000", "11;BYDAY=1SU"),
    ),
}
WORDS = (
    "boiler",
    "service",
    "inspection",
    "pump",
    "valve",
    "install",
    "repair",
    "customer",
    "site",
    "visit",
    "heating",
    "annual",
    "maintenance",
    "filter",
    "replace",
    "check",
    "pressure",
    "leak",
    "meter",
    "order",
)


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def _vtimezone(zone: str) -> list[str]:
    lines = ["BEGIN:VTIMEZONE", f"TZID:{zone}", f"X-LIC-LOCATION:{zone}"]
    for (offset_from, offset_to, name, start, month), kind in zip(_RULES[zone], ("DAYLIGHT", "STANDARD"), strict=True):
        lines += [
            f"BEGIN:{kind}",
            f"TZOFFSETFROM:{offset_from}",
            f"TZOFFSETTO:{offset_to}",
            f"TZNAME:{name}",
            f"DTSTART:{start}",
            f"RRULE:FREQ=YEARLY;BYMONTH={month}",
            f"END:{kind}",
        ]
    return [*lines, "END:VTIMEZONE"]


def event_text(index: int, now: datetime, rng: random.Random) -> str:
    """One item as a server would store it: a VCALENDAR with one VEVENT, or a series and its moved occurrence,
    and the VTIMEZONE its times name."""
    uid = f"{index:06d}-{rng.getrandbits(48):012x}@bench.calsync"
    start = (now + timedelta(days=rng.uniform(-29, 29))).replace(minute=0, second=0, microsecond=0)
    zone = rng.choice(ZONES)
    stamp = f"DTSTAMP:{now:%Y%m%dT%H%M%SZ}"
    lines = ["BEGIN:VEVENT", f"UID:{uid}", stamp, f"CREATED:{now:%Y%m%dT%H%M%SZ}"]
    kind = rng.random()
    length = timedelta(minutes=rng.choice((30, 60, 90, 120)))
    if kind < 0.1:
        lines += [
            f"DTSTART;VALUE=DATE:{start:%Y%m%d}",
            f"DTEND;VALUE=DATE:{start + timedelta(days=1):%Y%m%d}",
        ]
    else:
        lines += [f"DTSTART;TZID={zone}:{start:%Y%m%dT%H%M%S}", f"DTEND;TZID={zone}:{start + length:%Y%m%dT%H%M%S}"]
    lines += [
        f"SUMMARY:{_text(rng, 4).capitalize()} #{index}",
        f"DESCRIPTION:{_text(rng, rng.randint(10, 60))}\\n{_text(rng, 10)}",
        f"LOCATION:{rng.randint(1, 200)} {_text(rng, 2).title()} Street\\, {rng.randint(10000, 99999)} Town",
        f"CATEGORIES:{rng.choice(('Service', 'Installation', 'Inspection'))}",
        f"X-CALSYNC-ACTIVITY-TYPE:ES_{rng.randint(1, 40)}",
    ]
    if rng.random() < 0.2:
        lines += [
            "ORGANIZER;CN=Dispatch:mailto:dispatch@example.com",
            "ATTENDEE;CN=Tech One;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT:mailto:tech1@example.com",
        ]
    series = 0.1 <= kind < 0.2
    if series:
        lines += ["RRULE:FREQ=WEEKLY;COUNT=10"]
    lines += ["BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:Reminder", "TRIGGER:-PT15M", "END:VALARM", "END:VEVENT"]
    if series and rng.random() < 0.5:
        lines += _moved_occurrence(uid, stamp, zone, start + timedelta(weeks=2), length, index)
    head = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calsync bench//EN"]
    if kind >= 0.1:
        head += _vtimezone(zone)
    return "\r\n".join(_fold(line) for line in [*head, *lines, "END:VCALENDAR"]) + "\r\n"


def _moved_occurrence(uid: str, stamp: str, zone: str, original: datetime, length: timedelta, index: int) -> list[str]:
    """The third occurrence of a weekly series, moved a day later: the exception a series most often has."""
    moved = original + timedelta(days=1)
    return [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        stamp,
        f"RECURRENCE-ID;TZID={zone}:{original:%Y%m%dT%H%M%S}",
        f"DTSTART;TZID={zone}:{moved:%Y%m%dT%H%M%S}",
        f"DTEND;TZID={zone}:{moved + length:%Y%m%dT%H%M%S}",
        f"SUMMARY:Moved visit #{index}",
        "SEQUENCE:1",
        "END:VEVENT",
    ]


def _fold(line: str) -> str:
    if len(line) <= 75:
        return line
    parts = [line[:75]] + [" " + line[i : i + 74] for i in range(75, len(line), 74)]
    return "\r\n".join(parts)


def write_folder(folder: Path, count: int, now: datetime | None = None, seed: int = 7) -> None:
    """Fill ``folder`` with ``count`` generated items, one ``.ics`` file each."""
    now = now or datetime.now(UTC)
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        text = event_text(index, now, rng)
        (folder / f"{index:06d}.ics").write_bytes(text.encode("utf-8"))
