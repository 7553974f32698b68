"""Pairs remember what they sync: ``pairs.bound_to``, the two collections their links were made with.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-21

Why: a pair's links name items of its two collections. When a pair comes to sync other collections (a user moved
to another mailbox, a config pair pointed at another calendar), its links would make every linked item look
deleted on the side that changed, and the deletions would be passed on. The store compares the collections a run
names with these and, when they differ, drops the links and tokens so the pair starts afresh.
Written out by hand, like 0001, so it keeps creating exactly this schema whatever ``calsync.state.tables`` becomes.
Existing pairs read as unbound (NULL): their next run binds them to what it syncs, trusting their links as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``pairs.bound_to``."""
    op.add_column("pairs", sa.Column("bound_to", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop ``pairs.bound_to`` (SQLite 3.35 and later drop a column in place)."""
    op.drop_column("pairs", "bound_to")
