"""Realistic generated calendar items for benchmarks: what a field-service calendar holds.

Timed appointments in a few time zones with descriptions, locations, categories, an alarm, sometimes attendees,
all-day events and weekly series with an exception, all within 30 days of a reference time so every item falls
inside the default sync window.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

ZONES = ("Europe/Berlin", "Europe/London", "America/New_York", "Europe/Vienna")
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


def event_text(index: int, now: datetime, rng: random.Random) -> str:
    """One item as a server would store it: a VCALENDAR with one VEVENT (sometimes a series with an exception)."""
    uid = f"{index:06d}-{rng.getrandbits(48):012x}@bench.calsync"
    start = (now + timedelta(days=rng.uniform(-29, 29))).replace(minute=0, second=0, microsecond=0)
    zone = rng.choice(ZONES)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//calsync bench//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{now:%Y%m%dT%H%M%SZ}",
        f"CREATED:{now:%Y%m%dT%H%M%SZ}",
    ]
    kind = rng.random()
    if kind < 0.1:
        lines += [
            f"DTSTART;VALUE=DATE:{start:%Y%m%d}",
            f"DTEND;VALUE=DATE:{start + timedelta(days=1):%Y%m%d}",
        ]
    else:
        end = start + timedelta(minutes=rng.choice((30, 60, 90, 120)))
        lines += [f"DTSTART;TZID={zone}:{start:%Y%m%dT%H%M%S}", f"DTEND;TZID={zone}:{end:%Y%m%dT%H%M%S}"]
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
    if 0.1 <= kind < 0.2:
        lines += ["RRULE:FREQ=WEEKLY;COUNT=10"]
    lines += [
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        "DESCRIPTION:Reminder",
        "TRIGGER:-PT15M",
        "END:VALARM",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"


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
