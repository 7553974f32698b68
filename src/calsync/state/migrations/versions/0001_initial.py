"""The first schema: pairs, links, sync tokens, leases, jobs and job lines.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written out by hand rather than generated from ``calsync.state.tables`` at run time, so this revision keeps
creating exactly this schema however the tables module changes later. Names follow the naming convention in
``calsync.state.tables``; a test compares the migrated database with that module.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create every table of the state store."""
    op.create_table(
        "pairs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pairs"),
        sa.UniqueConstraint("name", name="uq_pairs_name"),
    )
    op.create_table(
        "links",
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("ident", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False, server_default=""),
        sa.Column("parked", sa.String(8), nullable=False, server_default=""),
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
        sa.ForeignKeyConstraint(["pair_id"], ["pairs.id"], name="fk_links_pair_id_pairs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pair_id", "ident", name="pk_links"),
    )
    op.create_index("ix_links_pair_id_a_href", "links", ["pair_id", "a_href"])
    op.create_index("ix_links_pair_id_b_href", "links", ["pair_id", "b_href"])
    op.create_table(
        "sync_tokens",
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["pair_id"], ["pairs.id"], name="fk_sync_tokens_pair_id_pairs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pair_id", "side", name="pk_sync_tokens"),
    )
    op.create_table(
        "locks",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_locks"),
    )
    _create_jobs()


def _create_jobs() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("pair", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_pair_id", "jobs", ["pair", "id"])
    op.create_index("ix_jobs_finished_at", "jobs", ["finished_at"])
    op.create_table(
        "job_lines",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("job_id", _BIG_ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("ident", sa.Text(), nullable=False),
        sa.Column("side", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("href", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False, server_default=""),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_job_lines_job_id_jobs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_job_lines"),
        sa.UniqueConstraint("job_id", "seq", name="uq_job_lines_job_id_seq"),
    )


def downgrade() -> None:
    """Drop every table of the state store, dependants first."""
    op.drop_table("job_lines")
    op.drop_index("ix_jobs_finished_at", table_name="jobs")
    op.drop_index("ix_jobs_pair_id", table_name="jobs")
    op.drop_table("jobs")
    op.drop_table("locks")
    op.drop_table("sync_tokens")
    op.drop_index("ix_links_pair_id_b_href", table_name="links")
    op.drop_index("ix_links_pair_id_a_href", table_name="links")
    op.drop_table("links")
    op.drop_table("pairs")
