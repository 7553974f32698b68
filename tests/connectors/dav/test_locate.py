"""Finding items by identity (``locate``) on real Radicale and Xandikos, and refusing answers it cannot trust.

Why: the engine takes every identity left out of ``locate``'s answer as deleted in the calendar and passes that
deletion on. So both ways of looking (a query on the UID per key, or every item read when there are more keys
than ``quirks.uid_queries``) must find items at any name and date, must not take an item whose UID only contains
a key for it (both servers match a CalDAV text-match as a substring), and must raise rather than answer from an
error, a missing collection or an answer that leaves an item out.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import httpx
import pytest

from calsync.connectors.base import Fetched, FetchFailed
from calsync.connectors.caldav import CalDavConnector
from calsync.connectors.carddav import CardDavConnector
from calsync.errors import ConnectorError, NotFound
from tests.connectors.dav.servers import Server
from tests.connectors.dav.test_uid_conflicts import phone_put
from tests.samples import contact, event, task

GENERIC = "generic"
"""A server name no quirks row knows: its default asks up to eight keys one by one, where Radicale and Xandikos
(detected) read every item."""


def calendar(server: Server, *, named: str = "") -> tuple[CalDavConnector, str]:
    conn = CalDavConnector(server.calendar_home, username=server.username, password=server.password, server=named)
    collection = f"loc-{uuid.uuid4().hex[:8]}"
    conn.create_calendar(collection)
    return conn, collection


@pytest.mark.parametrize("named", ["", GENERIC])
def test_many_keys_are_found_wherever_they_are_and_only_those(dav_server: Server, named: str) -> None:
    conn, collection = calendar(dav_server, named=named)
    expected = {}
    for n in range(6):  # at names of the user's, years from any window
        href = f"phone {n}.ics" if n % 2 else f"Kalender-Eintrag-{n}.ics"
        phone_put(conn, collection, href, event(f"moved-{n}", day=f"20{31 + n}0{n + 1}15"))
        expected[f"moved-{n}"] = href
    phone_put(conn, collection, "old-task.ics", task("call-back", due="20190101"))
    expected["call-back"] = "old-task.ics"
    phone_put(conn, collection, "near-name.ics", event("gone-10"))  # its UID contains a key that is gone
    absent = [f"gone-{n}" for n in range(1, 6)]
    conn.quirks = replace(conn.quirks, max_batch=3)  # several multigets
    keys = [*expected, *absent, "moved-0"]
    assert len(set(keys)) > conn.quirks.uid_queries and conn.quirks.uid_queries == (8 if named else 0)
    before = conn.http.requests
    assert conn.locate(collection, keys) == expected
    assert conn.http.requests - before == 1 + 3  # one listing, then every item read: 8 items in batches of 3


def test_reading_stops_once_every_key_is_found(dav_server: Server) -> None:
    conn, collection = calendar(dav_server)
    for n in range(6):
        phone_put(conn, collection, f"e{n}.ics", event(f"e{n}"))
    conn.quirks = replace(conn.quirks, max_batch=2)
    first_batch = [ref.href.removesuffix(".ics") for ref in conn.list_all(collection)][:2]  # in the server's order
    before = conn.http.requests
    assert conn.locate(collection, first_batch) == {uid: f"{uid}.ics" for uid in first_batch}
    assert conn.http.requests - before == 1 + 1  # the listing, then only the batch that holds them


def test_few_keys_are_asked_one_by_one_and_told_apart_by_their_data(dav_server: Server) -> None:
    conn, collection = calendar(dav_server, named=GENERIC)
    phone_put(conn, collection, "far.ics", event("moved-far", day="20350301"))
    phone_put(conn, collection, "todo.ics", task("call-back", due="20300101"))
    phone_put(conn, collection, "ten.ics", event("visit-10"))  # a substring match for "visit-1"
    before = conn.http.requests
    found = conn.locate(collection, ["moved-far", "call-back", "visit-1"])
    assert found == {"moved-far": "far.ics", "call-back": "todo.ics"}
    assert conn.http.requests - before == 1 + 2 + 2  # a query per component until found; no listing


def test_a_server_not_identified_yet_is_read_whole(dav_server: Server) -> None:
    # Why: until its first answer names the server, the connector has the default quirks, which would ask Radicale
    # and Xandikos one query per key, each parsing the whole calendar.
    conn, collection = calendar(dav_server)
    phone_put(conn, collection, "a.ics", event("a1"))
    fresh = CalDavConnector(dav_server.calendar_home, username=dav_server.username, password=dav_server.password)
    assert fresh.locate(collection, ["a1"]) == {"a1": "a.ics"}
    assert fresh.http.requests == 2 and fresh.quirks.server == dav_server.kind  # a listing and one multiget


def test_a_key_a_query_on_the_uid_could_miss_is_looked_for_in_every_item(dav_server: Server) -> None:
    # Why: the server compares the UID unescaped, Content.ident as written; "team\,sales" is not "team,sales".
    conn, collection = calendar(dav_server, named=GENERIC)
    phone_put(conn, collection, "sales.ics", event("team\\,sales-1"))
    before = conn.http.requests
    assert conn.locate(collection, ["team\\,sales-1"]) == {"team\\,sales-1": "sales.ics"}
    assert conn.http.requests - before == 2  # a listing and one multiget, not a query


@pytest.mark.parametrize("named", ["", GENERIC])
def test_contacts_are_found_by_identity(dav_server: Server, named: str) -> None:
    conn = CardDavConnector(
        dav_server.addressbook_home, username=dav_server.username, password=dav_server.password, server=named
    )
    book = f"loc-{uuid.uuid4().hex[:8]}"
    conn.create_addressbook(book)
    phone_put(conn, book, "ada.vcf", contact("person-1"))
    phone_put(conn, book, "grace.vcf", contact("person-12", "Grace Hopper"))
    assert conn.locate(book, ["person-1", "person-2"]) == {"person-1": "ada.vcf"}


@pytest.mark.parametrize("named", ["", GENERIC])
def test_a_missing_collection_raises_rather_than_answering_empty(dav_server: Server, named: str) -> None:
    conn = CalDavConnector(
        dav_server.calendar_home, username=dav_server.username, password=dav_server.password, server=named
    )
    with pytest.raises(NotFound):
        conn.locate(f"never-made-{uuid.uuid4().hex[:6]}", ["a1"])
    with pytest.raises(NotFound):
        conn.locate(f"never-made-{uuid.uuid4().hex[:6]}", [f"k{n}" for n in range(12)])


# -- answers that cannot be trusted, recorded -----------------------------------------------------------------


def _multistatus(*responses: str) -> httpx.Response:
    body = f'<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">{"".join(responses)}'
    return httpx.Response(207, content=(body + "</d:multistatus>").encode())


def _item(href: str, uid: str | None = None, status: int = 200) -> str:
    """One response: an item with its etag, and its data when ``uid`` is given; ``status`` for the whole of it."""
    if status != 200:
        return f"<d:response><d:href>{href}</d:href><d:status>HTTP/1.1 {status} No</d:status></d:response>"
    data = "" if uid is None else f"<c:calendar-data>{event(uid)}</c:calendar-data>"
    props = f'<d:prop><d:getetag>"1"</d:getetag>{data}</d:prop><d:status>HTTP/1.1 200 OK</d:status>'
    return f"<d:response><d:href>{href}</d:href><d:propstat>{props}</d:propstat></d:response>"


_GOOD = {
    "PROPFIND": _multistatus(_item("/cal/work/"), _item("/cal/work/a1.ics"), _item("/cal/work/b2.ics")),
    "multiget": _multistatus(_item("/cal/work/a1.ics", "a1"), _item("/cal/work/b2.ics", "b2")),
    "query": _multistatus(_item("/cal/work/a1.ics", "a1")),
}
_SPOILT: dict[str, tuple[str, httpx.Response]] = {
    "the query fails": ("query", httpx.Response(500)),
    "the query finds no collection": ("query", httpx.Response(404)),
    "the query is answered with no multistatus": ("query", httpx.Response(200, content=b"<html/>")),
    "the query's answer is not XML": ("query", httpx.Response(207, content=b"<d:multistatus")),
    "the query's answer is cut short": (
        "query",
        _multistatus(_item("/cal/work/a1.ics", "a1"), _item("/cal/work/", status=507)),
    ),
    "the query finds an item it will not show": ("query", _multistatus(_item("/cal/work/a1.ics", status=403))),
    "the query names an item without its data": ("query", _multistatus(_item("/cal/work/a1.ics"))),
    "the listing fails": ("PROPFIND", httpx.Response(500)),
    "the listing's answer is cut short": (
        "PROPFIND",
        _multistatus(_item("/cal/work/a1.ics"), _item("/cal/work/", status=507)),
    ),
    "the listing names an item it will not show": ("PROPFIND", _multistatus(_item("/cal/work/a1.ics", status=403))),
    "the multiget fails": ("multiget", httpx.Response(500)),
    "the multiget leaves a listed item out": ("multiget", _multistatus(_item("/cal/work/a1.ics", "a1"))),
    "the multiget sends an item without its data": (
        "multiget",
        _multistatus(_item("/cal/work/a1.ics", "a1"), _item("/cal/work/b2.ics")),
    ),
}


@pytest.mark.parametrize("case", _SPOILT)
def test_an_answer_that_cannot_be_trusted_raises_rather_than_leaving_keys_out(case: str) -> None:
    spoilt, response = _SPOILT[case]

    def answer(request: httpx.Request) -> httpx.Response:
        kind = "multiget" if b"calendar-multiget" in request.content else "query"
        kind = "PROPFIND" if request.method == "PROPFIND" else kind
        return response if kind == spoilt else _GOOD[kind]

    conn = CalDavConnector("https://dav.test/cal/", server=GENERIC, transport=httpx.MockTransport(answer))
    keys = ["a1"] if spoilt == "query" else [f"k{n}" for n in range(conn.quirks.uid_queries)] + ["a1"]
    with pytest.raises(ConnectorError):
        conn.locate("work", keys)


def test_the_recorded_answers_are_trusted_when_nothing_is_wrong() -> None:
    # The answers the cases above spoil, unspoilt: each way finds what they hold.
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "PROPFIND":
            return _GOOD["PROPFIND"]
        return _GOOD["multiget" if b"calendar-multiget" in request.content else "query"]

    conn = CalDavConnector("https://dav.test/cal/", server=GENERIC, transport=httpx.MockTransport(answer))
    assert conn.locate("work", ["a1"]) == {"a1": "a1.ics"}
    many = [f"k{n}" for n in range(conn.quirks.uid_queries)] + ["b2"]
    assert conn.locate("work", many) == {"b2": "b2.ics"}


def test_an_item_a_multiget_leaves_out_is_unreadable_not_deleted() -> None:
    """``get`` took an item missing from the server's answer for deleted, which the engine passes on to the other
    side: a short answer would delete copies there. Only a 404 or 410 for the item says it is gone."""

    def answer(request: httpx.Request) -> httpx.Response:
        return _multistatus(_item("/cal/work/a1.ics", "a1"), _item("/cal/work/gone.ics", status=404))

    conn = CalDavConnector("https://dav.test/cal/", server=GENERIC, transport=httpx.MockTransport(answer))
    read = {
        r.href if isinstance(r, FetchFailed) else r.ref.href: r
        for r in conn.get("work", ["a1.ics", "b2.ics", "gone.ics"])
    }
    assert isinstance(read["a1.ics"], Fetched)
    left_out, gone = read["b2.ics"], read["gone.ics"]
    assert isinstance(left_out, FetchFailed) and not isinstance(left_out.error, NotFound)
    assert isinstance(gone, FetchFailed) and isinstance(gone.error, NotFound)
