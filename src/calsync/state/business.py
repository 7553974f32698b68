"""The BusinessStore on SQLAlchemy Core (SQLite embedded, PostgreSQL in production).

Why a lock per integration on every write: cursors are ids, and on PostgreSQL two transactions can take ids 5
and 6 and commit 6 first; a reader that saw 6 would then never see 5. Holding a transaction-scoped advisory lock
per integration while a cursor is taken and committed keeps cursors in commit order (SQLite serialises all
writers anyway). Readers never lock.

This module holds the writes and ``SQLBusinessStore``, the store itself; it inherits the reads from
``calsync.state.business_reads``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import URL, Connection, insert, text, update

from calsync.errors import StateError
from calsync.state.business_port import (
    BusinessRow,
    CalendarWrite,
    Change,
    NewJournal,
    Origin,
    PutOutcome,
    WriteStatus,
)
from calsync.state.business_reads import BusinessReads
from calsync.state.business_sql import (
    ANNOTATE_FEED,
    ANNOTATE_JOURNAL,
    LOCK_SPACE,
    add_feed,
    add_journal,
    item_key,
    log,
    log_row,
    row_values,
    rows_by,
)
from calsync.state.tables.hub import business_items, business_log, integration_rules


def open_business_store(url_or_path: str | os.PathLike[str] | URL) -> SQLBusinessStore:
    """Open (creating or migrating when needed) the business store at a URL or SQLite file path."""
    return SQLBusinessStore(url_or_path)


class SQLBusinessStore(BusinessReads):
    """Business items, change log, feed and journal on a SQLAlchemy database; thread-safe across calls."""

    # -- the business system's writes -------------------------------------------------------------------------

    def put(self, integration: str, rows: Sequence[BusinessRow]) -> list[PutOutcome]:
        """Insert or replace items in one transaction; unchanged items are not written (see the port)."""
        outcomes: list[PutOutcome] = []
        with self._db.write() as conn:
            ident = self._locked(conn, integration)
            current = rows_by(conn, ident, business_items.c.business_id, [r.business_id for r in rows])
            now = datetime.now(UTC)
            new = [r for r in rows if r.business_id not in current]
            if new:  # one statement each for every new item and its log entry
                conn.execute(insert(business_items), [row_values(ident, replace(r, version=1), now) for r in new])
                conn.execute(insert(business_log), [log_row(ident, r.owner, r.collection, r.business_id) for r in new])
            for row in rows:
                old = current.get(row.business_id)
                done = (
                    PutOutcome(row.business_id, "created", 1) if old is None else self._put_one(conn, ident, old, row)
                )
                outcomes.append(done)
        return outcomes

    def _put_one(self, conn: Connection, ident: int, old: BusinessRow, row: BusinessRow) -> PutOutcome:
        now = datetime.now(UTC)
        same = (old.content, old.owner, old.kind, old.collection) == (row.content, row.owner, row.kind, row.collection)
        if same and not old.deleted:
            return PutOutcome(row.business_id, "unchanged", old.version)
        version = old.version + 1
        values = row_values(ident, replace(row, uid=old.uid, version=version, needs_review=old.needs_review), now)
        conn.execute(update(business_items).where(item_key(ident, row.business_id)).values(values))
        if (old.owner, old.collection) != (row.owner, row.collection):
            log(conn, ident, old.owner, old.collection, row.business_id)  # reassigned: gone from the old one
        log(conn, ident, row.owner, row.collection, row.business_id)
        return PutOutcome(row.business_id, "updated", version)

    def remove(self, integration: str, business_ids: Sequence[str]) -> list[bool]:
        """Mark items deleted, keeping their last content."""
        done: list[bool] = []
        with self._db.write() as conn:
            ident = self._locked(conn, integration)
            current = rows_by(conn, ident, business_items.c.business_id, business_ids)
            for business_id in business_ids:
                old = current.get(business_id)
                if old is None or old.deleted:
                    done.append(False)
                    continue
                stmt = update(business_items).where(item_key(ident, business_id))
                conn.execute(  # the business system wrote last: see Origin, and BusinessConnector.deleted
                    stmt.values(
                        deleted=True,
                        version=old.version + 1,
                        origin=Origin.BUSINESS.value,
                        updated_at=datetime.now(UTC),
                    )
                )
                log(conn, ident, old.owner, old.collection, business_id)
                done.append(True)
        return done

    # -- the sync's writes ------------------------------------------------------------------------------------

    def write(self, integration: str, write: CalendarWrite, pair: str) -> tuple[WriteStatus, BusinessRow | None]:
        """Apply one guarded write with its log, feed and journal entries (see the port)."""
        with self._db.write() as conn:
            ident = self._locked(conn, integration)
            old = rows_by(conn, ident, business_items.c.business_id, [write.business_id]).get(write.business_id)
            live = old is not None and not old.deleted
            if (write.expected is None and live) or (
                write.expected is not None and (not live or old is None or old.version != write.expected)
            ):
                return WriteStatus.STALE, None
            return WriteStatus.DONE, self._apply(conn, ident, old, write, pair)

    def _apply(
        self, conn: Connection, ident: int, old: BusinessRow | None, write: CalendarWrite, pair: str
    ) -> BusinessRow | None:
        now = datetime.now(UTC)
        version = 1 if old is None else old.version + 1
        if write.content is None:
            assert old is not None
            conn.execute(
                update(business_items)
                .where(item_key(ident, write.business_id))
                .values(deleted=True, version=version, origin=Origin.CALENDAR.value, updated_at=now)
            )
            change, new = Change.DELETED, None
        else:
            review = write.needs_review if old is None or old.deleted else old.needs_review
            new = BusinessRow(
                write.business_id,
                write.uid,
                write.owner,
                write.collection,
                write.kind,
                write.media_type,
                write.content,
                version,
                False,
                Origin.CALENDAR,
                review,
                now,
            )
            if old is None:
                conn.execute(insert(business_items).values(row_values(ident, new, now)))
            else:
                conn.execute(
                    update(business_items).where(item_key(ident, write.business_id)).values(row_values(ident, new, now))
                )
            change = Change.CREATED if old is None or old.deleted else Change.UPDATED
        log(conn, ident, write.owner, write.collection, write.business_id)
        review_now = new.needs_review if new is not None else False
        add_feed(conn, ident, write.business_id, write.owner, write.kind, change, "", review_now, now)
        entry = NewJournal(
            write.business_id,
            write.owner,
            "business",
            change,
            "",
            pair,
            write.media_type,
            None if old is None or old.deleted else old.content,
            write.content,
        )
        add_journal(conn, ident, [entry], now)
        return new

    def annotate(self, integration: str, rules: Sequence[tuple[str, str]]) -> None:
        """Name the rule on each item's latest unnamed feed and journal entries, in one transaction."""
        if not rules:
            return
        with self._db.write() as conn:
            ident = self._id(conn, integration)
            if ident is None:
                return
            params = [{"ident": ident, "item": b, "new_rule": r} for b, r in rules]
            conn.execute(ANNOTATE_FEED, params)
            conn.execute(ANNOTATE_JOURNAL, params)

    # -- feed and journal -------------------------------------------------------------------------------------

    def mark_reviewed(self, integration: str, business_ids: Sequence[str]) -> int:
        """Clear the needs-review flag of items (under the writer lock, so a sync's write of the same item, which
        copies the flag it read, cannot set it again)."""
        with self._db.write() as conn:
            ident = self._id(conn, integration)
            if ident is None:
                return 0
            self._locked(conn, integration)
            stmt = update(business_items).where(
                business_items.c.integration_id == ident,
                business_items.c.business_id.in_(list(business_ids)),
                business_items.c.needs_review.is_(True),
            )
            return int(conn.execute(stmt.values(needs_review=False)).rowcount)

    def record(self, integration: str, entries: Sequence[NewJournal]) -> None:
        """Add journal entries for calendar-side writes."""
        if not entries:
            return
        with self._db.write() as conn:
            ident = self._require(conn, integration)
            add_journal(conn, ident, entries, datetime.now(UTC))

    def restore(self, integration: str, placed: BusinessRow, rule: str) -> BusinessRow:
        """Put an item back as ``placed`` says (content, kind, collection, owner): live, a new version, logged in
        the collection it left too when it moved, fed and journaled as restored."""
        business_id = placed.business_id
        with self._db.write() as conn:
            ident = self._locked(conn, integration)
            old = rows_by(conn, ident, business_items.c.business_id, [business_id]).get(business_id)
            if old is None:
                raise StateError(f"no item {business_id!r} in integration {integration!r}")
            now = datetime.now(UTC)
            new = replace(
                old, owner=placed.owner, collection=placed.collection, kind=placed.kind, media_type=placed.media_type,
                content=placed.content, version=old.version + 1, deleted=False, updated_at=now,
            )  # fmt: skip
            conn.execute(update(business_items).where(item_key(ident, business_id)).values(row_values(ident, new, now)))
            if (old.owner, old.collection) != (new.owner, new.collection):
                log(conn, ident, old.owner, old.collection, business_id)  # moved: gone from where it was
            log(conn, ident, new.owner, new.collection, business_id)
            add_feed(conn, ident, business_id, new.owner, new.kind, Change.RESTORED, rule, new.needs_review, now)
            before = None if old.deleted else old.content
            entry = NewJournal(
                business_id, new.owner, "business", Change.RESTORED, rule, "", new.media_type, before, new.content
            )
            add_journal(conn, ident, [entry], now)
        return new

    # -- rules --------------------------------------------------------------------------------------------------

    def set_rules(self, integration: str, rules: str) -> None:
        """Store the rules JSON of an integration."""
        with self._db.write() as conn:
            ident = self._require(conn, integration)
            stmt = self._db.upsert(integration_rules, ["integration_id"])
            conn.execute(stmt.values(integration_id=ident, rules=rules, updated_at=datetime.now(UTC)))

    # -- internals ----------------------------------------------------------------------------------------------

    def _require(self, conn: Connection, integration: str) -> int:
        ident = self._id(conn, integration)
        if ident is None:
            raise StateError(f"no integration {integration!r}")
        return ident

    def _locked(self, conn: Connection, integration: str) -> int:
        """The integration's id, with its writer lock held until the transaction ends (PostgreSQL)."""
        ident = self._require(conn, integration)
        if self._db.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:space, :ident)"), {"space": LOCK_SPACE, "ident": ident})
        return ident
