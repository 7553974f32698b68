"""Scanning in worker processes: the same scans as in this process, whoever makes them, whatever fails."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from collections import deque
from pathlib import Path

import pytest

from calsync.connectors.folder import FolderConnector
from calsync.errors import InvalidItem
from calsync.model.canonical import VCARD, scan
from calsync.model.content import Content
from calsync.state.sql import open_store
from calsync.sync import engine, prescan, scanworker
from calsync.sync.engine import PairSpec, sync_pair
from calsync.sync.observe import Endpoint
from calsync.sync.prescan import Prescanner, default_workers
from tests.samples import contact, event, task

REAL_WORLD = Path(__file__).parents[1] / "data" / "ical"
NO_UID = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:no uid\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"


def texts() -> list[tuple[str, str]]:
    """Varied items: timed, all-day, recurring, private, tasks, contacts, real-world files, and bad ones."""
    made = []
    for n in range(40):
        made.append((event(f"e{n}", f"Visit {n}", day=f"202611{10 + n % 18}", private=n % 7 == 0), "text/calendar"))
        made.append((task(f"t{n}", f"Call {n}"), "text/calendar"))
        made.append((contact(f"c{n}", f"Ada Lovelace{n}"), VCARD))
        made.append((NO_UID, "text/calendar"))
    for path in sorted(REAL_WORLD.glob("*.ics")):
        made.append((path.read_text(encoding="utf-8"), "text/calendar"))
    return made


def contents() -> list[Content]:
    return [Content.from_text(text, media_type) for text, media_type in texts()]


def assert_scanned_as_here(scanned: list[Content]) -> None:
    """Every content holds the scan this process makes of its text; a bad one holds none and raises its error."""
    for content in scanned:
        try:
            expected = scan(content.text, content.media_type)
        except InvalidItem as bad:
            assert content.awaits_scan
            with pytest.raises(InvalidItem, match=str(bad)[:20]):
                content.scanned()
            continue
        assert not content.awaits_scan
        assert content.scanned() == expected


def started(scanner: Prescanner) -> Prescanner:
    """``scanner`` with its workers started and answering."""
    scanner.start()
    answering(scanner)
    return scanner


def answering(scanner: Prescanner) -> None:
    """Wait until each worker has said which code it runs and has scanned a zoned event (which loads the zone
    tables): a loaded machine may take a second or two for that."""
    for worker in scanner._workers:
        deadline = time.monotonic() + 60
        while not worker.verified and time.monotonic() < deadline:
            worker.take_answers()
            time.sleep(0.01)
        assert worker.verified, "a scan worker did not start within a minute"
        worker.send([Content.from_text(event("warm-up", tzid="Europe/Berlin"))])
        worker.flush()
        while worker.sent and time.monotonic() < deadline:
            worker.take_answers()
            time.sleep(0.01)
        assert not worker.sent, "a scan worker did not answer within a minute"


@pytest.fixture
def slow_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process scans slowly, so the workers surely take part (as on a busy machine)."""
    scan_here = prescan._scan_here

    def slowly(chunk: list[Content]) -> None:
        time.sleep(0.005)
        scan_here(chunk)

    monkeypatch.setattr(prescan, "_scan_here", slowly)


def test_workers_and_this_process_together_make_the_scans_this_process_makes(slow_here: None) -> None:
    batch = contents()
    with started(Prescanner(workers=2, min_batch=1, chunk=4)) as scanner:
        scanner.scan(batch)
        assert scanner.scanned_elsewhere > 0
    assert_scanned_as_here(batch)


def test_a_worker_that_dies_leaves_its_chunks_to_this_process(
    slow_here: None, caplog: pytest.LogCaptureFixture
) -> None:
    batch = contents()
    with Prescanner(workers=1, min_batch=1, chunk=4) as scanner:
        scanner.start()
        scanner._workers[0].process.kill()
        with caplog.at_level(logging.WARNING, logger=prescan.__name__):
            scanner.scan(batch)
        assert not scanner._workers
    assert "a scan worker stopped" in caplog.text
    assert_scanned_as_here(batch)


