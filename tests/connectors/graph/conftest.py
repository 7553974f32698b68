"""One fake Graph service per test session (TLS with a test CA), and connectors built against it."""

from __future__ import annotations

import itertools
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from calsync.connectors.graph.connector import GraphConnector
from tests.connectors.graph.fake.auth import App
from tests.connectors.graph.fake.server import FakeGraph
from tests.connectors.graph.fake.tls import make_pki

CLIENT_ID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
SECRET = "fake-secret-value-0123456789"
_mailboxes = itertools.count(1)


@pytest.fixture(scope="session")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGraph]:
    pki = make_pki(Path(tmp_path_factory.mktemp("pki")))
    server = FakeGraph(pki).start()
    server.apps[CLIENT_ID] = App(CLIENT_ID, secret=SECRET)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def trust(fake: FakeGraph) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(fake.pki.ca_file))


def new_mailbox(fake: FakeGraph) -> str:
    """A fresh, empty mailbox (tests share one server, never a mailbox)."""
    address = f"user{next(_mailboxes)}@contoso.onmicrosoft.com"
    fake.add_mailbox(address)
    return address


@pytest.fixture
def connect(fake: FakeGraph, trust: ssl.SSLContext) -> Iterator[Callable[..., GraphConnector]]:
    """Build connectors against the fake; they are closed after the test."""
    made: list[GraphConnector] = []

    def build(**options: object) -> GraphConnector:
        settings: dict[str, object] = {
            "tenant_id": fake.tenant,
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "authority_host": fake.url,
            "graph_url": fake.url + "/v1.0",
            "verify": trust,
            "timeout": 2.0,
            "sleep": lambda seconds: None,
        }
        settings.update(options)
        conn = GraphConnector("graph", **settings)  # type: ignore[arg-type]
        made.append(conn)
        return conn

    yield build
    for conn in made:
        conn.close()
