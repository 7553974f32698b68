"""The Graph connector passes the connector contract, finding events by identity too, against the fake Graph
service, through msal and httpx."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from calsync.connectors.base import Connector
from calsync.connectors.graph.connector import GraphConnector
from tests.connectors.contract import LocatingContract
from tests.connectors.graph import outlook
from tests.connectors.graph.conftest import new_mailbox
from tests.connectors.graph.fake.server import FakeGraph


class TestGraphContract(LocatingContract):
    holds_tasks = False  # a calendar holds events; To Do lists are another connector's
    refuses_second_identity = False  # Graph keeps any number of items of one identity, and a create finds a
    # retried copy by calsync's key property alone: an item made in Outlook has none

    @pytest.fixture(autouse=True)
    def _fake(self, fake: FakeGraph, connect: Callable[..., GraphConnector]) -> None:
        self.fake = fake
        self.connect = connect
        self.collection = new_mailbox(fake)

    def make(self, *, read_only: bool = False) -> Connector:
        return self.connect(read_only=read_only, mailboxes=[self.collection])

    def put_external(self, connector: Connector, href: str, text: str) -> None:
        outlook.put(self.fake, self.collection, href, text, imported=True)  # another client keeps its UID

    def remove_external(self, connector: Connector, href: str) -> None:
        outlook.remove(self.fake, self.collection, href)
