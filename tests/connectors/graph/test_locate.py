"""Finding events by identity (``locate``) against the fake Graph service, and refusing answers it cannot trust.

Why: the engine takes every identity left out of ``locate``'s answer as deleted in the calendar and passes that
deletion on. So both ways of looking (two filters per key, or every event's identity listed when there are more
keys than ``identities.QUERIED_KEYS``) must find events at any date by the identity ``get`` reads (the key
property, else iCalUId), must read every page, must not take an event whose key differs only in case (Graph's
filter ignores case), and must raise rather than answer from a failed request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from urllib.parse import unquote

import pytest

from calsync.connectors.base import Fetched
from calsync.connectors.graph import identities
from calsync.connectors.graph.connector import GraphConnector
from calsync.connectors.graph.transport import Call, Reply
from calsync.errors import ConnectorError, NotFound
from calsync.model.canonical import scan
from calsync.model.content import Content
from calsync.state.sql import SQLStore
from calsync.sync.engine import RunOptions, sync_pair
from tests.connectors.graph import outlook
from tests.connectors.graph.conftest import new_mailbox
from tests.connectors.graph.fake.http import Request
from tests.connectors.graph.fake.server import FakeGraph, Fault, Seen
from tests.connectors.pairing import NOW, with_business
from tests.samples import event

Connect = Callable[..., GraphConnector]


@pytest.fixture
def mailbox(fake: FakeGraph) -> Iterator[str]:
    yield new_mailbox(fake)
    fake.faults.clear()


def _requests(fake: FakeGraph, since: int, *, inner: bool | None = None) -> list[Seen]:
    """The requests for the calendar's events since ``since``, outer, inner (in a batch) or both."""
    return [
        s
        for s in fake.seen[since:]
        if s.path.endswith("/calendar/events") and (inner is None or s.inner is inner) and s.method == "GET"
    ]


def _ical_uid(fake: FakeGraph, mailbox: str, href: str) -> str:
    return str(fake.mailboxes[mailbox].events[href].data["iCalUId"])


def test_an_event_saved_again_far_ahead_is_a_move_to_the_engine_not_a_deletion(
    fake: FakeGraph, connect: Connect, mailbox: str, store: SQLStore
) -> None:
    """A client that saves a move as a delete and a create, under another id and 90 days later: the full sync's
    listing of the window misses both, and only the answer by identity tells the business side it was moved."""
    spec, business = with_business("graph", connect(mailboxes=[mailbox]), mailbox)
    now = NOW
    business.put_raw("cal", "e1.ics", event("e1", "visit", day="20261122"))
    sync_pair(spec, store, RunOptions(now=now))
    (old,) = fake.mailboxes[mailbox].events
    outlook.remove(fake, mailbox, old)
    outlook.put(fake, mailbox, "saved-again", event("e1", "visit, later", day="20270219"), imported=True)
    sync_pair(spec, store, RunOptions(now=now, full=True))
    assert list(business.texts("cal")) == ["e1.ics"]
    sync_pair(spec, store, RunOptions(now=now + timedelta(days=70), full=True))  # in the window by then
    assert scan(business.texts("cal")["e1.ics"]).facts.title == "visit, later"
    assert list(fake.mailboxes[mailbox].events) == ["saved-again"]


def test_an_outlook_event_is_found_by_its_icaluid_and_ours_by_its_key_only(
    fake: FakeGraph, connect: Connect, mailbox: str
) -> None:
    conn = connect(mailboxes=[mailbox])
    made_in_outlook = outlook.put(fake, mailbox, "outlook-1", event("whatever-outlook-said", day="20300601"))
    theirs = _ical_uid(fake, mailbox, made_in_outlook)
    ours = conn.create(mailbox, Content.from_text(event("order-7", day="20190301")), "order-7")
    ours_ical = _ical_uid(fake, mailbox, ours.href)  # not its identity: the key property is
    before = len(fake.seen)
    assert conn.locate(mailbox, [theirs, "order-7", ours_ical, "never-there"]) == {
        theirs: made_in_outlook,
        "order-7": ours.href,
    }
    asked = _requests(fake, before, inner=True)
    assert len(asked) == 8 and not _requests(fake, before, inner=False)  # two filters a key, in one batch
    assert all(Request("GET", "/", {}, s.headers).prefer("IdType") == "ImmutableId" for s in asked)


def test_a_key_differing_only_in_case_is_not_taken_and_every_page_is_read(
    fake: FakeGraph, connect: Connect, mailbox: str
) -> None:
    conn = connect(mailboxes=[mailbox])
    spellings = [_spelled("visit-at-customer", n) for n in range(1, 106)]  # Graph's filter matches them all
    for n, spelling in enumerate(spellings):
        outlook.put(fake, mailbox, f"other-{n}", event(spelling), key=True)
    exact = outlook.put(fake, mailbox, "exact", event("visit-at-customer", day="20320101"), key=True)
    before = len(fake.seen)
    assert conn.locate(mailbox, ["visit-at-customer"]) == {"visit-at-customer": exact}
    assert len(_requests(fake, before, inner=False)) == 1  # the filter's second page, behind its nextLink
    assert conn.locate(mailbox, ["VISIT-AT-CUSTOMER"]) == {}


