"""Exchange pull notifications: between interval syncs, the lease holder asks each EWS mailbox "anything new?".

``ExchangePulls`` is a duty of the scheduler that holds the lease. At most every ``every`` (a minute) it keeps a
pull subscription on the default calendar of each user of an EWS integration who syncs appointments, polls each
with one small GetEvents request, and asks for a run of the users whose calendars changed (``RunRequests``: one
waiting request per user). A subscription Exchange dropped (not polled in time, the server restarted) is made
again and the user synced once, since its events are lost; a mailbox that fails is tried again at the next pass.

Why in memory and not in the database: a pull subscription lives only as long as it is polled (30 minutes), so a
new lease holder simply subscribes again; the interval syncs cover what happened in between.
https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/notification-subscriptions-mailbox-events-and-ews-in-exchange
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol, runtime_checkable

from calsync.config import Settings
from calsync.connectors.base import Connector
from calsync.connectors.ews.notifications import Events, Subscription
from calsync.errors import CalsyncError, ConfigError, NotFound, StateError
from calsync.services.change_requests import Wanted, stored_users
from calsync.services.connections import CollectionKind, user_collection

__all__ = ["ExchangePulls", "PullConnector", "PullReport", "build_exchange_pulls", "stored_pull_session"]

logger = logging.getLogger(__name__)


@runtime_checkable
class PullConnector(Connector, Protocol):
    """A connector offering pull subscriptions (``calsync.connectors.ews.connector.EwsConnector``)."""

    def subscribe(self, collection: str) -> Subscription: ...

    def poll(self, subscription: Subscription) -> Events: ...

    def unsubscribe(self, subscription: Subscription) -> None: ...


class AsksForRuns(Protocol):
    """What the duty needs of ``calsync.services.change_requests.RunRequests``."""

    def ask(self, integration: str, user: str) -> bool: ...


Session = Callable[[str], AbstractContextManager[PullConnector]]
"""Opens the EWS connection of a stored integration (by name) for a pass; closed when the block ends."""


@dataclass(slots=True)
class PullReport:
    """What one pass did, by (integration, business user)."""

    subscribed: list[tuple[str, str]] = field(default_factory=list)
    changed: list[tuple[str, str]] = field(default_factory=list)
    lost: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Held:
    mailbox: str
    subscription: Subscription


class ExchangePulls:
    """The lease holder's duty that polls EWS mailboxes for changes (see the module)."""

    name = "exchange pull notifications"

    def __init__(
        self,
        requests: AsksForRuns,
        *,
        wanted: Callable[[], Sequence[Wanted]],
        session: Session,
        every: timedelta = timedelta(minutes=1),
    ) -> None:
        self._requests, self._wanted, self._session, self._every = requests, wanted, session, every
        self._held: dict[tuple[str, str], _Held] = {}
        self._last: datetime | None = None

    def __call__(self, now: datetime) -> None:
        """A pass (``poll``) when ``every`` has gone by since the last one."""
        if self._last is not None and now - self._last < self._every:
            return
        self._last = now
        self.poll()

    def poll(self) -> PullReport:
        """Subscribe, poll and forget as needed; a failing integration or mailbox is logged, never raised (except
        ``StateError``: without the database no run can be asked for)."""
        report = PullReport()
        wanted = {(w.integration, w.business_user): w for w in self._wanted()}
        integrations = sorted({key[0] for key in wanted} | {key[0] for key in self._held})
        for integration in integrations:
            mine = [w for key, w in wanted.items() if key[0] == integration]
            gone = [key for key in self._held if key[0] == integration and key not in wanted]
            try:
                with self._session(integration) as connector:
                    for key in gone:
                        self._drop(connector, key, report)
                    for want in mine:
                        self._one(connector, want, report)
            except StateError:
                raise
            except CalsyncError as exc:
                logger.warning("exchange mailboxes of %s not polled: %s", integration, exc)
                for key in gone:  # it runs out by itself when it is not polled
                    self._held.pop(key, None)
                    report.dropped.append(key)
                report.failed += [(w.integration, w.business_user) for w in mine]
        return report

    def _one(self, connector: PullConnector, want: Wanted, report: PullReport) -> None:
        key = (want.integration, want.business_user)
        held = self._held.get(key)
        try:
            if held is None or held.mailbox != want.mailbox:
                if held is not None:
                    self._drop(connector, key, report)
                self._subscribe(connector, want)
                report.subscribed.append(key)  # what came before is the interval syncs' to find
                return
            try:
                events = connector.poll(held.subscription)
            except NotFound:  # dropped by Exchange: its events are lost, so sync once
                logger.info("pull subscription of %s/%s was dropped: subscribing again", *key)
                self._subscribe(connector, want)
                report.lost.append(key)
                self._requests.ask(*key)
                return
        except StateError:
            raise
        except CalsyncError as exc:
            logger.warning("exchange mailbox of %s/%s not polled: %s", *key, exc)
            report.failed.append(key)
            return
        self._held[key] = _Held(held.mailbox, events.subscription)
        if events.changed:
            report.changed.append(key)
            self._requests.ask(*key)

    def _subscribe(self, connector: PullConnector, want: Wanted) -> None:
        collection = user_collection(connector, want.mailbox, CollectionKind.EVENTS)
        self._held[(want.integration, want.business_user)] = _Held(want.mailbox, connector.subscribe(collection))

    def _drop(self, connector: PullConnector, key: tuple[str, str], report: PullReport) -> None:
        held = self._held.pop(key)
        try:
            connector.unsubscribe(held.subscription)
        except CalsyncError as exc:  # it runs out by itself when it is not polled
            logger.info("pull subscription of %s/%s not ended: %s", *key, exc)
        report.dropped.append(key)


def stored_pull_session(settings: Settings) -> Session:
    """Opens the EWS connection of a stored integration with its decrypted credentials."""

    @contextmanager
    def session(integration: str) -> Iterator[PullConnector]:
        from calsync.services.connections import integration_connectors

        built = integration_connectors(settings, integration)
        try:
            if not isinstance(built.events, PullConnector):
                raise ConfigError(f"{integration} offers no pull notifications", where="connection_type")
            yield built.events
        finally:
            built.close()

    return session


def build_exchange_pulls(settings: Settings, requests: AsksForRuns) -> ExchangePulls:
    """The duty on the integrations of the configured state database."""
    wanted = partial(stored_users, settings, "ews")
    return ExchangePulls(requests, wanted=wanted, session=stored_pull_session(settings))
