"""Carrying out a plan: one state transaction per batch of writes, and crashes inside a batch still settle."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from calsync.connectors.memory import MemoryConnector
from calsync.model.content import Content
from calsync.state.sql import SQLStore
from calsync.state.tables.sync import links
from calsync.sync.actions import Written
from calsync.sync.engine import PairSpec, RunOptions, sync_pair
from calsync.sync.observe import Endpoint
from tests.samples import event

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


def pair(count: int) -> tuple[PairSpec, MemoryConnector, MemoryConnector]:
    a, b = MemoryConnector("a"), MemoryConnector("b")
    a.make_collection("cal")
    b.make_collection("cal")
    for i in range(count):
        a.create("cal", Content.from_text(event(f"e{i:03d}", day="20261123")), f"e{i:03d}")
    return PairSpec("mem", Endpoint(a, "cal"), Endpoint(b, "cal")), a, b


def link_statements(store: SQLStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The row counts of every statement that writes links, as the run sends them."""
    sent: list[int] = []
    original = store._db.upsert_many

    def counting(conn: object, table: object, keys: object, rows: list[object]) -> None:
        if table is links and rows:  # no rows: no statement
            sent.append(len(rows))
        original(conn, table, keys, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(store._db, "upsert_many", counting)
    return sent


def test_each_batch_is_one_statement_holding_its_intents_and_the_links_of_the_batch_before(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, _a, b = pair(45)
    sent = link_statements(store, monkeypatch)
    report = sync_pair(spec, store, RunOptions(now=NOW, checkpoint_every=20))
    assert report.b.created == 45 and len(b.list("cal", None)) == 45
    assert sent == [20, 20 + 20, 5 + 20, 5]  # intents of batch 1; intents of 2 with links of 1; ...; last links
    with store.open_pair("mem") as state:
        assert all(link.pending is None for link in state.links().values())
    assert sync_pair(spec, store, RunOptions(now=NOW)).writes == 0


def test_a_crash_in_a_later_batch_keeps_the_links_of_the_batches_before(store: SQLStore) -> None:
    spec, _a, b = pair(45)
    writes = 0

    def crash_in_the_third_batch(_written: Written) -> None:
        nonlocal writes
        writes += 1
        if writes == 41:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sync_pair(spec, store, RunOptions(now=NOW, checkpoint_every=20, after_write=crash_in_the_third_batch))
    with store.open_pair("mem") as state:
        recorded = state.links()
    assert sum(link.pending is None for link in recorded.values()) == 40  # batches 1 and 2, committed
    assert sum(link.pending is not None for link in recorded.values()) == 5  # batch 3: intents only
    report = sync_pair(spec, store, RunOptions(now=NOW))
    assert len(b.list("cal", None)) == 45 and report.b.created == 4  # the one written before the crash is settled
    assert sync_pair(spec, store, RunOptions(now=NOW)).writes == 0


def test_writing_is_reported_every_fifty_writes_and_at_the_end_whatever_the_batch(store: SQLStore) -> None:
    spec, _a, _b = pair(120)
    calls: list[tuple[str, int, int]] = []
    options = RunOptions(now=NOW, checkpoint_every=500, progress=lambda *call: calls.append(call))
    sync_pair(spec, store, options)
    assert [(done, total) for phase, done, total in calls if phase == "writing"] == [(50, 120), (100, 120), (120, 120)]
