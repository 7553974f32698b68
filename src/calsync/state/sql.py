"""The StateStore on SQLAlchemy Core: SQLite embedded, PostgreSQL in production.

Why Core and not the ORM: the engine loads every link of a pair at the start of a run and records thousands
of link changes per run. Plain selects into frozen values and one ``executemany`` upsert per checkpoint keep
that in milliseconds; an identity map would only add work.

Why leases for locks: a row in ``locks`` with an expiry works the same across processes (SQLite) and machines
(PostgreSQL) without holding a connection for the length of a run, and a crashed run's lock simply expires.
On PostgreSQL the database's clock decides expiry, so machines with skewed clocks still agree.

One pair's state in a run (its links and sync tokens, buffered until a checkpoint) lives in
``calsync.state.pair_state``; connections, transactions and error translation live in ``calsync.state.db``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Row, delete, func, insert, select, update

from calsync.errors import PairLocked, StateError
from calsync.state.db import Database, database_url, starts_with, translate_errors
from calsync.state.lease import DEFAULT_TTL_SECONDS, Lease, Renewer
from calsync.state.pair_state import SQLPairState
from calsync.state.store import ItemLine, JobKind, JobOutcome, JobRecord, owner_is_dead
from calsync.state.tables.sync import job_lines, jobs, locks, pairs, shelved_links

if TYPE_CHECKING:
    from calsync.state.store import PairState, StateStore

logger = logging.getLogger(__name__)
__all__ = ["SQLStore", "database_url", "open_store", "translate_errors"]

_LINE_PAGE = 1000
_LINE_NAMES = tuple(field.name for field in fields(ItemLine))
_NAMES_PER_QUERY = 5000
"""How many pairs ``shelved_bindings`` names in one query: PostgreSQL takes at most 65,535 parameters in a
statement (psycopg refuses more), and an integration's users can be more; an integration of the usual size is
still read in one query."""


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
        is fenced by it (``SQLPairState.checkpoint``)."""
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
        state = SQLPairState(self._db, name, self._pair_id(name), fence)
        try:
            yield state
        except BaseException:
            state.discard()
            raise
        state.checkpoint()

    def bound_to(self, name: str) -> str | None:
        """What pair ``name`` was last bound to; ``None`` when never bound or unknown (and no pair is made)."""
        with self._db.read() as conn:
            found: str | None = conn.execute(select(pairs.c.bound_to).where(pairs.c.name == name)).scalar_one_or_none()
        return found

    def bindings(self, prefix: str) -> dict[str, str]:
        """What each pair whose name starts with ``prefix`` (case and all) was last bound to, by name; pairs never
        bound are left out. One query for all of them (and no pair is made)."""
        bound = pairs.c.bound_to
        query = select(pairs.c.name, bound).where(starts_with(pairs.c.name, prefix), bound.is_not(None))
        with self._db.read() as conn:
            return {str(name): str(to) for name, to in conn.execute(query)}

    def shelved_bindings(self, names: Collection[str]) -> dict[str, list[str]]:
        """What each of the pairs ``names`` holds links shelved under, latest shelved first (ties by binding), by
        name; one query over those pairs' shelved links (one per ``_NAMES_PER_QUERY`` names), and no pair is
        made. A pair's shelves all come from the query naming it, so each pair's order holds across queries."""
        if not names:
            return {}
        wanted = sorted(names)
        shelf = shelved_links.c.bound_to
        shelved = func.coalesce(shelved_links.c.shelved_at, shelved_links.c.updated_at)  # NULL: before 0014
        found: dict[str, list[str]] = {}
        with self._db.read() as conn:
            for start in range(0, len(wanted), _NAMES_PER_QUERY):
                query = (
                    select(pairs.c.name, shelf)
                    .join(shelved_links, shelved_links.c.pair_id == pairs.c.id)
                    .where(pairs.c.name.in_(wanted[start : start + _NAMES_PER_QUERY]))
                    .group_by(pairs.c.name, shelf)
                    .order_by(func.max(shelved).desc(), shelf)
                )
                for name, bound in conn.execute(query):
                    found.setdefault(str(name), []).append(str(bound))
        return found

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


if TYPE_CHECKING:
    _store_check: type[StateStore] = SQLStore
