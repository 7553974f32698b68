"""Collections whose names need percent-encoding (a space, non-ASCII, ``+``) on real Radicale and Xandikos.

Why: the server answers with hrefs it encoded its own way, and the connector once compared them decoded with our
encoded collection path, so every item came back as a full path: ``get`` said not found, a retried create failed,
and updates and deletes went to a doubled path (refused, or a 404 taken as "already gone" while the item stayed).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from calsync.connectors.base import Fetched
from calsync.connectors.caldav import CalDavConnector
from calsync.connectors.carddav import CardDavConnector
from calsync.connectors.dav.store import DavStore
from calsync.connectors.memory import MemoryConnector
from calsync.model.canonical import ICALENDAR, VCARD
from calsync.model.content import Content
from calsync.state.sql import open_store
from calsync.sync.engine import PairSpec, RunOptions, sync_pair
from calsync.sync.observe import Endpoint
from tests.connectors.dav.servers import Server
from tests.samples import contact, event

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
PREFIXES = ["my cal ", "Küche-", "a+b-"]


def calendar(server: Server, prefix: str) -> tuple[CalDavConnector, str]:
    conn = CalDavConnector(server.calendar_home, username=server.username, password=server.password)
    name = f"{prefix}{uuid.uuid4().hex[:6]}"
    conn.create_calendar(name)
    return conn, name


def book(server: Server, prefix: str) -> tuple[CardDavConnector, str]:
    conn = CardDavConnector(server.addressbook_home, username=server.username, password=server.password)
    name = f"{prefix}{uuid.uuid4().hex[:6]}"
    conn.create_addressbook(name)
    return conn, name


def round_trip(conn: DavStore, name: str, text: str, edited: str, media_type: str) -> None:
    """Create (twice: a retry returns the first copy), list, read, update and delete one item."""
    ref = conn.create(name, Content.from_text(text, media_type), "u1")
    assert conn.create(name, Content.from_text(text, media_type), "u1") == ref  # a retry finds the first copy
    assert [r.href for r in conn.changes(name, None).changed] == [ref.href] == ["u1" + conn.flavor.extension]
    assert conn.list_all(name) == [ref]
    (got,) = conn.get(name, [ref.href])
    assert isinstance(got, Fetched) and got.ref == ref
    new = conn.update(name, ref, Content.from_text(edited, media_type))
    assert conn.list_all(name) == [new]
    conn.delete(name, new)
    assert conn.list_all(name) == []  # gone for real, not a 404 at a doubled path taken as gone


@pytest.mark.parametrize("prefix", PREFIXES)
def test_an_event_round_trips_in_an_encoded_calendar(dav_server: Server, prefix: str) -> None:
    conn, name = calendar(dav_server, prefix)
    round_trip(conn, name, event("u1"), event("u1", "Moved"), ICALENDAR)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_a_contact_round_trips_in_an_encoded_address_book(dav_server: Server, prefix: str) -> None:
    conn, name = book(dav_server, prefix)
    round_trip(conn, name, contact("u1"), contact("u1", "Ada King"), VCARD)


def test_a_discovered_encoded_calendar_is_named_as_it_is_listed(dav_server: Server) -> None:
    # Why: discovery gives decoded ids; the connector must encode them itself and match the server's hrefs.
    conn, name = calendar(dav_server, "my cal ")
    ref = conn.create(name, Content.from_text(event("u1"), ICALENDAR), "u1")
    (info,) = [info for info in conn.discover() if info.id.rstrip("/").endswith(name)]
    assert conn.collection_url(info.id) == conn.collection_url(name)
    assert conn.list_all(info.id) == [ref]


def test_the_engine_edits_and_deletes_in_a_spaced_calendar(dav_server: Server, tmp_path: Path) -> None:
    conn, name = calendar(dav_server, "my cal ")
    business = MemoryConnector("business")
    business.make_collection("cal")
    for i in range(3):
        business.put_raw("cal", f"b{i}.ics", event(f"b{i}", f"Visit {i}"))
    store = open_store(str(tmp_path / "state.sqlite"))
    spec = PairSpec("p", Endpoint(business, "cal"), Endpoint(conn, name))
    options = RunOptions(now=NOW, allow_mass_delete=True)
    assert sync_pair(spec, store, options).b.created == 3
    assert sync_pair(spec, store, options).writes == 0
    business.put_raw("cal", "b1.ics", event("b1", "Visit 1 moved"))
    business.remove_raw("cal", "b2.ics")
    sync_pair(spec, store, options)
    assert sync_pair(spec, store, options).writes == 0
    texts = [f.content.text for f in conn.get(name, [r.href for r in conn.list_all(name)]) if isinstance(f, Fetched)]
    assert len(texts) == 2 and any("Visit 1 moved" in t for t in texts)
    assert sorted(business.texts("cal")) == ["b0.ics", "b1.ics"]


def test_a_calendar_named_with_a_literal_percent_found_from_the_server_root_is_that_calendar(
    dav_server: Server,
) -> None:
    # Why: found outside the home, its id was a decoded path, and "100%41" in it was later read as "100A":
    # calsync read (and would write) another calendar of that name.
    from calsync.connectors.dav import xml

    home = CalDavConnector(dav_server.calendar_home, username=dav_server.username, password=dav_server.password)
    tag = uuid.uuid4().hex[:6]
    for path, uid in ((f"100%2541-{tag}/", "p1"), (f"100A-{tag}/", "o1")):
        assert home.http.request("MKCALENDAR", home.url + path, body=xml.mkcalendar(uid)).status_code in (200, 201)
        put = home.http.request(
            "PUT", home.url + path + f"{uid}.ics", body=event(uid).encode(), headers={"Content-Type": ICALENDAR}
        )
        assert put.status_code in (201, 204)
    root = CalDavConnector(dav_server.url, username=dav_server.username, password=dav_server.password)
    (found,) = [info for info in root.discover() if f"100%2541-{tag}" in info.id]
    assert [ref.href for ref in root.list_all(found.id)] == ["p1.ics"]
