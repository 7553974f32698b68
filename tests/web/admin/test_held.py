"""What the admin's "Sync now" result lists for each pair."""

from __future__ import annotations

from calsync.services.hub_sync import IntegrationRun
from calsync.services.syncing import PairOutcome
from calsync.state.store import ItemLine
from calsync.sync.report import Report
from calsync.web.admin.held import shown_pairs


def test_the_result_lists_failed_conflicting_and_refused_items_but_not_rule_skips() -> None:
    report = Report("acme/anna/events")
    report.lines += [
        ItemLine("e1", "b", "update", "error", message="server down"),
        ItemLine("e2", "b", "update", "conflict", message="changed while syncing"),
        ItemLine("e3", "b", "update", "skipped", message="a meeting organised by boss@example.com"),
        ItemLine("e4", "b", "skip", "done", rule="private: not synced"),
        ItemLine("e5", "b", "create", "done"),
    ]
    (shown,) = shown_pairs(IntegrationRun("acme", [PairOutcome("acme/anna/events", "a", "b", report)]))
    assert [(p.item, p.outcome) for p in shown.problems] == [("e1", "error"), ("e2", "conflict"), ("e3", "skipped")]
