"""The tables that run the hub day to day, one section each: admin sign-in, API access (tokens and webhooks), the
scheduler's bookkeeping, Microsoft Graph change notifications, and the connector cache.

They stand apart from the hub's tables because none of them is business or calendar data: each serves one
service around the sync. The API's, the scheduler's and the notifications' tables hang off an integration (and go
with it); the admin sign-in tables and the connector cache belong to none.
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
