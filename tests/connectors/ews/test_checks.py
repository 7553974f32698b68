""" "Check connection" and "check users" against the fake Exchange: the version reached, and every mailbox that
cannot be opened with the reason, by impersonation and as a delegate."""

from __future__ import annotations

from collections.abc import Callable

from calsync.connectors.base import Checkable
from calsync.connectors.ews.connector import EwsConnector
from calsync.connectors.ews.settings import Access
from tests.connectors.ews.conftest import new_mailbox
from tests.connectors.ews.fake.server import FakeEws


def test_the_server_line_names_the_version_reached(fake: FakeEws, connect: Callable[..., EwsConnector]) -> None:
    conn = connect(version="")
    assert isinstance(conn, Checkable)
    report = conn.check_connection([])
    assert report.ok
    assert report.server.line == "Connected to Exchange 15.1 (build 15.1.2507.6)"


def test_impersonation_reports_each_mailbox_it_cannot_open(fake: FakeEws, connect: Callable[..., EwsConnector]) -> None:
    fake.add_account("svc-noimp@contoso.com", "noimp-password", "svc-noimp@contoso.com")
    good = new_mailbox(fake)
    conn = connect(mailboxes=[good])
    report = conn.check_connection([good, "nobody@contoso.com"])
    assert [p.problem for p in report.principals] == ["ok", "mailbox_not_found"]
    refused = connect(username="svc-noimp@contoso.com", password="noimp-password")
    (one,) = refused.check_connection([good]).principals
    assert one.problem == "no_impersonation" and "ApplicationImpersonation" in one.line


def test_delegate_access_reports_each_mailbox_it_cannot_open(
    fake: FakeEws, connect: Callable[..., EwsConnector]
) -> None:
    shared, private = new_mailbox(fake), new_mailbox(fake, delegate=False)
    conn = connect(access=Access.DELEGATE, mailboxes=[shared, private])
    report = conn.check_connection([shared, private])
    assert not report.ok
    assert [(p.subject, p.problem) for p in report.principals] == [
        (shared, "ok"),
        (private, "no_delegate_access"),
    ]
    assert report.lines()[0].startswith("Connected to Exchange 15.1")


def test_a_wrong_password_is_the_answer_not_an_exception(fake: FakeEws, connect: Callable[..., EwsConnector]) -> None:
    report = connect(password="not-the-password").check_connection(["someone@contoso.com"])
    assert report.server.problem == "bad_password"
    assert "not-the-password" not in " ".join(report.lines())
    assert [p.problem for p in report.principals] == ["unreachable"]


def test_an_untrusted_certificate_is_a_tls_problem(fake: FakeEws, connect: Callable[..., EwsConnector]) -> None:
    report = connect(ca_bundle=None).check_connection()
    assert report.server.problem == "tls"
