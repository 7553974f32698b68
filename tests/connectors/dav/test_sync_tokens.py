"""Sync tokens the server no longer knows, on real Radicale and Xandikos and from recorded answers.

Why: a token of a calendar deleted and made again is refused (Xandikos with 412 ``DAV:valid-sync-token``, not the
403/409 of RFC 6578); taking that as an error blocked the pair at every run, where a complete listing recovers.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from calsync.connectors.caldav import CalDavConnector
from calsync.connectors.memory import MemoryConnector
from calsync.errors import PreconditionFailed
from calsync.model.canonical import ICALENDAR
from calsync.model.content import Content
from calsync.state.sql import open_store
from calsync.sync.engine import PairSpec, RunOptions, sync_pair
from calsync.sync.observe import Endpoint
from tests.connectors.dav.servers import Server
from tests.samples import event

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
HOME = "https://dav.test/cal/"


def ics(uid: str, title: str = "Visit") -> Content:
    return Content.from_text(event(uid, title), ICALENDAR)


def connector(server: Server) -> CalDavConnector:
    return CalDavConnector(server.calendar_home, username=server.username, password=server.password)


def made_again(conn: CalDavConnector, collection: str) -> None:
    """The calendar deleted and made again elsewhere (its old tokens now name nothing)."""
    conn.http.request("DELETE", conn.collection_url(collection))
    conn.create_calendar(collection)


def test_a_token_of_a_calendar_made_again_gives_a_complete_listing(dav_server: Server) -> None:
    conn = connector(dav_server)
    collection = f"re-{uuid.uuid4().hex[:6]}"
    conn.create_calendar(collection)
    conn.create(collection, ics("a1"), "a1")
    token = conn.changes(collection, None).token
    made_again(conn, collection)
    conn.create(collection, ics("n1"), "n1")
    after = conn.changes(collection, token)
    assert after.complete and [ref.href for ref in after.changed] == ["n1.ics"]


def test_the_engine_goes_on_after_the_calendar_was_made_again(dav_server: Server, tmp_path: Path) -> None:
    conn = connector(dav_server)
    collection = f"re-{uuid.uuid4().hex[:6]}"
    conn.create_calendar(collection)
    business = MemoryConnector("business")
    business.make_collection("cal")
    business.put_raw("cal", "b0.ics", event("b0", "Visit"))
    store = open_store(str(tmp_path / "state.sqlite"))
    spec = PairSpec("p", Endpoint(business, "cal"), Endpoint(conn, collection), window=None)
    sync_pair(spec, store, RunOptions(now=NOW))
    sync_pair(spec, store, RunOptions(now=NOW))  # stores a token naming the calendar with b0
    made_again(conn, collection)
    conn.create(collection, ics("n1", "Made on the phone"), "n1")
    for _ in range(2):
        report = sync_pair(spec, store, RunOptions(now=NOW))
        assert not [line for line in report.lines if line.outcome == "error"], report.lines
    assert "n1.ics" in business.texts("cal")


def answering(status: int, body: bytes) -> CalDavConnector:
    """A connector whose server answers a sync-collection from a token with ``status`` and ``body``, and an
    initial one with an empty multistatus."""

    def handle(request: httpx.Request) -> httpx.Response:
        if b"<d:sync-token/>" in request.read():
            empty = b'<d:multistatus xmlns:d="DAV:"><d:sync-token>t2</d:sync-token></d:multistatus>'
            return httpx.Response(207, content=empty)
        return httpx.Response(status, content=body)

    return CalDavConnector(HOME, server="radicale", transport=httpx.MockTransport(handle))


VALID_TOKEN = b'<d:error xmlns:d="DAV:"><d:valid-sync-token/></d:error>'


@pytest.mark.parametrize("status", [403, 409, 412])
def test_any_refusal_naming_valid_sync_token_lists_everything(status: int) -> None:
    after = answering(status, VALID_TOKEN).changes("work", "sync:t1")
    assert after.complete and after.token == "sync:t2"


def test_a_412_about_something_else_stays_an_error() -> None:
    # Why: only the named precondition says the token is at fault; another 412 must not hide as a full listing.
    with pytest.raises(PreconditionFailed):
        answering(412, b"").changes("work", "sync:t1")
