"""One pair's state in one run, on SQLAlchemy Core: the ``PairState`` that ``SQLStore.open_pair`` hands out.

Why buffers: ``put_link``/``drop_link``/``set_token`` only record in memory; ``checkpoint`` writes them in one
transaction. A crash loses at most the batch since the last checkpoint, which the next run re-checks (see the
port's docstring).

Why a fence: a pair state opened under the pair's lease checks, in each checkpoint's own transaction, that the
lease is still its run's, so a run that lost its lease to another records nothing more.

Kept apart from ``calsync.state.sql`` (the store: pairs, leases, jobs) because this is the hot path of every run,
loading a pair's links whole and writing thousands of link changes, and reads best with its row conversions
beside it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    String,
    Text,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)

from calsync.errors import LeaseLost, StateError
from calsync.model.refs import Side
from calsync.state.db import Database
from calsync.state.lease import Lease
from calsync.state.store import Link, LinkCensus, Pending, Rebound, SideStatus, changed_sides
from calsync.state.tables.base import UTCDateTime
from calsync.state.tables.sync import links, locks, pairs, shelved_links, sync_tokens

if TYPE_CHECKING:
    from calsync.state.store import PairState

_CHUNK = 500
_LINK_NAMES = (
    *("ident", "a_href", "a_version", "a_digest", "b_href", "b_version", "b_digest", "kind", "parked"),
    *("pending_target", "pending_source_href", "pending_source_version", "pending_source_digest"),
    *("pending_digest", "away"),
)
_LINK_COLUMNS = tuple(links.c[name] for name in _LINK_NAMES)
_SHELF_NAMES = tuple(column.name for column in links.columns if column.name != "pair_id")
"""Every column of a link but its pair: what is shelved (``bind``), whatever columns ``links`` comes to have."""


class SQLPairState:
    """One pair's state in one run: reads go to the database, writes wait in buffers for ``checkpoint``.

    The buffers hold the net effect (a put then a drop of one identity is a drop), so ``links()`` is the
    database overlaid with them and a checkpoint writes each identity at most once.
    """

    def __init__(self, db: Database, name: str, pair_id: int, fence: Lease | None = None) -> None:
        self._db = db
        self._name = name
        self._pair_id = pair_id
        self._fence = fence
        self._puts: dict[str, Link] = {}
        self._drops: set[str] = set()
        self._tokens: dict[Side, str | None] = {}
        self._afresh: tuple[str, str] | None = None
        """A dry run's stand-in for ``bind``'s rebinding: the links are read from the shelf of these collections
        (none if it has none), marked away from these sides, the tokens as gone."""

    def bind(self, collections: str, *, dry_run: bool = False) -> Rebound | None:
        """Bind the pair to ``collections`` (what this run syncs); when it was bound to others, shelve its links
        under those, drop its tokens, and take up the links shelved under ``collections``, marked away from the
        sides that changed (see the port). A dry run reads the links as they would be and writes nothing.

        Compared exactly: collection ids are case-sensitive on most stores (a caller whose ids are not, such as
        e-mail addresses, folds them before). An unbound pair (made before pairs were bound) is bound as it is,
        its links trusted. One transaction, fenced: a crash leaves the pair bound as before or as after, its
        links taken up with their marks or not at all.

        The pair's row is locked for the transaction, so an admin's removal of the pair (a user or integration
        removed, or ``admin._forget_unbound``) comes wholly before or after it; before, this raises ``StateError``
        (``_removed``) rather than bind nothing and let the run go on recording for a pair that is gone.
        """
        query = select(pairs.c.bound_to).where(pairs.c.id == self._pair_id)
        with self._db.read() as conn:
            before = self._bound_to(conn, query)
            if before == collections:
                return None
            if dry_run:
                if before is None:  # bound as it is: its links read as they are
                    return None
                self._afresh = (collections, changed_sides(before, collections))
                return Rebound(before, len(self._read(conn, self._shelved(*self._afresh))))
        with self._db.write() as conn:
            self._check_fence(conn)
            before = self._bound_to(conn, query.with_for_update())
            if before == collections:
                return None
            resumed = 0 if before is None else self._reshelve(conn, before, collections)
            conn.execute(update(pairs).where(pairs.c.id == self._pair_id).values(bound_to=collections))
        return None if before is None else Rebound(before, resumed)

    def _bound_to(self, conn: Connection, query: Select[Any]) -> str | None:
        """What the pair is bound to, read with ``query``; raises ``StateError`` when its row is gone."""
        row = conn.execute(query).one_or_none()
        if row is None:
            raise _removed(self._name)
        bound: str | None = row[0]
        return bound

    def _reshelve(self, conn: Connection, before: str, collections: str) -> int:
        """Shelve the links under ``before``, drop the tokens, take up the links shelved under ``collections``
        marked away from the sides that changed; returns how many links were taken up.

        Every shelf is kept until the pair binds back to it or is removed: a copy left in a calendar without its
        link would be met as new on the pair's return (in a pair with no record of A's deletions, an item A
        deleted would come back). A pair's shelves are as many as the collections it ever left."""
        now = datetime.now(UTC)
        mine = shelved_links.c.pair_id == self._pair_id
        conn.execute(delete(shelved_links).where(mine, shelved_links.c.bound_to == before))
        shelf = (literal(before, Text()), literal(now, UTCDateTime()))
        kept = select(links.c.pair_id, *shelf, *(links.c[name] for name in _SHELF_NAMES))
        conn.execute(
            insert(shelved_links).from_select(
                ["pair_id", "bound_to", "shelved_at", *_SHELF_NAMES], kept.where(links.c.pair_id == self._pair_id)
            )
        )
        conn.execute(delete(links).where(links.c.pair_id == self._pair_id))
        conn.execute(delete(sync_tokens).where(sync_tokens.c.pair_id == self._pair_id))
        back = shelved_links.c.bound_to == collections
        resumed = conn.execute(select(func.count()).where(mine, back)).scalar_one()
        away = _marked(changed_sides(before, collections))
        taken = select(
            shelved_links.c.pair_id, *(away if name == "away" else shelved_links.c[name] for name in _SHELF_NAMES)
        ).where(mine, back)
        conn.execute(insert(links).from_select(["pair_id", *_SHELF_NAMES], taken))
        conn.execute(delete(shelved_links).where(mine, back))
        return int(resumed)

    def _shelved(self, collections: str, sides: str) -> Select[Any]:
        """The links shelved under ``collections`` as ``bind`` takes them up, marked away from ``sides``."""
        columns = (_marked(sides) if name == "away" else shelved_links.c[name] for name in _LINK_NAMES)
        return select(*columns).where(shelved_links.c.pair_id == self._pair_id, shelved_links.c.bound_to == collections)

    def links(self) -> dict[str, Link]:
        if self._afresh is not None:  # a dry run's rebinding: the links it would take up
            query = self._shelved(*self._afresh)
        else:
            query = select(*_LINK_COLUMNS).where(links.c.pair_id == self._pair_id)
        with _collector_paused(), self._db.read() as conn:
            found = self._read(conn, query)
        for ident in self._drops:
            found.pop(ident, None)
        found.update(self._puts)
        return found

    @staticmethod
    def _read(conn: Connection, query: Select[Any]) -> dict[str, Link]:
        rows = conn.execute(query).all()
        try:
            return {row[0]: _link(row) for row in rows}
        except ValueError as exc:
            raise StateError(f"a link holds data this version of calsync cannot read: {exc}") from exc

    def census(self) -> LinkCensus:
        if self._puts or self._drops or self._afresh is not None:  # count links not written yet as links() sees them
            found = self.links()
            return LinkCensus(len(found), sum(1 for link in found.values() if link.pending is not None))
        pending = func.count(links.c.pending_target)  # COUNT of a column counts its non-NULL values
        query = select(func.count(), pending).where(links.c.pair_id == self._pair_id)
        with self._db.read() as conn:
            total, in_flight = conn.execute(query).one()
        return LinkCensus(int(total), int(in_flight))

    def token(self, side: Side) -> str | None:
        if side in self._tokens or self._afresh is not None:
            return self._tokens.get(side)
        query = select(sync_tokens.c.token).where(
            sync_tokens.c.pair_id == self._pair_id, sync_tokens.c.side == side.value
        )
        with self._db.read() as conn:
            found: str | None = conn.execute(query).scalar_one_or_none()
        return found

    def put_link(self, link: Link) -> None:
        self._drops.discard(link.ident)
        self._puts[link.ident] = link

    def drop_link(self, ident: str) -> None:
        self._puts.pop(ident, None)
        self._drops.add(ident)

    def set_token(self, side: Side, token: str | None) -> None:
        self._tokens[side] = token

    def checkpoint(self) -> None:
        """Write the buffers in one transaction; with nothing recorded, touch nothing. On failure the buffers
        stay, so the caller may retry or leave the block to discard them. A pair an admin removed since it was
        opened raises ``_removed`` (``_hold_pair``), never the database's constraint."""
        if not (self._puts or self._drops or self._tokens):
            return
        now = datetime.now(UTC)
        with self._db.write() as conn:
            self._check_fence(conn)
            self._hold_pair(conn)
            self._write_links(conn, now)
            self._write_tokens(conn, now)
        self.discard()

    def _hold_pair(self, conn: Connection) -> None:
        """Lock the pair's row for the checkpoint (PostgreSQL; SQLite's write transaction holds the whole
        database), taken as ``bind`` and an admin's removal take it, before the links: a removal meanwhile waits
        for the commit, or came first and is said so (``_removed``), never a deadlock between the two."""
        held = conn.execute(select(pairs.c.id).where(pairs.c.id == self._pair_id).with_for_update()).first()
        if held is None:
            raise _removed(self._name)

    def _check_fence(self, conn: Connection) -> None:
        """Raise ``LeaseLost`` unless the run still holds its pair's lease, in the checkpoint's own transaction.

        The statement also takes the lease's row for the transaction (PostgreSQL locks it, SQLite the whole
        database), so no other run can take the lease over between this check and the commit.
        """
        fence = self._fence
        if fence is None:
            return
        held = conn.execute(
            update(locks)
            .where(locks.c.name == fence.name, locks.c.owner == fence.owner, locks.c.expires_at > self._db.now(conn))
            .values(owner=fence.owner)
        ).rowcount
        if held != 1:
            raise LeaseLost(
                f"this run lost {fence.name} (it ran out and another run took it over): stopped before recording "
                "more; the next run settles what this one wrote"
            )

    def discard(self) -> None:
        """Forget everything recorded since the last checkpoint."""
        self._puts.clear()
        self._drops.clear()
        self._tokens.clear()

    def _write_links(self, conn: Connection, now: datetime) -> None:
        for chunk in _chunks(sorted(self._drops)):
            conn.execute(delete(links).where(links.c.pair_id == self._pair_id, links.c.ident.in_(chunk)))
        stamp = self._db.driver_value(conn, links.c.updated_at, now)
        rows = [_link_row(self._pair_id, link, stamp) for link in self._puts.values()]
        self._db.upsert_many(conn, links, ("pair_id", "ident"), rows)

    def _write_tokens(self, conn: Connection, now: datetime) -> None:
        cleared = [side.value for side, token in self._tokens.items() if token is None]
        if cleared:
            conn.execute(
                delete(sync_tokens).where(sync_tokens.c.pair_id == self._pair_id, sync_tokens.c.side.in_(cleared))
            )
        stamp = self._db.driver_value(conn, sync_tokens.c.updated_at, now)
        kept = [
            {"pair_id": self._pair_id, "side": side.value, "token": token, "updated_at": stamp}
            for side, token in self._tokens.items()
            if token is not None
        ]
        self._db.upsert_many(conn, sync_tokens, ("pair_id", "side"), kept)


