"""Sync tokens the server no longer knows, on real Radicale and Xandikos and from recorded answers.

Why: a token of a calendar deleted and made again is refused (Xandikos with 412 ``DAV:valid-sync-token``, not the
403/409 of RFC 6578); taking that as an error blocked the pair at every run, where a complete listing recovers.
"""

from __future__ import annotations

import re
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
from calsync.model.refs import ItemRef
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


# -- our own writes, remembered in the token ---------------------------------------------------------------------


class Pair:
    """A business side in memory and a calendar on the server, synced two-way."""

    def __init__(self, server: Server, state: Path) -> None:
        self.dav = connector(server)
        self.collection = f"w-{uuid.uuid4().hex[:6]}"
        self.dav.create_calendar(self.collection)
        self.business = MemoryConnector("business")
        self.business.make_collection("cal")
        self.business.put_raw("cal", "keep.ics", event("keep", "Keep"))
        self.store = open_store(str(state))
        self.spec = PairSpec("p", Endpoint(self.business, "cal"), Endpoint(self.dav, self.collection), window=None)

    def sync(self) -> None:
        report = sync_pair(self.spec, self.store, RunOptions(now=NOW))
        assert not [line for line in report.lines if line.outcome == "error"], report.lines

    def phone_put(self, href: str, text: str) -> None:
        response = self.dav.http.request(
            "PUT", self.dav.item_url(self.collection, href), body=text.encode(), headers={"Content-Type": ICALENDAR}
        )
        assert response.status_code in (201, 204)


@pytest.fixture
def pair(dav_server: Server, tmp_path: Path) -> Pair:
    made = Pair(dav_server, tmp_path / "state.sqlite")
    made.sync()
    made.sync()
    return made


def test_a_deletion_right_after_our_create_reaches_the_other_side(pair: Pair) -> None:
    # Why: Xandikos's token names the calendar's content, which is again what it was before our create.
    pair.business.put_raw("cal", "b0.ics", event("b0", "New"))
    pair.sync()
    (ref,) = [ref for ref in pair.dav.list_all(pair.collection) if ref.href == "b0.ics"]
    pair.dav.delete(pair.collection, ref)  # the user deletes it on the phone before the next run
    pair.sync()
    assert sorted(pair.business.texts("cal")) == ["keep.ics"]


def test_remembered_writes_are_read_back_in_the_servers_batches(dav_server: Server) -> None:
    # Why: a first sync writes thousands of items; one multiget of them all is more than a server answers.
    from dataclasses import replace

    conn = connector(dav_server)
    collection = f"w-{uuid.uuid4().hex[:6]}"
    conn.create_calendar(collection)
    token = conn.changes(collection, None).token
    written = [conn.create(collection, ics(uid), uid) for uid in ("a1", "a2", "a3")]
    conn.delete(collection, written[1])
    remembered = conn.absorb_writes(collection, token, written)
    conn.quirks = replace(conn.quirks, max_batch=2)
    changed: list[ItemRef] = []
    deleted: list[str] = []
    before = conn.http.requests
    conn._recheck(collection, [ref.href for ref in written], changed, deleted)
    assert conn.http.requests - before == 2 and remembered is not None
    assert sorted(ref.href for ref in changed) == ["a1.ics", "a3.ics"] and deleted == ["a2.ics"]


def test_a_remembered_write_the_server_leaves_out_of_its_answer_is_read_again_not_deleted() -> None:
    # Why: only a 404 or 410 says an item is gone; a deletion inferred from a short answer reaches the other side.
    import re

    import httpx

    def answer(request: httpx.Request) -> httpx.Response:
        if b"sync-collection" in request.content:  # nothing changed since the token
            return httpx.Response(
                207, content=b'<d:multistatus xmlns:d="DAV:"><d:sync-token>t2</d:sync-token></d:multistatus>'
            )
        hrefs = re.findall(rb"<d:href>([^<]+)</d:href>", request.content)[:2]  # answers two hrefs at most
        found = b"".join(
            b"<d:response><d:href>" + href + b'</d:href><d:propstat><d:prop><d:getetag>"1"</d:getetag></d:prop>'
            b"<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
            for href in hrefs
        )
        return httpx.Response(207, content=b'<d:multistatus xmlns:d="DAV:">' + found + b"</d:multistatus>")

    conn = CalDavConnector("https://dav.test/cal/", server="nextcloud", transport=httpx.MockTransport(answer))
    token = conn.absorb_writes("c", "sync:t1", [ItemRef(f"e{n}.ics", '"1"') for n in range(3)])
    after = conn.changes("c", token)
    assert after.deleted == []
    assert sorted((ref.href, ref.version) for ref in after.changed) == [
        ("e0.ics", '"1"'),
        ("e1.ics", '"1"'),
        ("e2.ics", ""),
    ]


def test_an_edit_undone_right_after_our_update_reaches_the_other_side(pair: Pair) -> None:
    # Why: the phone putting back the text we replaced leaves the content the token names, as a deletion does.
    pair.business.put_raw("cal", "keep.ics", event("keep", "Moved"))
    pair.sync()
    pair.phone_put("keep.ics", event("keep", "Keep"))
    pair.sync()
    assert "Keep" in pair.business.texts("cal")["keep.ics"] and "Moved" not in pair.business.texts("cal")["keep.ics"]


