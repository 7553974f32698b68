"""A small key-value store in the state database for what connectors learn about servers between runs.

Why in the state database: a connector's cache in a file of its own (exchangelib keeps autodiscover results in a
``shelve`` file in the temp folder, shared by every process of the user) would be a second place of state, lost
with the container and shared with strangers. Values are JSON text the caller writes; never a secret.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select

from calsync.state.db import OwnDatabase
from calsync.state.tables.operations import connector_cache


class SQLConnectorCache(OwnDatabase):
    """Values by ``(namespace, key)``; opens its own engine, so close it (or use it for one operation)."""

    def get(self, namespace: str, key: str) -> str | None:
        """The value stored under the key, if any."""
        stmt = select(connector_cache.c.value).where(
            connector_cache.c.namespace == namespace, connector_cache.c.key == key
        )
        with self._db.read() as conn:
            value: str | None = conn.execute(stmt).scalar_one_or_none()
        return value

    def put(self, namespace: str, key: str, value: str) -> None:
        """Store ``value`` under the key, replacing what was there."""
        with self._db.write() as conn:
            stmt = self._db.upsert(connector_cache, ["namespace", "key"])
            conn.execute(stmt.values(namespace=namespace, key=key, value=value, updated_at=datetime.now(UTC)))

    def forget(self, namespace: str, key: str) -> None:
        """Drop the key (nothing happens when it is not there)."""
        with self._db.write() as conn:
            conn.execute(
                delete(connector_cache).where(connector_cache.c.namespace == namespace, connector_cache.c.key == key)
            )
