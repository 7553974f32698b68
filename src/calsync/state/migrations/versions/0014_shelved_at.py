"""Shelves say when they were made (``shelved_links.shelved_at``).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22

Why: which of a pair's shelves is the latest was judged by when its links were last written, but links taken up
and shelved again keep their old times; and every shelf was kept for good. Now a shelf is stamped when it is made:
the latest is the last shelved, and a pair moving again drops shelves older than a year
(``calsync.state.pair_state.SHELF_KEPT``). Shelves made before are stamped with their links' latest write, the
best time there is of them.
Written out by hand, like 0001, so it keeps creating exactly this schema whatever ``calsync.state.tables`` becomes;
in SQL statements only, so that offline mode renders it too.
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
    """Add ``shelved_links.shelved_at`` and stamp each existing shelf with the latest write of its links."""
    op.add_column("shelved_links", sa.Column("shelved_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE shelved_links SET shelved_at = (SELECT MAX(s.updated_at) FROM shelved_links s"
        " WHERE s.pair_id = shelved_links.pair_id AND s.bound_to = shelved_links.bound_to)"
    )


def downgrade() -> None:
    """Drop ``shelved_links.shelved_at`` (SQLite 3.35 and later drop a column in place)."""
    op.drop_column("shelved_links", "shelved_at")
