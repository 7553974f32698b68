"""The scheduler: per-integration schedule state, per-mailbox back-off and "sync now" requests.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21

Written out by hand, like 0001, so it keeps creating exactly this schema whatever ``calsync.state.tables`` becomes.
The scheduler's lease is a row of the existing ``locks`` table (name ``scheduler``), so it needs no table here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _integration_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["integration_id"], ["integrations.id"], name=f"fk_{table}_integration_id_integrations", ondelete="CASCADE"
    )


def upgrade() -> None:
    """Create ``schedule``, ``schedule_mailboxes`` and ``sync_requests``."""
    op.create_table(
        "schedule",
        sa.Column("integration_id", sa.Integer(), nullable=False),
        *(sa.Column(name, _TS, nullable=True) for name in ("last_turn_at", "next_run_at", "last_full_at")),
        sa.Column("last_run_at", _TS, nullable=True),
        sa.Column("last_outcome", sa.String(32), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("backoff_until", _TS, nullable=True),
        sa.Column("offline_reason", sa.Text(), nullable=False),
        sa.Column("offline_since", _TS, nullable=True),
        _integration_fk("schedule"),
        sa.PrimaryKeyConstraint("integration_id", name="pk_schedule"),
    )
    op.create_table(
        "schedule_mailboxes",
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("business_user", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("backoff_until", _TS, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        _integration_fk("schedule_mailboxes"),
        sa.PrimaryKeyConstraint("integration_id", "business_user", name="pk_schedule_mailboxes"),
    )
    op.create_table(
        "sync_requests",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("business_user", sa.Text(), nullable=True),
        sa.Column("requested_at", _TS, nullable=False),
        _integration_fk("sync_requests"),
        sa.PrimaryKeyConstraint("id", name="pk_sync_requests"),
    )
    op.create_index("ix_sync_requests_integration_id", "sync_requests", ["integration_id"])


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_index("ix_sync_requests_integration_id", table_name="sync_requests")
    op.drop_table("sync_requests")
    op.drop_table("schedule_mailboxes")
    op.drop_table("schedule")
