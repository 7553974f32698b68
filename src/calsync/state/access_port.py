"""The AccessStore port: API tokens, webhook subscriptions and the webhook outbox, as stored.

Why a port of its own: the business API's credentials and its outgoing events have nothing to do with the sync
state, and the services (``calsync.services.access``) are the only callers. Records here are what the database
holds: a token only as its SHA-256 hash and display prefix, a signing secret only as the ciphertext the service
produced (``calsync.crypto``), so this layer cannot leak either. ``calsync.state.access`` implements the port on
SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class DeliveryState(StrEnum):
    """Where one event stands for one subscription."""

    PENDING = "pending"
    """Waiting for its first attempt or for its next retry."""
    DELIVERED = "delivered"
    """The receiver answered 2xx."""
    FAILED = "failed"
    """The dead letter: attempts used up, or the subscription was disabled; ``requeue`` sends it again."""


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """One API token as stored: never the token, only its hash and the prefix shown to people."""

    integration: str
    name: str
    prefix: str
    token_hash: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    id: int = 0


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    """One webhook subscription; ``secret_enc`` is a ciphertext, ``events`` the event type values delivered."""

    integration: str
    url: str
    secret_enc: str
    events: tuple[str, ...]
    created_at: datetime
    disabled_at: datetime | None = None
    disabled_reason: str = ""
    id: int = 0


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One event for one subscription in the outbox (no body: listings stay small and carry no payload)."""

    id: int
    subscription_id: int
    integration: str
    url: str
    event_id: str
    event_type: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    last_status: int | None = None
    last_error: str = ""
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery leased to one deliverer: ``attempts`` already counts this attempt, ``owner`` guards the finish."""

    delivery: DeliveryRecord
    body: str
    secret_enc: str
    owner: str


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What became of one attempt: the new state, the receiver's status, and when to try again (pending only)."""

    state: DeliveryState
    at: datetime
    status: int | None = None
    error: str = ""
    retry_at: datetime | None = None
    disable_subscription: bool = False


class AccessStore(Protocol):
    """Tokens, subscriptions and the outbox. Implementations raise ``StateError`` for their library's failures;
    an unknown integration is reported as ``None``/``False`` for the services to name in their errors."""

    def integration_exists(self, name: str) -> bool:
        """Whether the integration ``name`` exists."""
        ...

    def add_token(self, record: TokenRecord) -> TokenRecord | None:
        """Store a token (its name must be free in the integration); ``None`` when the integration does not exist."""
        ...

    def tokens(self, integration: str) -> list[TokenRecord]:
        """The tokens of an integration, revoked ones included, by name."""
        ...

    def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        """The token with this hash, revoked or not, if any."""
        ...

    def revoke_tokens(self, integration: str, name_or_prefix: str, at: datetime) -> int:
        """Revoke the integration's live tokens called ``name_or_prefix`` or shown with that prefix; how many."""
        ...

    def touch_token(self, token_id: int, at: datetime, unless_since: datetime) -> bool:
        """Set the last use to ``at`` unless it is already ``unless_since`` or later (one write a minute at most)."""
        ...

    def add_subscription(self, record: SubscriptionRecord) -> SubscriptionRecord | None:
        """Store a subscription (its URL must be free in the integration); ``None`` when there is no integration."""
        ...

    def subscriptions(self, integration: str) -> list[SubscriptionRecord]:
        """The subscriptions of an integration, by id."""
        ...

    def remove_subscription(self, integration: str, subscription_id: int) -> bool:
        """Delete a subscription with its outbox rows; False when the integration has no such subscription."""
        ...

    def enqueue(self, integration: str, event_id: str, event_type: str, body: str, at: datetime) -> int:
        """Add the event for every live subscription of the integration that wants its type, in one transaction.

        Idempotent: a subscription that already has ``event_id`` keeps it unchanged. Returns how many were added.
        """
        ...

    def claim_due(self, now: datetime, owner: str, lease_until: datetime, skip: Collection[int] = ()) -> Claim | None:
        """Lease the next due pending delivery of a live subscription (none of those in ``skip``) to ``owner``
        until ``lease_until``.

        Safe across processes: a row is claimed by a conditional ``UPDATE`` that only one of them wins.
        """
        ...

    def finish(self, claim: Claim, result: DeliveryResult) -> bool:
        """Record an attempt's result and release the lease; False when the lease was lost meanwhile."""
        ...

    def deliveries(self, integration: str, state: DeliveryState | None = None) -> list[DeliveryRecord]:
        """The outbox rows of an integration (of one state when given), oldest first."""
        ...

    def requeue(self, integration: str, delivery_id: int | None, at: datetime) -> int:
        """Make failed deliveries of live subscriptions (one, or all when ``delivery_id`` is None) pending again,
        with a fresh count of attempts; returns how many."""
        ...

    def reencrypt(self, transform: Callable[[str], str]) -> int:
        """Replace every signing secret ciphertext by ``transform`` of it in one transaction; returns how many."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
