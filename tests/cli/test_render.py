"""The summary ``calsync sync`` prints: what it lists besides the counts."""

from __future__ import annotations

import io

from rich.console import Console

from calsync.cli import render
from calsync.errors import ReadOnly
from calsync.services.syncing import PairOutcome
from calsync.state.sql import SQLStore
from calsync.sync.engine import sync_pair
from tests.samples import event
from tests.sync.test_engine import RUN, memories

REFUSED = ReadOnly("a meeting organised by boss@example.com: calsync never changes it", connector="b")


def test_the_summary_names_an_item_its_store_refused_and_why(store: SQLStore) -> None:
    """Counted as skipped (no column of its own), it was in no table at all: a business edit that never reached
    the calendar went unmentioned."""
    spec, a, _b = memories(fail_writes=lambda op, href: REFUSED if op == "update" else None)
    a.put_raw("cal", "e1.ics", event("e1", "Boiler service"))
    sync_pair(spec, store, RUN)
    a.put_raw("cal", "e1.ics", event("e1", "Boiler service moved"))
    report = sync_pair(spec, store, RUN)
    out = io.StringIO()
    render.summary(Console(file=out, width=160), [PairOutcome("mem", a="a", b="b", report=report)], dry_run=False)
    problems = out.getvalue().split("Problems", 1)[1]
    assert "Boiler service moved (e1)" in problems and "boss@example.com" in problems
