"""The memory connector passes the connector contract, and fails writes on demand."""

from __future__ import annotations

import pytest

from calsync.connectors.base import Connector
from calsync.connectors.memory import MemoryConnector
from calsync.errors import Unavailable
from calsync.model.content import Content
from tests.connectors.contract import LocatingContract
from tests.samples import event


class TestMemoryContract(LocatingContract):
    def make(self, *, read_only: bool = False) -> Connector:
        conn = MemoryConnector(read_only=read_only)
        conn.make_collection(self.collection)
        return conn

    def put_external(self, connector: Connector, href: str, text: str) -> None:
        assert isinstance(connector, MemoryConnector)
        connector.put_raw(self.collection, href, text)

    def remove_external(self, connector: Connector, href: str) -> None:
        assert isinstance(connector, MemoryConnector)
        connector.remove_raw(self.collection, href)


def test_fail_writes_raises_the_chosen_error_and_stores_nothing() -> None:
    conn = MemoryConnector(fail_writes=lambda op, href: Unavailable("down") if op == "create" else None)
    conn.make_collection("c")
    with pytest.raises(Unavailable):
        conn.create("c", Content.from_text(event("f1")), "f1")
    assert conn.texts("c") == {}


def test_rewrite_changes_the_bytes_but_not_the_digest() -> None:
    conn = MemoryConnector(rewrite=lambda text: text.replace("PRODID:-//calsync tests//EN", "PRODID:-//Server//"))
    conn.make_collection("c")
    content = Content.from_text(event("f2"))
    ref = conn.create("c", content, "f2")
    stored = conn.texts("c")[ref.href]
    assert "Server" in stored
    assert Content.from_text(stored).digest == content.digest
