"""A pair keeps the links it had with collections it no longer syncs: ``shelved_links``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22

Why: a pair bound to other collections than its links were made with (0011) used to drop them. When it came back
(a user moved back to an earlier mailbox), the copies it had made there were no longer known as copies: one of an
item deleted meanwhile was imported again, an old one left in the calendar. Now the links are shelved under what
the pair was bound to, and taken up again when it is bound to that again.
Written out by hand, like 0001, so it keeps creating exactly this schema whatever ``calsync.state.tables`` becomes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ``shelved_links`` (the columns of ``links`` after ``pair_id`` and ``bound_to``), and add
    ``pairs.came_back_from``: what a pair had been bound to when it took up links it had left, until a run of
    it finishes (the deletions found there then were made while it was away)."""
    op.add_column("pairs", sa.Column("came_back_from", sa.Text(), nullable=True))
    op.create_table(
        "shelved_links",
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("bound_to", sa.Text(), nullable=False),
        sa.Column("ident", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("parked", sa.String(8), nullable=False),
        sa.Column("a_href", sa.Text(), nullable=False),
        sa.Column("a_version", sa.Text(), nullable=False),
        sa.Column("a_digest", sa.Text(), nullable=False),
        sa.Column("b_href", sa.Text(), nullable=False),
        sa.Column("b_version", sa.Text(), nullable=False),
        sa.Column("b_digest", sa.Text(), nullable=False),
        sa.Column("pending_target", sa.String(8), nullable=True),
        sa.Column("pending_source_href", sa.Text(), nullable=True),
        sa.Column("pending_source_version", sa.Text(), nullable=True),
        sa.Column("pending_source_digest", sa.Text(), nullable=True),
        sa.Column("pending_digest", sa.Text(), nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["pair_id"], ["pairs.id"], name="fk_shelved_links_pair_id_pairs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pair_id", "bound_to", "ident", name="pk_shelved_links"),
    )


def downgrade() -> None:
    """Drop ``shelved_links`` (and the links kept there: their pairs start afresh if they come back) and
    ``pairs.came_back_from`` (SQLite 3.35 and later drop a column in place)."""
    op.drop_table("shelved_links")
    op.drop_column("pairs", "came_back_from")
