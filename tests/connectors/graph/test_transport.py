"""What every request to Graph carries, whatever else it asks for.

Why: Graph answers with mutable ids unless a request asks for immutable ones, so a listing sent without
``IdType="ImmutableId"`` names every event by another id than the one calsync created and linked it under.
https://learn.microsoft.com/en-us/graph/outlook-immutable-id
"""

from __future__ import annotations

from collections.abc import Callable

from calsync.connectors.graph.connector import GraphConnector
from calsync.model.content import Content
from tests.connectors.graph.conftest import new_mailbox
from tests.connectors.graph.fake.http import Request
from tests.connectors.graph.fake.server import FakeGraph
from tests.samples import event


def _preferences(headers: dict[str, str]) -> dict[str, str | None]:
    ask = Request("GET", "/", {}, headers)
    return {name: ask.prefer(name) for name in ("IdType", "outlook.timezone", "odata.maxpagesize")}


def test_a_paged_listing_asks_for_immutable_ids_and_utc_as_well_as_its_page_size(
    fake: FakeGraph, connect: Callable[..., GraphConnector]
) -> None:
    mailbox = new_mailbox(fake)
    conn = connect(mailboxes=[mailbox])
    ref = conn.create(mailbox, Content.from_text(event("p1")), "p1")
    before = len(fake.seen)
    assert [r.href for r in conn.list(mailbox, None)] == [ref.href]
    (listing,) = [s for s in fake.seen[before:] if s.path.endswith("/calendar/events")]
    wanted = {"IdType": "ImmutableId", "outlook.timezone": "UTC", "odata.maxpagesize": "100"}
    assert _preferences(listing.headers) == wanted
