"""The held mass deletions page through the ASGI transport, on deletions really held by a folder integration's run:
listing per user, approving and rejecting (each a real run), and the CSRF refusal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from calsync.config import Settings
from calsync.services.hub_sync import held_deletions
from tests.web.admin.conftest import Admin
from tests.web.admin.hub_setup import FolderHub, held_for_anna

pytestmark = pytest.mark.anyio


@pytest.fixture
def world(settings: Settings, tmp_path: Path) -> FolderHub:
    return FolderHub(settings, tmp_path / "calendars")


def counts_of(page: str, pair: str, side: str) -> list[str]:
    """The counts row of ``side`` (Business or Calendar) in the table of ``pair`` on an outcome page."""
    table = page.split(f"<h2>{pair} ", 1)[1].split("</table>", 1)[0]
    row = re.search(rf'<th scope="row">{side}</th>((?:<td>\d+</td>)+)</tr>', table)
    assert row is not None, table
    return re.findall(r"<td>(\d+)</td>", row.group(1))


async def test_nothing_held_and_an_unknown_integration(admin: Admin, world: FolderHub) -> None:
    page = await admin.get("/admin/integrations/acme/held")
    assert page.status_code == 200
    assert "No deletions are held." in page.text
    assert 'href="/admin/integrations/acme/held" aria-current="page"' in page.text
    assert (await admin.get("/admin/integrations/nothing/held")).status_code == 404
    assert (await admin.post("/admin/integrations/nothing/held/approve")).status_code == 404


async def test_the_held_deletions_are_listed_per_user_with_their_buttons(admin: Admin, world: FolderHub) -> None:
    held_for_anna(world)
    page = await admin.get("/admin/integrations/acme/held")
    assert page.status_code == 200
    assert "anna: 6 deletions held" in page.text
    assert "bob:" not in page.text
    rows = re.findall(r'<th scope="row">(Visit \d)<br><span class="small">(\S+)</span></th>', page.text)
    assert rows == [(f"Visit {n}", f"Visit{n}@acme") for n in range(6)]
    assert "<td>deletes it in business</td>" in page.text  # the guard holds deletions of business items
    assert "deleted on B; held by the mass-deletion guard" in page.text
    assert 'aria-label="Approve the deletions held for anna"' in page.text
    assert 'aria-label="Reject the deletions held for anna"' in page.text
    assert '<input type="hidden" name="user" value="anna">' in page.text
    assert "may take a while" in page.text
    assert "Approve all" not in page.text  # one user's deletions: the per-user buttons are enough


async def test_rejecting_creates_the_items_again_and_shows_the_run(
    admin: Admin, world: FolderHub, settings: Settings
) -> None:
    held_for_anna(world)
    answer = await admin.post("/admin/integrations/acme/held/reject", {"user": "anna"})
    assert answer.status_code == 200
    assert "<h1>Held deletions rejected for anna: acme</h1>" in answer.text
    assert "the held items were created again" in answer.text
    assert counts_of(answer.text, "acme/anna/events", "Calendar")[0] == "6"  # created again in the calendar
    assert "acme/bob/events" not in answer.text  # only anna's pairs ran
    assert len(world.files("anna")) == 6
    assert not any(world.deleted(f"Visit{n}") for n in range(6))
    assert held_deletions(settings, "acme") == []
    assert "No deletions are held." in (await admin.get("/admin/integrations/acme/held")).text


async def test_approving_for_all_makes_the_deletions(admin: Admin, world: FolderHub, settings: Settings) -> None:
    held_for_anna(world)
    answer = await admin.post("/admin/integrations/acme/held/approve")
    assert answer.status_code == 200
    assert "<h1>Held deletions approved: acme</h1>" in answer.text
    assert counts_of(answer.text, "acme/anna/events", "Business")[2] == "6"  # created, updated, deleted …
    assert '<span class="badge ok">Completed</span>' in answer.text
    assert "acme/bob/events" in answer.text
    assert all(world.deleted(f"Visit{n}") for n in range(6))
    assert not world.deleted("Pumpcheck")
    assert held_deletions(settings, "acme") == []


async def test_a_post_without_the_sessions_token_is_refused_and_runs_nothing(
    admin: Admin, world: FolderHub, settings: Settings
) -> None:
    held_for_anna(world)
    for path in ("/admin/integrations/acme/held/approve", "/admin/integrations/acme/held/reject"):
        forged = await admin.client.post(path, data={"csrf": "forged", "user": "anna"})
        assert forged.status_code == 403
        assert (await admin.client.post(path, data={"user": "anna"})).status_code == 403
    assert len(held_deletions(settings, "acme")) == 6
    assert not any(world.deleted(f"Visit{n}") for n in range(6))


async def test_an_unknown_user_is_said_plainly(admin: Admin, world: FolderHub) -> None:
    answer = await admin.post("/admin/integrations/acme/held/approve", {"user": "nobody"})
    assert answer.status_code == 422
    assert "&#39;nobody&#39; is not a user of integration &#39;acme&#39;" in answer.text
