"""Signed webhooks to the business system: subscriptions per integration and an outbox delivered with retries.

``enqueue`` writes an event to the outbox in a transaction of its own; ``deliver_due`` POSTs it, signed:
``Calsync-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">``, with ``Calsync-Event-Id``. Delivery is at
least once: a receiver dedupes by the event id. Retries back off exponentially with jitter, up to
``RetryPolicy.max_attempts``; then the event is a dead letter (``failed``) until ``retry``. 410 Gone disables the
subscription. Signing secrets are encrypted at rest with ``calsync.crypto`` and shown once when generated.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import random
import secrets
import socket
import ssl
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import httpx

from calsync import __version__
from calsync.crypto import Cipher, Secret
from calsync.errors import ConfigError, StateError
from calsync.state.access_port import (
    AccessStore,
    Claim,
    DeliveryRecord,
    DeliveryResult,
    DeliveryState,
    SubscriptionRecord,
)

logger = logging.getLogger(__name__)
SIGNATURE_HEADER = "Calsync-Signature"
EVENT_ID_HEADER = "Calsync-Event-Id"
_Clock = Callable[[], datetime]
SENDERS = 8
"""How many receivers one pass sends to at once: a receiver that hangs holds one sender, not the others."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class EventType(StrEnum):
    """What a webhook tells the business system."""

    CHANGES = "changes.available"
    """New entries in the change feed: read them with the feed's cursor."""
    JOB_FAILED = "job.failed"
    """A sync run of one of the integration's pairs failed."""
    PING = "ping"
    """A test event, queued by whoever wants to check a receiver."""


_EVENT_VALUES = frozenset(e.value for e in EventType)


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    """A webhook subscription without its secret."""

    id: int
    integration: str
    url: str
    events: tuple[EventType, ...]
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str