def _removed(name: str) -> StateError:
    """The error of a run whose pair's state an admin removed while it ran: its integration re-pointed or its
    user's mailbox changed (a pair no run has bound yet is forgotten then: ``admin._forget_unbound``), or the user
    or integration removed. Nothing is lost: the run stops before recording more, and the pair's next run starts
    afresh, matching items by identity. Why one error: without it the run failed on whichever statement met the
    missing row first, in the database's words (a foreign key, "no row was found"), or on PostgreSQL bound
    nothing without a word and failed at its next checkpoint."""
    return StateError(
        f"the sync state of pair {name} was removed while this run held it (an admin moved or removed its "
        "integration or user meanwhile): stopped before recording more; the pair's next run starts afresh"
    )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Hold off Python's cyclic garbage collector while loading a pair's links.

    Why: 10,000 links are some 40,000 new objects, none in a reference cycle, and every 700 allocations start
    a collection that walks the young objects (and now and then every object in the process). Measured with a
    sync run's worth of other objects alive, those collections made the load 1.5 to 2 times slower. The
    previous state is restored, so a program that disabled the collector keeps it disabled.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _marked(sides: str) -> ColumnElement[str]:
    """A shelved link's ``away`` as it is taken up: ``sides`` added to the mark it had (shelved before a run found
    the item there), none for a link parked for a deletion (its deletions are never passed on). Two different
    sets of sides, neither empty, make both."""
    away = shelved_links.c.away
    return case(
        (shelved_links.c.parked.in_([side.value for side in Side]), away),
        (away.in_(("", sides)), literal(sides, String())),
        else_=literal("".join(side.value for side in Side), String()),
    ).label("away")


