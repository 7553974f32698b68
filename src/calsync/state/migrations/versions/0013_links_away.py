"""Links remember the sides a pair was away from (``links.away``); ``pairs.came_back_from`` goes.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22

Why: a pair that came back to collections it had left (0012) stayed on its way back as a whole until every
deletion made there while it was away had been undone. While one undo kept failing (a server refusing the copy for
good), every deletion the user made there afterwards, of any item, was undone too and never passed on. Now each
link taken up is marked away from the sides whose collection changed, and loses the mark once a run finds its item
there; the mark is shelved with the rest of the link (``shelved_links.away``).

A pair on its way back keeps what it had: each of its links that is not parked is marked away from the sides whose
line (``A: …``, ``B: …``) differs between ``came_back_from`` and ``bound_to`` (both when that cannot be told), and
its sync tokens are dropped, so that its next run lists both sides whole and clears the mark of every item it
finds there (an incremental run names only what changed). The downgrade gives such a pair a
``came_back_from`` that differs from ``bound_to`` on the sides its links are marked away from.
Written out by hand, like 0001, so it keeps creating exactly this schema whatever ``calsync.state.tables`` becomes;
in SQL statements only, so that offline mode renders it too. ``shelved_links.away`` keeps the server default it is
added with (a column added to a table with rows needs one); every row written there names it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _pairs() -> sa.TableClause:
    return sa.table(
        "pairs", sa.column("id", sa.Integer()), sa.column("bound_to", sa.Text()), sa.column("came_back_from", sa.Text())
    )


def _links() -> sa.TableClause:
    return sa.table(
        "links", sa.column("pair_id", sa.Integer()), sa.column("parked", sa.Text()), sa.column("away", sa.Text())
    )


def upgrade() -> None:
    """Add ``away`` to ``links`` and ``shelved_links``; mark the links of the pairs on their way back and drop
    their tokens; drop ``pairs.came_back_from`` (SQLite 3.35 and later drop a column in place)."""
    for table in ("links", "shelved_links"):
        op.add_column(table, sa.Column("away", sa.String(8), nullable=False, server_default=""))
    pairs, links = _pairs(), _links()
    now, before = pairs.c.bound_to, pairs.c.came_back_from
    same_a = sa.and_(_first_line(before) == _first_line(now), _first_line(now).like("A: %"))
    same_b = sa.and_(_rest(before) == _rest(now), _rest(now).like("B: %"))
    sides = sa.case((sa.and_(same_a, sa.not_(same_b)), "b"), (sa.and_(same_b, sa.not_(same_a)), "a"), else_="ab")
    on_the_way_back = sa.select(pairs.c.id).where(before.is_not(None))
    marks = sa.select(sides).where(pairs.c.id == links.c.pair_id).scalar_subquery()
    op.execute(links.update().where(links.c.pair_id.in_(on_the_way_back), links.c.parked == "").values(away=marks))
    tokens = sa.table("sync_tokens", sa.column("pair_id", sa.Integer()))
    op.execute(tokens.delete().where(tokens.c.pair_id.in_(on_the_way_back)))
    op.drop_column("pairs", "came_back_from")


def downgrade() -> None:
    """Add ``pairs.came_back_from`` back, set for the pairs with links marked away, and drop ``away``."""
    op.add_column("pairs", sa.Column("came_back_from", sa.Text(), nullable=True))
    pairs, links = _pairs(), _links()

    def away_from(side: str) -> sa.ColumnElement[bool]:
        return sa.exists().where(links.c.pair_id == pairs.c.id, links.c.away.like(f"%{side}%"))

    now = pairs.c.bound_to
    before = sa.case(
        (sa.and_(away_from("a"), away_from("b")), "A: (away)\nB: (away)"),
        (away_from("b"), _first_line(now) + "\nB: (away)"),
        (away_from("a"), "A: (away)\n" + _rest(now)),
        else_=sa.null(),
    )
    op.execute(pairs.update().where(now.is_not(None)).values(came_back_from=before))
    for table in ("links", "shelved_links"):
        op.drop_column(table, "away")


def _first_line(text: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """The first line of ``text`` (all of it when it has one line), in this database's SQL."""
    if op.get_context().dialect.name == "postgresql":
        return sa.func.split_part(text, "\n", 1, type_=sa.Text())
    return sa.func.substr(text, 1, sa.func.instr(text + "\n", "\n") - 1, type_=sa.Text())


def _rest(text: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """What follows the first line of ``text`` and its line break ("" when it has one line)."""
    return sa.func.coalesce(sa.func.substr(text, sa.func.length(_first_line(text)) + 2, type_=sa.Text()), "")
