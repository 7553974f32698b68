"""The journal through the hub service: pages of at most 1,000 entries, each naming the ``older_than`` of the next,
and none where no older entry is left (a last page that happens to be full included)."""

from __future__ import annotations

from pathlib import Path

import pytest

from calsync.services.hub import JOURNAL_PAGE, HubService
from calsync.state.business_port import Change, NewJournal
from tests.services.hubworld import HubWorld, make_world


@pytest.fixture
def world(tmp_path: Path) -> HubWorld:
    return make_world(tmp_path)


def _write(hub: HubService, count: int, business_id: str = "A1") -> None:
    entry = NewJournal(business_id, "tech1", "calendar", Change.UPDATED, "changed on B", "p", "text/calendar", None, "")
    hub.store.record("acme", [entry] * count)


def test_pages_name_the_next_one_until_none_is_left(world: HubWorld) -> None:
    with world.hub() as hub:  # type: ignore[attr-defined]
        _write(hub, 6)
        everything = [e.id for e in hub.journal_page("acme").entries]
        seen: list[int] = []
        older_than = None
        pages = 0
        while True:
            page = hub.journal_page("acme", None, 3, older_than)
            seen += [e.id for e in page.entries]
            pages += 1
            if page.older is None:
                break
            older_than = page.older
        assert pages == 2  # 6 entries, 3 to a page: the second page is full and still the last
        assert seen == everything


def test_a_page_is_at_most_the_largest_page_and_an_items_pages_hold_that_item(world: HubWorld) -> None:
    with world.hub() as hub:  # type: ignore[attr-defined]
        _write(hub, JOURNAL_PAGE + 1)
        _write(hub, 2, "B2")
        first = hub.journal_page("acme", None, 5000)
        assert len(first.entries) == JOURNAL_PAGE and first.older == first.entries[-1].id
        assert len(hub.journal_page("acme", None, 5000, first.older).entries) == 3
        item = hub.journal_page("acme", "B2", 1)
        assert [e.business_id for e in item.entries] == ["B2"] and item.older is not None
        last = hub.journal_page("acme", "B2", 1, item.older)
        assert [e.business_id for e in last.entries] == ["B2"] and last.older is None
