"""Throttling, outages, refused rights and lost races, injected in the fake Exchange: the connector backs off
within its bounds, retries only what Exchange did not do, and reports the rest as calsync errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from calsync.connectors.base import Fetched, FetchFailed
from calsync.connectors.ews.connector import EwsConnector
from calsync.connectors.ews.settings import Access, Patience
from calsync.errors import AuthError, NotFound, PreconditionFailed, RateLimited, Unavailable
from calsync.model.content import Content
from tests.connectors.ews.conftest import new_mailbox
from tests.connectors.ews.fake.server import FakeEws, Fault
from tests.samples import event

ATTENDEE = "ATTENDEE;CN=Bob;ROLE=REQ-PARTICIPANT:mailto:bob@contoso.com\r\nORGANIZER:mailto:{mailbox}\r\n"


@pytest.fixture(autouse=True)
def _clear(fake: FakeEws) -> None:
    fake.faults.clear()


def _patient(slept: list[float], **options: float) -> Patience:
    values = {"attempts": 4, "max_wait": 5.0, "timeout": 2.0} | options
    return Patience(int(values["attempts"]), values["max_wait"], values["timeout"], sleep=slept.append)


def _one(fake: FakeEws, connect: Callable[..., EwsConnector], **options: object) -> tuple[EwsConnector, str]:
    mailbox = new_mailbox(fake)
    return connect(mailboxes=[mailbox], **options), mailbox


def test_server_busy_is_waited_out_for_the_back_off_it_asks(
    fake: FakeEws, connect: Callable[..., EwsConnector]
) -> None:
    slept: list[float] = []
    conn, mailbox = _one(fake, connect, patience=_patient(slept))
    fake.inject(Fault(code="ErrorServerBusy", operation="CreateItem", times=2, back_off_ms=250))
    conn.create(mailbox, Content.from_text(event("b1")), "b1")
    assert slept == [0.25, 0.25]
    assert len(conn.list(mailbox, None)) == 1


def test_server_busy_beyond_the_bound_is_rate_limited(fake: FakeEws, connect: Callable[..., EwsConnector]) -> None:
    slept: list[float] = []
    conn, mailbox = _one(fake, connect, patience=_patient(slept, max_wait=1.0))
    fake.inject(Fault(code="ErrorServerBusy", operation="FindItem", times=9, back_off_ms=600))
    with pytest.raises(RateLimited) as caught:
        conn.list(mailbox, None)
    assert caught.value.retry_after == 0.6 and slept == [0.6]


@pytest.mark.parametrize("status", [503, 429])
def test_throttled_http_answers_wait_for_retry_after(
    fake: FakeEws, connect: Callable[..., EwsConnector], status: int
) -> None:
    slept: list[float] = []
    conn, mailbox = _one(fake, connect, patience=_patient(slept))
    ref = conn.create(mailbox, Content.from_text(event("h1")), "h1")
    fake.inject(Fault(status=status, operation="GetItem", times=2, retry_after=2))
    (got,) = conn.get(mailbox, [ref.href])
    assert isinstance(got, Fetched) and slept == [2.0, 2.0]


@pytest.mark.parametrize(("status", "error"), [(503, Unavailable), (429, RateLimited)])
def test_throttling_that_outlasts_the_attempts_is_an_error(
    fake: FakeEws, connect: Callable[..., EwsConnector], status: int, error: type[Exception]
) -> None:
    slept: list[float] = []
    conn, mailbox = _one(fake, connect, patience=_patient(slept, attempts=3))
    fake.inject(Fault(status=status, operation="FindItem", times=5, retry_after=0))
    with pytest.raises(error):
        conn.list(mailbox, None)
    assert len(slept) == 2


def test_an_irresolvable_conflict_is_a_precondition_failure(
    fake: FakeEws, connect: Callable[..., EwsConnector]
) -> None:
    conn, mailbox = _one(fake, connect)
    ref = conn.create(mailbox, Content.from_text(event("x1", "ours")), "x1")
    fake.inject(Fault(code="ErrorIrresolvableConflict", operation="UpdateItem"))
    with pytest.raises(PreconditionFailed):
        conn.update(mailbox, ref, Content.from_text(event("x1", "new")))
    update = [s for s in fake.seen if s.operation == "UpdateItem"][-1]
    assert update.attributes["ConflictResolution"] == "NeverOverwrite"


def test_writes_never_send_invitations_or_cancellations(fake: FakeEws, connect: Callable[..., EwsConnector]) -> None:
    conn, mailbox = _one(fake, connect)
    text = event("m1", extra=ATTENDEE.format(mailbox=mailbox))
    ref = conn.create(mailbox, Content.from_text(text), "m1")
    conn.delete(mailbox, ref)
    sent = {s.operation: s.attributes for s in fake.seen if s.operation in ("CreateItem", "DeleteItem")}
    assert sent["CreateItem"]["SendMeetingInvitations"] == "SendToNone"
    assert sent["DeleteItem"]["SendMeetingCancellations"] == "SendToNone"
    assert mailbox not in fake.invitations


def test_an_item_the_server_cannot_find_is_a_value(fake: FakeEws, connect: Callable[..., EwsConnector]) -> None:
    conn, mailbox = _one(fake, connect)
    ref = conn.create(mailbox, Content.from_text(event("n1")), "n1")
    fake.inject(Fault(code="ErrorItemNotFound", operation="GetItem"))
    (got,) = conn.get(mailbox, [ref.href])
    assert isinstance(got, FetchFailed) and isinstance(got.error, NotFound)


def test_refused_impersonation_is_an_auth_error(fake: FakeEws, connect: Callable[..., EwsConnector]) -> None:
    fake.add_account("svc-other@contoso.com", "other-password", "svc-other@contoso.com")
    mailbox = new_mailbox(fake)
    conn = connect(mailboxes=[mailbox], username="svc-other@contoso.com", password="other-password")
    with pytest.raises(AuthError, match="ErrorImpersonateUserDenied"):
        conn.list(mailbox, None)


def test_a_calendar_without_delegate_access_is_an_auth_error(
    fake: FakeEws, connect: Callable[..., EwsConnector]
) -> None:
    mailbox = new_mailbox(fake, delegate=False)
    conn = connect(mailboxes=[mailbox], access=Access.DELEGATE)
    with pytest.raises(AuthError, match="ErrorAccessDenied"):
        conn.list(mailbox, None)


def test_a_wrong_password_is_an_auth_error_at_once(fake: FakeEws, connect: Callable[..., EwsConnector]) -> None:
    slept: list[float] = []
    mailbox = new_mailbox(fake)
    conn = connect(mailboxes=[mailbox], password="wrong", patience=_patient(slept))
    with pytest.raises(AuthError):
        conn.list(mailbox, None)
    assert slept == []


def test_a_retried_create_after_a_timeout_leaves_exactly_one_item(
    fake: FakeEws, connect: Callable[..., EwsConnector]
) -> None:
    slept: list[float] = []
    conn, mailbox = _one(fake, connect, patience=_patient(slept, timeout=0.3))
    fake.inject(Fault(operation="CreateItem", delay=0.8))
    content = Content.from_text(event("to1", "Boiler service"))
    with pytest.raises(Unavailable):
        conn.create(mailbox, content, "to1")
    ref = conn.create(mailbox, content, "to1")
    assert [r.href for r in conn.list(mailbox, None)] == [ref.href]
    assert len([s for s in fake.seen if s.operation == "CreateItem" and s.impersonated == mailbox]) == 1


def test_a_sync_state_exchange_forgot_starts_a_full_listing(
    fake: FakeEws, connect: Callable[..., EwsConnector]
) -> None:
    conn, mailbox = _one(fake, connect)
    ref = conn.create(mailbox, Content.from_text(event("s1")), "s1")
    token = conn.changes(mailbox, None).token
    fake.inject(Fault(code="ErrorInvalidSyncStateData", operation="SyncFolderItems"))
    again = conn.changes(mailbox, token)
    assert again.complete and ref in again.changed
