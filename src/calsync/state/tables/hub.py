"""The hub's tables: the integrations with their users, and the business store that hangs off each integration
(its rules, items, change log, change feed and journal).

They stand apart because they are the hub's own data, what DESIGN.md calls the integration and the business
store; every other table of an integration (access, schedule, notifications) points at ``integrations`` here.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
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
