"""Links lose their two href indexes: nothing looks a link up by href, and every link written paid for them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-21

Why: the engine loads a pair's links whole and finds hrefs in memory, so ``ix_links_pair_id_a_href`` and
``ix_links_pair_id_b_href`` were never read; keeping them up to date was a third of the cost of recording a
link (measured: 20,000 link upserts in 0.20 s with them, 0.13 s without, SQLite in WAL mode).
Written out by hand, like 0001, so it keeps making exactly this change whatever ``calsync.state.tables`` becomes.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Drop the two href indexes of ``links``."""
    op.drop_index("ix_links_pair_id_b_href", table_name="links")
    op.drop_index("ix_links_pair_id_a_href", table_name="links")


def downgrade() -> None:
    """Create them again, as 0001 made them."""
    op.create_index("ix_links_pair_id_a_href", "links", ["pair_id", "a_href"])
    op.create_index("ix_links_pair_id_b_href", "links", ["pair_id", "b_href"])
