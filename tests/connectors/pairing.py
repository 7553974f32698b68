"""A business store paired with a calendar connector, for tests that run the engine against a connector."""

from __future__ import annotations

from datetime import UTC, datetime

from calsync.connectors.base import Connector
from calsync.connectors.memory import MemoryConnector
from calsync.sync.engine import PairSpec
from calsync.sync.observe import Endpoint

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


def with_business(name: str, calendar: Connector, collection: str) -> tuple[PairSpec, MemoryConnector]:
    """A two-way pair of a business store (memory, collection ``cal``) with ``calendar``'s ``collection``."""
    business = MemoryConnector("business")
    business.make_collection("cal")
    return PairSpec(name, Endpoint(business, "cal"), Endpoint(calendar, collection)), business
