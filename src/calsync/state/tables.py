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
    # No index on the hrefs: a run loads its pair's links whole and finds hrefs in memory (migration 0010).
    PrimaryKeyConstraint("pair_id", "ident"),
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
    # 0009, so last: a PEM file of CAs trusted instead of the system's ("" = the system's)
    Column("ca_bundle", Text, nullable=False, server_default=""),
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

# -- the hub (0003): business store, its change log, the change feed and the journal --------------------------
# Every table hangs off an integration (deleted with it). Cursors are ids assigned under a per-integration
# write lock (``calsync.state.business``), so a reader that saw cursor N never misses a later commit below N.

integration_rules = Table(
    "integration_rules",
    metadata,
    Column("integration_id", Integer, ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True),
    # ``calsync.sync.rules.HubRules`` as JSON: the item rules and mappings of one integration.
    Column("rules", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

business_items = Table(
    "business_items",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("integration_id", Integer, ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
    Column("business_id", Text, nullable=False),
    Column("uid", Text, nullable=False),
    # The business user whose calendar shows the item ("" for contacts, which go to every user who takes them).
    Column("owner", Text, nullable=False),
    Column("collection", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("media_type", String(32), nullable=False),
    Column("content", Text, nullable=False),
    Column("version", Integer, nullable=False),
    # A deleted item keeps its row (and last content) so a deletion can be synced and restored.
    Column("deleted", Boolean, nullable=False),
    Column("origin", String(16), nullable=False),
    Column("needs_review", Boolean, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("integration_id", "business_id"),
    # One UID per collection, not per integration: a meeting that invites two technicians is in both calendars.
    UniqueConstraint("integration_id", "owner", "collection", "uid"),
    Index(None, "integration_id", "owner", "collection"),
)

business_log = Table(
    "business_log",
    metadata,
    Column("cursor", BigId, primary_key=True, autoincrement=True),
    Column("integration_id", Integer, ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
    Column("owner", Text, nullable=False),
    Column("collection", String(16), nullable=False),
    Column("business_id", Text, nullable=False),
    Index(None, "integration_id", "owner", "collection", "cursor"),
)

business_feed = Table(
    "business_feed",
    metadata,
    Column("cursor", BigId, primary_key=True, autoincrement=True),
    Column("integration_id", Integer, ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
    Column("business_id", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("change", String(16), nullable=False),
    Column("rule", Text, nullable=False),
    Column("needs_review", Boolean, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index(None, "integration_id", "cursor"),
)

journal = Table(
    "journal",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("integration_id", Integer, ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
    Column("business_id", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("side", String(16), nullable=False),
    Column("action", String(16), nullable=False),
    Column("rule", Text, nullable=False),
    Column("pair", Text, nullable=False),
    Column("media_type", String(32), nullable=False),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
    Column("at", UTCDateTime, nullable=False),
    Index(None, "integration_id", "business_id", "id"),
)

# -- admin web UI (0005) ---------------------------------------------------------------------------------------
# Local admin accounts, their sign-in sessions and failed sign-ins (calsync.state.accounts). A password is kept
# only as its scrypt hash and a session only as the SHA-256 of its cookie value, so reading the database gives
# neither a password nor a usable session.

admin_accounts = Table(
    "admin_accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("username"),
)

admin_sessions = Table(
    "admin_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", Integer, ForeignKey("admin_accounts.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index(None, "account_id"),
    Index(None, "expires_at"),
)

# Keyed by the name typed, known or not, so a lock-out says nothing about which names exist.
admin_sign_in_failures = Table(
    "admin_sign_in_failures",
    metadata,
    Column("username", Text, primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# -- API access (0006) -----------------------------------------------------------------------------------------
# API tokens are stored only as SHA-256 hashes plus a short display prefix; webhook signing secrets only as Fernet
# tokens. Everything goes with its integration (ON DELETE CASCADE), so a removed integration's tokens stop working.

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("integration_id", Integer, ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("prefix", String(32), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    UniqueConstraint("token_hash"),
    UniqueConstraint("integration_id", "name"),
)

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("integration_id", Integer, ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
    Column("url", Text, nullable=False),
    Column("secret_enc", Text, nullable=False),
    # The event types delivered, comma-separated (``services.access.EventType`` values).
    Column("events", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # Set when the receiver answered 410 Gone: nothing more is sent until the subscription is added again.
    Column("disabled_at", UTCDateTime, nullable=True),
    Column("disabled_reason", Text, nullable=False, server_default=""),
    UniqueConstraint("integration_id", "url"),
)

webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("subscription_id", Integer, ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", Text, nullable=False),
    Column("event_type", String(64), nullable=False),
    # The exact JSON body sent (and signed) on every attempt.
    Column("body", Text, nullable=False),
    # pending | delivered | failed (``state.access_port.DeliveryState``); failed is the dead letter.
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    # A deliverer's claim: no other process sends the row before ``lease_until``.
    Column("lease_owner", Text, nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    UniqueConstraint("subscription_id", "event_id"),
    Index(None, "state", "next_attempt_at"),
)

# -- scheduler (0004) --------------------------------------------------------------------------------------------
# Per integration: when its turns and runs happened, its back-off and whether it is offline (calsync.state.schedule).
# Rows go with their integration by cascade, so a removed integration leaves no schedule behind.

schedule = Table(
    "schedule",
    metadata,
    Column("integration_id", Integer, ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
    Column("last_turn_at", UTCDateTime, nullable=True),
    Column("next_run_at", UTCDateTime, nullable=True),
    Column("last_full_at", UTCDateTime, nullable=True),
    Column("last_run_at", UTCDateTime, nullable=True),
    Column("last_outcome", String(32), nullable=True),
    Column("failures", Integer, nullable=False),
    Column("backoff_until", UTCDateTime, nullable=True),
    Column("offline_reason", Text, nullable=False),
    Column("offline_since", UTCDateTime, nullable=True),
    PrimaryKeyConstraint("integration_id"),
)

schedule_mailboxes = Table(
    "schedule_mailboxes",
    metadata,
    Column("integration_id", Integer, ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
    Column("business_user", Text, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("backoff_until", UTCDateTime, nullable=False),
    Column("last_error", Text, nullable=False),
    PrimaryKeyConstraint("integration_id", "business_user"),
)

sync_requests = Table(
    "sync_requests",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("integration_id", Integer, ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
    Column("business_user", Text, nullable=True),
    Column("requested_at", UTCDateTime, nullable=False),
    Index(None, "integration_id"),
)

# -- notifications (0007) ---------------------------------------------------------------------------------------
# One Microsoft Graph change-notification subscription per integration user (their mailbox's events). The client
# state is a secret (it authenticates Graph's POSTs to the public route) and is stored only as a Fernet token.

graph_subscriptions = Table(
    "graph_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("integration_id", Integer, ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
    Column("business_user", Text, nullable=False),
    Column("mailbox", Text, nullable=False),
    # Graph's id of the subscription, named in every notification.
    Column("subscription_id", Text, nullable=False),
    Column("resource", Text, nullable=False),
    # The URL Graph posts to: a changed public URL means subscribing again.
    Column("notification_url", Text, nullable=False),
    Column("client_state_enc", Text, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    # Set by a ``reauthorizationRequired`` lifecycle notification: renew at the next tick, whatever the expiry.
    Column("renew_now", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("subscription_id"),
    UniqueConstraint("integration_id", "business_user"),
)

# -- connector cache (0008) -------------------------------------------------------------------------------------
# What connectors learn about servers and may keep between runs (EWS autodiscover results), by namespace and key.
# Never a secret: keys are domains and account names, values what the server answered.

connector_cache = Table(
    "connector_cache",
    metadata,
    Column("namespace", String(32), nullable=False),
    Column("key", Text, nullable=False),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("namespace", "key"),
)
