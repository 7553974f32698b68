"""The NotificationStore port: the change-notification subscriptions calsync keeps on calendar servers.

Today these are Microsoft Graph subscriptions, one per integration user (their mailbox's events). Each record is
what the database holds: Graph's subscription id, the resource and notification URL it was made for, its expiry,
and its client state only as the ciphertext the service produced (``calsync.crypto``), so this layer cannot leak
it. ``calsync.state.notifications`` implements the port on SQLAlchemy.

Why in the database: the web process that receives a notification is not always the scheduler that made the
subscription (``serve --no-scheduler`` beside ``worker``), and a restarted scheduler must renew what it made
rather than subscribe again and leave the old subscriptions posting until they expire.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class GraphSubscriptionRecord:
    """One Graph subscription of one integration user, as stored; ``client_state_enc`` is a ciphertext."""

    integration: str
    business_user: str
    mailbox: str
    subscription_id: str
    resource: str
    notification_url: str
    client_state_enc: str = field(repr=False)
    expires_at: datetime
    created_at: datetime
    renew_now: bool = False


class NotificationStore(Protocol):
    """Graph subscriptions. Implementations raise ``StateError`` for their library's failures and are
    thread-safe across calls; rows go with their integration."""

    def graph_subscriptions(self) -> list[GraphSubscriptionRecord]:
        """Every stored subscription, by integration and business user."""
        ...

    def graph_subscription(self, subscription_id: str) -> GraphSubscriptionRecord | None:
        """The subscription Graph calls ``subscription_id``, if calsync keeps it."""
        ...

    def graph_subscriptions_named(self, subscription_ids: Collection[str]) -> dict[str, GraphSubscriptionRecord]:
        """The subscriptions among ``subscription_ids`` calsync keeps, by id, read at once."""
        ...

    def put_graph_subscription(self, record: GraphSubscriptionRecord) -> bool:
        """Store ``record`` in place of the user's previous subscription, if any; False when the integration
        does not exist (any more)."""
        ...

    def note_renewed(self, subscription_id: str, expires_at: datetime) -> None:
        """Record a renewal: the new expiry, and no renewal asked for any more."""
        ...

    def ask_renewal(self, subscription_id: str) -> bool:
        """Have the subscription renewed at the next chance (Graph asked to reauthorize); False when unknown."""
        ...

    def drop_graph_subscription(self, subscription_id: str) -> bool:
        """Forget a subscription (gone on Graph's side, or no longer wanted); False when unknown."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
