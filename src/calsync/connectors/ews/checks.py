""" "Check connection" and "check users": reach the server, then open each mailbox, and say what went wrong.

Problem codes (``Check.problem``): ``ok``; for the server ``bad_password``, ``tls``, ``unreachable``,
``autodiscover_failed``; for a mailbox ``no_impersonation`` (the account lacks the ApplicationImpersonation
role for it), ``no_delegate_access`` (no delegate right on its calendar), ``mailbox_not_found``, ``unreachable``.
The server check asks GetServerTimeZones, which needs no mailbox, and reads the build from the answer's
ServerVersionInfo header. A line never holds a secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from exchangelib import errors as ews

from calsync.connectors.base import Check, ConnectionReport
from calsync.connectors.ews.errors import translate_errors
from calsync.connectors.ews.settings import Access
from calsync.errors import AuthError, ConnectorError, NotFound, TlsFailure

if TYPE_CHECKING:
    from calsync.connectors.ews.connector import EwsConnector


def check_connection(connector: EwsConnector, principals: Sequence[str]) -> ConnectionReport:
    """The server's answer and one per mailbox, in the order asked; never raises for what it checks."""
    server = _server(connector)
    if not server.ok:
        skipped = tuple(Check(p, "unreachable", f"{p}: not checked, the server cannot be reached") for p in principals)
        return ConnectionReport(server, skipped)
    return ConnectionReport(server, tuple(_mailbox(connector, p) for p in principals))


def _server(connector: EwsConnector) -> Check:
    from exchangelib.services import GetServerTimeZones

    where = connector.settings.url or f"autodiscover for {connector.settings.autodiscover_email}"
    try:
        with translate_errors(connector.name):
            config = connector.session.config
            from exchangelib.protocol import Protocol

            protocol = Protocol(config=config)
            protocol.TIMEOUT = connector.settings.patience.timeout
            list(GetServerTimeZones(protocol=protocol).call(timezones=None, return_full_timezone_data=False))
            build = protocol.version.build
    except AuthError:
        return Check(where, "bad_password", f"{where}: the server refused the user name or password")
    except TlsFailure as exc:
        return Check(where, "tls", f"{where}: the TLS certificate is not trusted ({exc})")
    except ConnectorError as exc:
        problem = "unreachable" if connector.settings.url else "autodiscover_failed"
        return Check(where, problem, f"{where}: {exc}")
    version = f"{build.major_version}.{build.minor_version}"
    detail = f"{build.major_version}.{build.minor_version}.{build.major_build}.{build.minor_build}"
    return Check(config.service_endpoint, "ok", f"Connected to Exchange {version} (build {detail})")


def _mailbox(connector: EwsConnector, mailbox: str) -> Check:
    """Open the mailbox's calendar as the sync would (impersonation or delegate) and name what stops it."""
    impersonation = connector.settings.access is Access.IMPERSONATION
    account = connector.session.fresh_account(mailbox)
    try:
        with translate_errors(connector.name, mailbox):
            try:
                account.calendar  # noqa: B018 - GetFolder on the distinguished calendar is the check
            except (ews.ErrorImpersonateUserDenied, ews.ErrorImpersonationDenied) as exc:
                raise AuthError("impersonation", connector=connector.name) from exc
    except NotFound:
        return Check(mailbox, "mailbox_not_found", f"{mailbox}: no such mailbox on this server")
    except AuthError as exc:
        if impersonation or str(exc) == "impersonation":
            line = f"{mailbox}: the service account may not impersonate this user (ApplicationImpersonation)"
            return Check(mailbox, "no_impersonation", line)
        line = f"{mailbox}: the service account has no delegate access to this calendar"
        return Check(mailbox, "no_delegate_access", line)
    except ConnectorError as exc:
        return Check(mailbox, "unreachable", f"{mailbox}: {exc}")
    how = "by impersonation" if impersonation else "as a delegate"
    return Check(mailbox, "ok", f"{mailbox}: calendar opened {how}")