def test_more_keys_than_are_queried_are_found_by_listing_every_page(
    fake: FakeGraph, connect: Connect, mailbox: str
) -> None:
    conn = connect(mailboxes=[mailbox])
    for n in range(130):  # two pages of identities (100 a page), events across a decade
        outlook.put(fake, mailbox, f"e-{n}", event(f"uid-{n}", day=f"20{20 + n % 10}0{1 + n % 9}15"), imported=True)
    present = [f"uid-{n}" for n in range(100, 130)]
    absent = [f"gone-{n}" for n in range(5)]
    assert len(present) + len(absent) > identities.QUERIED_KEYS
    before = len(fake.seen)
    assert conn.locate(mailbox, [*absent, *present]) == {f"uid-{n}": f"e-{n}" for n in range(100, 130)}
    assert len(_requests(fake, before, inner=False)) == 2  # both pages
    assert len(_requests(fake, before, inner=True)) == 2 * len(absent)  # then what they missed, by the filters


def test_a_key_a_filter_cannot_carry_whole_is_found_by_listing(fake: FakeGraph, connect: Connect, mailbox: str) -> None:
    conn = connect(mailboxes=[mailbox])
    key = "order/" + "x" * 300
    ref = conn.create(mailbox, Content.from_text(event(key)), key)
    before = len(fake.seen)
    assert conn.locate(mailbox, [key]) == {key: ref.href}
    assert [s.inner for s in _requests(fake, before)] == [False]  # one listing page


def test_a_failed_query_in_the_batch_raises(fake: FakeGraph, connect: Connect, mailbox: str) -> None:
    conn = connect(mailboxes=[mailbox])
    ref = conn.create(mailbox, Content.from_text(event("kept")), "kept")
    fake.inject(Fault(500, path="/calendar/events", method="GET", inner=True))
    with pytest.raises(ConnectorError):
        conn.locate(mailbox, ["kept", "gone"])
    assert conn.locate(mailbox, ["kept", "gone"]) == {"kept": ref.href}


def test_a_page_that_does_not_come_raises(fake: FakeGraph, connect: Connect, mailbox: str) -> None:
    conn = connect(mailboxes=[mailbox])
    for n in range(105):
        outlook.put(fake, mailbox, f"e-{n}", event(f"uid-{n}"), imported=True)
    fake.inject(Fault(503, path="$skip", times=10))
    with pytest.raises(ConnectorError):
        conn.locate(mailbox, [f"gone-{n}" for n in range(identities.QUERIED_KEYS + 1)])


def test_a_calendar_that_is_not_there_raises_not_found(connect: Connect) -> None:
    conn = connect(mailboxes=["nobody@contoso.onmicrosoft.com"])
    with pytest.raises(NotFound):
        conn.locate("nobody@contoso.onmicrosoft.com", ["any"])


def _spelled(text: str, number: int) -> str:
    """``text`` with its letters in upper case where ``number``'s bits say so (another spelling of it)."""
    letters = [i for i, c in enumerate(text) if c.isalpha()]
    chars = list(text)
    for bit, index in enumerate(letters):
        if number >> bit & 1:
            chars[index] = chars[index].upper()
    return "".join(chars)


def test_an_event_is_found_by_the_identity_get_gives_it(fake: FakeGraph, connect: Connect, mailbox: str) -> None:
    """An imported invitation whose UID holds a comma: ``get`` reads it into content whose identity (the one the
    engine links and later asks ``locate`` about) is the UID as iCalendar text spells it, the comma escaped."""
    conn = connect(mailboxes=[mailbox])
    href = outlook.put(fake, mailbox, "imported", event("visit\\,42", day="20300601"), imported=True)
    (got,) = conn.get(mailbox, [href])
    assert isinstance(got, Fetched)
    assert conn.locate(mailbox, [got.content.ident]) == {got.content.ident: href}


def test_an_event_saved_again_is_not_passed_on_as_deleted_whatever_its_uid_holds(
    fake: FakeGraph, connect: Connect, mailbox: str, store: SQLStore
) -> None:
    """The move of ``test_an_event_saved_again_far_ahead_is_a_move_to_the_engine_not_a_deletion``, of an event
    whose UID holds a comma: the business side must keep its copy."""
    spec, business = with_business("graph", connect(mailboxes=[mailbox]), mailbox)
    now = NOW
    outlook.put(fake, mailbox, "invite", event("e\\,1", "visit", day="20261122"), imported=True)
    sync_pair(spec, store, RunOptions(now=now))
    assert len(business.texts("cal")) == 1
    outlook.remove(fake, mailbox, "invite")
    outlook.put(fake, mailbox, "saved-again", event("e\\,1", "visit, later", day="20270219"), imported=True)
    sync_pair(spec, store, RunOptions(now=now, full=True))
    assert len(business.texts("cal")) == 1


