"""The state store's tables, as SQLAlchemy Core metadata.

This module is the schema's description for code (queries in ``calsync.state.sql``) and for Alembic
(autogenerate compares against it when a developer writes the next migration). The database itself is only
ever created by the migrations in ``calsync.state.migrations.versions``; a test checks that both agree.

Why a naming convention: constraint and index names then come out the same on SQLite and PostgreSQL, so a
later migration can drop or alter them by name on either backend.

Why ``UTCDateTime``: SQLite has no time-zone-aware timestamp type and hands back naive datetimes. Every
timestamp is stored as UTC and always read back time-zone-aware, whatever the backend.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and read back time-zone-aware (UTC) on every backend.

    Binding a naive datetime raises ``ValueError``: guessing its zone would silently shift times.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalise to UTC; SQLite stores the wall time of UTC without an offset."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given to the state store; pass an aware one")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to SQLite's naive values, convert PostgreSQL's session-zone values to UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLite only auto-increments an ``INTEGER PRIMARY KEY``; PostgreSQL gets 64-bit ids for the busy tables.
BigId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(naming_convention=NAMING_CONVENTION)

pairs = Table(
    "pairs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
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
    PrimaryKeyConstraint("pair_id", "ident"),
    Index(None, "pair_id", "a_href"),
    Index(None, "pair_id", "b_href"),
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

# -- integrations and their users (calsync.state.admin) -------------------------------------------------------
# Secrets are stored only as Fernet tokens (``*_enc``), encrypted by the services with calsync.crypto.

integrations = Table(
    "integrations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("company", Text, nullable=False),
    Column("department", Text, nullable=False),
    Column("connection_type", String(16), nullable=False),
    Column("url", Text, nullable=False),
    Column("autodiscover", Text, nullable=False),
    Column("auth_mode", String(16), nullable=False),
    Column("username", Text, nullable=False),
    Column("password_enc", Text, nullable=True),
    Column("client_id", Text, nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("client_secret_enc", Text, nullable=True),
    Column("certificate_enc", Text, nullable=True),
    Column("two_way", Boolean, nullable=False),
    Column("days_back", Integer, nullable=False),
    Column("days_forward", Integer, nullable=False),
    Column("full_sync_minutes", Integer, nullable=False),
    Column("interval_minutes", Integer, nullable=False),
    Column("start_of_sync", UTCDateTime, nullable=True),
    Column("appointment_activity", Text, nullable=False),
    Column("task_activity", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("name"),
)

USER_FLAGS = (
    "appointments",
    "delete_in_calendar",
    "delete_in_business",
    "no_private_appointments",
    "tasks",
    "delete_tasks_in_calendar",
    "delete_tasks_in_business",
    "no_private_tasks",
    "contacts",
)
"""The per-user options, each a boolean column of ``integration_users`` (the fields of ``admin_port.UserOptions``)."""

integration_users = Table(
    "integration_users",
    metadata,
    Column("integration_id", Integer, ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
    Column("business_user", Text, nullable=False),
    Column("mailbox", Text, nullable=False),
    *(Column(flag, Boolean, nullable=False) for flag in USER_FLAGS),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("integration_id", "business_user"),
    UniqueConstraint("integration_id", "mailbox"),
)
