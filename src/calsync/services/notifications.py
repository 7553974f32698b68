"""Change notifications from Microsoft 365: Graph subscriptions kept by the scheduler, notifications turned into runs.

Two halves, in two processes possibly:

- ``GraphSubscriptions``, a duty of the lease holder, keeps (with a public URL) one subscription per Graph user who
  syncs appointments: it creates the missing ones (Graph validates the URL against the public route first),
  renews each before it runs out or when Graph asks to reauthorize, and removes those no longer wanted (user
  gone, appointments off, mailbox or URL changed, no URL). A failing user is tried again after ``retry``. The
  client state, a random secret authenticating Graph's POSTs, is stored encrypted and never logged.
- ``NotificationService.receive_graph`` is what the public route does with a POST: it checks each notification's
  client state in constant time against the stored one and turns changes into "sync now" requests for the user
  (``calsync.services.change_requests.RunRequests``: none while an earlier one waits for its run).

Why notifications only ask for a run (of the user's pairs, through the delta link) instead of reading the item
named: Graph wants an answer within seconds and may repeat or reorder notifications, and the engine finds every
change anyway. Interval syncs go on as before, so a lost notification costs a delay, never a change.
https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks
https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from calsync.config import Settings
from calsync.connectors.graph import subscriptions as graph
from calsync.connectors.graph.transport import Transport
from calsync.crypto import Cipher, Secret, default_key_file, load_cipher
from calsync.errors import CalsyncError, ConfigError, NotFound, StateError
from calsync.services.change_requests import RunRequests, Wanted, stored_users
from calsync.services.jobs import JobService
from calsync.state.notifications_port import GraphSubscriptionRecord, NotificationStore

__all__ = [
    "GRAPH_ROUTE", "GraphSubscriptions", "MaintenanceReport", "NotificationService", "build_graph_subscriptions",
    "graph_notification_url", "open_notifications", "stored_graph_session",
]  # fmt: skip

logger = logging.getLogger(__name__)
GRAPH_ROUTE = "/api/v1/notifications/graph"
"""Where Graph posts change and lifecycle notifications, below the service's public URL."""
Session = Callable[[str], AbstractContextManager[Transport]]
"""Opens a Graph connection of a stored integration (by name) for a pass; closed when the block ends."""


def graph_notification_url(public_url: str) -> str:
    """The URL Graph posts to for a service reachable at ``public_url`` (``https://sync.example.com``)."""
    return public_url.rstrip("/") + GRAPH_ROUTE


@dataclass(slots=True)
class MaintenanceReport:
    """What one maintenance pass did, by (integration, business user)."""

    created: list[tuple[str, str]] = field(default_factory=list)
    renewed: list[tuple[str, str]] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class _Plan:
    """The work of one pass for one integration."""

    drop: list[GraphSubscriptionRecord] = field(default_factory=list)
    renew: list[GraphSubscriptionRecord] = field(default_factory=list)
    create: list[Wanted] = field(default_factory=list)


