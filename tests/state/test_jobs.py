"""Jobs of the SQL state store: a run's record, its detail lines, listing and pruning, on both backends."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from calsync.errors import StateError
from calsync.state.sql import SQLStore
from calsync.state.store import ItemLine, JobKind, JobOutcome
from tests.state.conftest import Backend


def test_a_job_records_its_run(store: SQLStore) -> None:
    before = datetime.now(UTC)
    job = store.start_job("p", JobKind.FULL)
    [running] = store.jobs()
    assert (running.id, running.pair, running.kind, running.outcome) == (
        job,
        "p",
        JobKind.FULL,
        JobOutcome.RUNNING,
    )
    assert running.finished_at is None
    assert running.started_at.tzinfo is UTC
    assert before - timedelta(seconds=5) <= running.started_at <= datetime.now(UTC) + timedelta(seconds=5)

    first = [ItemLine("a", "b", "create", "ok", rule="order line", href="/b/a.ics")]
    second = [ItemLine("b", "a", "update", "failed", message="HTTP 412"), ItemLine("c", "b", "delete", "ok")]
    store.add_job_lines(job, first)
    store.add_job_lines(job, [])
    store.add_job_lines(job, second)
    store.finish_job(job, JobOutcome.WARNINGS, {"created_b": 1, "failed": 1}, "one item failed")

    [finished] = store.jobs("p")
    assert finished.outcome is JobOutcome.WARNINGS
    assert dict(finished.counts) == {"created_b": 1, "failed": 1}
    assert finished.message == "one item failed"
    assert finished.finished_at is not None
    assert finished.finished_at.tzinfo is UTC
    assert finished.started_at <= finished.finished_at
    assert list(store.job_lines(job)) == first + second


def test_jobs_are_listed_newest_first_by_pair_and_limited(store: SQLStore) -> None:
    ids = [store.start_job(pair, JobKind.INTERVAL) for pair in ("p", "q", "p", "q", "p")]
    assert [job.id for job in store.jobs()] == ids[::-1]
    assert [job.id for job in store.jobs("p")] == [ids[4], ids[2], ids[0]]
    assert [job.id for job in store.jobs("q", limit=1)] == [ids[3]]
    assert store.jobs("nobody") == []


def test_many_job_lines_come_back_in_order(store: SQLStore) -> None:
    job = store.start_job("p", JobKind.MANUAL)
    lines = [ItemLine(f"item-{n}", "b", "create", "ok") for n in range(2_500)]
    store.add_job_lines(job, lines[:1_200])
    store.add_job_lines(job, lines[1_200:])
    assert list(store.job_lines(job)) == lines
    assert list(store.job_lines(job + 1)) == []


def test_an_unknown_job_is_a_state_error(store: SQLStore) -> None:
    with pytest.raises(StateError, match="no job 4242"):
        store.finish_job(4242, JobOutcome.FAILED, {})
    with pytest.raises(StateError):
        store.add_job_lines(4242, [ItemLine("a", "b", "create", "ok")])


def test_prune_deletes_finished_jobs_older_than_the_cutoff_with_their_lines(backend: Backend, store: SQLStore) -> None:
    old = store.start_job("p", JobKind.INTERVAL)
    store.add_job_lines(old, [ItemLine("a", "b", "create", "ok"), ItemLine("c", "b", "create", "ok")])
    store.finish_job(old, JobOutcome.COMPLETED, {"created_b": 2})
    time.sleep(0.01)
    cutoff = datetime.now(UTC)
    time.sleep(0.01)
    new = store.start_job("p", JobKind.INTERVAL)
    store.add_job_lines(new, [ItemLine("d", "b", "create", "ok")])
    store.finish_job(new, JobOutcome.COMPLETED, {"created_b": 1})
    running = store.start_job("p", JobKind.FULL)

    assert store.prune_jobs(cutoff) == 1
    assert [job.id for job in store.jobs()] == [running, new]
    assert backend.scalar("SELECT count(*) FROM job_lines") == 1
    assert store.prune_jobs(datetime.now(UTC) + timedelta(days=1)) == 1
    assert [job.id for job in store.jobs()] == [running]
