"""API access: per-integration API tokens (stored hashed), webhook subscriptions and the webhook outbox.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21

Written out by hand, like 0001, so it keeps creating exactly this schema whatever ``calsync.state.tables`` becomes.
Tokens are kept only as SHA-256 hashes and signing secrets only as Fernet tokens: the database never holds a
credential a reader of it could use.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _integration_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["integration_id"], ["integrations.id"], name=f"fk_{table}_integration_id_integrations", ondelete="CASCADE"
    )


def upgrade() -> None:
    """Create ``api_tokens``, ``webhook_subscriptions`` and ``webhook_outbox``."""
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_used_at", _TS, nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
        _integration_fk("api_tokens"),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
        sa.UniqueConstraint("integration_id", "name", name="uq_api_tokens_integration_id_name"),
    )
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret_enc", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("disabled_at", _TS, nullable=True),
        sa.Column("disabled_reason", sa.Text(), nullable=False, server_default=""),
        _integration_fk("webhook_subscriptions"),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_subscriptions"),
        sa.UniqueConstraint("integration_id", "url", name="uq_webhook_subscriptions_integration_id_url"),
    )
    _create_outbox()


def _create_outbox() -> None:
    op.create_table(
        "webhook_outbox",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_until", _TS, nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscriptions.id"],
            name="fk_webhook_outbox_subscription_id_webhook_subscriptions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_outbox"),
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_webhook_outbox_subscription_id_event_id"),
    )
    op.create_index("ix_webhook_outbox_state_next_attempt_at", "webhook_outbox", ["state", "next_attempt_at"])


def downgrade() -> None:
    """Drop the three tables, dependants first."""
    op.drop_index("ix_webhook_outbox_state_next_attempt_at", table_name="webhook_outbox")
    op.drop_table("webhook_outbox")
    op.drop_table("webhook_subscriptions")
    op.drop_table("api_tokens")
