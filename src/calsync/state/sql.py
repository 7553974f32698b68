"""The StateStore on SQLAlchemy Core: SQLite embedded, PostgreSQL in production.

Why Core and not the ORM: the engine loads every link of a pair at the start of a run and records thousands
of link changes per run. Plain selects into frozen values and one ``executemany`` upsert per checkpoint keep
that in milliseconds; an identity map would only add work.

Why buffers: ``put_link``/``drop_link``/``set_token`` only record in memory; ``checkpoint`` writes them in one
transaction. A crash loses at most the batch since the last checkpoint, which the next run re-checks (see the
port's docstring).

Why leases for locks: a row in ``locks`` with an expiry works the same across processes (SQLite) and machines
(PostgreSQL) without holding a connection for the length of a run, and a crashed run's lock simply expires.
On PostgreSQL the database's clock decides expiry, so machines with skewed clocks still agree.

Connections, transactions and error translation live in ``calsync.state.db``.
"""

from __future__ import annotations

import gc
import json
import logging
import os
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Connection, Row, delete, func, insert, select, update

from calsync.errors import LeaseLost, PairLocked, StateError
from calsync.model.refs import Side
from calsync.state.db import Database, database_url, translate_errors
from calsync.state.lease import DEFAULT_TTL_SECONDS, Lease, Renewer
from calsync.state.store import (
    ItemLine,
    JobKind,
    JobOutcome,
    JobRecord,
    Link,
    LinkCensus,
    Pending,
    SideStatus,
    owner_is_dead,
)
from calsync.state.tables.sync import job_lines, jobs, links, locks, pairs, sync_tokens

if TYPE_CHECKING:
    from calsync.state.store import PairState, StateStore

logger = logging.getLogger(__name__)
__all__ = ["SQLStore", "database_url", "open_store", "translate_errors"]

_CHUNK = 500
_LINE_PAGE = 1000
_LINK_NAMES = (
    *("ident", "a_href", "a_version", "a_digest", "b_href", "b_version", "b_digest", "kind", "parked"),
    *("pending_target", "pending_source_href", "pending_source_version", "pending_source_digest"),
    "pending_digest",
)
_LINK_COLUMNS = tuple(links.c[name] for name in _LINK_NAMES)
_LINE_NAMES = tuple(field.name for field in fields(ItemLine))


def open_store(url_or_path: str | os.PathLike[str] | URL) -> SQLStore:
    """Open (and create or migrate, when needed) the state store at a URL or SQLite file path."""
    return SQLStore(database_url(url_or_path))