class GraphSubscriptions:
    """The scheduler's duty that keeps Graph subscriptions as the integrations want them (see the module)."""

    name = "graph subscriptions"

    def __init__(
        self,
        store: NotificationStore,
        cipher: Cipher,
        *,
        public_url: str | None,
        wanted: Callable[[], Sequence[Wanted]],
        session: Session,
        retry: timedelta = timedelta(minutes=1),
    ) -> None:
        self._store, self._cipher, self._wanted, self._session = store, cipher, wanted, session
        self.url = graph_notification_url(public_url) if public_url else None
        self._retry = retry
        self._retry_at: dict[tuple[str, str], datetime] = {}

    def __call__(self, now: datetime) -> None:
        """One pass (``maintain``)."""
        self.maintain(now)

    def maintain(self, now: datetime) -> MaintenanceReport:
        """Create, renew and remove subscriptions as needed; a failure is logged and retried later, never raised
        (except ``StateError``: without the database nothing can be kept)."""
        report = MaintenanceReport()
        for integration, plan in self._plan(now).items():
            if not (plan.drop or plan.renew or plan.create):
                continue
            try:
                with self._session(integration) as transport:
                    self._carry_out(transport, plan, now, report)
            except StateError:
                raise
            except CalsyncError as exc:
                logger.warning("graph subscriptions of %s not kept up: %s", integration, exc)
                self._forget_unreachable(plan, now, report)
        return report

    def _plan(self, now: datetime) -> dict[str, _Plan]:
        stored = {(r.integration, r.business_user): r for r in self._store.graph_subscriptions()}
        wanted = {(w.integration, w.business_user): w for w in self._wanted()} if self.url else {}
        plans: dict[str, _Plan] = {}
        for key, record in stored.items():
            want = wanted.get(key)
            plan = plans.setdefault(record.integration, _Plan())
            if want is None or want.mailbox != record.mailbox or record.notification_url != self.url:
                plan.drop.append(record)
            elif _due(record, now) and self._retry_at.get(key, now) <= now:
                plan.renew.append(record)
        for key, want in wanted.items():
            replaced = key in stored and stored[key] in plans[want.integration].drop
            if (key not in stored or replaced) and self._retry_at.get(key, now) <= now:
                plans.setdefault(want.integration, _Plan()).create.append(want)
        return plans

    def _carry_out(self, transport: Transport, plan: _Plan, now: datetime, report: MaintenanceReport) -> None:
        for record in plan.drop:
            self._drop(transport, record, report)
        for record in plan.renew:
            if not self._renew(transport, record, now, report):
                plan.create.append(Wanted(record.integration, record.business_user, record.mailbox))
        for want in plan.create:
            self._create(transport, want, now, report)

    def _drop(self, transport: Transport, record: GraphSubscriptionRecord, report: MaintenanceReport) -> None:
        key = (record.integration, record.business_user)
        try:
            graph.unsubscribe(transport, _subscription(record))
        except CalsyncError as exc:  # it runs out by itself; notifications for it are refused meanwhile
            logger.info("graph subscription of %s/%s not deleted on Graph: %s", *key, exc)
        self._store.drop_graph_subscription(record.subscription_id)
        report.removed.append(key)

    def _renew(
        self, transport: Transport, record: GraphSubscriptionRecord, now: datetime, report: MaintenanceReport
    ) -> bool:
        """Renew; False when Graph no longer has the subscription (the row is dropped to subscribe again)."""
        key = (record.integration, record.business_user)
        try:
            renewed = graph.renew(transport, _subscription(record), now)
        except NotFound:
            logger.info("graph subscription of %s/%s is gone on Graph: subscribing again", *key)
            self._store.drop_graph_subscription(record.subscription_id)
            return False
        except CalsyncError as exc:
            logger.warning("graph subscription of %s/%s not renewed: %s", *key, exc)
            self._retry_at[key] = now + self._retry
            report.failed.append(key)
            return True
        self._retry_at.pop(key, None)
        self._store.note_renewed(record.subscription_id, renewed.expires)
        report.renewed.append(key)
        return True

    def _create(self, transport: Transport, want: Wanted, now: datetime, report: MaintenanceReport) -> None:
        key = (want.integration, want.business_user)
        assert self.url is not None, "nothing is created without a public URL"
        try:
            made = graph.subscribe(transport, want.mailbox, self.url, self.url, now)
        except CalsyncError as exc:
            logger.warning("no graph subscription for %s/%s (%s): %s", *key, want.mailbox, exc)
            self._retry_at[key] = now + self._retry
            report.failed.append(key)
            return
        record = GraphSubscriptionRecord(
            integration=want.integration,
            business_user=want.business_user,
            mailbox=want.mailbox,
            subscription_id=made.id,
            resource=made.resource,
            notification_url=self.url,
            client_state_enc=self._cipher.encrypt(Secret(made.client_state)),
            expires_at=made.expires,
            created_at=now,
        )
        if not self._store.put_graph_subscription(record):  # the integration was removed meanwhile
            graph.unsubscribe(transport, made)
            return
        self._retry_at.pop(key, None)
        report.created.append(key)
        logger.info("graph subscription for %s/%s until %s", *key, made.expires.isoformat(timespec="minutes"))

    def _forget_unreachable(self, plan: _Plan, now: datetime, report: MaintenanceReport) -> None:
        """No connection: unwanted rows are forgotten anyway (they run out on Graph), the rest retried later."""
        for record in plan.drop:
            self._store.drop_graph_subscription(record.subscription_id)
            report.removed.append((record.integration, record.business_user))
        for key in [(r.integration, r.business_user) for r in plan.renew] + [
            (w.integration, w.business_user) for w in plan.create
        ]:
            self._retry_at[key] = now + self._retry
            report.failed.append(key)


