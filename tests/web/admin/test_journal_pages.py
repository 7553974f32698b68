"""The journal page through the ASGI transport, on entries written by real runs of a folder integration: the
newest entries, older ones page by page, the filter by business id, the escaped content, "Restore" and the CSRF
refusal."""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import quote

import pytest

from calsync.config import Settings
from calsync.services.hub import open_hub
from calsync.state.business_port import Change, NewJournal
from calsync.web.admin import journal as journal_pages
from tests.web.admin.conftest import Admin
from tests.web.admin.hub_setup import FolderHub

pytestmark = pytest.mark.anyio


@pytest.fixture
def world(settings: Settings, tmp_path: Path) -> FolderHub:
    made = FolderHub(settings, tmp_path / "calendars")
    made.push("anna", "Boiler service", "Pump check")
    made.sync()
    return made


def deleted_in_calendar(world: FolderHub) -> int:
    """Delete the boiler visit from anna's calendar and sync: the deletion reaches the business store. Returns
    the id of the journal entry that recorded it."""
    (boiler,) = [p for p in world.files("anna") if "Boiler service" in p.read_text(encoding="utf-8")]
    boiler.unlink()
    world.sync()
    with open_hub(world.settings) as hub:
        entry = hub.journal_page("acme", "Boilerservice", 1).entries[0]
    assert (entry.side, entry.action.value, entry.rule) == ("business", "deleted", "deleted on B")
    return entry.id


async def test_the_newest_entries_are_listed_with_their_content_escaped(admin: Admin, world: FolderHub) -> None:
    world.push("bob", "<script>alert('x')</script>")
    world.sync()
    page = await admin.get("/admin/integrations/acme/journal")
    assert page.status_code == 200
    rows = re.findall(r'<th scope="row">#(\d+)</th>', page.text)
    assert rows == ["3", "2", "1"]  # newest first
    assert '<a href="/admin/integrations/acme/journal?item=Boilerservice">Boilerservice</a>' in page.text
    assert "<td>created</td>" in page.text
    assert "<td>new on A</td>" in page.text
    assert "<summary>Before and after</summary>" in page.text
    assert "No item before this change." in page.text
    assert re.search(r'<pre class="content">BEGIN:VCALENDAR.*SUMMARY:Boiler service', page.text, re.S)
    assert "<script>" not in page.text
    assert "SUMMARY:&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
    assert 'aria-label="Restore Boilerservice from entry 1"' in page.text
    assert (await admin.get("/admin/integrations/nothing/journal")).status_code == 404


async def test_the_filter_shows_one_items_entries(admin: Admin, world: FolderHub) -> None:
    page = await admin.get("/admin/integrations/acme/journal?item=Pumpcheck")
    assert re.findall(r'journal\?item=(\w+)">', page.text) == ["Pumpcheck"]
    assert 'id="f-item" name="item" value="Pumpcheck"' in page.text
    empty = await admin.get("/admin/integrations/acme/journal?item=nothing")
    assert "No entries for nothing." in empty.text


async def test_older_entries_are_a_page_away_and_the_newest_a_link_back(
    admin: Admin, world: FolderHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_pages, "LIMIT", 1)
    newest = await admin.get("/admin/integrations/acme/journal")
    assert re.findall(r'<th scope="row">#(\d+)</th>', newest.text) == ["2"]
    older_link = '<a href="/admin/integrations/acme/journal?older_than=2" rel="next">Older entries</a>'
    assert newest.text.count(older_link) == 2  # above the entries and below: no tabbing through 100 rows
    assert 'aria-label="Journal pages, above the entries"' in newest.text
    assert "Newest entries" not in newest.text and "<h1>Journal of acme</h1>" in newest.text
    older = await admin.get("/admin/integrations/acme/journal?older_than=2")
    assert re.findall(r'<th scope="row">#(\d+)</th>', older.text) == ["1"]
    assert "Older entries" not in older.text
    assert '<a href="/admin/integrations/acme/journal">Newest entries</a>' in older.text
    assert "<h1>Journal of acme: entries older than #2</h1>" in older.text  # which page this is, in words
    assert "Journal entries older than #2, newest first</caption>" in older.text
    beyond = await admin.get("/admin/integrations/acme/journal?older_than=1")
    assert "No entries older than #1." in beyond.text
    for bogus in ("²", "-1", "x", "9" * 40):  # no entry number: the newest page, never an error
        page = await admin.get(f"/admin/integrations/acme/journal?older_than={bogus}")
        assert page.status_code == 200 and re.findall(r'<th scope="row">#(\d+)</th>', page.text) == ["2"]


