"""The CalDAV connector passes the connector contract against real Radicale and Xandikos servers."""

from __future__ import annotations

import itertools
import uuid

import httpx
import pytest

from calsync.connectors.base import Connector
from calsync.connectors.caldav import CalDavConnector
from tests.connectors.contract import LocatingContract
from tests.connectors.dav.servers import Server

_names = itertools.count()


def caldav_for(server: Server, *, read_only: bool = False) -> CalDavConnector:
    return CalDavConnector(
        server.calendar_home, username=server.username, password=server.password, read_only=read_only
    )


def raw_client(server: Server) -> httpx.Client:
    auth = httpx.BasicAuth(server.username, server.password) if server.username else None
    return httpx.Client(auth=auth)


class TestCalDavContract(LocatingContract):
    @pytest.fixture(autouse=True)
    def _calendar(self, dav_server: Server) -> None:
        self.server = dav_server
        self.collection = f"cal-{uuid.uuid4().hex[:8]}-{next(_names)}"
        caldav_for(dav_server).create_calendar(self.collection)

    def make(self, *, read_only: bool = False) -> Connector:
        return caldav_for(self.server, read_only=read_only)

    def put_external(self, connector: Connector, href: str, text: str) -> None:
        with raw_client(self.server) as client:
            url = f"{self.server.calendar_home}{self.collection}/{href}"
            response = client.put(url, content=text.encode(), headers={"Content-Type": "text/calendar"})
            assert response.status_code in (201, 204), response.text

    def remove_external(self, connector: Connector, href: str) -> None:
        with raw_client(self.server) as client:
            response = client.delete(f"{self.server.calendar_home}{self.collection}/{href}")
            assert response.status_code in (200, 204), response.text
