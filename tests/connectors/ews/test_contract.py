"""The EWS connector passes the connector contract, finding items by identity too, against the fake Exchange, by
impersonation and as a delegate, through exchangelib unmodified."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from calsync.connectors.base import Connector
from calsync.connectors.ews.connector import EwsConnector
from calsync.connectors.ews.settings import Access
from tests.connectors.contract import LocatingContract
from tests.connectors.ews import outlook
from tests.connectors.ews.conftest import new_mailbox
from tests.connectors.ews.fake.server import FakeEws


class _EwsContract(LocatingContract):
    access = Access.IMPERSONATION
    holds_tasks = False  # a calendar folder holds events; tasks are the Tasks folder's (``tasks()``)
    refuses_second_identity = False  # Exchange keeps any number of items of one identity, and a create finds a
    # retried copy by calsync's key property alone: an item made in Outlook has none

    @pytest.fixture(autouse=True)
    def _fake(self, fake: FakeEws, connect: Callable[..., EwsConnector]) -> None:
        self.fake = fake
        self.connect = connect
        self.collection = new_mailbox(fake, delegate=self.access is Access.DELEGATE)

    def make(self, *, read_only: bool = False) -> Connector:
        return self.connect(read_only=read_only, mailboxes=[self.collection], access=self.access)

    def put_external(self, connector: Connector, href: str, text: str) -> None:
        outlook.put(self.fake, self.collection, href, text)

    def remove_external(self, connector: Connector, href: str) -> None:
        outlook.remove(self.fake, self.collection, href)


class TestEwsContractByImpersonation(_EwsContract):
    access = Access.IMPERSONATION


class TestEwsContractAsDelegate(_EwsContract):
    access = Access.DELEGATE
