"""Shelves say when they were made (``shelved_links.shelved_at``).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22

Why: which of a pair's shelves is the latest was judged by when its links were last written, but links taken up
and shelved again keep their old times. Now a shelf is stamped when it is made, and the latest is the last
shelved. Shelves made before stay unstamped (NULL): their links' latest write stands in for the time, as before.
Stamping them here would read each shelf once per row (quadratic: 16 s for a shelf of 8,000 links on PostgreSQL)
inside the transaction that opens the store.
Written out by hand, like 0001, so it keeps creating exactly this schema whatever ``calsync.state.tables`` becomes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``shelved_links.shelved_at`` (NULL for the shelves there are)."""
    op.add_column("shelved_links", sa.Column("shelved_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop ``shelved_links.shelved_at`` (SQLite 3.35 and later drop a column in place)."""
    op.drop_column("shelved_links", "shelved_at")
