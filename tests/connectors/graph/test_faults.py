"""Faults the fake injects and how the connector meets them: throttling (also inside a batch), 503, an
expired delta link, an expired token, a timed-out create, refused credentials and access policies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from calsync.connectors.base import Fetched
from calsync.connectors.graph.connector import GraphConnector
from calsync.errors import AuthError, PreconditionFailed, ReadOnly, Unavailable
from calsync.model.content import Content
from tests.connectors.graph import outlook
from tests.connectors.graph.conftest import CLIENT_ID, new_mailbox
from tests.connectors.graph.fake.auth import App
from tests.connectors.graph.fake.server import FakeGraph, Fault
from tests.samples import event

Connect = Callable[..., GraphConnector]


def test_throttling_waits_for_retry_after_then_succeeds(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    waits: list[float] = []
    conn = connect(sleep=waits.append)
    fake.inject(Fault(429, path=mailbox, method="POST", retry_after=0.2, inner=False))
    fake.inject(Fault(503, path=mailbox, method="POST", inner=False))
    ref = conn.create(mailbox, Content.from_text(event("f1")), "f1")
    assert waits[0] == 0.2 and len(waits) == 2
    assert len(fake.mailboxes[mailbox].events) == 1 and ref.href in fake.mailboxes[mailbox].events


def test_a_429_inside_a_200_batch_is_retried_alone(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    waits: list[float] = []
    conn = connect(sleep=waits.append)
    refs = [conn.create(mailbox, Content.from_text(event(f"b{i}")), f"b{i}") for i in range(3)]
    fault = fake.inject(Fault(429, path=refs[1].href, retry_after=0.1, inner=True))
    got = list(conn.get(mailbox, [r.href for r in refs]))
    assert fault.times == 0 and waits == [0.1]
    assert all(isinstance(g, Fetched) for g in got)
    assert [g.ref for g in got if isinstance(g, Fetched)] == refs


def test_throttling_that_does_not_end_is_an_error(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    conn = connect()
    fake.inject(Fault(503, path=mailbox, times=10, inner=False))
    with pytest.raises(Unavailable):
        conn.create(mailbox, Content.from_text(event("f2")), "f2")
    fake.faults.clear()


def test_an_expired_delta_link_starts_again_with_a_full_listing(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    conn = connect()
    ref = conn.create(mailbox, Content.from_text(event("d1")), "d1")
    token = conn.changes(mailbox, None).token
    fake.inject(Fault(410, path="$deltatoken", inner=False))
    again = conn.changes(mailbox, token)
    assert again.complete and ref in again.changed


def test_delta_tells_deleted_from_left_the_range(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    conn = connect(delta_days=(30, 30))
    moved = conn.create(mailbox, Content.from_text(event("m1")), "m1")
    gone = conn.create(mailbox, Content.from_text(event("m2")), "m2")
    token = conn.changes(mailbox, None).token
    outlook.put(fake, mailbox, moved.href, event("m1", day="20280101"))
    outlook.remove(fake, mailbox, gone.href)
    changes = conn.changes(mailbox, token)
    assert [r.href for r in changes.changed] == [moved.href]
    assert list(changes.deleted) == [gone.href]


def test_an_event_made_while_the_first_listing_runs_is_reported_next_time(fake: FakeGraph, connect: Connect) -> None:
    """The first changes() lists /events and takes a delta link. Listed before the delta round, an event a user made
    in between was in neither the listing nor any later round (already in the link's snapshot): never reported."""
    mailbox = new_mailbox(fake)
    conn = connect()
    conn.create(mailbox, Content.from_text(event("r1")), "r1")
    real_pages = conn.transport.pages
    made: list[str] = []

    def pages(call, box):  # type: ignore[no-untyped-def]
        yield from real_pages(call, box)
        if "/events?" in call.url and not made:  # the listing just ended: a user adds an event now
            made.append(outlook.put(fake, mailbox, "AAMkAGuser-made-1", event("u1", "Dentist")))

    conn.transport.pages = pages  # type: ignore[method-assign]
    first = conn.changes(mailbox, None)
    conn.transport.pages = real_pages  # type: ignore[method-assign]
    assert made and made[0] not in {r.href for r in first.changed}
    later = conn.changes(mailbox, first.token)
    assert made[0] in {r.href for r in later.changed}


def test_an_expired_token_is_renewed_once(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    conn = connect()
    conn.create(mailbox, Content.from_text(event("e1")), "e1")
    issued = fake.tokens.issued
    fake.expire_tokens()
    assert len(conn.list(mailbox, None)) == 1
    assert fake.tokens.issued == issued + 1


def test_a_create_retried_after_a_timeout_leaves_exactly_one_event(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    conn = connect(timeout=0.5)
    content = Content.from_text(event("t1", "Boiler service"))
    fake.inject(Fault(0, path=mailbox + "/calendar/events", method="POST", delay=1.0, inner=False))
    with pytest.raises(Unavailable):
        conn.create(mailbox, content, "t1")
    ref = conn.create(mailbox, content, "t1")
    assert list(fake.mailboxes[mailbox].events) == [ref.href]


def test_a_stale_etag_is_refused(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    conn = connect()
    ref = conn.create(mailbox, Content.from_text(event("p1")), "p1")
    outlook.put(fake, mailbox, ref.href, event("p1", "theirs"))
    with pytest.raises(PreconditionFailed):
        conn.update(mailbox, ref, Content.from_text(event("p1", "ours")))


def test_attendees_are_never_written_and_meetings_of_others_never_changed(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    conn = connect()
    attendee = "ATTENDEE;CN=Bob;PARTSTAT=NEEDS-ACTION:mailto:bob@example.com\r\n"
    content = Content.from_text(event("a1", extra="ORGANIZER:mailto:x@example.com\r\n" + attendee))
    ref = conn.create(mailbox, content, "a1")
    assert "Visit" not in fake.invitations
    (got,) = conn.get(mailbox, [ref.href])
    assert isinstance(got, Fetched) and got.content.digest == content.digest
    with fake.lock:
        stored = fake.mailboxes[mailbox].events[ref.href]
        stored.data.update(isOrganizer=False, attendees=[{"emailAddress": {"address": "bob@example.com"}}])
        stored.data["organizer"] = {"emailAddress": {"address": "boss@contoso.com"}}
    with pytest.raises(ReadOnly, match=r"boss@contoso\.com"):
        conn.update(mailbox, ref, Content.from_text(event("a1", "changed")))


def test_a_meeting_the_mailbox_organises_with_attendees_is_never_changed(fake: FakeGraph, connect: Connect) -> None:
    """Graph has no SendToNone: a DELETE of the organiser's copy mails every attendee a cancellation, a PATCH of
    its times or subject an update. Such a meeting (made in Outlook: calsync writes no attendees) is refused with
    a per-item ReadOnly, and nothing is sent to Graph."""
    mailbox = new_mailbox(fake)
    conn = connect()
    body = {
        "subject": "Quarterly review",
        "start": {"dateTime": "2026-12-03T10:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2026-12-03T11:00:00", "timeZone": "W. Europe Standard Time"},
        "isOrganizer": True,
        "organizer": {"emailAddress": {"address": mailbox}},
        "attendees": [
            {
                "type": "required",
                "emailAddress": {"address": "customer@fabrikam.com", "name": "C"},
                "status": {"response": "accepted"},
            }
        ],
    }
    with fake.lock:
        href = str(fake.mailboxes[mailbox].add(body).data["id"])
    (got,) = conn.get(mailbox, [href])
    assert isinstance(got, Fetched) and got.content.item.attendees
    moved = Content.from_item(replace(got.content.item, title="Quarterly review (moved)"))
    with pytest.raises(ReadOnly, match="mail every attendee"):
        conn.update(mailbox, got.ref, moved)
    with pytest.raises(ReadOnly, match="mail every attendee"):
        conn.delete(mailbox, got.ref)
    assert not [s for s in fake.seen if s.method in ("PATCH", "DELETE") and href in s.path]
    assert fake.mailboxes[mailbox].events[href].data["subject"] == "Quarterly review"


def test_requests_per_mailbox_never_exceed_four_at_once(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    conn = connect()
    refs = [conn.create(mailbox, Content.from_text(event(f"c{i}")), f"c{i}") for i in range(25)]
    assert len(list(conn.get(mailbox, [r.href for r in refs]))) == 25
    assert fake.max_in_flight[mailbox] <= 4


@pytest.mark.parametrize(
    ("app", "message"),
    [
        (App("wrong", secret="other"), "client secret is wrong"),
        (App("expired", secret="s3cret-value", secret_expired=True), "client secret has expired"),
        (App("unconsented", secret="s3cret-value", consented=False), "admin consent"),
    ],
)
def test_refused_credentials_say_what_to_fix(fake: FakeGraph, connect: Connect, app: App, message: str) -> None:
    mailbox = new_mailbox(fake)
    fake.apps[app.client_id] = app
    conn = connect(client_id=app.client_id, client_secret="s3cret-value")
    with pytest.raises(AuthError, match=message) as info:
        conn.list(mailbox, None)
    assert "s3cret-value" not in str(info.value)


def test_a_mailbox_outside_the_access_policy_is_named_plainly(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    fake.apps["policy"] = App("policy", secret="s3cret-value", allowed={"someone@contoso.onmicrosoft.com"})
    conn = connect(client_id="policy", client_secret="s3cret-value")
    with pytest.raises(AuthError, match="application access policy"):
        conn.list(mailbox, None)
    assert CLIENT_ID in fake.apps
