"""A create whose UID another item holds under another name (one a phone made), on real Radicale and Xandikos.

Why: Radicale refuses such a PUT with 409 ``no-uid-conflict`` but names no href, which was an unexpected-status
error at every run (Xandikos says it with 412, which read as "the name is taken"); it must be ``AlreadyExists``
naming the holder, which the engine reads to match the two. Xandikos stores a second contact with the same UID,
so the contact check runs on Radicale alone.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from calsync.connectors.base import Fetched
from calsync.connectors.caldav import CalDavConnector
from calsync.connectors.carddav import CardDavConnector
from calsync.connectors.dav.store import DavStore
from calsync.connectors.memory import MemoryConnector
from calsync.errors import AlreadyExists, ProtocolError
from calsync.model.canonical import ICALENDAR, VCARD
from calsync.model.content import Content
from calsync.state.sql import open_store
from calsync.sync.engine import PairSpec, RunOptions, sync_pair
from calsync.sync.observe import Endpoint
from tests.connectors.dav.servers import Server
from tests.samples import contact, event, task

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


def phone_put(conn: DavStore, collection: str, href: str, text: str) -> None:
    """An item written by another client under a name of its own."""
    media = conn.flavor.media_type
    url = conn.item_url(collection, href)
    response = conn.http.request("PUT", url, body=text.encode(), headers={"Content-Type": media})
    assert response.status_code in (201, 204)


def assert_held_by(conn: DavStore, collection: str, content: Content, href: str) -> None:
    with pytest.raises(AlreadyExists) as raised:
        conn.create(collection, content, content.ident)
    assert raised.value.href == href
    (found,) = conn.get(collection, [href])
    assert isinstance(found, Fetched) and found.content.ident == content.ident


@pytest.mark.parametrize("text", [event("shared"), task("shared")])
def test_a_calendar_item_holding_the_uid_is_named(dav_server: Server, text: str) -> None:
    server = dav_server
    conn = CalDavConnector(server.calendar_home, username=server.username, password=server.password)
    collection = f"u-{uuid.uuid4().hex[:6]}"
    conn.create_calendar(collection)
    phone_put(conn, collection, "phone-123.ics", text)
    assert_held_by(
        conn, collection, Content.from_text(text.replace("SUMMARY:", "SUMMARY:Other "), ICALENDAR), "phone-123.ics"
    )


def test_a_contact_holding_the_uid_is_named(radicale_server: Server) -> None:
    server = radicale_server
    conn = CardDavConnector(server.addressbook_home, username=server.username, password=server.password)
    collection = f"u-{uuid.uuid4().hex[:6]}"
    conn.create_addressbook(collection)
    phone_put(conn, collection, "phone-1.vcf", contact("shared"))
    assert_held_by(conn, collection, Content.from_text(contact("shared", "Ada King"), VCARD), "phone-1.vcf")


def test_the_engine_matches_an_item_its_window_did_not_show(dav_server: Server, tmp_path: Path) -> None:
    # The phone's copy lies outside the window, so the listing misses it and the engine creates; it must match it.
    conn = CalDavConnector(dav_server.calendar_home, username=dav_server.username, password=dav_server.password)
    collection = f"u-{uuid.uuid4().hex[:6]}"
    conn.create_calendar(collection)
    phone_put(conn, collection, "phone-123.ics", event("shared", "Visit", day="20280110"))
    business = MemoryConnector("business")
    business.make_collection("cal")
    business.put_raw("cal", "shared.ics", event("shared", "Visit"))
    store = open_store(str(tmp_path / "state.sqlite"))
    spec = PairSpec("p", Endpoint(business, "cal"), Endpoint(conn, collection), window=(30, 60))
    report = sync_pair(spec, store, RunOptions(now=NOW))
    assert [(line.action, line.outcome) for line in report.lines] == [("update", "done")]  # matched, then synced
    assert [ref.href for ref in conn.list_all(collection)] == ["phone-123.ics"]  # no second copy


def test_a_bare_409_with_no_holder_stays_an_error() -> None:
    # Why: a 409 also means a missing collection (RFC 4918 section 9.7.1); that is no item to match.
    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            return httpx.Response(409)
        return httpx.Response(207, content=b'<d:multistatus xmlns:d="DAV:"/>')

    conn = CalDavConnector("https://dav.test/cal/", server="radicale", transport=httpx.MockTransport(handle))
    with pytest.raises(ProtocolError, match="409"):
        conn.create("work", Content.from_text(event("a1"), ICALENDAR), "a1")


def test_the_holder_named_is_the_item_of_that_uid_not_one_whose_uid_contains_it() -> None:
    # Why: a CalDAV query on the UID matches a substring (RFC 4791 section 9.7.5; Radicale and Xandikos do so), so
    # its answer may list "visit-10" before "visit-1"; the engine would match our item with the wrong one.
    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            return httpx.Response(
                409,
                content=b'<d:error xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
                b"<c:no-uid-conflict/></d:error>",
            )
        items = "".join(
            f'<d:response><d:href>/cal/work/{href}</d:href><d:propstat><d:prop><d:getetag>"1"</d:getetag>'
            f"<c:calendar-data>{event(uid)}</c:calendar-data></d:prop><d:status>HTTP/1.1 200 OK</d:status>"
            "</d:propstat></d:response>"
            for href, uid in (("ten.ics", "visit-10"), ("one.ics", "visit-1"))
        )
        body = f'<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">{items}</d:multistatus>'
        return httpx.Response(207, content=body.encode())

    conn = CalDavConnector("https://dav.test/cal/", server="generic", transport=httpx.MockTransport(handle))
    with pytest.raises(AlreadyExists) as raised:
        conn.create("work", Content.from_text(event("visit-1", "Other"), ICALENDAR), "visit-1")
    assert raised.value.href == "one.ics"
