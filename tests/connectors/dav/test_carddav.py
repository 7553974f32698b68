"""The CardDAV connector against real servers: vCard 3 and 4 pass through untouched, writes are guarded."""

from __future__ import annotations

import uuid

import pytest

from calsync.connectors.base import Fetched, FetchFailed
from calsync.connectors.carddav import CardDavConnector
from calsync.errors import AlreadyExists, NotFound, PreconditionFailed
from calsync.model.canonical import VCARD
from calsync.model.content import Content
from tests.connectors.dav.servers import Server
from tests.samples import contact

VCARD4 = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:{uid}\r\nFN:{name}\r\nN:Hopper;Grace;;;\r\nEND:VCARD\r\n"


@pytest.fixture
def book(dav_server: Server) -> tuple[CardDavConnector, str]:
    conn = CardDavConnector(dav_server.addressbook_home, username=dav_server.username, password=dav_server.password)
    name = f"book-{uuid.uuid4().hex[:8]}"
    conn.create_addressbook(name, "Customers", "#ff8800ff")
    return conn, name


@pytest.mark.parametrize("text", [contact("v3", "Ada Lovelace"), VCARD4.format(uid="v4", name="Grace Hopper")])
def test_a_vcard_round_trips_and_is_guarded(book: tuple[CardDavConnector, str], text: str) -> None:
    conn, name = book
    content = Content.from_text(text, VCARD)
    ref = conn.create(name, content, content.ident)
    assert conn.create(name, Content.from_text(text, VCARD), content.ident) == ref  # idempotent by key
    (got,) = conn.get(name, [ref.href])
    assert isinstance(got, Fetched) and got.ref == ref and got.content.digest == content.digest
    assert text.splitlines()[1] in got.content.text.split("\r\n")  # the VERSION line is kept, lines end in CRLF
    renamed = Content.from_text(text.replace("FN:", "FN:Dr. "), VCARD)
    with pytest.raises(AlreadyExists):
        conn.create(name, renamed, content.ident)
    new = conn.update(name, ref, renamed)
    with pytest.raises(PreconditionFailed):
        conn.update(name, ref, content)
    with pytest.raises(PreconditionFailed):
        conn.delete(name, ref)
    conn.delete(name, new)
    (gone,) = conn.get(name, [ref.href])
    assert isinstance(gone, FetchFailed) and isinstance(gone.error, NotFound)


def test_changes_follow_the_token_and_discovery_finds_the_book(book: tuple[CardDavConnector, str]) -> None:
    conn, name = book
    first = conn.changes(name, None)
    assert first.complete and list(first.changed) == []
    ref = conn.create(name, Content.from_text(contact("c1"), VCARD), "c1")
    later = conn.changes(name, first.token)
    assert [r.href for r in later.changed] == [ref.href] and not later.complete
    conn.delete(name, ref)
    assert list(conn.changes(name, later.token).deleted) == [ref.href]
    found = {info.id: info for info in conn.discover()}
    assert found[name].display_name == "Customers" and found[name].components == frozenset({"VCARD"})
