"""Syncing an integration (``calsync.services.hub_sync``) on a folder calendar: what a dry run may and may not do."""

from __future__ import annotations

from pathlib import Path

from calsync.config import Settings, load_settings
from calsync.services.hub import BusinessItem, open_hub
from calsync.services.hub_sync import sync_integration
from calsync.services.integrations import IntegrationInput, open_integrations
from calsync.state.store import JobKind
from calsync.sync.plan import ActionKind
from tests.services.hubworld import event


def _folder_integration(tmp_path: Path) -> Settings:
    """``acme`` on the folder ``cal`` with the user ``tech1``, whose calendar (``cal/tech1``) does not exist yet,
    and one business item for that user."""
    config = tmp_path / "calsync.toml"
    config.write_text(f'[state]\nurl = "{tmp_path / "state.db"}"\n', encoding="utf-8")
    settings = load_settings(config)
    (tmp_path / "cal").mkdir()
    with open_integrations(settings) as service:
        service.add(IntegrationInput(name="acme", company="ACME", connection_type="folder", url=str(tmp_path / "cal")))
        service.add_user("acme", "tech1", "tech1")
    with open_hub(settings) as hub:
        hub.put_items("acme", [BusinessItem("A1", "tech1", event("Boiler"))])
    return settings


def test_a_dry_run_creates_no_calendar_and_plans_against_the_empty_one_a_sync_would_make(tmp_path: Path) -> None:
    settings = _folder_integration(tmp_path)
    dry = sync_integration(settings, "acme", kind=JobKind.DRY_RUN, full=True, dry_run=True)
    assert list((tmp_path / "cal").iterdir()) == []
    (outcome,) = dry.outcomes
    assert outcome.report is not None, outcome.message
    assert outcome.b == "folder:tech1 (would create the calendar)"
    assert [(a.kind, a.target.value if a.target else "") for a in outcome.report.planned] == [(ActionKind.CREATE, "b")]
    real = sync_integration(settings, "acme", kind=JobKind.MANUAL, full=True)
    assert [o.b for o in real.outcomes] == ["folder:tech1"]
    assert len(list((tmp_path / "cal" / "tech1").glob("*.ics"))) == 1
    again = sync_integration(settings, "acme", kind=JobKind.DRY_RUN, full=True, dry_run=True)
    assert [(o.b, o.report.planned if o.report else None) for o in again.outcomes] == [("folder:tech1", [])]