def _link(row: Sequence[Any]) -> Link:
    a, b = SideStatus(row[1], row[2], row[3]), SideStatus(row[4], row[5], row[6])
    if row[9] is None:
        return Link(row[0], a, b, None, row[7], row[8], row[14])  # positional: this runs for every link of every run
    source = SideStatus(row[10], row[11], row[12])
    return Link(row[0], a, b, Pending(Side(row[9]), source, row[13]), row[7], row[8], row[14])


def _link_row(pair_id: int, link: Link, stamp: object) -> dict[str, object]:
    """The row of one link, written out key by key: this runs for every write of a run."""
    a, b, pending = link.a, link.b, link.pending
    source = pending.source if pending is not None else None
    return {
        "pair_id": pair_id,
        "ident": link.ident,
        "a_href": a.href,
        "a_version": a.version,
        "a_digest": a.digest,
        "b_href": b.href,
        "b_version": b.version,
        "b_digest": b.digest,
        "kind": link.kind,
        "parked": link.parked,
        "pending_target": pending.target.value if pending is not None else None,
        "pending_source_href": source.href if source is not None else None,
        "pending_source_version": source.version if source is not None else None,
        "pending_source_digest": source.digest if source is not None else None,
        "pending_digest": pending.digest if pending is not None else None,
        "away": link.away,
        "updated_at": stamp,
    }


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterable[Sequence[str]]:
    return (items[start : start + size] for start in range(0, len(items), size))


if TYPE_CHECKING:
    _state_check: type[PairState] = SQLPairState