class NotificationService:
    """What the public notification route does; opened per request (``open_notifications``)."""

    def __init__(
        self,
        store: NotificationStore,
        cipher: Cipher,
        requests: RunRequests,
        *,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self._store, self._cipher, self._requests, self._wake = store, cipher, requests, wake
        self._known: dict[str, GraphSubscriptionRecord] = {}

    def receive_graph(self, query: Mapping[str, str], body: bytes) -> graph.CallbackAnswer:
        """Answer one POST from Graph and act on what it carried.

        A validation handshake is answered with its token; a body that is no notification is a 400; one in which
        no notification names a known subscription with its client state is a 403 (nothing is done). Accepted
        changes (and ``missed``) ask for a run of the user; ``reauthorizationRequired`` has the subscription
        renewed at once; ``subscriptionRemoved`` has it made again.
        """
        answer = graph.handle_callback(query, body, self._client_states)
        if "validationToken" in query or answer.status != 202:
            return answer
        if not answer.notifications:
            reason = "no notification for a known subscription" if answer.rejected else "no notification"
            return graph.CallbackAnswer(403 if answer.rejected else 400, "text/plain", reason, (), answer.rejected)
        users: dict[tuple[str, str], None] = {}
        maintain = False
        for note in answer.notifications:
            record = self._known[note.subscription_id]
            if note.kind is graph.Kind.REAUTHORIZATION_REQUIRED:
                maintain |= self._store.ask_renewal(note.subscription_id)
            elif note.kind is graph.Kind.SUBSCRIPTION_REMOVED:
                maintain |= self._store.drop_graph_subscription(note.subscription_id)
            else:
                users[(record.integration, record.business_user)] = None
        for integration, user in users:
            self._requests.ask(integration, user)
        if maintain and self._wake is not None:
            self._wake()
        return answer

    def _client_states(self, subscription_ids: Set[str]) -> dict[str, str]:
        """The client states of the known subscriptions among ``subscription_ids``, read in one query."""
        missing = subscription_ids - self._known.keys()
        if missing:
            self._known.update(self._store.graph_subscriptions_named(missing))
        states: dict[str, str] = {}
        for subscription_id in subscription_ids & self._known.keys():
            try:
                states[subscription_id] = self._cipher.decrypt(self._known[subscription_id].client_state_enc).reveal()
            except StateError as exc:
                logger.warning("the client state of graph subscription %s cannot be read: %s", subscription_id, exc)
        return states


def _due(record: GraphSubscriptionRecord, now: datetime) -> bool:
    """Whether to renew now: Graph asked to reauthorize, or less than a quarter of the lifetime is left."""
    return record.renew_now or record.expires_at - now < graph.RENEW_WHEN_LEFT


def _subscription(record: GraphSubscriptionRecord) -> graph.Subscription:
    """The connector's value for a stored record; the client state is not needed to renew or delete."""
    return graph.Subscription(record.subscription_id, record.resource, record.expires_at, "")


# -- wiring ---------------------------------------------------------------------------------------------------


def _cipher(settings: Settings) -> Cipher:
    return load_cipher(default_key_file(settings.state.url, settings.source))


def _notification_store(settings: Settings) -> NotificationStore:
    from calsync.state.db import database_url
    from calsync.state.notifications import open_notification_store

    url = database_url(settings.state.url)
    if settings.state.password is not None:
        url = url.set(password=settings.state.password.reveal())
    return open_notification_store(url)


def stored_graph_session(settings: Settings) -> Session:
    """Opens the Graph connection of a stored integration with its decrypted credentials."""

    @contextmanager
    def session(integration: str) -> Iterator[Transport]:
        from calsync.services.connections import integration_connectors

        built = integration_connectors(settings, integration)
        try:
            transport = getattr(built.events, "transport", None)
            if not isinstance(transport, Transport):
                raise ConfigError(f"{integration} is not a Graph integration", where="connection_type")
            yield transport
        finally:
            built.close()

    return session


def build_graph_subscriptions(
    settings: Settings, public_url: str | None
) -> tuple[GraphSubscriptions, NotificationStore]:
    """The scheduler's duty on the configured state database; the caller closes the store when it stops."""
    cipher = _cipher(settings)
    store = _notification_store(settings)
    wanted = partial(stored_users, settings)
    return GraphSubscriptions(
        store, cipher, public_url=public_url, wanted=wanted, session=stored_graph_session(settings)
    ), store


@contextmanager
def open_notifications(settings: Settings, *, wake: Callable[[], None] | None = None) -> Iterator[NotificationService]:
    """The route's service on the configured state database, closed when the block ends."""
    from calsync.services.jobs import open_schedule
    from calsync.services.syncing import open_state_store

    cipher = _cipher(settings)
    with ExitStack() as opened:
        store = _notification_store(settings)
        opened.callback(store.close)
        state = open_state_store(settings)
        opened.callback(state.close)
        schedule = open_schedule(settings)
        opened.callback(schedule.close)
        jobs = JobService(state, schedule, schedule, wake=wake)
        yield NotificationService(store, cipher, RunRequests(jobs, schedule), wake=wake)
