"""The cadence rules, row by row: when a turn comes, when it is a full sync, how long a failure waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calsync.scheduler import cadence
from calsync.state.schedule_port import IntegrationPlan, ScheduleEntry

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def plan(interval: int = 20, full: int = 1440) -> IntegrationPlan:
    return IntegrationPlan("acme", interval, full, ("T1",), T0)


def entry(last_turn: datetime | None = None, last_full: datetime | None = None) -> ScheduleEntry:
    return ScheduleEntry("acme", last_turn_at=last_turn, last_full_at=last_full)


def test_a_never_scheduled_integration_has_its_first_turn_at_once_and_it_is_full() -> None:
    assert cadence.turn(plan(), entry(), T0) == cadence.Turn(T0, True, T0 + 20 * MIN)


@pytest.mark.parametrize(
    ("minutes_later", "turn_at"),
    [
        (19, None),  # not due yet
        (20, 20),  # due exactly
        (21, 20),  # a late tick keeps the grid
        (39, 20),  # still within the interval after the due time
        (40, 40),  # away for a whole interval: the turn is now, nothing made up
        (95, 95),
    ],
)
def test_turns_keep_their_grid_unless_the_scheduler_was_away(minutes_later: int, turn_at: int | None) -> None:
    found = cadence.turn(plan(), entry(T0, T0), T0 + minutes_later * MIN)
    assert (found.at if found else None) == (T0 + turn_at * MIN if turn_at is not None else None)
    if found is not None:
        assert found.next_at == found.at + 20 * MIN


@pytest.mark.parametrize(
    ("interval", "full", "since_full", "expected"),
    [
        (20, 0, None, False),  # 0: never, not even the first run
        (20, 0, 10_000, False),
        (20, 1440, None, True),  # never had one
        (20, 1440, 1420, False),
        (20, 1440, 1440, True),  # a day after the last: the same time of day
        (20, 1440, 1441, True),
        (20, 60, 59, False),
        (20, 60, 60, True),
        (20, 5, 0, True),  # shorter than the interval: every run
        (20, 20, 0, True),  # as long as the interval: every run
        (1440, 1440, 0, True),  # the longest of both
        (1, 1440, 1439, False),  # the shortest interval with the longest full-sync interval
        (1, 1440, 1440, True),
    ],
)
def test_full_syncs(interval: int, full: int, since_full: int | None, expected: bool) -> None:
    last_full = None if since_full is None else T0 - since_full * MIN
    assert cadence.wants_full(plan(interval, full), last_full, T0) is expected


@pytest.mark.parametrize(
    ("interval", "failures", "minutes"),
    [
        (20, 0, 0),
        (20, 1, 20),  # a blip costs nothing but the ordinary wait
        (20, 2, 40),
        (20, 3, 80),
        (20, 5, 320),
        (20, 6, 360),  # capped at six hours
        (20, 1000, 360),  # no overflow
        (1, 4, 8),
        (1440, 3, 1440),  # an interval above the cap waits one interval
    ],
)
def test_backoff_doubles_up_to_the_cap(interval: int, failures: int, minutes: int) -> None:
    assert cadence.backoff(plan(interval), failures) == minutes * MIN


def test_a_zero_interval_in_the_database_counts_as_one_minute() -> None:
    assert cadence.interval(plan(0)) == MIN


# -- a host clock that stepped back ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes_later", "turn_at"),
    [
        (-10, None),  # a small step back (or another host's clock): within an interval, the grid holds
        (-20, None),
        (-21, -21),  # the last turn lies more than an interval ahead: only a clock stepped back does that
        (-180, -180),
    ],
)
def test_a_clock_stepped_back_makes_the_turn_due_now(minutes_later: int, turn_at: int | None) -> None:
    # Why: the next turn was the last one plus an interval, so a clock stepped back three hours stopped every
    # turn for three hours
    found = cadence.turn(plan(), entry(T0, T0), T0 + minutes_later * MIN)
    assert (found.at if found else None) == (T0 + turn_at * MIN if turn_at is not None else None)
    if found is not None:  # when the last full sync was is unknown now: this one is full and restarts its day
        assert found.full


def test_a_clock_stepped_back_is_measured_by_the_newest_recorded_time() -> None:
    ran = ScheduleEntry("acme", last_turn_at=T0 - 3 * 60 * MIN, last_run_at=T0)
    assert cadence.clock_step(plan(), ran, T0 - 2 * 60 * MIN) == 2 * 60 * MIN
    assert cadence.clock_step(plan(), ran, T0 - 15 * MIN) == timedelta(0)  # within an interval: no step
    assert cadence.clock_step(plan(), ScheduleEntry("acme"), T0) == timedelta(0)
    assert cadence.moved_back(T0, 60 * MIN) == T0 - 60 * MIN and cadence.moved_back(None, MIN) is None