def test_an_event_read_past_a_page_boundary_while_another_is_deleted_is_still_found() -> None:
    """Graph pages ``/events`` by offset (``$skip``), each page read from the calendar as it is when asked for:
    an event deleted from a page already read moves every later event a place back, and the first of the next
    page slips past the boundary unread. It is held all along, so it must not be left out."""
    calendar = [{"id": f"e-{n}", "iCalUId": f"uid-{n}"} for n in range(130)]

    class OffsetPaging:
        def pages(self, call: object, mailbox: str) -> Iterator[dict[str, object]]:
            skip = 0
            while skip < len(calendar):
                page: dict[str, object] = {"value": calendar[skip : skip + 100]}
                more = skip + 100 < len(calendar)
                if more:
                    page["@odata.nextLink"] = f"https://graph/v1.0/events?$skip={skip + 100}"
                yield page
                if not more:
                    return
                if skip == 0:
                    del calendar[5]  # the user deletes an event of the first page meanwhile
                skip += 100

        def batch(self, calls: list[Call], mailbox: str) -> list[Reply]:
            """The filters a key the listing missed is asked by, answered from the calendar as it now is."""
            asked = [re.search(r"iCalUId eq '([^']*)'", unquote(call.url)) for call in calls]
            return [Reply(200, {}, {"value": [e for e in calendar if m and e["iCalUId"] == m[1]]}) for m in asked]

    wanted = ["uid-100", *(f"gone-{n}" for n in range(identities.QUERIED_KEYS))]
    found = identities.locate(OffsetPaging(), "user@contoso.onmicrosoft.com", wanted, "graph")  # type: ignore[arg-type]
    assert found == {"uid-100": "e-100"}


def test_the_fake_pages_events_by_offset_and_a_deletion_between_pages_hides_no_held_event(
    fake: FakeGraph, connect: Connect, mailbox: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same slip through the fake, which pages ``/events`` by offset over the calendar as it then is: the
    user deletes an event of the first page while the listing reads, and the first event of the second page is
    still found."""
    conn = connect(mailboxes=[mailbox])
    for n in range(130):
        outlook.put(fake, mailbox, f"e-{n}", event(f"uid-{n}", day="20300601"), imported=True)
    pages = conn.transport.pages

    def deleting_meanwhile(call: Call, box: str) -> Iterator[dict[str, object]]:
        for number, page in enumerate(pages(call, box)):
            yield page
            if number == 0:
                outlook.remove(fake, mailbox, "e-5")

    monkeypatch.setattr(conn.transport, "pages", deleting_meanwhile)
    wanted = ["uid-100", *(f"gone-{n}" for n in range(identities.QUERIED_KEYS))]
    assert conn.locate(mailbox, wanted) == {"uid-100": "e-100"}


def test_a_key_no_filter_carries_is_left_out_only_when_a_second_listing_misses_it_too(
    fake: FakeGraph, connect: Connect, mailbox: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key holding an escape cannot be asked for by iCalUId, so a listing that missed it is not trusted either:
    it is looked for in a second one."""
    conn = connect(mailboxes=[mailbox])
    for n in range(130):
        outlook.put(fake, mailbox, f"e-{n}", event(f"uid\\,{n}", day="20300601"), imported=True)
    pages = conn.transport.pages
    listings = []

    def deleting_meanwhile(call: Call, box: str) -> Iterator[dict[str, object]]:
        listings.append(call.url)
        for number, page in enumerate(pages(call, box)):
            yield page
            if number == 0 and len(listings) == 1:
                outlook.remove(fake, mailbox, "e-5")

    monkeypatch.setattr(conn.transport, "pages", deleting_meanwhile)
    found = conn.locate(mailbox, ["uid\\,100", "uid\\,5", "uid\\,999"])
    assert found == {"uid\\,100": "e-100", "uid\\,5": "e-5"}  # e-5 was held when its page was read
    assert len(listings) == 2


def test_an_event_edited_in_outlook_keeps_the_identity_it_was_created_under(
    fake: FakeGraph, connect: Connect, mailbox: str, store: SQLStore
) -> None:
    """A business item whose UID holds a comma is created under its identity as the key; edited in Outlook, the
    event is read from its key property again and must give that same identity, or the business item is deleted
    and made again under another UID."""
    spec, business = with_business("graph", connect(mailboxes=[mailbox]), mailbox)
    now = NOW
    business.put_raw("cal", "b1.ics", event("b\\,1", "visit", day="20261122"))
    sync_pair(spec, store, RunOptions(now=now))
    (href,) = fake.mailboxes[mailbox].events
    outlook.put(fake, mailbox, href, event("b\\,1", "visit, edited", day="20261122"))
    sync_pair(spec, store, RunOptions(now=now))
    assert list(business.texts("cal")) == ["b1.ics"]
    assert scan(business.texts("cal")["b1.ics"]).facts.title == "visit, edited"
