"""The admin web UI: local admin accounts, their sessions and failed sign-ins.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21

Written out by hand, like 0001, so it keeps creating exactly this schema whatever ``calsync.state.tables`` becomes.
Passwords are stored as scrypt hashes and sessions as SHA-256 digests of their cookie values, never in the clear.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ``admin_accounts``, ``admin_sessions`` and ``admin_sign_in_failures``."""
    op.create_table(
        "admin_accounts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_admin_accounts"),
        sa.UniqueConstraint("username", name="uq_admin_accounts_username"),
    )
    op.create_table(
        "admin_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["admin_accounts.id"],
            name="fk_admin_sessions_account_id_admin_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name="pk_admin_sessions"),
    )
    op.create_index("ix_admin_sessions_account_id", "admin_sessions", ["account_id"])
    op.create_index("ix_admin_sessions_expires_at", "admin_sessions", ["expires_at"])
    op.create_table(
        "admin_sign_in_failures",
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", _TS, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("username", name="pk_admin_sign_in_failures"),
    )


def downgrade() -> None:
    """Drop the three tables, sessions before their accounts."""
    op.drop_table("admin_sign_in_failures")
    op.drop_index("ix_admin_sessions_expires_at", table_name="admin_sessions")
    op.drop_index("ix_admin_sessions_account_id", table_name="admin_sessions")
    op.drop_table("admin_sessions")
    op.drop_table("admin_accounts")
