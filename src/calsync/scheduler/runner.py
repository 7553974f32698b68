"""Running one request on a worker and recording what came of it in the schedule.

The scheduler decides *when*; ``RunRecorder`` is what a worker does with a ``RunRequest``: it syncs the
integration through the ``IntegrationRunner`` port (each pair records its own job through the engine) and then
records, per integration and per mailbox, what the scheduler needs to decide the next turns:

- a mailbox (business user) whose pairs failed backs off exponentially; one whose pairs all ran clears its back-off;
- a run in which every pair failed, or that could not start at all, backs the whole integration off;
- a run whose credentials were refused (an ``AuthError``) with no pair getting through marks the integration
  offline, so it stops knocking on the server until an admin edits it or asks for a retry;
- a pair held by another run (``PairLocked``, e.g. a ``calsync sync`` from the command line) is skipped, not failed;
- back-offs count from the turn the run was due at (a run that waited for a worker does not wait longer for it),
  and a full sync of a turn counts as the integration's full sync even when the scheduler left out mailboxes
  backing off (else one failing mailbox would make every turn a full sync).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from calsync.errors import AuthError, CalsyncError, PairLocked
from calsync.jobs.queue import RunRequest
from calsync.scheduler import cadence
from calsync.services.syncing import PairOutcome
from calsync.state.schedule_port import IntegrationPlan, MailboxBackoff, RunNote, ScheduleStore
from calsync.state.store import JobKind, JobOutcome

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class IntegrationResult(Protocol):
    """What a run of one integration returns: one outcome per pair (``<integration>/<user>/<kind>``)."""

    @property
    def integration(self) -> str: ...

    @property
    def outcomes(self) -> Sequence[PairOutcome]: ...

    @property
    def failed(self) -> bool:
        """Whether any pair failed."""
        ...

    @property
    def auth_failed(self) -> bool:
        """Whether a pair failed because the server refused the credentials."""
        ...


class IntegrationRunner(Protocol):
    """Syncs every pair of one integration (of ``users`` only, when given) once; the engine records the jobs."""

    def __call__(
        self, integration: str, *, kind: JobKind, full: bool, users: Sequence[str] | None = None
    ) -> IntegrationResult: ...


def pair_user(pair: str) -> str:
    """The business user of a pair named ``<integration>/<business user>/<collection kind>``."""
    _, _, rest = pair.partition("/")
    user, _, _ = rest.rpartition("/")
    return user or rest


@dataclass(frozen=True, slots=True)
class _Tally:
    """A run's pair outcomes sorted out."""

    ran: tuple[PairOutcome, ...]
    failed: tuple[PairOutcome, ...]
    refused: tuple[PairOutcome, ...]
    locked: int

    @classmethod
    def of(cls, outcomes: Sequence[PairOutcome]) -> _Tally:
        locked = [o for o in outcomes if isinstance(o.error, PairLocked)]
        failed = tuple(o for o in outcomes if o.failed and not isinstance(o.error, PairLocked))
        refused = tuple(o for o in failed if isinstance(o.error, AuthError))
        return cls(tuple(o for o in outcomes if not o.failed), failed, refused, len(locked))

    def outcome(self) -> JobOutcome:
        """Failed when nothing got through, completed with warnings when part did or a report warned."""
        if self.failed:
            return JobOutcome.WARNINGS if self.ran else JobOutcome.FAILED
        if not self.ran and self.locked:
            return JobOutcome.SKIPPED
        warned = any(o.report is not None and o.report.outcome is JobOutcome.WARNINGS for o in self.ran)
        return JobOutcome.WARNINGS if warned else JobOutcome.COMPLETED