def test_a_worker_that_cannot_start_leaves_everything_to_this_process(
    slow_here: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prescan, "_WORKER", "calsync.no_such_module")  # the worker exits before it reads
    batch = contents()
    with Prescanner(workers=1, min_batch=1, chunk=4) as scanner:
        scanner.scan(batch)
        assert scanner.scanned_elsewhere == 0
    assert_scanned_as_here(batch)


def test_a_worker_that_stops_answering_is_not_waited_for(slow_here: None) -> None:
    batch = contents()
    with started(Prescanner(workers=1, min_batch=1, chunk=4)) as scanner:
        worker = scanner._workers[0]
        worker.process.send_signal(signal.SIGSTOP)  # alive, holding whatever it is sent, answering nothing
        try:
            began = time.monotonic()
            scanner.scan(batch)
            assert time.monotonic() - began < 30
            assert scanner.scanned_elsewhere == 0
        finally:
            worker.process.send_signal(signal.SIGCONT)
    assert worker.process.poll() is not None
    assert_scanned_as_here(batch)


def test_a_worker_running_other_code_is_given_no_work(
    slow_here: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    upgraded = json.loads(json.dumps(scanworker.CODE_HERE))
    upgraded["files"]["model/canonical.py"] = "0" * 32  # as if the file changed after this process imported it
    monkeypatch.setattr(scanworker, "CODE_HERE", upgraded)
    assert_left_to_this_process(caplog, "calsync/model/canonical.py differs from the copy this process imported")


@pytest.mark.parametrize(
    ("program", "says"),
    [
        ("print('Welcome to site customisation'); ", "it wrote b'Welcome"),  # a banner ahead of the hello
        ("import sys; sys.stdout.write('calsync-scan-worker/1 [1, 2]\\n'); sys.stdout.flush(); ", "did not say"),
        ("import sys; sys.stdout.write('calsync-scan-worker/1 not json\\n'); sys.stdout.flush(); ", "cannot read"),
    ],
)
def test_a_worker_that_says_something_else_first_is_given_no_work(
    slow_here: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    program: str,
    says: str,
) -> None:
    monkeypatch.setattr(prescan, "_BOOTSTRAP", program + prescan._BOOTSTRAP)
    assert_left_to_this_process(caplog, says)


def assert_left_to_this_process(caplog: pytest.LogCaptureFixture, says: str) -> None:
    """A worker is started, found wanting before it gets any work, stopped; this process scans everything."""
    batch = contents()
    with caplog.at_level(logging.WARNING, logger=prescan.__name__), Prescanner(workers=1, min_batch=1) as scanner:
        scanner.start()
        process = scanner._workers[0].process
        deadline = time.monotonic() + 60
        while scanner._workers and time.monotonic() < deadline:
            scanner._tend(deque())
            time.sleep(0.01)
        assert not scanner._workers
        scanner.scan(batch)
        assert scanner.scanned_elsewhere == 0
    assert says in caplog.text
    assert process.poll() is not None
    assert_scanned_as_here(batch)


def test_the_runs_of_one_process_share_the_workers_there_may_be() -> None:
    first, second = Prescanner(workers=3), Prescanner(workers=3)
    try:
        first.start()
        second.start()
        assert len(first._workers) + len(second._workers) == prescan._MAX_WORKERS
    finally:
        first.close()
        second.close()
    third = Prescanner(workers=3)
    third.start()
    try:
        assert len(third._workers) == prescan._MAX_WORKERS  # what the others gave back
    finally:
        third.close()


def test_no_worker_without_a_python_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "")
    with Prescanner(workers=2, min_batch=1) as scanner:
        scanner.start()
        assert not scanner._workers
        batch = contents()
        scanner.scan(batch)
    assert_scanned_as_here(batch)


def test_small_batches_start_no_worker_and_are_left_to_the_observer() -> None:
    batch = contents()[:10]
    with Prescanner(workers=1, min_batch=50) as scanner:
        scanner.expect(10)
        scanner.scan(batch)
        assert not scanner._workers
    assert all(content.awaits_scan for content in batch)


def test_closing_ends_the_workers_at_once() -> None:
    scanner = Prescanner(workers=2, min_batch=1)
    scanner.start()
    processes = [worker.process for worker in scanner._workers]
    assert len(processes) == 2
    started = time.perf_counter()
    scanner.close()
    assert time.perf_counter() - started < 1.0
    assert all(process.poll() is not None for process in processes)


