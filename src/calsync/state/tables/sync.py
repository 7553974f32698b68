"""The sync engine's tables: pairs, each pair's links and sync tokens, the leases in ``locks``, and the jobs with
their per-item lines.

They stand apart because they are the generic StateStore's (``calsync.state.sql`` and ``calsync.state.pair_state``):
a pair of any two connectors needs them and nothing else, no integration. ``locks`` also holds the scheduler's
lease (``calsync.state.schedule``), and the admin, recovery and schedule stores read ``jobs``.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from calsync.state.tables.base import BigId, UTCDateTime, metadata

pairs = Table(
    "pairs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # The two collections the links were made with (see ``PairState.bind``); NULL until a run binds it.
    Column("bound_to", Text, nullable=True),
    UniqueConstraint("name"),
)

links = Table(
    "links",
    metadata,
    Column("pair_id", Integer, ForeignKey("pairs.id", ondelete="CASCADE"), nullable=False),
    Column("ident", Text, nullable=False),
    # What the item is (event, task, assignment, order-line, contact): rules differ per kind, and a deleted
    # item's kind must be known without its content.
    Column("kind", String(16), nullable=False, server_default=""),
    # A link kept but not synced: "window" (outside the sync window), "a"/"b" (deleted there, copy kept).
    Column("parked", String(8), nullable=False, server_default=""),
    Column("a_href", Text, nullable=False),
    Column("a_version", Text, nullable=False),
    Column("a_digest", Text, nullable=False),
    Column("b_href", Text, nullable=False),
    Column("b_version", Text, nullable=False),
    Column("b_digest", Text, nullable=False),
    # A write in flight (``store.Pending``): all NULL when none, all set when one.
    Column("pending_target", String(8), nullable=True),
    Column("pending_source_href", Text, nullable=True),
    Column("pending_source_version", Text, nullable=True),
    Column("pending_source_digest", Text, nullable=True),
    Column("pending_digest", Text, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    # 0013: the sides ("a", "b", "ab") the pair was away from since it last found the item there (``Link.away``):
    # set when a pair takes the link up again (``PairState.bind``), cleared once a run finds the item there.
    Column("away", String(8), nullable=False, server_default=""),
    # No index on the hrefs: a run loads its pair's links whole and finds hrefs in memory (migration 0010).
    PrimaryKeyConstraint("pair_id", "ident"),
)

_ADDED_TO_SHELF = {"away": ""}
"""The columns of ``links`` added to ``shelved_links`` after 0012 made it, with the server default they were added
with there (a column added to a table with rows needs one); the others have none there."""

shelved_links = Table(
    "shelved_links",
    metadata,
    # The links a pair had with collections it no longer syncs (``PairState.bind``), by what it was bound to
    # then: taken up again when it syncs them again (a user moved back to an earlier mailbox), so the copies
    # left there are still known as copies. The columns after ``bound_to`` are those of ``links``, then
    # ``shelved_at``: when the shelf was made (NULL for shelves made before 0014: their links' last write
    # stands in for it).
    Column("pair_id", Integer, ForeignKey("pairs.id", ondelete="CASCADE"), nullable=False),
    Column("bound_to", Text, nullable=False),
    *(
        Column(c.name, c.type, nullable=c.nullable, server_default=_ADDED_TO_SHELF.get(c.name))
        for c in links.columns
        if c.name != "pair_id"
    ),
    Column("shelved_at", UTCDateTime, nullable=True),
    PrimaryKeyConstraint("pair_id", "bound_to", "ident"),
)

sync_tokens = Table(
    "sync_tokens",
    metadata,
    Column("pair_id", Integer, ForeignKey("pairs.id", ondelete="CASCADE"), nullable=False),
    Column("side", String(8), nullable=False),
    Column("token", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("pair_id", "side"),
)

locks = Table(
    "locks",
    metadata,
    Column("name", Text, primary_key=True),
    Column("owner", Text, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("pair", Text, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("outcome", String(32), nullable=False),
    Column("counts", Text, nullable=False),
    Column("message", Text, nullable=False),
    Index(None, "pair", "id"),
    Index(None, "finished_at"),
)

job_lines = Table(
    "job_lines",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("job_id", BigId, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("ident", Text, nullable=False),
    Column("side", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("rule", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("href", Text, nullable=False),
    Column("title", Text, nullable=False, server_default=""),
    UniqueConstraint("job_id", "seq"),
)
