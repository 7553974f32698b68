"""The fake's change-notification subscriptions: creation validates both URLs the way Graph does (a POST with
``?validationToken=`` that must be answered 200 text/plain with the token, within 10 seconds), expiry is capped,
and tests can make the fake deliver change and lifecycle notifications.

Unlike Graph, the fake accepts ``http://`` callback URLs on loopback, so tests need no second TLS server.
https://learn.microsoft.com/en-us/graph/api/subscription-post-subscriptions
https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks#notificationurl-validation
https://learn.microsoft.com/en-us/graph/api/resources/subscription#maximum-length-of-subscription-per-resource-type
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

from tests.connectors.graph.fake.http import GraphError, Json, Request, Response

if TYPE_CHECKING:
    from tests.connectors.graph.fake.server import FakeGraph

MAX_MINUTES = 4230


def route(fake: FakeGraph, request: Request) -> Response:
    """``/subscriptions`` and ``/subscriptions/{id}``."""
    parts = request.path.strip("/").split("/")
    if len(parts) == 1 and request.method == "POST":
        return _create(fake, request.body if isinstance(request.body, dict) else {})
    found = fake.subscriptions.get(parts[1]) if len(parts) == 2 else None
    if found is None:
        raise GraphError(404, "ResourceNotFound", "The object was not found.")
    if request.method == "DELETE":
        del fake.subscriptions[parts[1]]
        return Response(204)
    if request.method == "PATCH":
        body = request.body if isinstance(request.body, dict) else {}
        found["expirationDateTime"] = _expiry(str(body.get("expirationDateTime") or ""))
        return Response(200, _public(found))
    return Response(200, _public(found))


def deliver(fake: FakeGraph, subscription_id: str, item: Json, *, state: str | None = None) -> int:
    """POST one notification to the subscription's URL (a lifecycle one when ``item`` has ``lifecycleEvent``);
    ``state`` overrides the client state (a forged notification). Returns the HTTP status the callback gave."""
    sub = fake.subscriptions[subscription_id]
    url = sub["lifecycleNotificationUrl"] if "lifecycleEvent" in item else sub["notificationUrl"]
    value = {
        "subscriptionId": subscription_id,
        "clientState": sub["clientState"] if state is None else state,
        "tenantId": "tenant-id",
        "subscriptionExpirationDateTime": sub["expirationDateTime"],
        **item,
    }
    status, _ = _post(url, json.dumps({"value": [value]}).encode())
    return status


def _create(fake: FakeGraph, body: Json) -> Response:
    for name in ("changeType", "notificationUrl", "resource", "expirationDateTime"):
        if not body.get(name):
            raise GraphError(400, "InvalidRequest", f"{name} is required.")
    if len(str(body.get("clientState") or "")) > 128:
        raise GraphError(400, "InvalidRequest", "clientState is longer than 128 characters.")
    expiry = _expiry(str(body["expirationDateTime"]))
    for url in (body["notificationUrl"], body.get("lifecycleNotificationUrl")):
        if url and not _validates(str(url)):
            raise GraphError(
                400,
                "ValidationError",
                "Subscription validation request failed. Notification endpoint must respond with 200 OK to "
                "validation request.",
            )
    sub = {**body, "id": secrets.token_hex(16), "expirationDateTime": expiry, "applicationId": "app"}
    fake.subscriptions[sub["id"]] = sub
    return Response(201, _public(sub))


def _validates(url: str) -> bool:
    token = "Validation: Testing client application reachability for subscription Request-Id: " + secrets.token_hex(8)
    status, text = _post(f"{url}?validationToken={quote(token)}", b"")
    return status == 200 and text == token


def _post(url: str, data: bytes) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def _expiry(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text[:19]).replace(tzinfo=UTC)
    except ValueError as exc:
        raise GraphError(400, "InvalidRequest", "expirationDateTime is not a date.") from exc
    now = datetime.now(UTC)
    if moment <= now or moment > now + timedelta(minutes=MAX_MINUTES):
        raise GraphError(
            400, "InvalidRequest", f"Subscription expiration can only be {MAX_MINUTES} minutes in the future."
        )
    return moment.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _public(sub: Json) -> Json:
    """Graph does not echo the client state back."""
    return {key: value for key, value in sub.items() if key != "clientState"}
