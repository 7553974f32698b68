"""The in-process JobQueue on real threads: one run per key, runs side by side, a bounded shutdown."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from calsync.jobs.inprocess import InProcessQueue
from calsync.jobs.queue import RunRequest
from calsync.state.store import JobKind


class Gated:
    """A handler that records what it ran and holds each run until the test lets it go."""

    def __init__(self) -> None:
        self.started: list[RunRequest] = []
        self.finished: list[RunRequest] = []
        self.release = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, request: RunRequest) -> None:
        with self.lock:
            self.started.append(request)
        self.release.wait(10)
        if request.integration == "broken":
            raise RuntimeError("a bug in the handler")
        with self.lock:
            self.finished.append(request)


def run(name: str, kind: JobKind = JobKind.INTERVAL) -> RunRequest:
    return RunRequest(name, kind)


def wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


@pytest.fixture
def handler() -> Iterator[Gated]:
    gated = Gated()
    yield gated
    gated.release.set()


def test_a_key_queued_or_running_is_refused(handler: Gated) -> None:
    queue = InProcessQueue(handler, workers=2)
    assert queue.submit(run("acme")) is True
    wait_for(lambda: len(handler.started) == 1)
    assert queue.submit(run("acme", JobKind.MANUAL)) is False
    assert queue.busy() == {"acme"}
    handler.release.set()
    wait_for(lambda: not queue.busy())
    assert queue.submit(run("acme", JobKind.MANUAL)) is True
    wait_for(lambda: len(handler.finished) == 2)
    assert queue.shutdown(5) == frozenset()
    assert [r.kind for r in handler.finished] == [JobKind.INTERVAL, JobKind.MANUAL]


def test_different_keys_run_side_by_side_up_to_the_worker_count(handler: Gated) -> None:
    queue = InProcessQueue(handler, workers=2)
    for name in ("a", "b", "c"):
        assert queue.submit(run(name))
    wait_for(lambda: len(handler.started) == 2)
    time.sleep(0.05)
    assert len(handler.started) == 2  # the third waits for a worker
    assert queue.busy() == {"a", "b", "c"}
    handler.release.set()
    wait_for(lambda: len(handler.finished) == 3)
    queue.shutdown(5)


def test_a_handler_that_raises_does_not_kill_its_worker(handler: Gated, caplog: pytest.LogCaptureFixture) -> None:
    queue = InProcessQueue(handler, workers=1)
    handler.release.set()
    queue.submit(run("broken"))
    wait_for(lambda: not queue.busy())
    queue.submit(run("acme"))
    wait_for(lambda: [r.integration for r in handler.finished] == ["acme"])
    assert "the run of broken failed unexpectedly" in caplog.text
    queue.shutdown(5)


def test_shutdown_waits_for_running_runs_and_drops_queued_ones(handler: Gated) -> None:
    queue = InProcessQueue(handler, workers=1)
    queue.submit(run("a"))
    queue.submit(run("b"))
    wait_for(lambda: len(handler.started) == 1)
    threading.Timer(0.1, handler.release.set).start()
    assert queue.shutdown(5) == frozenset()
    assert [r.integration for r in handler.finished] == ["a"]
    assert queue.submit(run("c")) is False
    assert queue.busy() == frozenset()


def test_shutdown_gives_up_after_its_bound_and_names_what_still_runs(handler: Gated) -> None:
    queue = InProcessQueue(handler, workers=2)
    queue.submit(run("slow"))
    wait_for(lambda: len(handler.started) == 1)
    began = time.monotonic()
    assert queue.shutdown(0.2) == {"slow"}
    assert 0.15 < time.monotonic() - began < 2


def test_at_least_one_worker() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        InProcessQueue(lambda request: None, workers=0)


def test_shutdown_tells_which_queued_requests_it_dropped(handler: Gated) -> None:
    queue = InProcessQueue(handler, workers=1)
    first, second = run("a"), run("b")
    assert queue.submit(first) and queue.submit(second)
    wait_for(lambda: len(handler.started) == 1)
    assert queue.shutdown(0.1) == {first.key}
    assert queue.dropped() == [second]
