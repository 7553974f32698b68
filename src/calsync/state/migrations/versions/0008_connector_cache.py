"""Connector cache: what connectors learn about servers between runs (EWS autodiscover results).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21

Written out by hand, like 0001, so it keeps creating exactly this schema whatever ``calsync.state.tables`` becomes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``connector_cache``."""
    op.create_table(
        "connector_cache",
        sa.Column("namespace", sa.String(32), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("namespace", "key", name="pk_connector_cache"),
    )


def downgrade() -> None:
    """Drop ``connector_cache``."""
    op.drop_table("connector_cache")
