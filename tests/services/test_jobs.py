"""JobService on a real SQLite state database: history, details, status, "sync now", retry and the chart."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calsync.config import Settings, StateSettings
from calsync.errors import ConfigError, NotFound
from calsync.services.jobs import DayCounts, JobService, open_jobs
from calsync.state.admin import SQLAdminStore, open_admin_store
from calsync.state.admin_port import IntegrationRecord, UserRecord
from calsync.state.schedule import SQLScheduleStore, open_schedule_store
from calsync.state.schedule_port import MailboxBackoff, RunNote
from calsync.state.sql import SQLStore
from calsync.state.store import ItemLine, JobKind, JobOutcome


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def schedule(tmp_path: Path, store: SQLStore) -> Iterator[SQLScheduleStore]:
    opened = open_schedule_store(str(tmp_path / "state.db"))
    yield opened
    opened.close()


@pytest.fixture
def admin(tmp_path: Path, store: SQLStore) -> Iterator[SQLAdminStore]:
    opened = open_admin_store(str(tmp_path / "state.db"))
    for name in ("acme", "beta"):
        opened.add_integration(IntegrationRecord(name, "ACME", "caldav", "basic"))
        opened.put_user(name, UserRecord("T1", f"t1@{name}.example.com"))
    yield opened
    opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def woken() -> list[str]:
    return []


@pytest.fixture
def jobs(
    store: SQLStore, schedule: SQLScheduleStore, admin: SQLAdminStore, clock: Clock, woken: list[str]
) -> JobService:
    return JobService(store, schedule, schedule, clock=clock, wake=lambda: woken.append("tick"))


def finished(store: SQLStore, pair: str, outcome: JobOutcome, counts: dict[str, int], message: str = "") -> int:
    job = store.start_job(pair, JobKind.INTERVAL)
    store.finish_job(job, outcome, counts, message)
    return job


def test_history_lists_the_newest_jobs_first_of_all_or_one_integration(jobs: JobService, store: SQLStore) -> None:
    first = finished(store, "acme/T1/events", JobOutcome.COMPLETED, {"b.created": 2})
    second = finished(store, "beta/T1/events", JobOutcome.FAILED, {}, "server down")
    skipped = finished(store, "acme", JobOutcome.SKIPPED, {}, "skipped: still going")
    assert [(v.id, v.integration) for v in jobs.history()] == [(skipped, "acme"), (second, "beta"), (first, "acme")]
    assert [v.id for v in jobs.history("acme")] == [skipped, first]
    assert [v.id for v in jobs.history(limit=1)] == [skipped]
    view = jobs.history("beta")[0]
    assert (view.pair, view.kind, view.outcome, view.message) == (
        "beta/T1/events", JobKind.INTERVAL, JobOutcome.FAILED, "server down",
    )  # fmt: skip
    assert view.finished_at is not None


def test_details_give_the_job_with_its_lines_and_an_unknown_job_is_not_found(jobs: JobService, store: SQLStore) -> None:
    job = store.start_job("acme/T1/events", JobKind.FULL)
    line = ItemLine("uid-1", "b", "create", "failed", message="413 too large", title="Visit")
    store.add_job_lines(job, [line])
    store.finish_job(job, JobOutcome.WARNINGS, {"b.errors": 1})
    details = jobs.details(job)
    assert (details.job.id, details.job.kind, details.job.counts) == (job, JobKind.FULL, {"b.errors": 1})
    assert details.lines == (line,)
    with pytest.raises(NotFound, match="no job 999"):
        jobs.details(999)


def test_status_of_a_never_scheduled_integration_says_it_runs_now(jobs: JobService, clock: Clock) -> None:
    acme, beta = jobs.status()
    assert (acme.name, acme.online, acme.last_run, acme.last_outcome, acme.next_run) == (
        "acme", True, None, None, clock.now,
    )  # fmt: skip
    assert beta.name == "beta"


def test_status_shows_the_last_run_the_next_one_backoffs_and_offline(
    jobs: JobService, schedule: SQLScheduleStore, clock: Clock
) -> None:
    ran = clock.now - timedelta(minutes=3)
    schedule.note_turn("acme", ran, ran + timedelta(minutes=20))
    schedule.note_run("acme", RunNote(ran, JobOutcome.WARNINGS))
    schedule.note_mailboxes("acme", [MailboxBackoff("T1", 2, clock.now + timedelta(minutes=30), "down")], [])
    schedule.note_run("beta", RunNote(ran, JobOutcome.FAILED, failures=1, offline_reason="401 Unauthorized"))
    acme, beta = jobs.status()
    assert (acme.last_run, acme.last_outcome, acme.next_run) == (ran, JobOutcome.WARNINGS, ran + timedelta(minutes=20))
    assert acme.waiting_users == ("T1",)
    assert (beta.online, beta.offline_reason, beta.next_run, beta.failures) == (False, "401 Unauthorized", None, 1)


def test_sync_now_records_a_request_and_wakes_the_scheduler(
    jobs: JobService, schedule: SQLScheduleStore, woken: list[str], clock: Clock
) -> None:
    jobs.sync_now("acme")
    jobs.sync_now("beta", "T1")
    assert [(r.integration, r.business_user, r.requested_at) for r in schedule.requests()] == [
        ("acme", None, clock.now),
        ("beta", "T1", clock.now),
    ]
    assert woken == ["tick", "tick"]
    with pytest.raises(ConfigError, match="no integration called 'nobody'; known: acme, beta"):
        jobs.sync_now("nobody")
    with pytest.raises(ConfigError, match="no user 'T9'"):
        jobs.sync_now("acme", "T9")
    assert len(schedule.requests()) == 2


def test_retry_brings_an_integration_back_online(
    jobs: JobService, schedule: SQLScheduleStore, woken: list[str], clock: Clock
) -> None:
    schedule.note_run("acme", RunNote(clock.now, JobOutcome.FAILED, failures=3, offline_reason="401"))
    jobs.retry("acme")
    status = jobs.status()[0]
    assert (status.online, status.failures, status.backoff_until) == (True, 0, None)
    assert woken == ["tick"]
    with pytest.raises(ConfigError, match="no integration called 'nobody'"):
        jobs.retry("nobody")


def test_the_chart_counts_items_written_and_errors_per_day(jobs: JobService, store: SQLStore, clock: Clock) -> None:
    finished(store, "acme/T1/events", JobOutcome.WARNINGS, {"a.created": 1, "b.updated": 2, "b.errors": 1})
    finished(store, "acme/T1/tasks", JobOutcome.COMPLETED, {"b.deleted": 3, "a.skipped": 9, "unchanged": 50})
    finished(store, "beta/T1/events", JobOutcome.FAILED, {})
    chart = jobs.chart(3)
    today = clock.now.date()
    assert chart == [
        DayCounts(today - timedelta(days=2), 0, 0),
        DayCounts(today - timedelta(days=1), 0, 0),
        DayCounts(today, 6, 2),
    ]
    clock.now += timedelta(days=1)
    assert jobs.chart(1) == [DayCounts(today + timedelta(days=1), 0, 0)]


def test_open_jobs_builds_the_service_from_the_settings(tmp_path: Path, admin: SQLAdminStore) -> None:
    settings = Settings(source=None, state=StateSettings(str(tmp_path / "state.db")))
    with open_jobs(settings) as service:
        assert [s.name for s in service.status()] == ["acme", "beta"]
