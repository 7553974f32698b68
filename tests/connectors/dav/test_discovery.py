"""Discovery through ``/.well-known/caldav`` (RFC 6764 section 5): the redirect is followed to the principal and
its calendar home on real Radicale and Xandikos; an e-mail address starts at ``https://<domain>/.well-known/``;
a relative Location is resolved; a redirect loop ends in ``NotFound`` instead of going round for ever."""

from __future__ import annotations

import uuid

import httpx
import pytest

from calsync.connectors.caldav import CalDavConnector
from calsync.connectors.carddav import CardDavConnector
from calsync.errors import AuthError, ConnectorError, NotFound
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


# -- where the credentials go ------------------------------------------------------------------------------------
# Why: discovery follows redirects and hrefs the server names; the password must not follow them to another host,
# and never from https to plain http.


def recording(routes: dict[str, httpx.Response]) -> tuple[httpx.MockTransport, list[tuple[str, str | None]]]:
    """A server answering ``routes`` by whole URL (404 elsewhere), recording each URL and its Authorization."""
    seen: list[tuple[str, str | None]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("Authorization")))
        return routes.get(str(request.url), httpx.Response(404))

    return httpx.MockTransport(handle), seen


def test_a_redirect_from_https_to_plain_http_is_refused() -> None:
    mock, seen = recording(
        {"https://dav.test/.well-known/caldav": httpx.Response(301, headers={"Location": "http://dav.test/dav/"})}
    )
    conn = CalDavConnector("https://dav.test/.well-known/caldav", username="alice", password="s3cret", transport=mock)
    with pytest.raises(ConnectorError, match=r"plain http://dav\.test"):
        conn.discover()
    assert [url for url, _ in seen] == ["https://dav.test/.well-known/caldav"]


def test_a_redirect_to_another_host_gets_no_credentials_and_says_so() -> None:
    mock, seen = recording(
        {
            "https://dav.test/.well-known/caldav": httpx.Response(301, headers={"Location": "https://evil.test/dav/"}),
            "https://evil.test/dav/": httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="x"'}),
        }
    )
    conn = CalDavConnector("https://dav.test/.well-known/caldav", username="alice", password="s3cret", transport=mock)
    with pytest.raises(AuthError, match=r"only to dav\.test.*configure evil\.test"):
        conn.discover()
    assert [auth is not None for _, auth in seen] == [True, False]


def test_a_principal_on_another_host_gets_no_credentials() -> None:
    principal = "<d:current-user-principal><d:href>https://evil.test/p/</d:href></d:current-user-principal>"
    mock, seen = recording(
        {"https://dav.test/dav/": multistatus("/dav/", principal), "https://evil.test/p/": httpx.Response(401)}
    )
    conn = CalDavConnector("https://dav.test/dav/", username="alice", password="s3cret", transport=mock)
    with pytest.raises(AuthError, match=r"configure evil\.test"):
        conn.discover()
    assert seen[0] == ("https://dav.test/dav/", httpx.BasicAuth("alice", "s3cret")._auth_header)
    assert [auth for url, auth in seen if "evil.test" in url] == [None]


def test_the_same_host_upgraded_to_https_keeps_the_credentials() -> None:
    home_set = "<c:calendar-home-set><d:href>/cal/</d:href></c:calendar-home-set>"
    mock, seen = recording(
        {
            "http://dav.test/.well-known/caldav": httpx.Response(301, headers={"Location": "https://dav.test/dav/"}),
            "https://dav.test/dav/": multistatus("/dav/", home_set),
            "https://dav.test/cal/": multistatus("/cal/", ""),
        }
    )
    conn = CalDavConnector("http://dav.test/.well-known/caldav", username="alice", password="s3cret", transport=mock)
    assert conn.discover() == []
    assert all(auth is not None for _, auth in seen)