class RunRecorder:
    """The ``RunHandler`` of the scheduler's queue: run the request, record its consequences. Thread-safe."""

    def __init__(self, runner: IntegrationRunner, schedule: ScheduleStore, *, clock: Clock, cap: timedelta) -> None:
        self._runner = runner
        self._schedule = schedule
        self._clock = clock
        self._cap = cap

    def __call__(self, request: RunRequest) -> None:
        """Run ``request``; never raises for a failed run (that is recorded), only for a failing state store."""
        started = self._clock()
        try:
            result = self._runner(request.integration, kind=request.kind, full=request.full, users=request.users)
        except Exception as exc:  # the run could not start: recorded as the integration's failure
            logger.warning("run of %s failed: %s", request.integration, _plain(exc))
            self._record_failure(request, started, exc)
            return
        finally:
            self._schedule.drop_requests(request.request_ids)
        self._record(request, started, _Tally.of(result.outcomes))

    def _record(self, request: RunRequest, started: datetime, tally: _Tally) -> None:
        plan = self._plan(request.integration)
        entry = self._schedule.entry(request.integration)
        since = _backoff_base(request, started)
        self._note_mailboxes(plan, since, tally)
        outcome = tally.outcome()
        failures, until, reason = entry.failures, entry.backoff_until, entry.offline_reason
        # A run of some users (sync now of one user, a notification) speaks for their mailboxes only: one refused
        # mailbox must not take the whole integration offline, nor one good one clear its back-off.
        whole = not request.users or set(plan.users) <= set(request.users)
        if outcome is not JobOutcome.SKIPPED and whole:  # (every pair held by another run: nothing learnt)
            failures = entry.failures + 1 if outcome is JobOutcome.FAILED else 0
            until = since + cadence.backoff(plan, failures, self._cap) if failures else None
            reason = _plain(tally.refused[0].error) if tally.refused and not tally.ran else ""
        turn = request.due_at is not None  # the scheduler's turn: its users are all but those backing off
        full = (whole or turn) and request.full and outcome in (JobOutcome.COMPLETED, JobOutcome.WARNINGS)
        note = RunNote(
            started_at=started,
            outcome=outcome,
            failures=failures,
            backoff_until=until,
            full_at=(request.due_at or started) if full else None,
            offline_reason=reason,
        )
        self._schedule.note_run(request.integration, note)
        if reason and entry.online:
            logger.warning("integration %s is offline until its credentials are fixed: %s", plan.name, reason)
        level = logging.WARNING if outcome is JobOutcome.FAILED else logging.INFO
        logger.log(level, "run of %s (%s) ended: %s", request.integration, request.kind.value, outcome.value)

    def _note_mailboxes(self, plan: IntegrationPlan, since: datetime, tally: _Tally) -> None:
        before = self._schedule.backoffs(plan.name)
        errors = {pair_user(o.name): o.message for o in tally.failed}
        backoffs = []
        for user, error in errors.items():
            failures = before[user].failures + 1 if user in before else 1
            backoffs.append(MailboxBackoff(user, failures, since + cadence.backoff(plan, failures, self._cap), error))
        succeeded = sorted({pair_user(o.name) for o in tally.ran} - errors.keys())
        self._schedule.note_mailboxes(plan.name, backoffs, succeeded)

    def _record_failure(self, request: RunRequest, started: datetime, exc: Exception) -> None:
        plan = self._plan(request.integration)
        entry = self._schedule.entry(request.integration)
        failures = entry.failures + 1
        note = RunNote(
            started_at=started,
            outcome=JobOutcome.FAILED,
            failures=failures,
            backoff_until=_backoff_base(request, started) + cadence.backoff(plan, failures, self._cap),
            offline_reason=_plain(exc) if isinstance(exc, AuthError) else entry.offline_reason,
        )
        self._schedule.note_run(request.integration, note)

    def _plan(self, integration: str) -> IntegrationPlan:
        """The integration's settings now; the defaults when it was removed while its run went on."""
        for plan in self._schedule.plans():
            if plan.name == integration:
                return plan
        return IntegrationPlan(integration, 20, 0, (), self._clock())


def _backoff_base(request: RunRequest, started: datetime) -> datetime:
    """Where a back-off counts from: the run's turn on the grid, or its start when that was earlier (a manual run
    has no turn). Counted from a start after the turn, one failure would cost the next turn too."""
    return started if request.due_at is None else min(started, request.due_at)


def _plain(exc: BaseException | None) -> str:
    """An error in one line; an unexpected (non-calsync) one named by its type."""
    if exc is None:
        return ""
    text = str(exc) if isinstance(exc, CalsyncError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())
