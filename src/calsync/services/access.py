"""API access: per-integration API tokens for the REST API, and signed webhooks to the business system.

Tokens: ``cs_<8 hex>_<43 url-safe chars>`` (256 random bits). Only a SHA-256 hash and the display prefix
``cs_<8 hex>`` are stored, so a copy of the database grants no access; the plain token is returned once, by
``create``. Why SHA-256 and no slow hash: the token is random, not a password, so there is nothing to guess.

Webhooks are in ``calsync.services.webhooks``; ``Access`` bundles both for the entry points.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

from calsync.config import Settings
from calsync.crypto import Secret, default_key_file, load_cipher
from calsync.errors import ConfigError
from calsync.services.integration_rules import check_name
from calsync.services.webhooks import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    DeliveryReport,
    EventType,
    NewSubscription,
    RetryPolicy,
    SubscriptionView,
    WebhookService,
    sign,
    unknown_integration,
    verify_signature,
)
from calsync.state.access_port import (
    AccessStore,
    DeliveryRecord,
    DeliveryState,
    TokenRecord,
)

__all__ = [
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "Access",
    "DeliveryRecord",
    "DeliveryReport",
    "DeliveryState",
    "EventType",
    "NewSubscription",
    "NewToken",
    "RetryPolicy",
    "SubscriptionView",
    "TokenInfo",
    "TokenService",
    "WebhookService",
    "build_access",
    "open_access",
    "sign",
    "verify_signature",
]  # fmt: skip

logger = logging.getLogger(__name__)
TOUCH_EVERY = timedelta(minutes=1)
"""A token's last use is written at most this often: not one database write per API request."""
_TOKEN = re.compile(r"cs_([0-9a-f]{8})_[A-Za-z0-9_-]{43}")
_Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An API token as anyone may see it: whose, its name and display prefix, never the token."""

    integration: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token just made: ``plain`` shows as ``***`` everywhere but ``reveal()``; it cannot be shown again."""

    info: TokenInfo
    plain: Secret


class TokenService:
    """Create, verify, list and revoke the API tokens of integrations."""

    def __init__(self, store: AccessStore, *, clock: _Clock = _utcnow) -> None:
        self._store = store
        self._clock = clock

    def create(self, integration: str, name: str) -> NewToken:
        """A new token for ``integration``; raises ``ConfigError`` for an unknown integration or a taken name."""
        check_name(name, "token name")
        if any(t.name == name for t in self._tokens(integration)):
            raise ConfigError(f"{integration} already has a token called {name!r}", where="token name")
        prefix = f"cs_{secrets.token_hex(4)}"
        plain = Secret(f"{prefix}_{secrets.token_urlsafe(32)}")
        record = TokenRecord(integration, name, prefix, _digest(plain.reveal()), self._clock())
        stored = self._store.add_token(record)
        if stored is None:
            raise unknown_integration(integration)
        logger.info("created API token %s (%s) for %s", name, prefix, integration)
        return NewToken(_token_info(stored), plain)

    def verify(self, plain: str) -> TokenInfo | None:
        """The live token ``plain`` is, or ``None`` (malformed, unknown, revoked: the caller cannot tell which).

        Lookup is by hash, so the database compares digests, not secrets; the digest is compared again in constant
        time. Unknown and revoked tokens take the same path (one lookup) so timing tells nothing.
        """
        if len(plain) > 64 or not _TOKEN.fullmatch(plain):
            return None
        digest = _digest(plain)
        record = self._store.token_by_hash(digest)
        if record is None or not hmac.compare_digest(record.token_hash, digest) or record.revoked_at is not None:
            return None
        now = self._clock()
        if record.last_used_at is None or now - record.last_used_at >= TOUCH_EVERY:
            self._store.touch_token(record.id, now, now - TOUCH_EVERY)
        return _token_info(record)

    def revoke(self, integration: str, name_or_prefix: str) -> int:
        """Revoke the token called ``name_or_prefix`` or shown as that prefix; raises ``ConfigError`` for none."""
        count = self._store.revoke_tokens(integration, name_or_prefix, self._clock())
        if not count:
            self._tokens(integration)  # an unknown integration says so
            raise ConfigError(f"{integration} has no live token {name_or_prefix!r}", where="token")
        logger.info("revoked API token %s of %s", name_or_prefix, integration)
        return count

    def tokens(self, integration: str) -> list[TokenInfo]:
        """The tokens of an integration, revoked ones included (marked), by name; never a token itself."""
        return [_token_info(record) for record in self._tokens(integration)]

    def _tokens(self, integration: str) -> list[TokenRecord]:
        if not self._store.integration_exists(integration):
            raise unknown_integration(integration)
        return self._store.tokens(integration)


@dataclass(frozen=True, slots=True)
class Access:
    """The two services on one store, for the entry points; ``close()`` releases the store."""

    tokens: TokenService
    webhooks: WebhookService
    close: Callable[[], None]


def build_access(settings: Settings) -> Access:
    """The services on the configured state database and secret key; the caller closes them (the web app keeps
    them for its lifetime, so a request costs no engine)."""
    from calsync.state.access import open_access_store
    from calsync.state.db import database_url

    cipher = load_cipher(default_key_file(settings.state.url, settings.source))
    url = database_url(settings.state.url)
    if settings.state.password is not None:
        url = url.set(password=settings.state.password.reveal())
    store = open_access_store(url)
    return Access(TokenService(store), WebhookService(store, cipher), store.close)


@contextmanager
def open_access(settings: Settings) -> Iterator[Access]:
    """``build_access`` closed when the block ends (one CLI command)."""
    access = build_access(settings)
    try:
        yield access
    finally:
        access.close()


def _digest(plain: str) -> str:
    return hashlib.sha256(plain.encode("utf-8")).hexdigest()


def _token_info(record: TokenRecord) -> TokenInfo:
    return TokenInfo(**{f.name: getattr(record, f.name) for f in fields(TokenInfo)})
