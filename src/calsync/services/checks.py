"""Check an integration's connection (and its users' mailboxes) without syncing: the admin's "Check connection".

The answer is the connector port's ``ConnectionReport``: one line for the server ("Connected to Radicale at
https://…", or why not) and one per mailbox asked about, in the order of the integration's users. Each connector
checks itself (``Checkable``: the DAV connectors, Graph); a connector that cannot (a folder) gives a report that
says so instead of an error. Nothing here raises for what it checks.
"""

from __future__ import annotations

from collections.abc import Sequence

from calsync.config import Settings
from calsync.connectors.base import Check, Checkable, ConnectionReport
from calsync.errors import CalsyncError
from calsync.services.connections import IntegrationConnectors, build_connectors
from calsync.services.integrations import open_integrations

NOT_CHECKABLE = "not_checkable"
"""The problem code of a report for a connector that has no connection check."""


__all__ = ["Check", "ConnectionReport", "check_connectors", "check_integration"]


def check_integration(settings: Settings, name: str, *, users: bool) -> ConnectionReport:
    """Reach the server of integration ``name`` with its stored credentials; with ``users``, every mapped user's
    mailbox or principal too, in the order the users are listed.

    A connector that cannot check (a folder) gives a report saying so (problem ``not_checkable``); one that cannot
    be built gives a report with the reason (``not_available`` for EWS in this version, ``bad_address`` for an
    address whose DNS records are refused or malformed). Raises ``ConfigError`` only for an integration that does
    not exist, and ``StateError`` when its secrets cannot be decrypted.
    """
    with open_integrations(settings) as service:
        view = service.get(name)
        secrets = service.credentials(name)
        mailboxes = [user.mailbox for user in service.users(name)]
    principals = tuple(mailboxes) if users else ()
    try:
        connectors = build_connectors(view, secrets, mailboxes)
    except CalsyncError as exc:
        problem = "not_available" if view.connection_type == "ews" else "bad_address"
        return _failed(view.url or view.autodiscover or name, problem, f"{name}: {exc}", principals)
    try:
        return check_connectors(connectors, principals)
    finally:
        connectors.close()


def check_connectors(connectors: IntegrationConnectors, principals: Sequence[str] = ()) -> ConnectionReport:
    """The check of connectors already built (the hub's), through the one that speaks for the server."""
    connector = connectors.primary
    if not isinstance(connector, Checkable):
        line = f"{connector.name}: this kind of connection has no connection check"
        return _failed(connector.name, NOT_CHECKABLE, line, tuple(principals))
    return connector.check_connection(principals)


def _failed(subject: str, problem: str, line: str, principals: tuple[str, ...]) -> ConnectionReport:
    skipped = tuple(Check(p, "not_checked", f"{p}: not checked") for p in principals)
    return ConnectionReport(Check(subject, problem, line), skipped)
