"""The AccessStore on SQLAlchemy Core: API tokens, webhook subscriptions and the webhook outbox.

Opens its own ``Database`` on the state URL, like ``calsync.state.admin``, and migrates the same schema.

Why deliveries are claimed with a conditional ``UPDATE`` (``lease_until`` empty or past): two deliverers may run
at once (two ``calsync serve`` processes, or a ``webhooks deliver`` beside the scheduler). Both may pick the same
candidate, but only one ``UPDATE ... WHERE lease is free`` changes the row: PostgreSQL re-checks the condition
after the first transaction commits, SQLite serialises the writers. The loser tries the next candidate. Every
finish is guarded by the claim's owner, so a deliverer whose lease ran out cannot overwrite a newer attempt.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import datetime

from sqlalchemy import URL, ColumnElement, Connection, RowMapping, Select, delete, or_, select, update

from calsync.state.access_port import (
    Claim,
    DeliveryRecord,
    DeliveryResult,
    DeliveryState,
    SubscriptionRecord,
    TokenRecord,
)
from calsync.state.db import OwnDatabase
from calsync.state.tables.hub import integrations
from calsync.state.tables.operations import api_tokens, webhook_outbox, webhook_subscriptions

CLAIM_CANDIDATES = 16
"""How many due rows a claim looks at: enough that a deliverer racing another still finds a free one."""

_tok, _sub, _out = api_tokens.c, webhook_subscriptions.c, webhook_outbox.c


def open_access_store(url_or_path: str | os.PathLike[str] | URL) -> SQLAccessStore:
    """Open (creating or migrating when needed) the API access tables at a URL or SQLite file path."""
    return SQLAccessStore(url_or_path)


class SQLAccessStore(OwnDatabase):
    """Tokens, subscriptions and the outbox on a SQLAlchemy database; thread-safe across calls."""

    def integration_exists(self, name: str) -> bool:
        """Whether the integration ``name`` exists."""
        with self._db.read() as conn:
            return _integration_id(conn, name) is not None

    # -- tokens ------------------------------------------------------------------------------------------------

    def add_token(self, record: TokenRecord) -> TokenRecord | None:
        """Insert ``record``; ``None`` without the integration, ``StateError`` for a taken name (unique)."""
        with self._db.write() as conn:
            ident = _integration_id(conn, record.integration)
            if ident is None:
                return None
            row = {"integration_id": ident, "name": record.name, "prefix": record.prefix}
            row |= {"token_hash": record.token_hash, "created_at": record.created_at}
            conn.execute(api_tokens.insert().values(**row))
            return _token(conn.execute(_tokens_query().where(_tok.token_hash == record.token_hash)).mappings().one())

    def tokens(self, integration: str) -> list[TokenRecord]:
        """The tokens of an integration, by name."""
        query = _tokens_query().where(integrations.c.name == integration).order_by(_tok.name)
        with self._db.read() as conn:
            return [_token(row) for row in conn.execute(query).mappings()]

    def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        """The token with this hash, if any (one indexed lookup: the hash column is unique)."""
        with self._db.read() as conn:
            row = conn.execute(_tokens_query().where(_tok.token_hash == token_hash)).mappings().first()
        return _token(row) if row is not None else None

    def revoke_tokens(self, integration: str, name_or_prefix: str, at: datetime) -> int:
        """Revoke the live tokens matching by name or display prefix."""
        with self._db.write() as conn:
            ident = _integration_id(conn, integration)
            if ident is None:
                return 0
            match = or_(_tok.name == name_or_prefix, _tok.prefix == name_or_prefix)
            stmt = update(api_tokens).where(_tok.integration_id == ident, _tok.revoked_at.is_(None), match)
            return int(conn.execute(stmt.values(revoked_at=at)).rowcount)

    def touch_token(self, token_id: int, at: datetime, unless_since: datetime) -> bool:
        """Record a use; the condition makes concurrent requests of one minute write once."""
        stale = or_(_tok.last_used_at.is_(None), _tok.last_used_at < unless_since)
        with self._db.write() as conn:
            done = conn.execute(update(api_tokens).where(_tok.id == token_id, stale).values(last_used_at=at))
        return bool(done.rowcount)

    # -- subscriptions -----------------------------------------------------------------------------------------

    def add_subscription(self, record: SubscriptionRecord) -> SubscriptionRecord | None:
        """Insert ``record``; ``None`` without the integration, ``StateError`` for a URL already subscribed."""
        with self._db.write() as conn:
            ident = _integration_id(conn, record.integration)
            if ident is None:
                return None
            values = {"integration_id": ident, "url": record.url, "secret_enc": record.secret_enc}
            values |= {"events": ",".join(record.events), "created_at": record.created_at, "disabled_reason": ""}
            stmt = webhook_subscriptions.insert().values(**values).returning(_sub.id)
            return replace(record, id=int(conn.execute(stmt).scalar_one()))

    def subscriptions(self, integration: str) -> list[SubscriptionRecord]:
        """The subscriptions of an integration, by id."""
        query = (
            select(webhook_subscriptions, integrations.c.name.label("integration"))
            .join(integrations, integrations.c.id == _sub.integration_id)
            .where(integrations.c.name == integration)
            .order_by(_sub.id)
        )
        with self._db.read() as conn:
            return [_subscription(row) for row in conn.execute(query).mappings()]

    def remove_subscription(self, integration: str, subscription_id: int) -> bool:
        """Delete one subscription (its outbox rows go by the foreign key's cascade)."""
        with self._db.write() as conn:
            ident = _integration_id(conn, integration)
            stmt = delete(webhook_subscriptions).where(_sub.id == subscription_id, _sub.integration_id == ident)
            return ident is not None and bool(conn.execute(stmt).rowcount)

    # -- the outbox --------------------------------------------------------------------------------------------

    def enqueue(self, integration: str, event_id: str, event_type: str, body: str, at: datetime) -> int:
        """One row per live subscription wanting ``event_type``; a repeated ``event_id`` adds nothing."""
        added = 0
        with self._db.write() as conn:
            ident = _integration_id(conn, integration)
            query = select(_sub.id, _sub.events).where(_sub.integration_id == ident, _sub.disabled_at.is_(None))
            wanted = [row.id for row in conn.execute(query) if event_type in row.events.split(",")]
            insert = self._db.upsert(webhook_outbox, ("subscription_id", "event_id"), replace=False)
            for subscription_id in wanted:
                row = {"subscription_id": subscription_id, "event_id": event_id, "event_type": event_type}
                row |= {"body": body, "state": DeliveryState.PENDING.value, "attempts": 0}
                row |= {"next_attempt_at": at, "created_at": at, "last_error": ""}
                added += len(conn.execute(insert.values(**row).returning(_out.id)).all())
        return added

    def claim_due(self, now: datetime, owner: str, lease_until: datetime, skip: Collection[int] = ()) -> Claim | None:
        """Lease the oldest due delivery nobody holds, of a subscription not in ``skip``; ``attempts`` is counted
        at the claim, so a deliverer that dies mid-send still uses up an attempt and a poisonous event cannot loop
        forever."""
        free = or_(_out.lease_until.is_(None), _out.lease_until <= now)
        due = _out.state == DeliveryState.PENDING.value
        wanted = [due, _out.next_attempt_at <= now, free, _sub.disabled_at.is_(None)]
        if skip:
            wanted.append(_out.subscription_id.not_in(sorted(skip)))
        candidates = (
            select(_out.id)
            .join(webhook_subscriptions, _sub.id == _out.subscription_id)
            .where(*wanted)
            .order_by(_out.next_attempt_at, _out.id)
            .limit(CLAIM_CANDIDATES)
        )
        with self._db.write() as conn:
            for delivery_id in conn.execute(candidates).scalars().all():
                stmt = update(webhook_outbox).where(_out.id == delivery_id, due, free)
                values = {"lease_owner": owner, "lease_until": lease_until, "attempts": _out.attempts + 1}
                if conn.execute(stmt.values(**values)).rowcount == 1:
                    row = conn.execute(_deliveries_query(_out.id == delivery_id)).mappings().one()
                    return Claim(_delivery(row), row["body"], row["secret_enc"], owner)
        return None

    def finish(self, claim: Claim, result: DeliveryResult) -> bool:
        """Store the attempt's outcome under the claim's lease; a 410 disables the subscription and fails its
        other pending events in the same transaction."""
        values: dict[str, object] = {"state": result.state.value, "last_status": result.status}
        values |= {"last_error": result.error[:1000], "lease_owner": None, "lease_until": None}
        if result.state is DeliveryState.PENDING:
            values["next_attempt_at"] = result.retry_at or result.at
        else:
            values["finished_at"] = result.at
        mine = (_out.id == claim.delivery.id, _out.lease_owner == claim.owner)
        with self._db.write() as conn:
            if not conn.execute(update(webhook_outbox).where(*mine).values(**values)).rowcount:
                return False
            if result.disable_subscription:
                self._disable(conn, claim.delivery.subscription_id, result)
        return True

    def deliveries(self, integration: str, state: DeliveryState | None = None) -> list[DeliveryRecord]:
        """The outbox rows of an integration, oldest first."""
        where = integrations.c.name == integration
        query = _deliveries_query(where if state is None else (where & (_out.state == state.value)))
        with self._db.read() as conn:
            return [_delivery(row) for row in conn.execute(query.order_by(_out.id)).mappings()]

    def requeue(self, integration: str, delivery_id: int | None, at: datetime) -> int:
        """Failed rows of live subscriptions back to pending, due at ``at``."""
        with self._db.write() as conn:
            ident = _integration_id(conn, integration)
            live = select(_sub.id).where(_sub.integration_id == ident, _sub.disabled_at.is_(None))
            failed = _out.state == DeliveryState.FAILED.value
            stmt = update(webhook_outbox).where(failed, _out.subscription_id.in_(live))
            if delivery_id is not None:
                stmt = stmt.where(_out.id == delivery_id)
            values = {"state": DeliveryState.PENDING.value, "attempts": 0, "next_attempt_at": at, "finished_at": None}
            return int(conn.execute(stmt.values(**values)).rowcount)

    def reencrypt(self, transform: Callable[[str], str]) -> int:
        """Re-encrypt every signing secret in one transaction; an exception changes nothing."""
        count = 0
        with self._db.write() as conn:
            for row in conn.execute(select(_sub.id, _sub.secret_enc)).all():
                stmt = update(webhook_subscriptions).where(_sub.id == row.id)
                conn.execute(stmt.values(secret_enc=transform(row.secret_enc)))
                count += 1
        return count

    @staticmethod
    def _disable(conn: Connection, subscription_id: int, result: DeliveryResult) -> None:
        reason = f"the receiver answered {result.status} Gone"
        stmt = update(webhook_subscriptions).where(_sub.id == subscription_id, _sub.disabled_at.is_(None))
        conn.execute(stmt.values(disabled_at=result.at, disabled_reason=reason))
        pending = update(webhook_outbox).where(
            _out.subscription_id == subscription_id, _out.state == DeliveryState.PENDING.value
        )
        values = {"state": DeliveryState.FAILED.value, "finished_at": result.at}
        conn.execute(pending.values(**values, last_error=f"not sent: subscription disabled ({reason})"))


def _integration_id(conn: Connection, name: str) -> int | None:
    found = conn.execute(select(integrations.c.id).where(integrations.c.name == name)).scalar_one_or_none()
    return int(found) if found is not None else None


def _tokens_query() -> Select[tuple[object, ...]]:
    return select(api_tokens, integrations.c.name.label("integration")).join(
        integrations, integrations.c.id == _tok.integration_id
    )


def _deliveries_query(where: ColumnElement[bool]) -> Select[tuple[object, ...]]:
    return (
        select(webhook_outbox, _sub.url, _sub.secret_enc, integrations.c.name.label("integration"))
        .join(webhook_subscriptions, _sub.id == _out.subscription_id)
        .join(integrations, integrations.c.id == _sub.integration_id)
        .where(where)
    )


def _token(row: RowMapping) -> TokenRecord:
    return TokenRecord(
        row["integration"], row["name"], row["prefix"], row["token_hash"], row["created_at"],
        row["last_used_at"], row["revoked_at"], row["id"],
    )  # fmt: skip


def _subscription(row: RowMapping) -> SubscriptionRecord:
    events = tuple(e for e in row["events"].split(",") if e)
    return SubscriptionRecord(
        row["integration"], row["url"], row["secret_enc"], events, row["created_at"],
        row["disabled_at"], row["disabled_reason"], row["id"],
    )  # fmt: skip


def _delivery(row: RowMapping) -> DeliveryRecord:
    return DeliveryRecord(
        row["id"], row["subscription_id"], row["integration"], row["url"], row["event_id"], row["event_type"],
        DeliveryState(row["state"]), row["attempts"], row["next_attempt_at"], row["created_at"],
        row["last_status"], row["last_error"], row["finished_at"],
    )  # fmt: skip
