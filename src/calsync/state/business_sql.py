"""The business store's SQL: its hot statements, built once, and the row conversions they share.

Why built once: building a statement costs SQLAlchemy more than SQLite takes to run it, and the sync writes one
item at a time. Kept apart from the store (``calsync.state.business`` and ``business_reads``) so the store
reads as its use cases.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, and_, bindparam, func, insert, select, update

from calsync.state.business_port import BusinessRow, Change, JournalEntry, NewJournal, Origin
from calsync.state.tables.hub import business_feed, business_items, business_log, integrations, journal

LOCK_SPACE = 0x63616C73  # "cals": the advisory-lock namespace of business-store writers
CHUNK = 500
ROW_FIELDS = ("business_id", "uid", "owner", "collection", "kind", "media_type", "content", "version", "deleted")


INTEGRATION_ID = select(integrations.c.id).where(integrations.c.name == bindparam("name"))
BY_BUSINESS_ID = select(business_items).where(
    business_items.c.integration_id == bindparam("ident"),
    business_items.c.business_id.in_(bindparam("keys", expanding=True)),
)
BY_UID = select(business_items).where(
    business_items.c.integration_id == bindparam("ident"),
    business_items.c.owner == bindparam("owner"),
    business_items.c.collection == bindparam("collection"),
    business_items.c.uid.in_(bindparam("keys", expanding=True)),
)
ANNOTATE_FEED, ANNOTATE_JOURNAL = (
    update(table)
    .where(
        column
        == select(func.max(column))
        .where(table.c.integration_id == bindparam("ident"), table.c.business_id == bindparam("item"))
        .scalar_subquery(),
        table.c.rule == "",
    )
    .values(rule=bindparam("new_rule"))
    for table, column in ((business_feed, business_feed.c.cursor), (journal, journal.c.id))
)
LOG_HEAD = select(func.max(business_log.c.cursor)).where(business_log.c.integration_id == bindparam("ident"))


def item_key(ident: int, business_id: str) -> Any:
    return and_(business_items.c.integration_id == ident, business_items.c.business_id == business_id)


def rows_by(
    conn: Connection, ident: int, column: Any, values: Iterable[str], where: tuple[str, str] | None = None
) -> dict[str, BusinessRow]:
    """Rows by business id, or by UID within one ``(owner, collection)`` (``where``)."""
    found: dict[str, BusinessRow] = {}
    wanted = list(dict.fromkeys(values))
    stmt = BY_UID if column is business_items.c.uid else BY_BUSINESS_ID
    scope = {"owner": where[0], "collection": where[1]} if where is not None else {}
    for start in range(0, len(wanted), CHUNK):
        params = {"ident": ident, "keys": wanted[start : start + CHUNK], **scope}
        for mapping in conn.execute(stmt, params).mappings():
            row = business_row(mapping)
            found[row.business_id] = row
    return found


def log_head(conn: Connection, ident: int) -> int:
    return int(conn.execute(LOG_HEAD, {"ident": ident}).scalar_one_or_none() or 0)


def log(conn: Connection, ident: int, owner: str, collection: str, business_id: str) -> None:
    conn.execute(insert(business_log).values(log_row(ident, owner, collection, business_id)))


def log_row(ident: int, owner: str, collection: str, business_id: str) -> dict[str, object]:
    return {"integration_id": ident, "owner": owner, "collection": collection, "business_id": business_id}


def add_feed(
    conn: Connection,
    ident: int,
    business_id: str,
    owner: str,
    kind: str,
    change: Change,
    rule: str,
    needs_review: bool,
    at: datetime,
) -> None:
    """One feed entry: what the business system reads back."""
    conn.execute(
        insert(business_feed).values(
            integration_id=ident,
            business_id=business_id,
            owner=owner,
            kind=kind,
            change=change.value,
            rule=rule,
            needs_review=needs_review,
            at=at,
        )
    )


def add_journal(conn: Connection, ident: int, entries: Sequence[NewJournal], now: datetime) -> None:
    conn.execute(
        insert(journal),
        [
            {
                "integration_id": ident,
                "business_id": e.business_id,
                "owner": e.owner,
                "side": e.side,
                "action": e.action.value,
                "rule": e.rule,
                "pair": e.pair,
                "media_type": e.media_type,
                "before": e.before,
                "after": e.after,
                "at": now,
            }
            for e in entries
        ],
    )


def row_values(ident: int, row: BusinessRow, now: datetime) -> dict[str, object]:
    values: dict[str, object] = {name: getattr(row, name) for name in ROW_FIELDS}
    values.update(integration_id=ident, origin=row.origin.value, needs_review=row.needs_review, updated_at=now)
    return values


def business_row(r: RowMapping) -> BusinessRow:
    return BusinessRow(
        r["business_id"],
        r["uid"],
        r["owner"],
        r["collection"],
        r["kind"],
        r["media_type"],
        r["content"],
        int(r["version"]),
        bool(r["deleted"]),
        Origin(r["origin"]),
        bool(r["needs_review"]),
        r["updated_at"],
    )


def journal_entry(r: RowMapping) -> JournalEntry:
    return JournalEntry(
        r["id"],
        r["business_id"],
        r["owner"],
        r["side"],
        Change(r["action"]),
        r["rule"],
        r["pair"],
        r["media_type"],
        r["before"],
        r["after"],
        r["at"],
    )
