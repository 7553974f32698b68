"""The collector is relaxed inside runs and restored after the last one, also when runs overlap or fail."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from calsync.sync.collector import RUN_THRESHOLD, relaxed_collector


@pytest.fixture(autouse=True)
def _thresholds() -> Iterator[tuple[int, int, int]]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield saved
    gc.set_threshold(*saved)


def test_a_run_raises_the_young_threshold_and_restores_it() -> None:
    with relaxed_collector():
        assert gc.get_threshold() == (RUN_THRESHOLD, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_overlapping_runs_restore_only_when_the_last_one_ends() -> None:
    first, second = relaxed_collector(), relaxed_collector()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold()[0] == RUN_THRESHOLD
    second.__exit__(None, None, None)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_failing_run_restores_the_thresholds() -> None:
    with pytest.raises(RuntimeError), relaxed_collector():
        raise RuntimeError("boom")
    assert gc.get_threshold() == (700, 10, 10)


def test_a_program_that_disabled_collection_by_threshold_keeps_it_disabled() -> None:
    gc.set_threshold(0, 10, 10)
    with relaxed_collector():
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold() == (0, 10, 10)


def test_cycles_made_during_a_run_are_still_collected() -> None:
    class Node:
        other: object = None

    with relaxed_collector():
        a, b = Node(), Node()
        a.other, b.other = b, a
        del a, b
        assert gc.collect() >= 2
