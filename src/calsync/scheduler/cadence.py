"""When an integration's turn comes and what it runs: pure functions of its settings, its schedule and the time.

Kept apart from the scheduler's loop so every rule is a row in a table test, with no clock, thread or database:

- a turn comes every ``interval_minutes`` after the previous one. Turns keep to their grid (a tick that comes a
  few seconds late does not push every later turn back) unless the scheduler was away for a whole interval or
  more; then the turn is now and no missed turn is made up;
- a turn is a full sync when ``full_sync_minutes`` is set (0 means never) and at least that long has passed
  since the last full sync started, or there has been none yet; a full-sync interval no longer than the
  interval makes every run full;
- a failing run or mailbox backs off exponentially: after ``n`` failures in a row it waits ``interval * 2**(n-1)``
  (the first failure costs nothing but the ordinary wait, for a blip), at most ``cap``;
- a host clock that stepped back (the schedule recorded a turn or a run more than an interval after now, which no
  turn or run can do) stops nothing: the turn is due now and the grid moves there, the recorded back-offs count
  as moved back by the step, so none lasts longer than meant, and a last full sync recorded ahead makes the turn
  full (how long ago it really was is unknown).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from calsync.state.schedule_port import IntegrationPlan, ScheduleEntry

DEFAULT_BACKOFF_CAP = timedelta(hours=6)
"""The longest a failing mailbox or integration waits between tries."""


@dataclass(frozen=True, slots=True)
class Turn:
    """A turn that came: when it was due (its place on the grid), whether it is a full sync, and the next one."""

    at: datetime
    full: bool
    next_at: datetime


def interval(plan: IntegrationPlan) -> timedelta:
    """The time between turns (at least one minute, whatever the database holds)."""
    return timedelta(minutes=max(1, plan.interval_minutes))


def clock_step(plan: IntegrationPlan, entry: ScheduleEntry, now: datetime) -> timedelta:
    """How far the clock has stepped back, as far as the schedule can tell: how much its newest recorded turn or
    run lies ahead of ``now`` when that is more than an interval (a margin for clocks of other hosts); else 0."""
    recorded = [moment for moment in (entry.last_turn_at, entry.last_run_at) if moment is not None]
    ahead = max(recorded, default=now) - now
    return ahead if ahead > interval(plan) else timedelta(0)


def moved_back(moment: datetime | None, step: timedelta) -> datetime | None:
    """A recorded time as it reads on a clock that stepped back by ``step``."""
    return None if moment is None else moment - step


def next_due(plan: IntegrationPlan, entry: ScheduleEntry, now: datetime) -> datetime:
    """When the next turn is due: one interval after the last, or now for an integration never scheduled or whose
    last turn lies more than an interval ahead (the clock stepped back)."""
    last = entry.last_turn_at
    if last is None or last - now > interval(plan):
        return now
    return last + interval(plan)


def turn(plan: IntegrationPlan, entry: ScheduleEntry, now: datetime) -> Turn | None:
    """The turn that has come at ``now``, or ``None`` when the next one is not due yet."""
    due = next_due(plan, entry, now)
    if now < due:
        return None
    at = due if now - due < interval(plan) else now
    return Turn(at, wants_full(plan, entry.last_full_at, at), at + interval(plan))


def wants_full(plan: IntegrationPlan, last_full_at: datetime | None, at: datetime) -> bool:
    """Whether a turn at ``at`` compares every item in the window (a full sync) instead of only the changes."""
    if plan.full_sync_minutes <= 0:
        return False
    if last_full_at is None or plan.full_sync_minutes <= plan.interval_minutes:
        return True
    if last_full_at - at > interval(plan):  # the clock stepped back: how long ago is unknown, so sync in full
        return True
    return at - last_full_at >= timedelta(minutes=plan.full_sync_minutes)


def backoff(plan: IntegrationPlan, failures: int, cap: timedelta = DEFAULT_BACKOFF_CAP) -> timedelta:
    """How long to wait after ``failures`` failures in a row (none after none)."""
    if failures <= 0:
        return timedelta(0)
    step = interval(plan)
    doublings = min(failures - 1, 32)  # 2**32 intervals is beyond any cap: no overflow, no huge numbers
    longest: timedelta = max(cap, step)
    return min(step * (1 << doublings), longest)
