"""Integrations may trust a private CA: ``integrations.ca_bundle``, the path of a PEM file ("" = the system's CAs).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21

Written out by hand, like 0001, so it keeps creating exactly this schema whatever ``calsync.state.tables`` becomes.
The column is added last (``ALTER TABLE … ADD COLUMN``), which is why it is the table's last column there too; its
server default makes every existing integration read as trusting the system's CAs, as it did before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``integrations.ca_bundle``."""
    op.add_column("integrations", sa.Column("ca_bundle", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    """Drop ``integrations.ca_bundle`` (SQLite 3.35 and later drop a column in place)."""
    op.drop_column("integrations", "ca_bundle")