class SQLStore:
    """The StateStore on a SQLAlchemy database. Opening creates or migrates the schema when it is not at head.

    Thread-safe across calls (each call takes its own pooled connection); a ``PairState`` belongs to one run.
    """

    def __init__(self, url: str | os.PathLike[str] | URL) -> None:
        self._db = Database(database_url(url))
        self._held: dict[str, str] = {}
        """The owner of each pair lease this store holds now, by pair name: a pair state opened under the lease
        is fenced by it (``_SQLPairState.checkpoint``)."""
        try:
            self._db.ensure_schema()
        except BaseException:
            self._db.close()
            raise

    def __repr__(self) -> str:
        return f"SQLStore({self._db.shown!r})"

    @contextmanager
    def open_pair(self, name: str) -> Iterator[PairState]:
        """The pair's state; checkpoints on normal exit, discards the unflushed buffer on an exception."""
        owner = self._held.get(name)
        fence = Lease(f"pair:{name}", owner, datetime.min) if owner is not None else None
        state = _SQLPairState(self._db, self._pair_id(name), fence)
        try:
            yield state
        except BaseException:
            state.discard()
            raise
        state.checkpoint()

    def _pair_id(self, name: str) -> int:
        query = select(pairs.c.id).where(pairs.c.name == name)
        with self._db.read() as conn:
            found = conn.execute(query).scalar_one_or_none()
        if found is not None:
            return int(found)
        with self._db.write() as conn:
            row = {"name": name, "created_at": datetime.now(UTC)}
            conn.execute(self._db.upsert(pairs, ("name",), replace=False), row)
            return int(conn.execute(query).scalar_one())

    @contextmanager
    def lock_pair(self, name: str, owner: str, *, ttl_seconds: float = DEFAULT_TTL_SECONDS) -> Iterator[None]:
        """Hold the lease ``pair:<name>`` for the block.

        Raises ``PairLocked`` at once if another owner's lease has not expired; a lease is not re-entrant, so
        the same owner is refused too. While the block runs, a thread renews the lease every third of
        ``ttl_seconds``, so a run longer than the TTL keeps it (a crashed run's lease still expires: nothing renews
        it). A pair state opened in the block is fenced by the lease: should the run lose it (frozen past its
        TTL, the database out of reach that long) and another run take it over, the first one's next checkpoint
        raises ``LeaseLost`` and records nothing. Leaving the block deletes the lease only if it is still ours.
        """
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, not {ttl_seconds}")
        lease = self._acquire(f"pair:{name}", owner, ttl_seconds, what=f"pair {name!r}")
        renewer = Renewer(self._renew, lease, ttl_seconds)
        renewer.start()
        self._held[name] = owner
        try:
            yield
        finally:
            self._held.pop(name, None)
            self._release(renewer.stop())

    def _acquire(self, name: str, owner: str, ttl_seconds: float, *, what: str) -> Lease:
        try:
            return self._try_acquire(name, owner, ttl_seconds, what=what)
        except PairLocked as locked:
            holder = locked.holder
            if not holder or not owner_is_dead(holder):
                raise
        # the holder was a process on this machine that died (killed, crashed): its lease is void
        with self._db.write() as conn:
            conn.execute(delete(locks).where(locks.c.name == name, locks.c.owner == holder))
        logger.warning("took over the lease %s of %s, which is no longer running", name, holder)
        return self._try_acquire(name, owner, ttl_seconds, what=what)

    def _try_acquire(self, name: str, owner: str, ttl_seconds: float, *, what: str) -> Lease:
        with self._db.write() as conn:
            now = self._db.now(conn)
            lease = Lease(name, owner, now + timedelta(seconds=ttl_seconds))
            stmt = self._db.upsert(locks, ("name",), where=locks.c.expires_at <= now)
            row = {"name": name, "owner": owner, "expires_at": lease.expires_at}
            # Only UPDATE and DELETE keep their row count unasked; the upsert's says whether it took the row.
            if conn.execute(stmt, row, execution_options={"preserve_rowcount": True}).rowcount == 1:
                return lease
            holder = conn.execute(select(locks.c.owner, locks.c.expires_at).where(locks.c.name == name)).first()
        held_by = f"{holder.owner!r} until {holder.expires_at:%Y-%m-%d %H:%M:%S} UTC" if holder else "another run"
        raise PairLocked(f"{what} is locked by {held_by}", holder=holder.owner if holder else "")

    def _renew(self, lease: Lease, ttl_seconds: float) -> Lease | None:
        """The lease moved ``ttl_seconds`` past now, if it is still ours; ``None`` when it was lost.

        Ours means: the row still names our owner (a take-over writes its own), whatever its expiry says; so a
        renewal whose answer was lost, which moved the expiry unbeknown to us, does not lose the lease.
        """
        with self._db.write() as conn:
            renewed = Lease(lease.name, lease.owner, self._db.now(conn) + timedelta(seconds=ttl_seconds))
            done = conn.execute(
                update(locks)
                .where(locks.c.name == lease.name, locks.c.owner == lease.owner)
                .values(expires_at=renewed.expires_at)
            )
        return renewed if done.rowcount == 1 else None

    def _release(self, lease: Lease) -> None:
        with self._db.write() as conn:
            conn.execute(delete(locks).where(locks.c.name == lease.name, locks.c.owner == lease.owner))

    def start_job(self, pair: str, kind: JobKind) -> int:
        """Record that a run began (outcome RUNNING); returns the job id."""
        row = {
            "pair": pair,
            "kind": kind.value,
            "started_at": datetime.now(UTC),
            "outcome": JobOutcome.RUNNING.value,
            "counts": "{}",
            "message": "",
        }
        with self._db.write() as conn:
            primary_key = conn.execute(insert(jobs), row).inserted_primary_key
        if primary_key is None:
            raise StateError(f"state store {self._db.shown} did not return the new job's id")
        return int(primary_key[0])

    def add_job_lines(self, job_id: int, lines: Sequence[ItemLine]) -> None:
        """Append lines after the job's last one; raises ``StateError`` for an unknown job."""
        if not lines:
            return
        with self._db.write() as conn:
            last = conn.execute(
                select(func.coalesce(func.max(job_lines.c.seq), 0)).where(job_lines.c.job_id == job_id)
            ).scalar_one()
            rows = [_line_row(job_id, int(last) + n, line) for n, line in enumerate(lines, start=1)]
            self._db.insert_many(conn, job_lines, rows)

    def finish_job(self, job_id: int, outcome: JobOutcome, counts: Mapping[str, int], message: str = "") -> None:
        """Record the end of a run; raises ``StateError`` for an unknown job."""
        values = {
            "finished_at": datetime.now(UTC),
            "outcome": outcome.value,
            "counts": json.dumps(dict(counts), sort_keys=True),
            "message": message,
        }
        with self._db.write() as conn:
            done = conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values)).rowcount
        if done != 1:
            raise StateError(f"no job {job_id} in state store {self._db.shown}")

    def jobs(
        self, pair: str | None = None, limit: int = 50, outcomes: Collection[JobOutcome] | None = None
    ) -> list[JobRecord]:
        """The newest jobs first, optionally of one pair and with one of ``outcomes``."""
        query = select(jobs).order_by(jobs.c.id.desc()).limit(limit)
        if pair is not None:
            query = query.where(jobs.c.pair == pair)
        if outcomes is not None:
            query = query.where(jobs.c.outcome.in_([outcome.value for outcome in outcomes]))
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return [_job_record(row) for row in rows]

    def job_lines(self, job_id: int) -> Iterator[ItemLine]:
        """A job's lines in order, read a page at a time so a huge job neither fills memory nor holds a
        connection while the caller iterates."""
        after = 0
        while True:
            query = (
                select(job_lines)
                .where(job_lines.c.job_id == job_id, job_lines.c.seq > after)
                .order_by(job_lines.c.seq)
                .limit(_LINE_PAGE)
            )
            with self._db.read() as conn:
                rows = conn.execute(query).all()
            for row in rows:
                yield ItemLine(**{name: row._mapping[name] for name in _LINE_NAMES})
            if len(rows) < _LINE_PAGE:
                return
            after = rows[-1].seq

    def prune_jobs(self, older_than: datetime) -> int:
        """Delete jobs that finished before ``older_than`` (their lines go by cascade); running jobs stay."""
        with self._db.write() as conn:
            stmt = delete(jobs).where(jobs.c.finished_at.is_not(None), jobs.c.finished_at < older_than)
            return conn.execute(stmt).rowcount

    def close(self) -> None:
        """Release the pool's connections; any later call raises ``StateError``."""
        self._db.close()


