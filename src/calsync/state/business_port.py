"""The BusinessStore port: calsync's own copy of the business items, their change log, feed and journal.

Why calsync keeps a copy: the business system pushes items when it likes and reads back what calendars changed
when it likes; the sync engine needs a side it can list, read and write with guarded versions like any server.
So the business side is a store (DESIGN.md, "business store") seen through a connector
(``calsync.connectors.business``).

Three append-only sequences hang off it, each numbered by a cursor that only grows within an integration:
- the **change log**: which item changed in which collection (an item that moves to another technician is
  logged in both), read by the connector for incremental sync;
- the **feed**: what came back from calendars (created, updated, deleted, with the rule and the needs-review
  flag), read by the business system;
- the **journal**: every change calsync made on either side, with the rule and the content before and after,
  so a deleted item can be restored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class Origin(StrEnum):
    """Who last wrote an item: the business system through the API, or a calendar through a sync."""

    BUSINESS = "business"
    CALENDAR = "calendar"


class Change(StrEnum):
    """What happened to an item, in the feed and the journal."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    RESTORED = "restored"


@dataclass(frozen=True, slots=True)
class BusinessRow:
    """One business item as stored: ``content`` is iCalendar or vCard text in its business form."""

    business_id: str
    uid: str
    owner: str
    collection: str
    kind: str
    media_type: str
    content: str
    version: int = 1
    deleted: bool = False
    origin: Origin = Origin.BUSINESS
    needs_review: bool = False
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PutOutcome:
    """The result of putting one item: ``created``, ``updated``, ``unchanged`` (same content: nothing written)."""

    business_id: str
    status: str
    version: int


@dataclass(frozen=True, slots=True)
class LoggedChanges:
    """Items of one collection changed since a cursor: current rows, business ids gone from it, the head."""

    changed: Sequence[BusinessRow]
    gone: Sequence[str]
    head: int


@dataclass(frozen=True, slots=True)
class CalendarWrite:
    """A write the sync makes on the business side, guarded by the version it saw.

    ``content`` ``None`` deletes. ``expected`` is the version the engine read (``None`` for a create, which must
    find no live row of that business id). ``needs_review`` applies to creates.
    """

    business_id: str
    uid: str
    owner: str
    collection: str
    kind: str
    media_type: str
    content: str | None
    expected: int | None
    needs_review: bool = False


class WriteStatus(StrEnum):
    """How a guarded write ended."""

    DONE = "done"
    STALE = "stale"


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One change from a calendar, as the business system reads it."""

    cursor: int
    business_id: str
    owner: str
    kind: str
    change: Change
    rule: str
    needs_review: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One change calsync made, with the content before and after (``None`` where there was none)."""

    id: int
    business_id: str
    owner: str
    side: str
    action: Change
    rule: str
    pair: str
    media_type: str
    before: str | None
    after: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class NewJournal:
    """A journal entry to add (for writes on the calendar side, which the business store does not see)."""

    business_id: str
    owner: str
    side: str
    action: Change
    rule: str
    pair: str
    media_type: str
    before: str | None
    after: str | None


class BusinessStore(Protocol):
    """Business items of every integration. Integrations are named; an unknown one is ``NotFound``-free: reads
    return nothing and writes raise ``StateError``. Implementations raise ``StateError`` for storage failures."""

    def put(self, integration: str, rows: Sequence[BusinessRow]) -> list[PutOutcome]:
        """Insert or replace items from the business system, all in one transaction (idempotent: an item whose
        content, owner and kind are unchanged is not written). A deleted item put again is live again."""
        ...

    def remove(self, integration: str, business_ids: Sequence[str]) -> list[bool]:
        """Mark items deleted (tombstones keep the last content); False where there was no live item."""
        ...

    def rows(self, integration: str, business_ids: Sequence[str]) -> dict[str, BusinessRow]:
        """Items by business id, deleted ones included."""
        ...

    def by_uid(self, integration: str, owner: str, collection: str, uids: Sequence[str]) -> dict[str, BusinessRow]:
        """Items of one collection by UID, deleted ones included (a UID is unique within a collection only: a
        meeting that invites two technicians is in both their calendars)."""
        ...

    def collections(self, integration: str) -> list[tuple[str, str]]:
        """``(owner, collection)`` of every collection holding a live item."""
        ...

    def collection(self, integration: str, owner: str, collection: str) -> tuple[list[BusinessRow], int]:
        """The live items of one collection, and the log's head cursor (to resume from)."""
        ...

    def with_attendees(self, integration: str, owner: str, collection: str) -> list[BusinessRow]:
        """The items of one collection made in a calendar (business ids ``cal-…``; deleted ones too) whose text
        names attendees (a text search: the caller checks the content), and those that were once in it and now
        live in another (reassigned by the business side)."""
        ...

    def moved_away(self, integration: str, owner: str, collection: str) -> list[str]:
        """UIDs of items once in this collection that now live in another (reassigned by the business side),
        deleted there since too."""
        ...

    def changes(self, integration: str, owner: str, collection: str, since: int) -> LoggedChanges:
        """What changed in one collection after cursor ``since``."""
        ...

    def write(self, integration: str, write: CalendarWrite, pair: str) -> tuple[WriteStatus, BusinessRow | None]:
        """Apply a sync's write if the item is still at ``write.expected``; log it, add it to the feed and the
        journal in the same transaction. Returns the new row (``None`` after a delete) or ``STALE``."""
        ...

    def annotate(self, integration: str, rules: Sequence[tuple[str, str]]) -> None:
        """Name the rule of each item's latest feed and journal entries that carry none yet
        (``(business id, rule)`` pairs, in one transaction)."""
        ...

    def feed(self, integration: str, since: int, limit: int) -> list[FeedEntry]:
        """Feed entries after cursor ``since``, oldest first."""
        ...

    def feed_head(self, integration: str) -> int:
        """The newest feed cursor (0 when the feed is empty)."""
        ...

    def mark_reviewed(self, integration: str, business_ids: Sequence[str]) -> int:
        """Clear the needs-review flag of items; returns how many were flagged."""
        ...

    def journal(
        self, integration: str, business_id: str | None, limit: int, older_than: int | None = None
    ) -> list[JournalEntry]:
        """Journal entries, newest first, of one item or of all; only those older than entry ``older_than``
        when given (the next page: entry ids only grow, so a page never repeats or skips an entry written meanwhile)."""
        ...

    def journal_entry(self, integration: str, entry_id: int) -> JournalEntry | None:
        """One journal entry."""
        ...

    def record(self, integration: str, entries: Sequence[NewJournal]) -> None:
        """Add journal entries for writes the store did not make itself (on the calendar side)."""
        ...

    def restore(self, integration: str, placed: BusinessRow, rule: str) -> BusinessRow:
        """Put an item back with the content, kind, collection, owner and media type of ``placed`` (live, new
        version; uid, origin and review flag kept), journaled and fed as ``restored``."""
        ...

    def rules(self, integration: str) -> str | None:
        """The integration's rules as stored (JSON), if set."""
        ...

    def set_rules(self, integration: str, rules: str) -> None:
        """Store the integration's rules (JSON)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
