"""The hub: business store, its change log, the change feed, the journal and per-integration rules.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

Written out by hand, like 0001, so it keeps creating exactly this schema whatever ``calsync.state.tables`` becomes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)
_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _integration(table: str, *, primary: bool = False) -> list[Any]:
    return [
        sa.Column("integration_id", sa.Integer(), nullable=False, primary_key=primary),
        sa.ForeignKeyConstraint(
            ["integration_id"], ["integrations.id"], name=f"fk_{table}_integration_id_integrations", ondelete="CASCADE"
        ),
    ]


def upgrade() -> None:
    """Create the hub's tables."""
    op.create_table(
        "integration_rules",
        *_integration("integration_rules"),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("integration_id", name="pk_integration_rules"),
    )
    _business_items()
    op.create_table(
        "business_log",
        sa.Column("cursor", _BIG, autoincrement=True, nullable=False),
        *_integration("business_log"),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("collection", sa.String(16), nullable=False),
        sa.Column("business_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("cursor", name="pk_business_log"),
    )
    op.create_index(
        "ix_business_log_integration_id_owner_collection_cursor",
        "business_log",
        ["integration_id", "owner", "collection", "cursor"],
    )
    _business_feed()
    _journal()


def _business_items() -> None:
    op.create_table(
        "business_items",
        sa.Column("id", _BIG, autoincrement=True, nullable=False),
        *_integration("business_items"),
        *(sa.Column(name, sa.Text(), nullable=False) for name in ("business_id", "uid", "owner")),
        *(sa.Column(name, sa.String(16), nullable=False) for name in ("collection", "kind")),
        sa.Column("media_type", sa.String(32), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_business_items"),
        sa.UniqueConstraint("integration_id", "business_id", name="uq_business_items_integration_id_business_id"),
        sa.UniqueConstraint(
            "integration_id", "owner", "collection", "uid", name="uq_business_items_integration_id_owner_collection_uid"
        ),
    )
    op.create_index(
        "ix_business_items_integration_id_owner_collection", "business_items", ["integration_id", "owner", "collection"]
    )


def _business_feed() -> None:
    op.create_table(
        "business_feed",
        sa.Column("cursor", _BIG, autoincrement=True, nullable=False),
        *_integration("business_feed"),
        *(sa.Column(name, sa.Text(), nullable=False) for name in ("business_id", "owner")),
        *(sa.Column(name, sa.String(16), nullable=False) for name in ("kind", "change")),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("cursor", name="pk_business_feed"),
    )
    op.create_index("ix_business_feed_integration_id_cursor", "business_feed", ["integration_id", "cursor"])


def _journal() -> None:
    op.create_table(
        "journal",
        sa.Column("id", _BIG, autoincrement=True, nullable=False),
        *_integration("journal"),
        *(sa.Column(name, sa.Text(), nullable=False) for name in ("business_id", "owner")),
        *(sa.Column(name, sa.String(16), nullable=False) for name in ("side", "action")),
        *(sa.Column(name, sa.Text(), nullable=False) for name in ("rule", "pair")),
        sa.Column("media_type", sa.String(32), nullable=False),
        *(sa.Column(name, sa.Text(), nullable=True) for name in ("before", "after")),
        sa.Column("at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_journal"),
    )
    op.create_index("ix_journal_integration_id_business_id_id", "journal", ["integration_id", "business_id", "id"])


def downgrade() -> None:
    """Drop the hub's tables."""
    for table in ("journal", "business_feed", "business_log", "business_items", "integration_rules"):
        op.drop_table(table)