def _line_row(job_id: int, seq: int, line: ItemLine) -> dict[str, object]:
    return {"job_id": job_id, "seq": seq, **{name: getattr(line, name) for name in _LINE_NAMES}}


def _job_record(row: Row[Any]) -> JobRecord:
    try:
        counts = {str(key): int(value) for key, value in json.loads(row.counts).items()}
        return JobRecord(
            id=int(row.id),
            pair=row.pair,
            kind=JobKind(row.kind),
            started_at=row.started_at,
            finished_at=row.finished_at,
            outcome=JobOutcome(row.outcome),
            counts=counts,
            message=row.message,
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise StateError(f"job {row.id} holds data this version of calsync cannot read: {exc}") from exc


class _SQLPairState:
    """One pair's state in one run: reads go to the database, writes wait in buffers for ``checkpoint``.

    The buffers hold the net effect (a put then a drop of one identity is a drop), so ``links()`` is the
    database overlaid with them and a checkpoint writes each identity at most once.
    """

    def __init__(self, db: Database, pair_id: int, fence: Lease | None = None) -> None:
        self._db = db
        self._pair_id = pair_id
        self._fence = fence
        self._puts: dict[str, Link] = {}
        self._drops: set[str] = set()
        self._tokens: dict[Side, str | None] = {}

    def links(self) -> dict[str, Link]:
        query = select(*_LINK_COLUMNS).where(links.c.pair_id == self._pair_id)
        with _collector_paused(), self._db.read() as conn:
            rows = conn.execute(query).all()
            try:
                found = {row[0]: _link(row) for row in rows}
            except ValueError as exc:
                raise StateError(f"a link holds data this version of calsync cannot read: {exc}") from exc
        for ident in self._drops:
            found.pop(ident, None)
        found.update(self._puts)
        return found

    def census(self) -> LinkCensus:
        if self._puts or self._drops:  # links not written yet: count them the way links() sees them
            found = self.links()
            return LinkCensus(len(found), sum(1 for link in found.values() if link.pending is not None))
        pending = func.count(links.c.pending_target)  # COUNT of a column counts its non-NULL values
        query = select(func.count(), pending).where(links.c.pair_id == self._pair_id)
        with self._db.read() as conn:
            total, in_flight = conn.execute(query).one()
        return LinkCensus(int(total), int(in_flight))

    def token(self, side: Side) -> str | None:
        if side in self._tokens:
            return self._tokens[side]
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
        stay, so the caller may retry or leave the block to discard them."""
        if not (self._puts or self._drops or self._tokens):
            return
        now = datetime.now(UTC)
        with self._db.write() as conn:
            self._check_fence(conn)
            self._write_links(conn, now)
            self._write_tokens(conn, now)
        self.discard()

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


def _link(row: Sequence[Any]) -> Link:
    a, b = SideStatus(row[1], row[2], row[3]), SideStatus(row[4], row[5], row[6])
    if row[9] is None:
        return Link(row[0], a, b, None, row[7], row[8])  # positional: this runs for every link of every run
    source = SideStatus(row[10], row[11], row[12])
    return Link(row[0], a, b, Pending(Side(row[9]), source, row[13]), row[7], row[8])


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
        "updated_at": stamp,
    }


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterable[Sequence[str]]:
    return (items[start : start + size] for start in range(0, len(items), size))


if TYPE_CHECKING:
    _store_check: type[StateStore] = SQLStore
    _state_check: type[PairState] = _SQLPairState
