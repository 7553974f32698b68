"""Integration ``acme`` on a folder of .ics files with users anna and bob, and items pushed and synced for real.

Shared by the held-deletions, journal and rules page tests: the data the pages show comes from real runs of
``sync_integration`` on a folder calendar, the way the API tests set it up.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from calsync.config import Settings
from calsync.model.item import Item, ItemKind
from calsync.services.hub import BusinessItem, open_hub
from calsync.services.hub_sync import IntegrationRun, JobKind, sync_integration
from calsync.services.integrations import IntegrationInput, open_integrations

START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)


class FolderHub:
    """The integration, its calendars folder and the steps a test takes on it."""

    def __init__(self, settings: Settings, root: Path) -> None:
        self.settings = settings
        self.root = root
        root.mkdir()
        with open_integrations(settings) as service:
            service.add(IntegrationInput("acme", "ACME", "folder", url=str(root)))
            for user in ("anna", "bob"):
                service.add_user("acme", user, user)

    def push(self, user: str, *titles: str) -> None:
        """Store business items (business id = title without blanks, "/" as "-") for ``user``, tomorrow."""
        items = [
            BusinessItem(
                title.replace(" ", "").replace("/", "-"),
                user,
                Item(uid="", kind=ItemKind.EVENT, title=title, start=START, end=START + timedelta(hours=1)),
            )
            for title in titles
        ]
        with open_hub(self.settings) as hub:
            assert {r.status for r in hub.put_items("acme", items)} <= {"created", "updated"}

    def sync(self) -> IntegrationRun:
        run = sync_integration(self.settings, "acme", kind=JobKind.MANUAL, full=True)
        assert not run.failed, [o.message for o in run.outcomes]
        return run

    def files(self, user: str) -> list[Path]:
        folder = self.root / user
        return sorted(folder.glob("*.ics")) if folder.exists() else []

    def empty_calendar(self, user: str) -> None:
        """Delete every item of ``user``'s calendar, as someone clearing it by mistake would."""
        for path in self.files(user):
            path.unlink()

    def deleted(self, business_id: str) -> bool:
        with open_hub(self.settings) as hub:
            return hub.item("acme", business_id).deleted


def held_for_anna(world: FolderHub) -> None:
    """Six of anna's items synced, then her calendar emptied: the guard holds the six deletions."""
    world.push("anna", *(f"Visit {n}" for n in range(6)))
    world.push("bob", "Pump check")
    world.sync()
    world.empty_calendar("anna")
    run = world.sync()
    held = {o.name: o.report.counts()["a.held"] for o in run.outcomes if o.report is not None}
    assert held == {"acme/anna/events": 6, "acme/bob/events": 0}
