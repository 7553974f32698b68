"""The StateStore port: what calsync remembers between runs.

Per pair, per item: the identity shared by both sides, and on each side the href, the version (etag, changekey)
and the content digest last synced. Per pair and side: the sync token. Per run: a job with its counts and one
outcome line per item that did something or failed. The engine depends on this port only; ``calsync.state.sql``
implements it on SQLAlchemy (SQLite embedded, PostgreSQL in production).

Why recording and committing are separate: the engine records each action's result right after its remote write;
the store commits in small batches (``checkpoint``). A crash between the remote write and the commit is safe
because every create is idempotent by identity and the plan recognises a side that already holds the content
(see DESIGN.md, invariant 2), so a batch lost in a crash costs a re-check, never a duplicate.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from calsync.model.refs import Side


@dataclass(frozen=True, slots=True)
class SideStatus:
    """What was last synced on one side of one item."""

    href: str
    version: str
    digest: str


NO_STATUS = SideStatus("", "", "")
"""The status of a side that does not hold the item yet (the target of a create that is not confirmed)."""


@dataclass(frozen=True, slots=True)
class Pending:
    """A write the engine is about to make, recorded before it is made (a write-ahead intent).

    ``target`` is the side written, ``source`` the status of the copied side at the time, ``digest`` the content
    written. The next run compares what ``target`` holds with ``digest`` to tell whether the write happened, so a
    crash between a remote write and the state commit can neither resurrect an item deleted afterwards nor make
    a later edit look like a conflict.
    """

    target: Side
    source: SideStatus
    digest: str


@dataclass(frozen=True, slots=True)
class Link:
    """One item known on both sides of a pair (vdirsyncer calls this the status).

    ``pending`` is set while a write is in flight; ``a`` and ``b`` are then the last confirmed statuses
    (``NO_STATUS`` on the target of a create). ``kind`` is the item's kind (an ``ItemKind`` value) as last seen,
    so rules that differ per kind apply to an item whose content was not read (unchanged or deleted).
    ``parked`` keeps a link that no longer syncs but must not be forgotten: ``"window"`` when the item left the
    sync window (it syncs again when an edit brings it back), ``"a"`` or ``"b"`` when it was deleted on that side
    and deletions may not reach the other (the copy left there is not new, and is never copied back).
    ``away`` names the sides (``Side`` values in order: ``"a"``, ``"b"`` or ``"ab"``) the pair was away from
    since it last found the item there: a link taken up again when the pair came back to collections it had
    left (``PairState.bind``), until a run finds the item there or puts it back. A deletion found on such a side
    may have been made while the pair did not sync it (a user tidying a calendar no longer synced), which says
    nothing of the item: it is undone, never passed on.
    """

    ident: str
    a: SideStatus
    b: SideStatus
    pending: Pending | None = None
    kind: str = ""
    parked: str = ""
    away: str = ""

    def side(self, side: Side) -> SideStatus:
        """The status of ``side``."""
        return self.a if side is Side.A else self.b

    def away_from(self, side: Side) -> bool:
        """Whether the pair was away from ``side`` since it last saw the item in sync there (``away``)."""
        return side.value in self.away


@dataclass(frozen=True, slots=True)
class LinkCensus:
    """A pair's links counted: all of them, and those with a write in flight (``Link.pending``)."""

    links: int
    pending: int


class JobKind(StrEnum):
    """Why a run happened."""

    INTERVAL = "interval"
    FULL = "full"
    MANUAL = "manual"
    DRY_RUN = "dry-run"


