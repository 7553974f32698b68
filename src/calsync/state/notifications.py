"""The NotificationStore on SQLAlchemy Core: Graph change-notification subscriptions in the state database.

Opens its own ``Database`` on the state URL, like ``calsync.state.access``, and migrates the same schema. A
subscription row goes with its integration by cascade; Graph's own subscription then simply runs out.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import URL, Connection, RowMapping, Select, delete, select, update

from calsync.state.db import OwnDatabase
from calsync.state.notifications_port import GraphSubscriptionRecord
from calsync.state.tables.hub import integrations
from calsync.state.tables.operations import graph_subscriptions

if TYPE_CHECKING:
    from calsync.state.notifications_port import NotificationStore

__all__ = ["SQLNotificationStore", "open_notification_store"]

_gs = graph_subscriptions.c
_CHUNK = 500  # ids per IN (...): below the bound parameters any SQLite build takes


def open_notification_store(url_or_path: str | os.PathLike[str] | URL) -> SQLNotificationStore:
    """Open (creating or migrating when needed) the notification tables at a URL or SQLite file path."""
    return SQLNotificationStore(url_or_path)


class SQLNotificationStore(OwnDatabase):
    """Graph subscriptions on a SQLAlchemy database; thread-safe across calls."""

    def graph_subscriptions(self) -> list[GraphSubscriptionRecord]:
        """Every subscription, by integration name and business user."""
        with self._db.read() as conn:
            rows = conn.execute(_query().order_by(integrations.c.name, _gs.business_user)).mappings()
            return [_record(row) for row in rows]

    def graph_subscription(self, subscription_id: str) -> GraphSubscriptionRecord | None:
        """One subscription by Graph's id (an indexed lookup: the column is unique)."""
        with self._db.read() as conn:
            row = conn.execute(_query().where(_gs.subscription_id == subscription_id)).mappings().first()
        return _record(row) if row is not None else None

    def graph_subscriptions_named(self, subscription_ids: Collection[str]) -> dict[str, GraphSubscriptionRecord]:
        """The subscriptions among ``subscription_ids``, by id: one indexed query per 500 ids, in one read."""
        wanted = sorted(subscription_ids)
        found: dict[str, GraphSubscriptionRecord] = {}
        with self._db.read() as conn:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                for row in conn.execute(_query().where(_gs.subscription_id.in_(chunk))).mappings():
                    found[row["subscription_id"]] = _record(row)
        return found

    def put_graph_subscription(self, record: GraphSubscriptionRecord) -> bool:
        """Replace the user's row by ``record`` in one transaction."""
        with self._db.write() as conn:
            ident = _integration_id(conn, record.integration)
            if ident is None:
                return False
            conn.execute(
                delete(graph_subscriptions).where(
                    _gs.integration_id == ident, _gs.business_user == record.business_user
                )
            )
            conn.execute(graph_subscriptions.insert().values(integration_id=ident, **_values(record)))
        return True

    def note_renewed(self, subscription_id: str, expires_at: datetime) -> None:
        """Set the new expiry and clear ``renew_now``."""
        stmt = update(graph_subscriptions).where(_gs.subscription_id == subscription_id)
        with self._db.write() as conn:
            conn.execute(stmt.values(expires_at=expires_at, renew_now=False))

    def ask_renewal(self, subscription_id: str) -> bool:
        """Set ``renew_now``."""
        stmt = update(graph_subscriptions).where(_gs.subscription_id == subscription_id).values(renew_now=True)
        with self._db.write() as conn:
            return bool(conn.execute(stmt).rowcount)

    def drop_graph_subscription(self, subscription_id: str) -> bool:
        """Delete the row."""
        with self._db.write() as conn:
            stmt = delete(graph_subscriptions).where(_gs.subscription_id == subscription_id)
            return bool(conn.execute(stmt).rowcount)


def _integration_id(conn: Connection, name: str) -> int | None:
    found = conn.execute(select(integrations.c.id).where(integrations.c.name == name)).scalar_one_or_none()
    return int(found) if found is not None else None


def _query() -> Select[tuple[object, ...]]:
    return select(graph_subscriptions, integrations.c.name.label("integration")).join(
        integrations, integrations.c.id == _gs.integration_id
    )


def _values(record: GraphSubscriptionRecord) -> dict[str, object]:
    return {
        "business_user": record.business_user,
        "mailbox": record.mailbox,
        "subscription_id": record.subscription_id,
        "resource": record.resource,
        "notification_url": record.notification_url,
        "client_state_enc": record.client_state_enc,
        "expires_at": record.expires_at,
        "renew_now": record.renew_now,
        "created_at": record.created_at,
    }


def _record(row: RowMapping) -> GraphSubscriptionRecord:
    return GraphSubscriptionRecord(
        integration=row["integration"],
        business_user=row["business_user"],
        mailbox=row["mailbox"],
        subscription_id=row["subscription_id"],
        resource=row["resource"],
        notification_url=row["notification_url"],
        client_state_enc=row["client_state_enc"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        renew_now=bool(row["renew_now"]),
    )


if TYPE_CHECKING:
    _store_check: type[NotificationStore] = SQLNotificationStore
