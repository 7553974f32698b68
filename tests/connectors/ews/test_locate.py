"""Finding items by identity (``locate``) against the fake Exchange, and refusing answers it cannot trust.

Why: the engine takes every identity left out of ``locate``'s answer as deleted in the calendar and passes that
deletion on. So both ways of looking (one FindItem on the key property, then every item's identity listed for
what it did not find) must find items at any date by the identity ``get`` reads (the key property, else the
UID), must read every page, must read whole a value a summary cuts at 255 characters, and must raise rather
than answer from a failed request or a listing that stopped short.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from lxml import etree

from calsync.connectors.base import Fetched
from calsync.connectors.ews import folders, identities
from calsync.connectors.ews.connector import EwsConnector
from calsync.errors import ConnectorError
from calsync.model.canonical import scan
from calsync.model.content import Content
from calsync.state.sql import SQLStore
from calsync.sync.engine import RunOptions, sync_pair
from tests.connectors.ews import outlook
from tests.connectors.ews.conftest import new_mailbox
from tests.connectors.ews.fake import items
from tests.connectors.ews.fake.server import FakeEws, Fault
from tests.connectors.ews.fake.soap import m
from tests.connectors.pairing import NOW, with_business
from tests.samples import event, task

Connect = Callable[..., EwsConnector]


@pytest.fixture
def mailbox(fake: FakeEws) -> Iterator[str]:
    yield new_mailbox(fake)
    fake.faults.clear()


def _operations(fake: FakeEws, since: int) -> list[str]:
    """The item operations sent since ``since`` (GetFolder, for a connector's first look at a folder, left out)."""
    return [s.operation for s in fake.seen[since:] if s.operation != "GetFolder"]


def test_an_item_saved_again_far_ahead_is_a_move_to_the_engine_not_a_deletion(
    fake: FakeEws, connect: Connect, mailbox: str, store: SQLStore
) -> None:
    """A client that saves a move as a delete and a create of the same UID, under another id and 90 days later:
    the full sync's listing of the window misses both, and only the answer by identity tells it was moved."""
    spec, business = with_business("ews", connect(mailboxes=[mailbox]), mailbox)
    now = NOW
    business.put_raw("cal", "e1.ics", event("e1", "visit", day="20261122"))
    sync_pair(spec, store, RunOptions(now=now))
    (old,) = [s.id for s in fake.store.live(mailbox, "calendar")]
    outlook.remove(fake, mailbox, old)
    outlook.put(fake, mailbox, "saved-again", event("e1", "visit, later", day="20270219"))  # no key property
    sync_pair(spec, store, RunOptions(now=now, full=True))
    assert list(business.texts("cal")) == ["e1.ics"]
    sync_pair(spec, store, RunOptions(now=now + timedelta(days=70), full=True))  # in the window by then
    assert scan(business.texts("cal")["e1.ics"]).facts.title == "visit, later"
    assert [s.id for s in fake.store.live(mailbox, "calendar")] == ["saved-again"]


def test_an_outlook_item_is_found_by_its_uid_and_ours_by_its_key_only(
    fake: FakeEws, connect: Connect, mailbox: str
) -> None:
    conn = connect(mailboxes=[mailbox])
    made_in_outlook = outlook.put(fake, mailbox, "outlook-1", event("made-by-outlook", day="20350601"))
    ours = conn.create(mailbox, Content.from_text(event("order-7", day="20190301")), "order-7")
    ours_uid = fake.store.items[ours.href].value("UID")  # Exchange's own: not its identity, the key property is
    assert ours_uid and ours_uid != "order-7"
    before = len(fake.seen)
    found = conn.locate(mailbox, ["made-by-outlook", "order-7", ours_uid, "never-there"])
    assert found == {"made-by-outlook": made_in_outlook, "order-7": ours.href}
    assert _operations(fake, before) == ["FindItem", "GetItem", "SyncFolderItems"]  # by key, then the listing


def test_keys_the_key_property_holds_need_no_listing_and_every_page_of_the_query_is_read(
    fake: FakeEws, connect: Connect, mailbox: str
) -> None:
    conn = connect(mailboxes=[mailbox])
    first = outlook.put(fake, mailbox, "dup-0", event("copied"), key=True)
    for n in range(1, 101):  # copies that kept the key property: a page of matches before the other key
        outlook.put(fake, mailbox, f"dup-{n}", event("copied"), key=True)
    other = conn.create(mailbox, Content.from_text(event("other", day="20400101")), "other")
    before = len(fake.seen)
    assert conn.locate(mailbox, ["other", "copied"]) == {"other": other.href, "copied": first}
    asked = _operations(fake, before)
    assert asked.count("FindItem") == 2 and "SyncFolderItems" not in asked  # two pages of 100, no listing


def test_more_keys_than_are_queried_are_found_by_listing_every_page(
    fake: FakeEws, connect: Connect, mailbox: str
) -> None:
    conn = connect(mailboxes=[mailbox])
    for n in range(530):  # more than the 512 items one SyncFolderItems answer holds
        outlook.put(fake, mailbox, f"i-{n}", event(f"uid-{n}", day=f"20{20 + n % 10}0{1 + n % 9}15"))
    present = [f"uid-{n}" for n in range(510, 530)]
    absent = ["gone-1", "gone-2"]
    assert len(present) + len(absent) > identities.QUERIED_KEYS
    before = len(fake.seen)
    assert conn.locate(mailbox, [*absent, *present]) == {f"uid-{n}": f"i-{n}" for n in range(510, 530)}
    assert _operations(fake, before) == ["SyncFolderItems", "SyncFolderItems"]


def test_values_a_summary_cuts_are_read_whole(fake: FakeEws, connect: Connect, mailbox: str) -> None:
    conn = connect(mailboxes=[mailbox])
    long_key = "order/" + "x" * 300
    ours = conn.create(mailbox, Content.from_text(event(long_key)), long_key)
    cut = conn.create(mailbox, Content.from_text(event("other")), long_key[:255])  # what a summary shows of ours
    long_uid = "uid-" + "y" * 300
    theirs = outlook.put(fake, mailbox, "long-uid", event(long_uid, day="20310101"))
    before = len(fake.seen)
    assert conn.locate(mailbox, [long_key, long_uid, long_key[:255]]) == {
        long_key: ours.href,
        long_uid: theirs,
        long_key[:255]: cut.href,
    }
    assert _operations(fake, before) == ["SyncFolderItems", "GetItem"]  # too long to query; cut values read again


def test_a_failed_query_or_listing_raises(fake: FakeEws, connect: Connect, mailbox: str) -> None:
    conn = connect(mailboxes=[mailbox])
    kept = conn.create(mailbox, Content.from_text(event("kept")), "kept")
    fake.inject(Fault(code="ErrorInternalServerError", operation="FindItem"))
    with pytest.raises(ConnectorError):
        conn.locate(mailbox, ["kept"])
    fake.inject(Fault(code="ErrorMailboxStoreUnavailable", operation="SyncFolderItems"))
    with pytest.raises(ConnectorError):
        conn.locate(mailbox, ["kept", "gone"])
    assert conn.locate(mailbox, ["kept", "gone"]) == {"kept": kept.href}


def test_a_listing_that_stops_before_its_last_item_raises(
    fake: FakeEws, connect: Connect, mailbox: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = connect(mailboxes=[mailbox])
    outlook.put(fake, mailbox, "far", event("far-away", day="20380101"))
    answer = items.Ops.sync_folder_items

    def never_last(ops: items.Ops, call: object) -> etree._Element:
        top = answer(ops, call)  # type: ignore[arg-type]
        for flag in top.iter(m("IncludesLastItemInRange")):
            flag.text = "false"  # more to come, says every answer, under a state that no longer moves
        return top

    monkeypatch.setattr(items.Ops, "sync_folder_items", never_last)
    with pytest.raises(ConnectorError):
        conn.locate(mailbox, ["far-away"])


def test_the_tasks_folder_is_searched_the_same_way(fake: FakeEws, connect: Connect, mailbox: str) -> None:
    tasks = connect(mailboxes=[mailbox]).tasks()
    ours = tasks.create(mailbox, Content.from_text(task("call-back", due="20300101")), "call-back")
    theirs = outlook.put(fake, mailbox, "made-in-outlook", task("ignored"), folder="tasks")  # no UID: its id
    assert tasks.locate(mailbox, ["call-back", theirs, "gone"]) == {"call-back": ours.href, theirs: theirs}


def test_an_item_is_found_by_the_identity_get_gives_it(fake: FakeEws, connect: Connect, mailbox: str) -> None:
    """An invitation whose UID holds a comma: ``get`` reads it into content whose identity (the one the engine
    links and later asks ``locate`` about) is the UID as iCalendar text spells it, the comma escaped."""
    conn = connect(mailboxes=[mailbox])
    href = outlook.put(fake, mailbox, "theirs", event("visit\\,42", day="20300601"))
    (got,) = conn.get(mailbox, [href])
    assert isinstance(got, Fetched)
    assert conn.locate(mailbox, [got.content.ident]) == {got.content.ident: href}


def test_an_item_saved_again_is_not_passed_on_as_deleted_whatever_its_uid_holds(
    fake: FakeEws, connect: Connect, mailbox: str, store: SQLStore
) -> None:
    """The move of ``test_an_item_saved_again_far_ahead_is_a_move_to_the_engine_not_a_deletion``, of an item made
    in Outlook whose UID holds a comma: the business side must keep its copy."""
    spec, business = with_business("ews", connect(mailboxes=[mailbox]), mailbox)
    now = NOW
    outlook.put(fake, mailbox, "invite", event("e\\,1", "visit", day="20261122"))
    sync_pair(spec, store, RunOptions(now=now))
    assert len(business.texts("cal")) == 1
    outlook.remove(fake, mailbox, "invite")
    outlook.put(fake, mailbox, "saved-again", event("e\\,1", "visit, later", day="20270219"))
    sync_pair(spec, store, RunOptions(now=now, full=True))
    assert len(business.texts("cal")) == 1


def test_an_item_edited_in_outlook_keeps_the_identity_it_was_created_under(
    fake: FakeEws, connect: Connect, mailbox: str, store: SQLStore
) -> None:
    """A business item whose UID holds a comma is created under its identity as the key; edited in Outlook, the
    item is read from its key property again and must give that same identity, or the business item is deleted
    and made again under another UID."""
    spec, business = with_business("ews", connect(mailboxes=[mailbox]), mailbox)
    now = NOW
    business.put_raw("cal", "b1.ics", event("b\\,1", "visit", day="20261122"))
    sync_pair(spec, store, RunOptions(now=now))
    (href,) = [s.id for s in fake.store.live(mailbox, "calendar")]
    outlook.put(fake, mailbox, href, event("b\\,1", "visit, edited", day="20261122"))
    sync_pair(spec, store, RunOptions(now=now))
    assert list(business.texts("cal")) == ["b1.ics"]
    assert scan(business.texts("cal")["b1.ics"]).facts.title == "visit, edited"


def test_an_item_written_before_its_key_was_read_as_an_identity_reads_back_unchanged(
    fake: FakeEws, connect: Connect, mailbox: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written the way calsync once wrote it (the key itself the projection's UID, so the residue is signed with a
    comma escaped twice), an item untouched since must still give back the text written, not its projection as
    if edited in Outlook: or every such item would look changed once after an upgrade."""
    conn = connect(mailboxes=[mailbox])
    content = Content.from_text(event("b\\,1", extra="X-CALSYNC-KIND:order-line\r\n"))
    with monkeypatch.context() as earlier:
        earlier.setattr(folders, "uid_of_ident", lambda ident: ident)
        ref = conn.create(mailbox, content, content.ident)
    (got,) = conn.get(mailbox, [ref.href])
    assert isinstance(got, Fetched)
    assert got.content.digest == content.digest and got.content.ident == "b\\,1"


@pytest.mark.parametrize("fold_case", [False, True])
def test_keys_differing_in_case_are_other_items_to_a_create_and_to_locate(
    fake: FakeEws, connect: Connect, mailbox: str, monkeypatch: pytest.MonkeyPatch, fold_case: bool
) -> None:
    """Should Exchange compare the key property ignoring case (not documented either way; Graph does), a create of
    ``order-7`` beside ``Order-7`` met that item and failed as "exists with other content" at every run."""
    monkeypatch.setattr(items, "FOLD_CASE", fold_case)
    conn = connect(mailboxes=[mailbox])
    first = conn.create(mailbox, Content.from_text(event("Order-7", "first")), "Order-7")
    second = conn.create(mailbox, Content.from_text(event("order-7", "second")), "order-7")
    assert first.href != second.href
    assert conn.create(mailbox, Content.from_text(event("order-7", "second")), "order-7") == second
    assert conn.locate(mailbox, ["order-7", "Order-7"]) == {"order-7": second.href, "Order-7": first.href}