class JobOutcome(StrEnum):
    """How a run ended."""

    RUNNING = "running"
    COMPLETED = "completed"
    WARNINGS = "completed-with-warnings"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Not run: the previous run of the same pair or integration was still going when this turn came."""


@dataclass(frozen=True, slots=True)
class ItemLine:
    """One line of a job's details: what happened to one item, by which rule, and the error in plain words."""

    ident: str
    side: str
    action: str
    outcome: str
    rule: str = ""
    message: str = ""
    href: str = ""
    title: str = ""


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One run of one pair as stored."""

    id: int
    pair: str
    kind: JobKind
    started_at: datetime
    finished_at: datetime | None = None
    outcome: JobOutcome = JobOutcome.RUNNING
    counts: Mapping[str, int] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True, slots=True)
class Rebound:
    """A pair bound to other collections than before (``PairState.bind``): what it was bound to, and how many
    links it took up again, kept from when it synced the collections it is bound to now (0: it starts afresh)."""

    before: str
    resumed: int = 0


def changed_sides(before: str, now: str) -> str:
    """The sides (``Side`` values in order, as ``Link.away`` names them) whose line differs between two bindings
    (``PairState.bind``), each naming a side's collection on a line of its own (``A: …``, ``B: …``); both when
    they cannot be told apart (a binding of another form)."""
    lines = [dict(line.split(": ", 1) for line in key.splitlines() if ": " in line) for key in (before, now)]
    changed = "".join(
        side.value for side in Side if lines[0].get(side.value.upper()) != lines[1].get(side.value.upper())
    )
    return changed or "".join(side.value for side in Side)


class PairState(Protocol):
    """The state of one pair inside one run. Not thread-safe: one run owns it."""

    def bind(self, collections: str, *, dry_run: bool = False) -> Rebound | None:
        """Bind the pair to ``collections``, the two collections this run syncs, named in one string; ``None``
        when it was bound to them already (compared exactly).

        Why: links name items of the collections they were made with. A pair that comes to sync others (a user
        moved to another mailbox, a pair pointed at another calendar) would take every linked item as deleted
        on the side that changed, and pass the deletions on. So its links are shelved under what it was bound to
        and its tokens dropped; the links it had with ``collections``, if it synced them before (a user moved
        back), are taken up again, so the copies it left there are still known as copies; without any it starts
        afresh, matching items by identity. A dry run only reads the links as they would be.

        Each link taken up that is not parked for a deletion is marked away (``Link.away``) from the sides whose
        collection changed (``changed_sides``), in the same transaction: its item may have been deleted there
        meanwhile (a link parked outside the window too: such a deletion is passed on when the other copy lies
        ahead of the window). The mark stays, whatever becomes of the run, until a run records the link without
        it (it found the item there, or put it back). A link parked for a deletion needs none: its deletions are
        never passed on.

        Raises ``StateError`` when the pair's state was removed since it was opened (an admin moved or removed
        its integration or user meanwhile), as ``checkpoint`` does: the run stops, and the next one starts afresh.
        """
        ...

    def links(self) -> dict[str, Link]:
        """Every link of the pair, by identity."""
        ...

    def census(self) -> LinkCensus:
        """How many links the pair has and how many hold a write in flight, without loading them: a run whose
        sides both report no change needs nothing more."""
        ...

    def token(self, side: Side) -> str | None:
        """The sync token stored for ``side``, if any."""
        ...

    def put_link(self, link: Link) -> None:
        """Record (insert or replace) one link; durable at the next ``checkpoint``."""
        ...

    def drop_link(self, ident: str) -> None:
        """Forget one link; durable at the next ``checkpoint``."""
        ...

    def set_token(self, side: Side, token: str | None) -> None:
        """Record the sync token of ``side``; durable at the next ``checkpoint``."""
        ...

    def checkpoint(self) -> None:
        """Commit everything recorded so far, atomically. Raises ``StateError`` when the pair's state was removed
        since it was opened (``bind``)."""
        ...


class StateStore(Protocol):
    """Everything calsync remembers. Implementations translate their library's errors to ``StateError``."""

    def open_pair(self, name: str) -> AbstractContextManager[PairState]:
        """The state of pair ``name`` (created on first use). Leaving the block commits what was recorded; an
        exception rolls back only what was recorded since the last ``checkpoint``."""
        ...

    def bound_to(self, name: str) -> str | None:
        """What pair ``name`` was last bound to (``PairState.bind``): ``None`` for a pair never bound or unknown.

        Why: a caller that finds a pair's collection anew each run (by discovery) keeps to the one the pair's
        links were made with while it is still there, instead of starting afresh in another. Reads only: asking
        about a pair does not make it.
        """
        ...

    def bindings(self, prefix: str) -> dict[str, str]:
        """What each pair whose name starts with ``prefix`` (case and all) was last bound to, by pair name; pairs
        never bound are left out. Why: ``bound_to`` for many pairs (an integration's users) in one read. Reads
        only."""
        ...

    def shelved_bindings(self, names: Collection[str]) -> dict[str, list[str]]:
        """What each of the pairs ``names`` was bound to before and holds links shelved under (``PairState.bind``),
        by pair name, the latest shelved first; pairs with none, or unknown, are left out.
        Why: a pair whose binding names no collection it can sync now (its integration re-pointed and pointed
        back, its user moved to another mailbox and back) finds the collections whose links it would take up,
        instead of choosing anew and starting afresh beside them. One read for all of them (some thousands of
        pairs a query), of their shelved links alone (never all of an integration's: those pile up with every
        move); reads only."""
        ...

    def lock_pair(self, name: str, owner: str, *, ttl_seconds: float = 300) -> AbstractContextManager[None]:
        """Hold the pair's run lock for the block, across processes and machines sharing the database.

        Raises ``PairLocked`` at once when another owner holds an unexpired lock (invariant 5). A pair state
        opened in the block raises ``LeaseLost`` at a checkpoint if the lock was lost meanwhile.
        """
        ...

    def start_job(self, pair: str, kind: JobKind) -> int:
        """Record that a run began; returns the job id."""
        ...

    def add_job_lines(self, job_id: int, lines: Sequence[ItemLine]) -> None:
        """Append detail lines to a job."""
        ...

    def finish_job(self, job_id: int, outcome: JobOutcome, counts: Mapping[str, int], message: str = "") -> None:
        """Record how a run ended."""
        ...

    def jobs(
        self, pair: str | None = None, limit: int = 50, outcomes: Collection[JobOutcome] | None = None
    ) -> list[JobRecord]:
        """The newest jobs first, optionally of one pair and with one of ``outcomes``."""
        ...

    def job_lines(self, job_id: int) -> Iterator[ItemLine]:
        """A job's detail lines, in the order they were added."""
        ...

    def prune_jobs(self, older_than: datetime) -> int:
        """Delete jobs that finished before ``older_than`` with their lines; returns how many went."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


_INCARNATION = secrets.token_hex(4)
"""Tells this process from an earlier one with the same host name and PID."""


def _process_table() -> str:
    """Which table of processes this process's PID is a number in: the machine's boot and the PID namespace.

    Why: two containers with the host's network (or two machines given one name) share a host name, yet each
    numbers its processes from 1; a PID seen in a lease means something only to a process of the same table.
    Empty where the system does not say (then no lease is taken for dead before it runs out).
    """
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        namespace = str(Path("/proc/self/ns/pid").readlink())
    except OSError:
        return ""
    return hashlib.blake2b(f"{boot} {namespace}".encode(), digest_size=4).hexdigest()


_PROCESS_TABLE = _process_table()


def run_owner() -> str:
    """The owner name of a run in this process: ``host:pid:incarnation:table`` (see ``owner_is_dead``)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_INCARNATION}:{_PROCESS_TABLE}"


def owner_is_dead(owner: str) -> bool:
    """Whether ``owner`` (a ``run_owner``) was a process of this process's own process table that is no longer
    running.

    Why: a run killed with SIGKILL cannot release its lease, and waiting for its expiry would block every rerun
    for minutes. Only a process numbered in the same table (same boot, same PID namespace) can be checked: a
    lease of another machine, another container or an earlier boot waits for its expiry, even when the host name
    is the same. A lease of this very PID under another incarnation was left by an earlier process.
    """
    host, pid, incarnation, table = _owner_parts(owner)
    if not table or table != _PROCESS_TABLE or host != socket.gethostname():
        return False
    if pid == os.getpid():
        return incarnation != _INCARNATION
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, run by another user
    return False


def _owner_parts(owner: str) -> tuple[str, int, str, str]:
    """The parts of a ``run_owner`` name; a name of another form (an older version's, a test's) has no table."""
    parts = owner.split(":")
    if len(parts) >= 4 and parts[-3].isdigit():
        return ":".join(parts[:-3]), int(parts[-3]), parts[-2], parts[-1]
    return owner, 0, "", ""
