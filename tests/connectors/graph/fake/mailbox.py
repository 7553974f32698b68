"""What a mailbox holds, kept the way Exchange keeps it: events with change keys, series expanded on demand,
delta snapshots, master categories, mailbox settings.

Every write bumps the item's change key (its etag is ``W/"<changeKey>"``); changing an occurrence makes it an
exception and bumps the series master too, as Exchange does. Delta tokens name a snapshot of which instances were
in the window with which change key, so a later round reports exactly what was added, changed or removed
(removed includes instances that left the window), as calendarView delta does.
https://learn.microsoft.com/en-us/graph/api/event-delta
https://learn.microsoft.com/en-us/graph/delta-query-events
"""

from __future__ import annotations

import base64
import copy
import itertools
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from calsync.model.timezones import windows_to_iana
from tests.connectors.graph.fake.series import expand

Json = dict[str, Any]
_EXPAND_YEARS = 5


def zone(name: str) -> ZoneInfo:
    """A Graph time-zone name (Windows or IANA) as a zone."""
    return ZoneInfo(windows_to_iana(name) or name)


def instant(value: Json) -> datetime:
    """A ``dateTimeTimeZone`` as an aware UTC datetime."""
    naive = datetime.fromisoformat(value["dateTime"][:19])
    return naive.replace(tzinfo=zone(value.get("timeZone") or "UTC")).astimezone(UTC)


def stamp(moment: datetime) -> str:
    """UTC ISO form Graph uses for ``originalStart`` and timestamps."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class Stored:
    """A single event or a series master, with the exceptions and cancellations of its occurrences."""

    data: Json
    change: int
    exceptions: dict[str, tuple[Json, int]] = field(default_factory=dict)
    cancelled: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Mailbox:
    """One user's calendar and settings."""

    address: str
    user_id: str
    events: dict[str, Stored] = field(default_factory=dict)
    transactions: dict[str, str] = field(default_factory=dict)
    categories: list[Json] = field(default_factory=list)
    settings: Json = field(default_factory=dict)
    todo: dict[str, Any] = field(default_factory=dict)
    contacts: dict[str, tuple[Json, int]] = field(default_factory=dict)
    contact_folders: dict[str, Json] = field(default_factory=dict)
    snapshots: dict[str, tuple[datetime, datetime, dict[str, int]]] = field(default_factory=dict)
    _changes: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_change(self) -> int:
        return next(self._changes)

    # -- events ------------------------------------------------------------------------------------------------

    def add(self, data: Json) -> Stored:
        """Store a new event (already validated) under a fresh id."""
        event_id = "AAMkAG" + secrets.token_urlsafe(24)
        now = stamp(datetime.now(UTC))
        data = {**data, "id": event_id, "createdDateTime": now, "lastModifiedDateTime": now}
        data.setdefault("iCalUId", "040000008200E00074C5B7101A82E008" + secrets.token_hex(24).upper())
        data["type"] = "seriesMaster" if data.get("recurrence") else "singleInstance"
        stored = Stored(data, self.next_change())
        self.events[event_id] = stored
        if data.get("transactionId"):
            self.transactions[data["transactionId"]] = event_id
        return stored

    def patch(self, stored: Stored, changes: Json) -> None:
        """Apply a PATCH to a single event or a master."""
        stored.data.update(changes)
        stored.data["type"] = "seriesMaster" if stored.data.get("recurrence") else "singleInstance"
        stored.data["lastModifiedDateTime"] = stamp(datetime.now(UTC))
        stored.change = self.next_change()
        if "recurrence" in changes or "start" in changes:
            stored.exceptions.clear()
            stored.cancelled.clear()

    def find(self, event_id: str) -> tuple[Stored, str | None] | None:
        """The stored event an id names: itself, or its master and the occurrence's original start."""
        if event_id in self.events:
            return self.events[event_id], None
        decoded = _decode_occurrence(event_id)
        if decoded is None or decoded[0] not in self.events:
            return None
        master, original = self.events[decoded[0]], decoded[1]
        if original in master.cancelled or not any(stamp(s) == original for s in self.starts(master, original)):
            return None
        return master, original

    def starts(self, master: Stored, near: str | None = None) -> list[datetime]:
        """The UTC original starts of a master's occurrences (up to five years, or just up to ``near``)."""
        data = master.data
        tz = zone(data["start"].get("timeZone") or "UTC")
        first = datetime.fromisoformat(data["start"]["dateTime"][:19])
        limit = first + timedelta(days=366 * _EXPAND_YEARS)
        if near is not None:
            limit = min(limit, datetime.fromisoformat(near[:19]) + timedelta(days=2))
        return [s.replace(tzinfo=tz).astimezone(UTC) for s in expand(data["recurrence"], first, limit)]

    def instances(self, master: Stored, lo: datetime, hi: datetime) -> list[tuple[Json, int]]:
        """The occurrences and exceptions of a series overlapping ``[lo, hi)`` with their change keys."""
        data = master.data
        length = instant(data["end"]) - instant(data["start"])
        found = []
        for start in self.starts(master):
            original = stamp(start)
            if original in master.cancelled:
                continue
            exception = master.exceptions.get(original)
            body = _occurrence(data, master.data["id"], original, start, length)
            change = master.change
            if exception is not None:
                body.update(exception[0])
                body["type"] = "exception"
                change = exception[1]
            if instant(body["start"]) < hi and instant(body["end"]) > lo:
                found.append((body, change))
        return found

    def window(self, lo: datetime, hi: datetime) -> list[tuple[Json, int]]:
        """Every instance (single, occurrence, exception) overlapping ``[lo, hi)``, as calendarView lists them."""
        found = []
        for stored in self.events.values():
            if stored.data.get("recurrence"):
                found.extend(self.instances(stored, lo, hi))
            elif instant(stored.data["start"]) < hi and instant(stored.data["end"]) > lo:
                found.append((copy.deepcopy(stored.data), stored.change))
        return found

    def snapshot(self, lo: datetime, hi: datetime, seen: dict[str, int]) -> str:
        """Remember what a delta round reported; the token names it."""
        token = secrets.token_urlsafe(16)
        self.snapshots[token] = (lo, hi, seen)
        return token


def occurrence_id(master_id: str, original: str) -> str:
    """An occurrence id that names its master and original start (opaque to clients, as Exchange's are)."""
    return "OCC" + base64.urlsafe_b64encode(f"{master_id}|{original}".encode()).decode().rstrip("=")


def _decode_occurrence(event_id: str) -> tuple[str, str] | None:
    if not event_id.startswith("OCC"):
        return None
    raw = event_id[3:]
    try:
        master_id, _, original = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode().partition("|")
    except ValueError:
        return None
    return (master_id, original) if original else None


def _occurrence(master: Json, master_id: str, original: str, start: datetime, length: timedelta) -> Json:
    body = copy.deepcopy(master)
    body.pop("recurrence", None)
    body.pop("transactionId", None)
    tz = master["start"].get("timeZone") or "UTC"
    local = start.astimezone(zone(tz))
    end = (start + length).astimezone(zone(master["end"].get("timeZone") or tz))
    body.update(
        id=occurrence_id(master_id, original),
        type="occurrence",
        seriesMasterId=master_id,
        originalStart=original,
        start={"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": tz},
        end={"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": master["end"].get("timeZone") or tz},
    )
    return body
