"""The business store's reads: items by business id or UID, the collections, the change log, the feed, the
journal and the rules.

Kept apart from ``calsync.state.business``, which holds the writes, so each reads in one sitting: a read takes
no lock and writes nothing, while every write that takes a cursor holds the integration's writer lock (see
there). ``SQLBusinessStore`` inherits these reads and adds the writes.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Select, func, select

from calsync.state.business_port import BusinessRow, Change, FeedEntry, JournalEntry, LoggedChanges
from calsync.state.business_sql import INTEGRATION_ID, business_row, journal_entry, log_head, rows_by
from calsync.state.db import OwnDatabase
from calsync.state.tables.hub import business_feed, business_items, business_log, integration_rules, journal


class BusinessReads(OwnDatabase):
    """What the business store answers without writing: the connector's listings and reads, the feed the business
    system polls, the journal and the rules. Thread-safe across calls, like the store."""

    # -- items and the change log -----------------------------------------------------------------------------

    def rows(self, integration: str, business_ids: Sequence[str]) -> dict[str, BusinessRow]:
        """Items by business id, deleted ones included."""
        with self._db.read() as conn:
            ident = self._id(conn, integration)
            return {} if ident is None else rows_by(conn, ident, business_items.c.business_id, business_ids)

    def by_uid(self, integration: str, owner: str, collection: str, uids: Sequence[str]) -> dict[str, BusinessRow]:
        """Items of one collection by UID, deleted ones included."""
        with self._db.read() as conn:
            ident = self._id(conn, integration)
            if ident is None:
                return {}
            found = rows_by(conn, ident, business_items.c.uid, uids, (owner, collection))
        return {row.uid: row for row in found.values()}

    def collections(self, integration: str) -> list[tuple[str, str]]:
        """Every (owner, collection) holding a live item."""
        with self._db.read() as conn:
            ident = self._id(conn, integration)
            stmt = (
                select(business_items.c.owner, business_items.c.collection)
                .where(business_items.c.integration_id == ident, business_items.c.deleted.is_(False))
                .distinct()
                .order_by(business_items.c.owner, business_items.c.collection)
            )
            return [(owner, name) for owner, name in conn.execute(stmt)]

    def collection(self, integration: str, owner: str, collection: str) -> tuple[list[BusinessRow], int]:
        """The live items of one collection and the log's head."""
        with self._db.read() as conn:
            ident = self._id(conn, integration)
            if ident is None:
                return [], 0
            head = log_head(conn, ident)
            stmt = select(business_items).where(
                business_items.c.integration_id == ident,
                business_items.c.owner == owner,
                business_items.c.collection == collection,
                business_items.c.deleted.is_(False),
            )
            return [business_row(r) for r in conn.execute(stmt).mappings()], head

    def with_attendees(self, integration: str, owner: str, collection: str) -> list[BusinessRow]:
        """Items of a collection made in a calendar (ids ``cal-…``), deleted ones too, whose text names an ATTENDEE;
        with those that passed through it and now live in another (reassigned)."""
        here = _passed_through(owner, collection)
        with self._db.read() as conn:
            ident = self._id(conn, integration)
            stmt = select(business_items).where(
                business_items.c.integration_id == ident,
                ((business_items.c.owner == owner) & (business_items.c.collection == collection)) | here.exists(),
                business_items.c.business_id.startswith("cal-"),
                business_items.c.content.contains("ATTENDEE"),
            )
            return [business_row(r) for r in conn.execute(stmt).mappings()]

    def moved_away(self, integration: str, owner: str, collection: str) -> list[str]:
        """UIDs of items whose change log passed through this collection and that now live in another, or were
        deleted there (deleted ones too: a reassigned item the business side deleted afterwards left this
        collection by the reassignment)."""
        here = _passed_through(owner, collection)
        with self._db.read() as conn:
            ident = self._id(conn, integration)
            stmt = select(business_items.c.uid).where(
                business_items.c.integration_id == ident,
                (business_items.c.owner != owner) | (business_items.c.collection != collection),
                here.exists(),
            )
            return list(conn.execute(stmt).scalars())

    def changes(self, integration: str, owner: str, collection: str, since: int) -> LoggedChanges:
        """Items logged for this collection after ``since``: still there (changed) or not (gone)."""
        with self._db.read() as conn:
            ident = self._id(conn, integration)
            if ident is None:
                return LoggedChanges((), (), 0)
            head = log_head(conn, ident)
            stmt = select(business_log.c.business_id).where(
                business_log.c.integration_id == ident,
                business_log.c.owner == owner,
                business_log.c.collection == collection,
                business_log.c.cursor > since,
                business_log.c.cursor <= head,
            )
            touched = list(dict.fromkeys(conn.execute(stmt).scalars()))
            current = rows_by(conn, ident, business_items.c.business_id, touched)
        changed: list[BusinessRow] = []
        gone: list[str] = []
        for business_id in touched:
            row = current.get(business_id)
            if row is not None and not row.deleted and (row.owner, row.collection) == (owner, collection):
                changed.append(row)
            else:
                gone.append(business_id)
        return LoggedChanges(changed, gone, head)

    # -- feed and journal -------------------------------------------------------------------------------------

    def feed(self, integration: str, since: int, limit: int) -> list[FeedEntry]:
        """Feed entries after ``since``, oldest first."""
        with self._db.read() as conn:
            ident = self._id(conn, integration)
            if ident is None:
                return []
            stmt = (
                select(business_feed)
                .where(business_feed.c.integration_id == ident, business_feed.c.cursor > since)
                .order_by(business_feed.c.cursor)
                .limit(limit)
            )
            rows = conn.execute(stmt).mappings().all()
        return [
            FeedEntry(
                r["cursor"],
                r["business_id"],
                r["owner"],
                r["kind"],
                Change(r["change"]),
                r["rule"],
                bool(r["needs_review"]),
                r["at"],
            )
            for r in rows
        ]

    def feed_head(self, integration: str) -> int:
        """The newest feed cursor of the integration."""
        with self._db.read() as conn:
            ident = self._id(conn, integration)
            stmt = select(func.max(business_feed.c.cursor)).where(business_feed.c.integration_id == ident)
            return int(conn.execute(stmt).scalar_one_or_none() or 0)

    def journal(
        self, integration: str, business_id: str | None, limit: int, older_than: int | None = None
    ) -> list[JournalEntry]:
        """Journal entries, newest first; older than entry ``older_than`` when given."""
        with self._db.read() as conn:
            ident = self._id(conn, integration)
            if ident is None:
                return []
            stmt = select(journal).where(journal.c.integration_id == ident)
            if business_id is not None:
                stmt = stmt.where(journal.c.business_id == business_id)
            if older_than is not None:
                stmt = stmt.where(journal.c.id < older_than)
            rows = conn.execute(stmt.order_by(journal.c.id.desc()).limit(limit)).mappings().all()
        return [journal_entry(r) for r in rows]

    def journal_entry(self, integration: str, entry_id: int) -> JournalEntry | None:
        """One journal entry of the integration."""
        with self._db.read() as conn:
            ident = self._id(conn, integration)
            stmt = select(journal).where(journal.c.integration_id == ident, journal.c.id == entry_id)
            row = conn.execute(stmt).mappings().first()
        return None if row is None else journal_entry(row)

    # -- rules --------------------------------------------------------------------------------------------------

    def rules(self, integration: str) -> str | None:
        """The stored rules JSON of an integration."""
        with self._db.read() as conn:
            ident = self._id(conn, integration)
            stmt = select(integration_rules.c.rules).where(integration_rules.c.integration_id == ident)
            value: str | None = conn.execute(stmt).scalar_one_or_none()
        return value

    # -- internals ----------------------------------------------------------------------------------------------

    def _id(self, conn: Connection, integration: str) -> int | None:
        value: int | None = conn.execute(INTEGRATION_ID, {"name": integration}).scalar_one_or_none()
        return value


def _passed_through(owner: str, collection: str) -> Select[tuple[str]]:
    """The change log's entries of the item at hand (correlated) made while it lived in this collection."""
    return select(business_log.c.business_id).where(
        business_log.c.integration_id == business_items.c.integration_id,
        business_log.c.business_id == business_items.c.business_id,
        business_log.c.owner == owner,
        business_log.c.collection == collection,
    )
