"""Discovery through ``/.well-known/caldav`` (RFC 6764 section 5): the redirect is followed to the principal and
its calendar home on real Radicale and Xandikos; an e-mail address starts at ``https://<domain>/.well-known/``;
a relative Location is resolved; a redirect loop ends in ``NotFound`` instead of going round for ever."""

from __future__ import annotations

import uuid

import httpx
import pytest

from calsync.connectors.caldav import CalDavConnector
from calsync.connectors.carddav import CardDavConnector
from calsync.errors import NotFound
from tests.connectors.dav.servers import Server


class Recording(httpx.BaseTransport):
    """Forwards to the real server and records (method, path, status) of every exchange."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.seen: list[tuple[str, str, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        self.seen.append((request.method, request.url.path, response.status_code))
        return response


def test_the_well_known_redirect_leads_to_the_calendars(dav_server: Server) -> None:
    name = f"wk-{uuid.uuid4().hex[:8]}"
    home = CalDavConnector(dav_server.calendar_home, username=dav_server.username, password=dav_server.password)
    home.create_calendar(name, "Well known")
    recording = Recording()
    start = f"{dav_server.url}.well-known/caldav"
    conn = CalDavConnector(start, username=dav_server.username, password=dav_server.password, transport=recording)
    found = {info.display_name: info.id for info in conn.discover()}
    assert recording.seen[0][:2] == ("PROPFIND", "/.well-known/caldav")  # the exact path, no slash added
    assert 300 <= recording.seen[0][2] < 400  # a redirect, followed by discovery itself
    assert found["Well known"].rstrip("/").endswith(name)
    assert conn.collection_url(found["Well known"]) == home.collection_url(name)


def mock_server(routes: dict[str, httpx.Response]) -> tuple[httpx.MockTransport, list[str]]:
    paths: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return routes.get(request.url.path, httpx.Response(404))

    return httpx.MockTransport(handle), paths


def multistatus(href: str, props: str) -> httpx.Response:
    body = (
        '<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" '
        'xmlns:r="urn:ietf:params:xml:ns:carddav"><d:response>'
        f"<d:href>{href}</d:href><d:propstat><d:prop>{props}</d:prop><d:status>HTTP/1.1 200 OK</d:status>"
        "</d:propstat></d:response></d:multistatus>"
    )
    return httpx.Response(207, content=body.encode())


def test_an_email_address_starts_at_the_domains_well_known_url() -> None:
    principal = "<d:current-user-principal><d:href>/dav/principals/alice/</d:href></d:current-user-principal>"
    home_set = "<r:addressbook-home-set><d:href>/dav/books/alice/</d:href></r:addressbook-home-set>"
    book = "<d:resourcetype><d:collection/><r:addressbook/></d:resourcetype><d:displayname>Team</d:displayname>"
    mock, paths = mock_server(
        {
            "/.well-known/carddav": httpx.Response(301, headers={"Location": "/dav/"}),
            "/dav/": multistatus("/dav/", principal),
            "/dav/principals/alice/": multistatus("/dav/principals/alice/", home_set),
            "/dav/books/alice/": multistatus("/dav/books/alice/team/", book),
        }
    )
    found = CardDavConnector("alice@dav.test", transport=mock).discover()
    assert paths == ["/.well-known/carddav", "/dav/", "/dav/principals/alice/", "/dav/books/alice/"]
    assert [(info.id, info.display_name, info.components) for info in found] == [
        ("team", "Team", frozenset({"VCARD"}))  # relative to the home found: the connector names collections so
    ]


def test_a_redirect_loop_is_not_found() -> None:
    mock, paths = mock_server(
        {
            "/.well-known/caldav": httpx.Response(302, headers={"Location": "/loop/"}),
            "/loop/": httpx.Response(302, headers={"Location": "/.well-known/caldav"}),
        }
    )
    with pytest.raises(NotFound, match="no caldav home"):
        CalDavConnector("https://dav.test/.well-known/caldav", transport=mock).discover()
    assert len(paths) == 3
