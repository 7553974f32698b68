"""Pull notifications: a cheap "did anything change in this mailbox's calendar?" between syncs.

A pull subscription (Subscribe) on a mailbox's folder gives a watermark; GetEvents answers what happened since
it (created, modified, moved, copied, deleted items) and a new watermark. The scheduler can poll each mailbox
with one small request and run an interval sync only where something happened; the sync itself still reads
through SyncFolderItems, so a lost or expired subscription (ErrorSubscriptionNotFound, an invalid watermark:
``NotFound``) only means "subscribe again and sync once". Streaming subscriptions are not built.
https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/notification-subscriptions-mailbox-events-and-ews-in-exchange
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exchangelib.properties import StatusEvent

PULL_MINUTES = 30
"""How long Exchange keeps a pull subscription between two GetEvents calls (1 to 1440 minutes)."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """A pull subscription on one collection, and the watermark up to which its events were read."""

    collection: str
    id: str
    watermark: str


@dataclass(frozen=True, slots=True)
class Events:
    """What a poll found: the items touched (by id, in order, once each) and the subscription to poll next."""

    subscription: Subscription
    touched: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether anything happened in the collection since the last poll."""
        return bool(self.touched)


def subscribe(folder: Any, collection: str, minutes: int = PULL_MINUTES) -> Subscription:
    """Subscribe to every item event of ``folder``."""
    ident, watermark = folder.subscribe_to_pull(timeout=minutes)
    return Subscription(collection, str(ident), str(watermark))


def poll(folder: Any, subscription: Subscription) -> Events:
    """Every event since the subscription's watermark (all pages), and the subscription with the new one.

    GetEvents is called here page by page, each from the last event's watermark: exchangelib 5.6's
    ``Folder.get_events`` asks again from the first watermark while MoreEvents is true, which repeats page one.
    """
    from exchangelib.services import GetEvents

    touched: dict[str, None] = {}
    watermark = subscription.watermark
    while True:
        note = GetEvents(account=folder.account).get(subscription_id=subscription.id, watermark=watermark)
        for event in note.events or ():
            watermark = str(event.watermark or watermark)
            item = getattr(event, "item_id", None)
            if item is not None and not isinstance(event, StatusEvent):
                touched[str(item.id)] = None
        if not note.more_events:
            break
    return Events(Subscription(subscription.collection, subscription.id, watermark), tuple(touched))


def unsubscribe(folder: Any, subscription: Subscription) -> None:
    """End the subscription (Exchange also ends it by itself when it is not polled in time)."""
    folder.unsubscribe(subscription.id)
