"""Notifications: the Microsoft Graph change-notification subscriptions the scheduler keeps per integration user.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21

Written out by hand, like 0001, so it keeps creating exactly this schema whatever ``calsync.state.tables`` becomes.
The client state of each subscription authenticates Graph's notifications, so it is stored only as a Fernet token.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ``graph_subscriptions``."""
    op.create_table(
        "graph_subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("business_user", sa.Text(), nullable=False),
        sa.Column("mailbox", sa.Text(), nullable=False),
        sa.Column("subscription_id", sa.Text(), nullable=False),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("notification_url", sa.Text(), nullable=False),
        sa.Column("client_state_enc", sa.Text(), nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("renew_now", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name="fk_graph_subscriptions_integration_id_integrations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_graph_subscriptions"),
        sa.UniqueConstraint("subscription_id", name="uq_graph_subscriptions_subscription_id"),
        sa.UniqueConstraint(
            "integration_id", "business_user", name="uq_graph_subscriptions_integration_id_business_user"
        ),
    )


def downgrade() -> None:
    """Drop ``graph_subscriptions``."""
    op.drop_table("graph_subscriptions")
