"""Check connection / check users: each failure named plainly, per tenant and per mailbox, without the secret."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from calsync.connectors.graph.checks import Problem
from calsync.connectors.graph.connector import GraphConnector
from tests.connectors.graph.conftest import new_mailbox
from tests.connectors.graph.fake.auth import App
from tests.connectors.graph.fake.server import FakeGraph, Fault

Connect = Callable[..., GraphConnector]
SECRET = "check-secret-value-42"


def test_a_healthy_tenant_and_mailboxes_are_ok(fake: FakeGraph, connect: Connect) -> None:
    alice, bob = new_mailbox(fake), new_mailbox(fake)
    report = connect(mailboxes=[alice, bob]).check_connection()
    assert report.ok and [c.problem for c in report.mailboxes] == [Problem.OK, Problem.OK]
    assert report.lines() == [f"tenant {fake.tenant}: OK (token granted)", f"{alice}: OK", f"{bob}: OK"]


@pytest.mark.parametrize(
    ("app", "problem", "words"),
    [
        (App("chk-wrong", secret="other"), Problem.BAD_SECRET, "client secret is wrong"),
        (App("chk-expired", secret=SECRET, secret_expired=True), Problem.EXPIRED_SECRET, "has expired"),
        (App("chk-unconsented", secret=SECRET, consented=False), Problem.NO_CONSENT, "admin consent is missing"),
    ],
)
def test_tenant_failures_are_named_and_mailboxes_not_checked(
    fake: FakeGraph, connect: Connect, app: App, problem: Problem, words: str
) -> None:
    mailbox = new_mailbox(fake)
    fake.apps[app.client_id] = app
    report = connect(client_id=app.client_id, client_secret=SECRET, mailboxes=[mailbox]).check_connection()
    assert not report.ok and report.tenant.problem is problem and words in report.tenant.line
    assert [c.problem for c in report.mailboxes] == [Problem.NOT_CHECKED]
    assert all(SECRET not in line for line in report.lines()) and SECRET not in repr(report)


def test_an_unknown_app_is_named(fake: FakeGraph, connect: Connect) -> None:
    report = connect(client_id="not-registered", mailboxes=[]).check_connection()
    assert report.tenant.problem is Problem.UNKNOWN_APP and "not registered" in report.tenant.line


def test_each_mailbox_says_what_fails(fake: FakeGraph, connect: Connect) -> None:
    inside, outside, unlicensed = new_mailbox(fake), new_mailbox(fake), new_mailbox(fake)
    fake.apps["chk-policy"] = App("chk-policy", secret=SECRET, allowed={inside, unlicensed})
    fake.inject(Fault(404, path=unlicensed, code="MailboxNotEnabledForRESTAPI"))
    ghost = "ghost@contoso.onmicrosoft.com"
    conn = connect(client_id="chk-policy", client_secret=SECRET)
    report = conn.check_connection([inside, outside, ghost, unlicensed])
    assert report.tenant.ok and not report.ok
    problems = [c.problem for c in report.mailboxes]
    assert problems == [Problem.OK, Problem.ACCESS_POLICY, Problem.MAILBOX_NOT_FOUND, Problem.NO_MAILBOX]
    assert report.lines()[2] == f"{outside}: outside the app's application access policy: add it to the policy's " + (
        "mail-enabled group"
    )
    assert report.lines()[3] == f"{ghost}: no such user in the tenant: check the address"


def test_an_unreachable_mailbox_is_a_line_not_an_exception(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    fake.inject(Fault(503, path=mailbox, times=10))
    report = connect(mailboxes=[mailbox]).check_connection()
    fake.faults.clear()
    assert report.tenant.ok and report.mailboxes[0].problem is Problem.UNREACHABLE
    line = f"{mailbox}: cannot be reached (Graph answered 503 ServiceNotAvailable, even after retrying)"
    assert report.mailboxes[0].line == line


def test_another_refusal_is_reported_with_graphs_code(fake: FakeGraph, connect: Connect) -> None:
    mailbox = new_mailbox(fake)
    fake.inject(Fault(400, path=mailbox, code="ErrorInvalidRequest"))
    report = connect(mailboxes=[mailbox]).check_connection()
    assert report.mailboxes[0].problem is Problem.OTHER
    assert report.mailboxes[0].line == f"{mailbox}: Graph answered 400 ErrorInvalidRequest"