async def test_an_items_older_entries_keep_to_that_item(
    admin: Admin, world: FolderHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    deleted_in_calendar(world)  # entry 3: Boilerservice deleted
    monkeypatch.setattr(journal_pages, "LIMIT", 1)
    page = await admin.get("/admin/integrations/acme/journal?item=Boilerservice")
    assert re.findall(r'<th scope="row">#(\d+)</th>', page.text) == ["3"]
    link = "/admin/integrations/acme/journal?item=Boilerservice&amp;older_than=3"
    assert f'<a href="{link}" rel="next">Older entries</a>' in page.text
    older = await admin.get("/admin/integrations/acme/journal?item=Boilerservice&older_than=3")
    assert re.findall(r'<th scope="row">#(\d+)</th>', older.text) == ["1"]
    assert '<a href="/admin/integrations/acme/journal?item=Boilerservice">Newest entries</a>' in older.text


async def test_the_links_between_pages_keep_an_item_id_that_needs_encoding(
    admin: Admin, world: FolderHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = "a&b #1+ü"
    with open_hub(world.settings) as hub:
        hub.store.record("acme", [_journaled(odd), _journaled("other"), _journaled(odd)])
    monkeypatch.setattr(journal_pages, "LIMIT", 1)
    path = "/admin/integrations/acme/journal"
    first = await admin.get(f"{path}?item={quote(odd, safe='')}")
    (older,) = set(re.findall(r'<a href="([^"]+)" rel="next">Older entries</a>', first.text))
    second = await admin.get(html.unescape(older))
    assert re.findall(r'<td><a href="[^"?]+\?item=([^"]+)">', second.text) == [quote(odd, safe="")]
    (newest,) = set(re.findall(r'<a href="([^"]+)">Newest entries</a>', second.text))
    assert html.unescape(newest) == f"{path}?item={quote(odd, safe='')}"
    assert (await admin.get(html.unescape(newest))).text.count('<th scope="row">#') == 1


def _journaled(business_id: str) -> NewJournal:
    return NewJournal(business_id, "anna", "calendar", Change.UPDATED, "changed on B", "p", "text/calendar", "", "")


async def test_restore_brings_a_deleted_item_back_and_the_next_sync_writes_it(admin: Admin, world: FolderHub) -> None:
    entry = deleted_in_calendar(world)
    assert world.deleted("Boilerservice")
    restored = await admin.post(f"/admin/integrations/acme/journal/{entry}/restore")
    assert restored.status_code == 303
    assert restored.headers["location"] == f"/admin/integrations/acme/journal?item=Boilerservice&restored={entry}"
    assert not world.deleted("Boilerservice")
    page = await admin.get(restored.headers["location"])
    assert f"The item was restored from entry {entry}" in page.text
    assert "<td>restored</td>" in page.text
    world.sync()
    assert any("Boiler service" in p.read_text(encoding="utf-8") for p in world.files("anna"))
    assert "restored=abc" not in (await admin.get("/admin/integrations/acme/journal?restored=abc")).text
    assert "was restored" not in (await admin.get("/admin/integrations/acme/journal?restored=abc")).text


async def test_an_unknown_entry_cannot_be_restored(admin: Admin, world: FolderHub) -> None:
    answer = await admin.post("/admin/integrations/acme/journal/999/restore")
    assert answer.status_code == 404
    assert "no journal entry 999 in integration &#39;acme&#39;" in answer.text


async def test_a_restore_without_the_sessions_token_is_refused(admin: Admin, world: FolderHub) -> None:
    entry = deleted_in_calendar(world)
    forged = await admin.client.post(f"/admin/integrations/acme/journal/{entry}/restore", data={"csrf": "forged"})
    assert forged.status_code == 403
    assert world.deleted("Boilerservice")


async def test_the_largest_entry_number_there_can_be_is_a_page_and_one_more_is_none(
    admin: Admin, world: FolderHub
) -> None:
    largest = await admin.get(f"/admin/integrations/acme/journal?older_than={2**63 - 1}")
    assert "entries older than #9223372036854775807" in largest.text  # 19 digits: an entry id, all entries older
    beyond = await admin.get(f"/admin/integrations/acme/journal?older_than={2**63}")
    assert beyond.status_code == 200 and "<h1>Journal of acme</h1>" in beyond.text  # no entry: the newest page