def test_writes_the_changes_name_cost_no_request(dav_server: Server) -> None:
    # Why: a server that names our writes anyway (Radicale counts changes) must not pay for the remembered names.
    conn = connector(dav_server)
    collection = f"w-{uuid.uuid4().hex[:6]}"
    conn.create_calendar(collection)
    token = conn.changes(collection, None).token
    ref = conn.create(collection, ics("a1"), "a1")
    remembered = conn.absorb_writes(collection, token, [ref])
    assert remembered is not None and remembered != token
    before = conn.http.requests
    after = conn.changes(collection, remembered)
    assert conn.http.requests - before == 1
    assert [r.href for r in after.changed] == ["a1.ics"] and after.token is not None and "\n" not in after.token


def test_remembered_names_survive_any_character_and_gone_ones_are_deleted() -> None:
    names = ["a b.ics", "a%20b.ics", "x\ny.ics", "ü+@.ics"]
    asked: list[bytes] = []

    def handle(request: httpx.Request) -> httpx.Response:
        body = request.read()
        if b"sync-collection" in body:
            return httpx.Response(
                207, content=b'<d:multistatus xmlns:d="DAV:"><d:sync-token>t2</d:sync-token></d:multistatus>'
            )
        asked.append(body)
        kept = '<d:response><d:href>/cal/work/a%20b.ics</d:href><d:propstat><d:prop><d:getetag>"9"</d:getetag></d:prop>'
        kept += "<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
        for href in re.findall(r"<d:href>([^<]+)</d:href>", body.decode()):
            if href != "/cal/work/a%20b.ics":  # the server says each of the others is gone
                kept += f"<d:response><d:href>{href}</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>"
        return httpx.Response(207, content=f'<d:multistatus xmlns:d="DAV:">{kept}</d:multistatus>'.encode())

    conn = CalDavConnector(HOME, server="radicale", transport=httpx.MockTransport(handle))
    token = conn.absorb_writes("work", "sync:t1", [ItemRef(n, '"1"') for n in names[:2]])
    token = conn.absorb_writes("work", token, [ItemRef(n, '"1"') for n in names[2:]])  # added to the names kept
    after = conn.changes("work", token)
    assert b"<d:href>/cal/work/a%2520b.ics</d:href>" in asked[0] and b"calendar-data" not in asked[0]
    assert after.changed == [ItemRef("a b.ics", '"9"')] and sorted(after.deleted) == sorted(names[1:])
    assert after.token == "sync:t2" and not after.complete
    assert conn.absorb_writes("work", "ctag:7", [ItemRef("a.ics", '"1"')]) == "ctag:7"  # the ctag moves anyway


# -- answers cut short (RFC 6578 section 3.6) --------------------------------------------------------------------
# Why: a first listing cut short with 507 was taken as complete, so every item it left out looked deleted.


def member(href: str, etag: str | None) -> str:
    if etag is None:
        return f"<d:response><d:href>{href}</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>"
    prop = f"<d:prop><d:getetag>{etag}</d:getetag></d:prop><d:status>HTTP/1.1 200 OK</d:status>"
    return f"<d:response><d:href>{href}</d:href><d:propstat>{prop}</d:propstat></d:response>"


CUT = "<d:response><d:href>/cal/work/</d:href><d:status>HTTP/1.1 507 Insufficient Storage</d:status></d:response>"


def paged(pages: dict[str, tuple[str, str]]) -> tuple[CalDavConnector, list[str]]:
    """A server answering a sync-collection from each token (``""``: none) with (members, next token)."""
    asked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        body = request.read().decode()
        since = body.split("<d:sync-token>")[1].split("</d:sync-token>")[0] if "<d:sync-token>" in body else ""
        asked.append(since)
        members, token = pages[since]
        answer = f'<d:multistatus xmlns:d="DAV:">{members}<d:sync-token>{token}</d:sync-token></d:multistatus>'
        return httpx.Response(207, content=answer.encode())

    return CalDavConnector(HOME, server="radicale", transport=httpx.MockTransport(handle)), asked


def test_a_listing_cut_short_is_continued_from_the_token_given() -> None:
    conn, asked = paged(
        {
            "": (member("/cal/work/a.ics", '"1"') + member("/cal/work/b.ics", '"1"') + CUT, "t1"),
            "t1": (member("/cal/work/c.ics", '"1"') + member("/cal/work/b.ics", None), "t2"),
        }
    )
    found = conn.changes("work", None)
    assert asked == ["", "t1"]
    assert [ref.href for ref in found.changed] == ["a.ics", "c.ics"] and found.deleted == ["b.ics"]
    assert found.complete and found.token == "sync:t2"


def test_a_listing_that_stays_cut_short_is_not_complete() -> None:
    conn, asked = paged({"": (member("/cal/work/a.ics", '"1"') + CUT, "t1"), "t1": (CUT, "t1")})
    found = conn.changes("work", None)
    assert asked == ["", "t1"]  # no progress: the run goes on with what it has, the next one from t1
    assert not found.complete and [ref.href for ref in found.changed] == ["a.ics"] and found.token == "sync:t1"
