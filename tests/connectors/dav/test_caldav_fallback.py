"""Servers without RFC 6578 sync-collection: the connector falls back to the calendarserver getctag and a Depth 1
etag listing, on real Radicale and Xandikos behind a transport that refuses sync-collection REPORTs with 403 (as
some servers do). A no-change run is one request; a change or deletion made elsewhere shows in a complete listing;
the engine converges over it and a no-change rerun writes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from calsync.connectors.caldav import CalDavConnector
from calsync.connectors.memory import MemoryConnector
from calsync.model.canonical import ICALENDAR
from calsync.model.content import Content
from calsync.state.sql import open_store
from calsync.sync.engine import PairSpec, RunOptions, sync_pair
from calsync.sync.observe import Endpoint
from tests.connectors.dav.servers import Server
from tests.samples import event

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


class NoSyncCollection(httpx.BaseTransport):
    """Forwards to the real server, but answers sync-collection REPORTs itself with 403; counts what it refuses."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.refused = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "REPORT" and b"sync-collection" in request.read():
            self.refused += 1
            return httpx.Response(403, request=request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def fallback(dav_server: Server) -> tuple[CalDavConnector, NoSyncCollection, str]:
    refusing = NoSyncCollection()
    conn = CalDavConnector(
        dav_server.calendar_home, username=dav_server.username, password=dav_server.password, transport=refusing
    )
    collection = f"ctag-{uuid.uuid4().hex[:8]}"
    conn.create_calendar(collection)
    return conn, refusing, collection


def test_without_sync_collection_the_ctag_and_etags_show_every_change(
    fallback: tuple[CalDavConnector, NoSyncCollection, str], dav_server: Server
) -> None:
    conn, refusing, collection = fallback
    other = CalDavConnector(dav_server.calendar_home, username=dav_server.username, password=dav_server.password)
    first = other.create(collection, content(event("f1", "One")), "f1")
    other.create(collection, content(event("f2", "Two")), "f2")

    listed = conn.changes(collection, None)
    assert refusing.refused == 1 and listed.complete
    assert listed.token is not None and listed.token.startswith("ctag:")
    assert {ref.href for ref in listed.changed} == {"f1.ics", "f2.ics"}

    before = conn.http.requests
    unchanged = conn.changes(collection, listed.token)
    assert (unchanged.changed, unchanged.deleted, unchanged.token) == ([], [], listed.token)
    assert conn.http.requests - before == 1 and refusing.refused == 1  # one getctag PROPFIND, no REPORT

    edited = other.update(collection, first, content(event("f1", "One edited")))
    other.delete(collection, next(ref for ref in listed.changed if ref.href == "f2.ics"))
    moved = conn.changes(collection, listed.token)
    assert moved.complete and moved.token != listed.token
    assert [(ref.href, ref.version) for ref in moved.changed] == [("f1.ics", edited.version)]


def test_the_engine_converges_over_the_fallback(
    fallback: tuple[CalDavConnector, NoSyncCollection, str], tmp_path: Path
) -> None:
    conn, refusing, collection = fallback
    business = MemoryConnector("business")
    business.make_collection("cal")
    for i in range(3):
        business.put_raw("cal", f"b{i}.ics", event(f"b{i}", f"Visit {i}"))
    store = open_store(str(tmp_path / "state.sqlite"))
    spec = PairSpec(collection, Endpoint(business, "cal"), Endpoint(conn, collection))

    assert sync_pair(spec, store, RunOptions(now=NOW)).b.created == 3
    (held,) = [ref for ref in conn.list_all(collection) if ref.href == "b1.ics"]
    conn.update(collection, held, content(event("b1", "Visit 1 moved by the phone")))
    second = sync_pair(spec, store, RunOptions(now=NOW))
    assert second.a.updated == 1 and "moved by the phone" in business.texts("cal")["b1.ics"]
    assert sync_pair(spec, store, RunOptions(now=NOW)).writes == 0
    assert refusing.refused >= 1


def content(text: str) -> Content:
    return Content.from_text(text, ICALENDAR)