@pytest.mark.parametrize(("configured", "expected"), [("0", 0), ("2", 2), (" 3 ", 3), ("-1", 0), ("many", 0)])
def test_the_environment_sets_the_number_of_workers(
    monkeypatch: pytest.MonkeyPatch, configured: str, expected: int
) -> None:
    monkeypatch.setenv(prescan.WORKERS_VARIABLE, configured)
    assert default_workers() == expected


def test_by_default_one_worker_per_spare_processor(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(prescan.WORKERS_VARIABLE, raising=False)
    monkeypatch.setattr(prescan, "_CPU_MAX", tmp_path / "no-cgroup")
    monkeypatch.setattr(prescan, "_CFS_QUOTA", tmp_path / "no-cgroup")
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3, 4, 5, 6, 7}, raising=False)
    assert default_workers() == 3  # at most three: more would mostly wait for this process
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0}, raising=False)
    assert default_workers() == 0


@pytest.mark.parametrize(("quota", "period", "expected"), [("-1", "100000", 3), ("150000", "100000", 1)])
def test_a_cgroup_v1_cpu_quota_bounds_the_workers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, quota: str, period: str, expected: int
) -> None:
    monkeypatch.delenv(prescan.WORKERS_VARIABLE, raising=False)
    (tmp_path / "quota").write_text(quota + "\n", encoding="ascii")
    (tmp_path / "period").write_text(period + "\n", encoding="ascii")
    monkeypatch.setattr(prescan, "_CPU_MAX", tmp_path / "no-v2")
    monkeypatch.setattr(prescan, "_CFS_QUOTA", tmp_path / "quota")
    monkeypatch.setattr(prescan, "_CFS_PERIOD", tmp_path / "period")
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(16)), raising=False)
    assert default_workers() == expected


@pytest.mark.parametrize(("cpu_max", "expected"), [("max 100000\n", 3), ("150000 100000\n", 1), ("100000 100000", 0)])
def test_a_containers_cpu_quota_bounds_the_workers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cpu_max: str, expected: int
) -> None:
    monkeypatch.delenv(prescan.WORKERS_VARIABLE, raising=False)
    (tmp_path / "cpu.max").write_text(cpu_max, encoding="ascii")
    monkeypatch.setattr(prescan, "_CPU_MAX", tmp_path / "cpu.max")
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(16)), raising=False)
    assert default_workers() == expected


def test_a_first_sync_scans_in_workers_and_syncs_every_item(
    tmp_path: Path, slow_here: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[Prescanner] = []

    class Recorded(Prescanner):
        def __init__(self) -> None:
            super().__init__(workers=1, min_batch=8, chunk=4)
            used.append(self)

        def start(self) -> None:
            fresh = not self._workers
            super().start()
            if fresh:
                answering(self)

    monkeypatch.setattr(engine, "Prescanner", Recorded)
    (tmp_path / "a" / "cal").mkdir(parents=True)
    (tmp_path / "b" / "cal").mkdir(parents=True)
    for n in range(60):
        (tmp_path / "a" / "cal" / f"{n}.ics").write_text(event(f"uid-{n}", f"Visit {n}"), encoding="utf-8")
    (tmp_path / "a" / "cal" / "bad.ics").write_text("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", encoding="utf-8")
    store = open_store(tmp_path / "state.db")
    try:
        spec = PairSpec(
            "p",
            Endpoint(FolderConnector(tmp_path / "a"), "cal"),
            Endpoint(FolderConnector(tmp_path / "b"), "cal"),
            window=None,
        )
        report = sync_pair(spec, store)
    finally:
        store.close()
    assert used and used[0].scanned_elsewhere > 0
    assert report.b.created == 60
    assert [line.message for line in report.lines if line.outcome == "error"] == [
        "the calendar holds no VEVENT, VTODO or VJOURNAL"
    ]
    copied = {p.read_bytes().decode() for p in (tmp_path / "b" / "cal").iterdir()}
    assert copied == {event(f"uid-{n}", f"Visit {n}") for n in range(60)}