@dataclass(frozen=True, slots=True)
class NewSubscription:
    """A subscription just added; ``secret`` is set when calsync generated it, to be shown this once."""

    view: SubscriptionView
    secret: Secret | None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry: attempt ``n`` failing waits ``base * 2**(n-1)`` (at most ``cap``), less up
    to ``jitter`` of it at random, so receivers coming back are not hit by every sender at once."""

    max_attempts: int = 8
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=2)
    jitter: float = 0.5

    def delay(self, attempt: int, rng: random.Random) -> timedelta:
        """The wait after failed attempt number ``attempt`` (1-based)."""
        full: timedelta = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        return full * (1 - self.jitter * rng.random())


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What one ``deliver_due`` did, and each attempt's outcome (ids and statuses, never a payload)."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    disabled: int = 0
    attempts: tuple[DeliveryRecord, ...] = ()


class WebhookService:
    """Subscriptions, the outbox and its delivery."""

    def __init__(
        self,
        store: AccessStore,
        cipher: Cipher,
        *,
        clock: _Clock = _utcnow,
        policy: RetryPolicy = RetryPolicy(),
        timeout: float = 10.0,
        verify: bool | ssl.SSLContext = True,
        rng: random.Random | None = None,
    ) -> None:
        self._store, self._cipher, self._clock, self.policy = store, cipher, clock, policy
        self._timeout, self._verify, self._rng = timeout, verify, rng or random.Random()

    def add(
        self, integration: str, url: str, events: Sequence[EventType] = tuple(EventType), secret: Secret | None = None
    ) -> NewSubscription:
        """Subscribe ``url``; without ``secret`` one is generated and returned once. Raises ``ConfigError``."""
        _check_url(url)
        if secret is not None and len(secret.reveal()) < 16:
            raise ConfigError("a signing secret needs at least 16 characters", where="secret")
        if any(s.url == url for s in self._subscriptions(integration)):
            raise ConfigError(f"{url} is already subscribed for {integration}", where="url")
        chosen = secret if secret is not None else Secret(f"whsec_{secrets.token_urlsafe(32)}")
        kinds = tuple(EventType(e).value for e in dict.fromkeys(events)) or tuple(e.value for e in EventType)
        record = SubscriptionRecord(integration, url, self._cipher.encrypt(chosen), kinds, self._clock())
        stored = self._store.add_subscription(record)
        if stored is None:
            raise unknown_integration(integration)
        logger.info("added webhook %d of %s: %s", stored.id, integration, url)
        return NewSubscription(_view(stored), None if secret is not None else chosen)

    def subscriptions(self, integration: str) -> list[SubscriptionView]:
        """The subscriptions of an integration, without secrets."""
        return [_view(record) for record in self._subscriptions(integration)]

    def remove(self, integration: str, subscription_id: int) -> None:
        """Remove a subscription with its queued events; raises ``ConfigError`` when there is none."""
        if not self._store.remove_subscription(integration, subscription_id):
            self._subscriptions(integration)
            raise ConfigError(f"{integration} has no webhook {subscription_id}", where="webhook")
        logger.info("removed webhook %d of %s", subscription_id, integration)

    def enqueue(self, integration: str, event_type: EventType, payload: Mapping[str, Any], event_id: str) -> int:
        """Queue an event for every live subscription wanting its type (one transaction); returns how many.

        Idempotent: the same ``event_id`` queued again adds nothing, so a caller may retry after a crash.
        """
        if not event_id or len(event_id) > 200:
            raise ConfigError("an event id of 1 to 200 characters is required", where="event_id")
        now = self._clock()
        envelope: dict[str, Any] = {"id": event_id, "type": event_type.value, "integration": integration}
        envelope |= {"created_at": now.isoformat(), "data": dict(payload)}
        try:
            body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"the payload is not JSON: {exc}", where="payload") from exc
        if not self._store.integration_exists(integration):
            raise unknown_integration(integration)
        return self._store.enqueue(integration, event_id, event_type.value, body, now)

    def deliver_due(self, now: datetime | None = None, *, limit: int = 500) -> DeliveryReport:
        """POST every event due at ``now`` (at most ``limit``); safe beside other deliverers. Failures are
        recorded on the rows, never raised: one bad receiver must not stop the rest.

        Why receivers are served side by side, one event of each at a time, and a receiver that did not answer
        is left for the next pass: a receiver that hangs costs a whole timeout per event, and sent one after
        another its backlog would hold up every other receiver's events. Each claim is taken when a sender is
        free to start it, so its lease covers the attempt and not a wait in a queue.
        """
        now = now or self._clock()
        # the lease outlasts an attempt (cut off at the timeout) with a wide margin for the clocks of other
        # deliverers: while it holds, nobody else sends the event
        lease = timedelta(seconds=2 * self._timeout + 60)
        done: list[DeliveryRecord] = []
        claimed = 0
        busy: dict[Future[DeliveryResult], Claim] = {}
        resting: set[int] = set()  # subscriptions that did not answer: their events wait for the next pass
        headers = {"User-Agent": f"calsync/{__version__}", "Content-Type": "application/json"}
        # no kept-alive connections: each attempt's deadline cuts the connection it opened itself
        limits = httpx.Limits(max_keepalive_connections=0)
        with (
            httpx.Client(timeout=self._timeout, verify=self._verify, headers=headers, limits=limits) as client,
            ThreadPoolExecutor(SENDERS, thread_name_prefix="webhook") as senders,
        ):
            while True:
                while claimed < limit and len(busy) < SENDERS:
                    skip = resting | {c.delivery.subscription_id for c in busy.values()}
                    lease_until = max(now, self._clock()) + lease
                    claim = self._store.claim_due(now, uuid.uuid4().hex, lease_until, skip)
                    if claim is None:
                        break
                    claimed += 1
                    busy[senders.submit(self._attempt, client, claim, now)] = claim
                if not busy:
                    break
                finished, _ = wait(busy, return_when=FIRST_COMPLETED)
                try:
                    for future in finished:
                        claim, result = busy.pop(future), future.result()
                        if result.status is None and result.state is DeliveryState.PENDING:
                            resting.add(claim.delivery.subscription_id)
                        if self._store.finish(claim, result):
                            done.append(_outcome(claim.delivery, result))
                except BaseException:
                    self._finish_in_flight(busy)
                    raise
        return _report(done)

    def _finish_in_flight(self, busy: Mapping[Future[DeliveryResult], Claim]) -> None:
        """Record what the attempts still running got, before a failure leaves the pass: their receivers may have
        the events already, and an unrecorded result sends each again at the next pass."""
        for future, claim in busy.items():
            try:
                self._store.finish(claim, future.result())
            except Exception as exc:  # the failure that is leaving the pass is what the caller hears about
                logger.warning("could not record the attempt of event %s: %s", claim.delivery.event_id, exc)

    def deliveries(self, integration: str, state: DeliveryState | None = None) -> list[DeliveryRecord]:
        """The queued, delivered or failed (dead letter) events of an integration; payloads are not included."""
        self._subscriptions(integration)
        return self._store.deliveries(integration, state)

    def retry(self, integration: str, delivery_id: int | None = None) -> int:
        """Queue failed events again (one, or all of the integration), with a fresh count of attempts."""
        self._subscriptions(integration)
        count = self._store.requeue(integration, delivery_id, self._clock())
        if delivery_id is not None and not count:
            raise ConfigError(f"{integration} has no failed event {delivery_id} of a live webhook", where="delivery")
        return count

    def rotate_key(self, new: Cipher) -> int:
        """Re-encrypt every signing secret with ``new`` in one transaction (beside the integrations' secrets)."""
        return self._store.reencrypt(lambda token: new.encrypt(self._cipher.decrypt(token)))

    def _attempt(self, client: httpx.Client, claim: Claim, now: datetime) -> DeliveryResult:
        delivery, body = claim.delivery, claim.body.encode("utf-8")
        try:
            secret = self._cipher.decrypt(claim.secret_enc)
        except StateError as exc:  # a wrong key: recorded on the row, the other webhooks still go out
            return self._failed(delivery, now, None, str(exc))
        headers = {EVENT_ID_HEADER: delivery.event_id, "Calsync-Event-Type": delivery.event_type}
        headers[SIGNATURE_HEADER] = sign(secret, int(self._clock().timestamp()), body)
        deadline = _Deadline(self._timeout)
        try:
            extensions = {"trace": deadline.trace}
            with client.stream("POST", delivery.url, content=body, headers=headers, extensions=extensions) as answer:
                status, reason = answer.status_code, answer.reason_phrase
        except httpx.HTTPError as exc:
            timed_out = deadline.expired or isinstance(exc, httpx.TimeoutException)  # whichever of the two came first
            error = f"no answer within {self._timeout:g} s" if timed_out else f"{type(exc).__name__}: {exc}"
            return self._failed(delivery, now, None, error)
        finally:
            deadline.cancel()
        ended = max(now, self._clock())  # a long attempt ends later than the pass began
        if 200 <= status < 300:
            logger.info("delivered event %s to webhook %d", delivery.event_id, delivery.subscription_id)
            return DeliveryResult(DeliveryState.DELIVERED, ended, status)
        if status == 410:
            logger.warning("webhook %d answered 410 Gone: disabled", delivery.subscription_id)
            return DeliveryResult(DeliveryState.FAILED, ended, status, "410 Gone", disable_subscription=True)
        return self._failed(delivery, now, status, f"HTTP {status} {reason}")

    def _failed(self, delivery: DeliveryRecord, now: datetime, status: int | None, error: str) -> DeliveryResult:
        # the wait counts from the end of this attempt, not from the start of the pass: attempts before it in
        # the same pass (timeouts, each up to the whole timeout) must not eat it up
        ended = max(now, self._clock())
        what = f"event {delivery.event_id} to webhook {delivery.subscription_id} failed ({error})"
        if delivery.attempts >= self.policy.max_attempts:
            logger.warning("%s for good, after %d attempts", what, delivery.attempts)
            return DeliveryResult(DeliveryState.FAILED, ended, status, error)
        retry_at = ended + self.policy.delay(delivery.attempts, self._rng)
        logger.info("%s; retry at %s", what, retry_at.isoformat(timespec="seconds"))
        return DeliveryResult(DeliveryState.PENDING, ended, status, error, retry_at)

    def _subscriptions(self, integration: str) -> list[SubscriptionRecord]:
        if not self._store.integration_exists(integration):
            raise unknown_integration(integration)
        return self._store.subscriptions(integration)


class _Deadline:
    """Cuts an attempt off ``seconds`` after it began, however the receiver trickles its answer.

    Why: the client's timeout bounds each read, so a receiver sending a byte now and then keeps one attempt going
    past its claim's lease, and another deliverer would send the same event meanwhile. The connection's socket
    (announced by the client's trace as the attempt connects) is shut down when the time is up, which ends the
    blocked read at once.
    """

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        # over https the TLS socket replaces the TCP one (whose descriptor it takes): keep the latest
        if event not in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            return
        found = info["return_value"].get_extra_info("socket")
        with self._lock:
            self._socket = found if isinstance(found, socket.socket) else None
            if self.expired:
                self._cut()

    def cancel(self) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._cut()

    def _cut(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):  # closed already: the attempt is over anyway
                self._socket.shutdown(socket.SHUT_RDWR)


def sign(secret: Secret | str, timestamp: int, body: bytes) -> str:
    """The ``Calsync-Signature`` value: ``t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">``."""
    key = (secret.reveal() if isinstance(secret, Secret) else secret).encode("utf-8")
    return f"t={timestamp},v1={hmac.new(key, f'{timestamp}.'.encode() + body, hashlib.sha256).hexdigest()}"


def verify_signature(
    secret: Secret | str, header: str, body: bytes, now: datetime | float, tolerance: float = 300
) -> bool:
    """Whether ``header`` (a ``Calsync-Signature`` value) signs ``body`` with ``secret`` within ``tolerance``
    seconds of ``now``. Several ``v1`` values are allowed (one per secret while a secret is replaced).

    Why the timestamp is signed and checked: a captured request replayed later fails, while the event id lets a
    receiver drop a retry it already processed.
    """
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v.strip() for k, v in parts if k.strip() == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    moment = now.timestamp() if isinstance(now, datetime) else now
    if abs(moment - int(stamps[0])) > tolerance:
        return False
    expected = sign(secret, int(stamps[0]), body).rsplit("=", 1)[1]
    return any(hmac.compare_digest(expected, v.strip()) for k, v in parts if k.strip() == "v1")


def _view(record: SubscriptionRecord) -> SubscriptionView:
    plain = {f.name: getattr(record, f.name) for f in fields(SubscriptionView) if f.name != "events"}
    return SubscriptionView(**plain, events=tuple(EventType(e) for e in record.events if e in _EVENT_VALUES))


def _check_url(url: str) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ConfigError(f"not a URL: {exc}", where="url") from exc
    if parsed.scheme not in ("https", "http") or not parsed.host:
        raise ConfigError("a webhook URL must be https:// (or http://) with a host", where="url")
    if parsed.userinfo:
        raise ConfigError("a webhook URL must not carry credentials: the signature authenticates", where="url")


def _outcome(delivery: DeliveryRecord, result: DeliveryResult) -> DeliveryRecord:
    return replace(delivery, state=result.state, last_status=result.status, last_error=result.error)


def _report(done: list[DeliveryRecord]) -> DeliveryReport:
    states = [d.state for d in done]
    gone = sum(1 for d in done if d.last_status == 410)
    failed = states.count(DeliveryState.FAILED) - gone
    return DeliveryReport(
        states.count(DeliveryState.DELIVERED), states.count(DeliveryState.PENDING), failed, gone, tuple(done)
    )


def unknown_integration(name: str) -> ConfigError:
    return ConfigError(f"no integration called {name!r}", where="integration")
