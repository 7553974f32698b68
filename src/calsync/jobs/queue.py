"""The JobQueue port: where the scheduler hands runs to, and what a run request is.

Why a port this narrow (submit, busy, shutdown): it is what both backends can keep exactly. The in-process
backend (``calsync.jobs.inprocess``) runs requests on worker threads; a distributed backend (procrastinate on
PostgreSQL) will defer them as jobs whose arguments are ``RunRequest.as_args()`` and whose ``lock`` and
``queueing_lock`` are ``RunRequest.key``, and answer ``busy`` from its jobs table.

Why runs are keyed by integration: a run syncs every pair of its integration (or of some of its users), so two
runs of one integration would race for the same pairs. The engine's pair lock makes an overlap safe; the key
makes it not happen, and lets the scheduler record a skipped turn instead of a run that fails on a held lock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from calsync.state.store import JobKind


@dataclass(frozen=True, slots=True)
class RunRequest:
    """One run of one integration: why (``kind``), whether every item is compared (``full``), for which business
    users (``None``: all), the "sync now" requests it serves (dropped when it ends) and the time its turn was
    due (``None`` for a manual run), which a full sync records as its time so the daily full sync keeps its hour.
    """

    integration: str
    kind: JobKind
    full: bool = False
    users: tuple[str, ...] | None = None
    request_ids: tuple[int, ...] = ()
    due_at: datetime | None = None

    @property
    def key(self) -> str:
        """Runs with the same key never overlap: the integration's name."""
        return self.integration

    def as_args(self) -> dict[str, object]:
        """The request as JSON-compatible arguments (what a distributed backend stores with the job)."""
        return {
            "integration": self.integration,
            "kind": self.kind.value,
            "full": self.full,
            "users": list(self.users) if self.users is not None else None,
            "request_ids": list(self.request_ids),
            "due_at": self.due_at.isoformat() if self.due_at is not None else None,
        }

    @classmethod
    def from_args(cls, args: Mapping[str, object]) -> RunRequest:
        """The request ``as_args`` gave; raises ``ValueError`` for arguments it did not make."""
        users, ids, due = args.get("users"), args.get("request_ids", []), args.get("due_at")
        if not isinstance(users, list | None) or not isinstance(ids, list) or not isinstance(due, str | None):
            raise ValueError(f"not a run request: {dict(args)!r}")
        return cls(
            integration=str(args["integration"]),
            kind=JobKind(str(args["kind"])),
            full=bool(args.get("full", False)),
            users=tuple(str(user) for user in users) if users is not None else None,
            request_ids=tuple(int(str(ident)) for ident in ids),
            due_at=datetime.fromisoformat(due) if due is not None else None,
        )


RunHandler = Callable[[RunRequest], None]
"""What a worker does with a request. It records its own outcome; an exception it lets through is a bug."""


class JobQueue(Protocol):
    """Runs requests on workers, never two of the same key at once."""

    def submit(self, request: RunRequest) -> bool:
        """Queue ``request`` and return at once; False (nothing queued) when a request of the same key is
        queued or running, or the queue is shutting down."""
        ...

    def busy(self) -> frozenset[str]:
        """The keys of the requests queued or running now."""
        ...

    def shutdown(self, timeout: float) -> frozenset[str]:
        """Stop taking requests, drop the queued ones and wait up to ``timeout`` seconds for the running ones.

        Returns the keys still running when the time is up: their runs are left to finish or to be cut off with
        the process; the engine's write-ahead records make a cut-off run safe to resume on the next turn.
        """
        ...

    def dropped(self) -> list[RunRequest]:
        """The requests ``shutdown`` dropped before they started (the scheduler makes their turns due again)."""
        ...
