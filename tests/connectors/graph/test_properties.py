"""The core's property invariants with B a Graph mailbox on the fake, with throttling, outages and expired delta
links injected between and during syncs.

It reuses the hypothesis state machine of ``tests/sync/test_properties.py``: A is a memory store, B is the Graph
connector; the user's edits on B are played on the fake's mailbox as an Outlook user would make them (an item the
user creates carries its UID as calsync's key, standing for an item another calsync-aware writer made).
"""

from __future__ import annotations

import itertools
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import rule

from calsync.connectors.graph import operations
from calsync.connectors.graph.connector import GraphConnector
from calsync.errors import CalsyncError
from tests.connectors.graph import outlook
from tests.connectors.graph.conftest import CLIENT_ID, SECRET, new_mailbox
from tests.connectors.graph.fake.server import FakeGraph, Fault
from tests.samples import event
from tests.sync import test_properties as core

_pairs = itertools.count()
_world: dict[str, object] = {}


class GraphSide:
    """What the machine needs of side B, read from the fake mailbox: texts by href, user edits, write counts."""

    def __init__(self, fake: FakeGraph, mailbox: str) -> None:
        self.fake = fake
        self.mailbox = mailbox

    def texts(self, collection: str) -> dict[str, str]:
        with self.fake.lock:
            found = {}
            for href, stored in self.fake.mailboxes[self.mailbox].events.items():
                props = operations.properties(stored.data)
                ident = props.get(operations.KEY_PROPERTY.lower()) or str(stored.data["iCalUId"])
                found[href] = event(ident, str(stored.data.get("subject", "")))
            return found

    def put_raw(self, collection: str, href: str, text: str) -> None:
        outlook.put(self.fake, self.mailbox, href, text, key=True)

    def remove_raw(self, collection: str, href: str) -> None:
        outlook.remove(self.fake, self.mailbox, href)

    @property
    def writes(self) -> int:
        with self.fake.lock:
            return sum(
                1
                for seen in self.fake.seen
                if seen.method in ("POST", "PATCH", "DELETE") and self.mailbox in seen.path and seen.status < 300
            )


class GraphMachine(core.SyncMachine):
    """The two-way machine with B on Graph."""

    def __init__(self) -> None:
        super().__init__()
        fake = _world["fake"]
        conn = _world["conn"]
        assert isinstance(fake, FakeGraph) and isinstance(conn, GraphConnector)
        self.fake = fake
        mailbox = new_mailbox(fake)
        self.sync_b_on(GraphSide(fake, mailbox), conn, mailbox, "graph")

    def teardown(self) -> None:
        self.fake.faults.clear()
        super().teardown()

    @rule(
        status=st.sampled_from([429, 503, 410]),
        method=st.sampled_from(["GET", "POST", "PATCH", "DELETE"]),
        times=st.integers(min_value=1, max_value=6),
    )
    def sync_with_graph_faults(self, status: int, method: str, times: int) -> None:
        path = "$deltatoken" if status == 410 else self.b.mailbox  # type: ignore[attr-defined]
        self.fake.inject(Fault(status, path=path, method=method, times=times, retry_after=0.01))
        try:
            self._sync()
        except CalsyncError:
            pass  # a side that stays unreachable stops the pair; the invariants hold at the next clean sync
        finally:
            self.fake.faults.clear()


@pytest.fixture(autouse=True)
def _world_for_machine(fake: FakeGraph, trust: ssl.SSLContext, tmp_path: Path) -> Iterator[None]:
    core._store_path[:] = [tmp_path / "state.db"]
    conn = GraphConnector(
        "graph",
        tenant_id=fake.tenant,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        authority_host=fake.url,
        graph_url=fake.url + "/v1.0",
        verify=trust,
        timeout=5.0,
        sleep=lambda seconds: None,
    )
    _world.update(fake=fake, conn=conn)
    yield
    conn.close()


TestGraphTwoWay = GraphMachine.TestCase
TestGraphTwoWay.settings = settings(
    max_examples=int(os.environ.get("CALSYNC_GRAPH_PROPERTY_EXAMPLES", "12")),
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
