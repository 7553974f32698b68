"""Integrations and their users, with secrets stored encrypted.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

Written out by hand, like 0001, so it keeps creating exactly this schema whatever ``calsync.state.tables``
becomes. Secret columns hold Fernet tokens only (``calsync.crypto``); the database never sees a plain secret.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_FLAGS = (
    *("appointments", "delete_in_calendar", "delete_in_business", "no_private_appointments", "tasks"),
    *("delete_tasks_in_calendar", "delete_tasks_in_business", "no_private_tasks", "contacts"),
)


def upgrade() -> None:
    """Create ``integrations`` and ``integration_users``."""
    texts = ("description", "company", "department")
    op.create_table(
        "integrations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        *(sa.Column(name, sa.Text(), nullable=False) for name in texts),
        sa.Column("connection_type", sa.String(16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("autodiscover", sa.Text(), nullable=False),
        sa.Column("auth_mode", sa.String(16), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("password_enc", sa.Text(), nullable=True),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("client_secret_enc", sa.Text(), nullable=True),
        sa.Column("certificate_enc", sa.Text(), nullable=True),
        sa.Column("two_way", sa.Boolean(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in ("days_back", "days_forward")),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in ("full_sync_minutes", "interval_minutes")),
        sa.Column("start_of_sync", _TS, nullable=True),
        sa.Column("appointment_activity", sa.Text(), nullable=False),
        sa.Column("task_activity", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_integrations"),
        sa.UniqueConstraint("name", name="uq_integrations_name"),
    )
    op.create_table(
        "integration_users",
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("business_user", sa.Text(), nullable=False),
        sa.Column("mailbox", sa.Text(), nullable=False),
        *(sa.Column(flag, sa.Boolean(), nullable=False) for flag in _FLAGS),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name="fk_integration_users_integration_id_integrations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("integration_id", "business_user", name="pk_integration_users"),
        sa.UniqueConstraint("integration_id", "mailbox", name="uq_integration_users_integration_id_mailbox"),
    )


def downgrade() -> None:
    """Drop both tables, users first."""
    op.drop_table("integration_users")
    op.drop_table("integrations")
