"""EWS autodiscover results kept in the state database (``calsync.state.cache``), so a run does not ask
autodiscover again, and neither does the next process (exchangelib's own cache is a file in the temp folder).

Each call opens the store for one operation: autodiscover is asked once per domain and account per connection,
which is rare next to the cost of the request it saves.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from calsync.connectors.ews.cache import Discovered

if TYPE_CHECKING:
    from sqlalchemy import URL

NAMESPACE = "ews-autodiscover"


@dataclass(frozen=True, slots=True)
class StoredAutodiscoverCache:
    """``connectors.ews.cache.AutodiscoverCache`` on the state database at ``url``."""

    url: URL

    def get(self, key: str) -> Discovered | None:
        """The stored result, or ``None`` (also for a value this version cannot read: it is asked again)."""
        from calsync.state.cache import SQLConnectorCache

        store = SQLConnectorCache(self.url)
        try:
            raw = store.get(NAMESPACE, key)
        finally:
            store.close()
        try:
            return Discovered(**json.loads(raw)) if raw is not None else None
        except (ValueError, TypeError):
            return None

    def put(self, key: str, found: Discovered) -> None:
        """Keep a result."""
        from calsync.state.cache import SQLConnectorCache

        store = SQLConnectorCache(self.url)
        try:
            store.put(NAMESPACE, key, json.dumps(asdict(found)))
        finally:
            store.close()

    def forget(self, key: str) -> None:
        """Drop a result whose URL stopped answering."""
        from calsync.state.cache import SQLConnectorCache

        store = SQLConnectorCache(self.url)
        try:
            store.forget(NAMESPACE, key)
        finally:
            store.close()
