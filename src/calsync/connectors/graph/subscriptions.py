"""Change notifications: subscriptions (create, renew before expiry, delete) and the callback as a pure function.

- Every subscription carries a ``clientState`` (a random secret, at most 128 characters); a notification whose
  clientState does not match the subscription's is dropped, since anyone can POST to a public URL.
- The callback answers Graph's validation handshake (``?validationToken=``: 200, text/plain, the token as
  given), else accepts notifications with 202 and returns them as values; the web app mounts it later and only
  queues work (a delta run of the pair), as Graph wants an answer within a few seconds.
- Lifecycle notifications (``reauthorizationRequired``, ``subscriptionRemoved``, ``missed``) are values too: the
  caller renews, re-creates, or runs a delta to catch up.
- Expiry: 4230 minutes is the most the reference's table allowed for Outlook events and contacts (newer pages
  allow 10080); calsync asks for 4200 and renews when less than a quarter of that is left.
https://learn.microsoft.com/en-us/graph/api/resources/subscription
https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks
https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import quote

from calsync.connectors.graph.transport import Call, Json, Transport, check

LIFETIME = timedelta(minutes=4200)
RENEW_WHEN_LEFT = LIFETIME / 4
MAX_NOTIFICATIONS = 1000
"""The most notifications taken in one POST. Graph sends the changes of a few seconds together, a handful per POST
and rarely more than tens for a busy tenant, so this leaves a wide margin; the route is public, so a made-up 1 MB
body of 20,000 must not cost 20,000 checks. A body above it is refused whole (413): acting on part of it would be
a guess, and a notification not acted on costs only a delay, since interval syncs find every change anyway."""
MAX_ID = 200
"""The longest subscription id looked up (Graph's are 36-character GUIDs)."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """One subscription as calsync keeps it; the client state is a secret, kept out of ``repr``."""

    id: str
    resource: str
    expires: datetime
    client_state: str = field(repr=False)


class Kind(StrEnum):
    """What a callback delivered."""

    CHANGE = "change"
    REAUTHORIZATION_REQUIRED = "reauthorizationRequired"
    SUBSCRIPTION_REMOVED = "subscriptionRemoved"
    MISSED = "missed"


@dataclass(frozen=True, slots=True)
class Notification:
    """One accepted notification: a change (``change_type``, ``resource``, ``item_id``) or a lifecycle event."""

    subscription_id: str
    kind: Kind
    change_type: str = ""
    resource: str = ""
    item_id: str = ""


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    """What the web app sends back, and what it should act on; ``rejected`` counts notifications dropped."""

    status: int
    content_type: str
    body: str
    notifications: tuple[Notification, ...] = ()
    rejected: int = 0


def create_subscription(resource: str, url: str, lifecycle_url: str, client_state: str, expires: datetime) -> Call:
    """https://learn.microsoft.com/en-us/graph/api/subscription-post-subscriptions"""
    body: Json = {
        "changeType": "created,updated,deleted",
        "notificationUrl": url,
        "lifecycleNotificationUrl": lifecycle_url,
        "resource": resource,
        "expirationDateTime": _stamp(expires),
        "clientState": client_state,
    }
    return Call("POST", "/subscriptions", body)


def renew_subscription(subscription_id: str, expires: datetime) -> Call:
    """https://learn.microsoft.com/en-us/graph/api/subscription-update"""
    return Call("PATCH", f"/subscriptions/{quote(subscription_id, safe='')}", {"expirationDateTime": _stamp(expires)})


def delete_subscription(subscription_id: str) -> Call:
    """https://learn.microsoft.com/en-us/graph/api/subscription-delete"""
    return Call("DELETE", f"/subscriptions/{quote(subscription_id, safe='')}")


def events_resource(mailbox: str) -> str:
    """The resource for a mailbox's events (every calendar). https://learn.microsoft.com/en-us/graph/webhooks"""
    return f"/users/{mailbox}/events"


def parse_subscription(body: Json, client_state: str) -> Subscription:
    """A created or renewed subscription (Graph does not echo the client state back: we keep ours)."""
    return Subscription(str(body["id"]), str(body["resource"]), _instant(str(body["expirationDateTime"])), client_state)


def due_for_renewal(subscriptions: Sequence[Subscription], now: datetime) -> list[Subscription]:
    """The subscriptions to renew now: those with less than ``RENEW_WHEN_LEFT`` left (expired ones included)."""
    return [s for s in subscriptions if s.expires - now < RENEW_WHEN_LEFT]


def handle_callback(
    query: Mapping[str, str], body: bytes, client_states_of: Callable[[Set[str]], Mapping[str, str]]
) -> CallbackAnswer:
    """One POST to the notification or lifecycle URL (pure: no I/O, no clock).

    ``client_states_of(subscription_ids)`` gives the client state calsync stored for each of the subscriptions
    it knows, called once per body with the distinct ids named. A malformed body is a 400, one of more than
    ``MAX_NOTIFICATIONS`` a 413 (nothing looked up); notifications of unknown subscriptions or with a wrong client
    state are dropped and counted, never acted on.
    """
    token = query.get("validationToken")
    if token is not None:
        return CallbackAnswer(200, "text/plain", token)
    try:
        payload = json.loads(body)
        values = payload["value"]
        if not isinstance(values, list):
            raise TypeError("value is not a list")
    except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: JSON nested past the parser's stack
        return CallbackAnswer(400, "text/plain", "not a change notification")
    if len(values) > MAX_NOTIFICATIONS:
        return CallbackAnswer(413, "text/plain", f"at most {MAX_NOTIFICATIONS} notifications per request")
    ids = {i for i in map(_subscription_id, values) if i}
    states = client_states_of(ids) if ids else {}
    accepted = [n for n in (_accept(v, states) for v in values) if n is not None]
    return CallbackAnswer(202, "text/plain", "", tuple(accepted), len(values) - len(accepted))


def _subscription_id(value: object) -> str:
    """The subscription a notification names; "" for none or for one no Graph id can be (ids are GUIDs: one
    that is long or holds a NUL is made up, and the database could not even look the NUL up)."""
    found = str(value.get("subscriptionId") or "") if isinstance(value, dict) else ""
    return found if len(found) <= MAX_ID and "\x00" not in found else ""


def _accept(value: object, states: Mapping[str, str]) -> Notification | None:
    if not isinstance(value, dict):
        return None
    subscription_id = _subscription_id(value)
    expected = states.get(subscription_id) if subscription_id else None
    given = str(value.get("clientState") or "")
    if expected is None or not hmac.compare_digest(expected.encode(), given.encode()):
        return None
    lifecycle = value.get("lifecycleEvent")
    if lifecycle:
        try:
            return Notification(subscription_id, Kind(str(lifecycle)))
        except ValueError:
            return None
    data = value.get("resourceData") if isinstance(value.get("resourceData"), dict) else {}
    item_id = str(data.get("id") or "") if isinstance(data, dict) else ""
    return Notification(
        subscription_id, Kind.CHANGE, str(value.get("changeType") or ""), str(value.get("resource") or ""), item_id
    )


def subscribe(transport: Transport, mailbox: str, url: str, lifecycle_url: str, now: datetime) -> Subscription:
    """Subscribe to a mailbox's events with a fresh client state. Graph validates both URLs before answering, so
    the callback must already be mounted; a failed validation is an ``InvalidItem`` (400)."""
    state = secrets.token_urlsafe(48)
    call = create_subscription(events_resource(mailbox), url, lifecycle_url, state, now + LIFETIME)
    return parse_subscription(transport.call(call, mailbox), state)


def renew(transport: Transport, subscription: Subscription, now: datetime) -> Subscription:
    """Extend a subscription; ``NotFound`` when Graph already removed it (subscribe again)."""
    mailbox = subscription.resource.split("/")[2] if subscription.resource.count("/") >= 2 else ""
    body = transport.call(renew_subscription(subscription.id, now + LIFETIME), mailbox, subscription.id)
    return parse_subscription(body, subscription.client_state)


def unsubscribe(transport: Transport, subscription: Subscription) -> None:
    """Delete a subscription; one already gone is fine."""
    reply = transport.send(delete_subscription(subscription.id), "")
    if reply.status != 404:
        check(reply, transport.name, subscription.id)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _instant(text: str) -> datetime:
    """Graph's UTC timestamps (``2026-11-24T10:00:00.0000000Z`` or without fractions)."""
    return datetime.fromisoformat(text[:19]).replace(tzinfo=UTC)
