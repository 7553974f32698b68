"""A hub pair's run as ``PairRunner`` builds it: here, a preview's stand-in for a calendar not made yet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from calsync.config import Settings, StateSettings
from calsync.sync.plan import ActionKind
from tests.services.test_connections import PASSWORDS, Dav, users_radicale
from tests.services.test_hub_binding import _appointments_of, _push, _run


@pytest.fixture(scope="module")
def dav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dav]:
    with users_radicale(tmp_path_factory.mktemp("radicale-stand-in")) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(source=None, state=StateSettings(url=str(tmp_path / "state.db")))


def test_a_preview_of_a_user_whose_calendar_was_deleted_plans_what_the_sync_does(dav: Dav, settings: Settings) -> None:
    """The preview's stand-in for the calendar a sync would make is named as the sync will name it: calsync's own
    calendar, made again at the same path, so bound as before (found empty: its deletions held)."""
    _appointments_of(settings, dav, "bob")
    _push(settings, "B1", "Boiler service")
    _push(settings, "B2", "Pump repair")
    first = _run(settings)
    assert first.b.created == 2, first
    gone = httpx.request("DELETE", f"{dav.url}bob/calsync-events/", auth=("bob", PASSWORDS["bob"]))
    assert gone.status_code in (200, 204)
    dry = _run(settings, dry_run=True)
    real = _run(settings)
    planned = [(a.kind, a.ident, a.target) for a in dry.planned]
    assert planned == [(a.kind, a.ident, a.target) for a in real.planned], (dry.warnings, real.warnings)
    assert {kind for kind, _, _ in planned} == {ActionKind.HOLD}, planned
