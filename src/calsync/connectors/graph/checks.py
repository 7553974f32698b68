"""Check connection and check users: can calsync get a token for the tenant, and reach each mapped mailbox?

Each answer is a value with a ``Problem`` (data the admin UI can act on) and one line of plain words (what the
admin reads); the values are the connector port's ``Check`` and ``ConnectionReport`` (``connectors.base``), so the
check service reads a Graph report as it reads any other. Nothing here raises for what it checks: a refused token
or an unreachable mailbox is the answer. The secret never appears: lines are built from our own words and Graph's
error codes and messages, which do not contain it.
https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
https://learn.microsoft.com/en-us/graph/auth-limit-mailbox-access
https://learn.microsoft.com/en-us/graph/api/user-list-calendars
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from calsync.connectors import base
from calsync.connectors.graph import operations
from calsync.connectors.graph.auth import TokenRefused, TokenSource
from calsync.connectors.graph.transport import Reply, Transport
from calsync.errors import AuthError, Unavailable


class Problem(StrEnum):
    """What is wrong, as data; ``OK`` when nothing is."""

    OK = "ok"
    BAD_SECRET = "bad_secret"
    EXPIRED_SECRET = "expired_secret"
    BAD_CERTIFICATE = "bad_certificate"
    UNKNOWN_APP = "unknown_app"
    UNKNOWN_TENANT = "unknown_tenant"
    NO_CONSENT = "no_consent"
    UNREACHABLE = "unreachable"
    ACCESS_POLICY = "access_policy"
    PERMISSION_MISSING = "permission_missing"
    MAILBOX_NOT_FOUND = "mailbox_not_found"
    NO_MAILBOX = "no_mailbox"
    NOT_CHECKED = "not_checked"
    OTHER = "other"


_WORDS = {
    Problem.OK: "OK",
    Problem.BAD_SECRET: "the client secret is wrong: store the secret's value (not its id) again",
    Problem.EXPIRED_SECRET: "the client secret has expired: create a new one in the app registration and store it",
    Problem.BAD_CERTIFICATE: "the certificate was not accepted: upload its public part to the app registration",
    Problem.UNKNOWN_APP: "the application (client) id is not registered in this tenant",
    Problem.UNKNOWN_TENANT: "the tenant cannot be found: check the tenant id",
    Problem.NO_CONSENT: "admin consent is missing: an administrator must grant it to the app's permissions",
    Problem.UNREACHABLE: "cannot be reached",
    Problem.ACCESS_POLICY: "outside the app's application access policy: add it to the policy's mail-enabled group",
    Problem.PERMISSION_MISSING: "access denied: the app lacks Calendars.ReadWrite or its admin consent",
    Problem.MAILBOX_NOT_FOUND: "no such user in the tenant: check the address",
    Problem.NO_MAILBOX: "the user has no Exchange Online mailbox (no licence, or the mailbox is on-premises)",
    Problem.NOT_CHECKED: "not checked: no token for the tenant",
    Problem.OTHER: "failed",
}


@dataclass(frozen=True, slots=True)
class Check(base.Check):
    """The answer for one subject (the tenant, or one mailbox): the port's ``Check`` with a Graph ``Problem``."""

    problem: Problem

    @property
    def ok(self) -> bool:
        return self.problem is Problem.OK


@dataclass(frozen=True, slots=True)
class ConnectionReport(base.ConnectionReport):
    """The port's report: the tenant's check is the server's, each mailbox's a principal's, in the order asked."""

    server: Check
    principals: tuple[Check, ...] = ()

    @property
    def tenant(self) -> Check:
        """The tenant's check (the port's ``server``)."""
        return self.server

    @property
    def mailboxes(self) -> tuple[Check, ...]:
        """Each mailbox's check (the port's ``principals``)."""
        return self.principals


def check_connection(
    tokens: TokenSource, transport: Transport, tenant: str, mailboxes: Sequence[str]
) -> ConnectionReport:
    """Ask for a token, then read each mailbox's calendar list (the cheapest call the sync itself needs)."""
    subject = f"tenant {tenant}"
    try:
        tokens.token()
    except TokenRefused as exc:
        problem = _reason(exc.reason)
        detail = _WORDS[problem] if problem is not Problem.OTHER else str(exc)
        skipped = tuple(_check(m, Problem.NOT_CHECKED) for m in mailboxes)
        return ConnectionReport(Check(subject, problem, f"{subject}: {detail}"), skipped)
    except Unavailable as exc:
        skipped = tuple(_check(m, Problem.NOT_CHECKED) for m in mailboxes)
        return ConnectionReport(Check(subject, Problem.UNREACHABLE, f"{subject}: {exc}"), skipped)
    tenant_check = Check(subject, Problem.OK, f"{subject}: OK (token granted)")
    return ConnectionReport(tenant_check, tuple(check_mailbox(transport, m) for m in mailboxes))


def check_mailbox(transport: Transport, mailbox: str) -> Check:
    """One mailbox: reachable, or the plain reason it is not."""
    try:
        reply = transport.send(operations.list_calendars(mailbox), mailbox)
    except (Unavailable, AuthError) as exc:
        return Check(mailbox, Problem.UNREACHABLE, f"{mailbox}: {_WORDS[Problem.UNREACHABLE]}: {exc}")
    problem = classify(reply)
    found = reply.body.get("error")
    answer = f"Graph answered {reply.status} {found.get('code', '') if isinstance(found, dict) else ''}".strip()
    if problem is Problem.OTHER:
        return Check(mailbox, problem, f"{mailbox}: {answer}")
    if problem is Problem.UNREACHABLE:
        return Check(mailbox, problem, f"{mailbox}: {_WORDS[problem]} ({answer}, even after retrying)")
    return _check(mailbox, problem)


def classify(reply: Reply) -> Problem:
    """The problem a mailbox request's reply shows (pure)."""
    if reply.ok:
        return Problem.OK
    found = reply.body.get("error")
    error = found if isinstance(found, dict) else {}
    code, message = str(error.get("code") or ""), str(error.get("message") or "")
    if reply.status == 404:
        return Problem.NO_MAILBOX if code == "MailboxNotEnabledForRESTAPI" else Problem.MAILBOX_NOT_FOUND
    if reply.status == 403 and ("AccessPolicy" in message or "RAOP" in message):
        return Problem.ACCESS_POLICY
    if reply.status in (401, 403):
        return Problem.PERMISSION_MISSING
    if reply.status in (429, 503, 504):
        return Problem.UNREACHABLE
    return Problem.OTHER


def _check(mailbox: str, problem: Problem) -> Check:
    return Check(mailbox, problem, f"{mailbox}: {_WORDS[problem]}")


def _reason(reason: str) -> Problem:
    try:
        return Problem(reason)
    except ValueError:
        return Problem.OTHER
