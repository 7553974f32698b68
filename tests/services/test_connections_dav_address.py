"""A stored CalDAV integration given by address: the well-known URL may redirect to another host (RFC 6764
section 5), and the sync must then talk to that host. The connector is given the address and finds its home (host
included) at its first request; absolute collection paths are named on it. Found by a second reading."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from calsync.crypto import Secret
from calsync.services import connections
from calsync.services.connections import CollectionKind, build_connectors, user_collection
from calsync.services.integrations import Credentials, IntegrationView

NS = 'xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"'


def multistatus(*responses: str, token: str = "") -> httpx.Response:
    sync = f"<d:sync-token>{token}</d:sync-token>" if token else ""
    body = f'<?xml version="1.0"?><d:multistatus {NS}>{"".join(responses)}{sync}</d:multistatus>'
    return httpx.Response(207, content=body.encode(), headers={"Content-Type": "application/xml"})


def one(href: str, props: str) -> str:
    return (
        f"<d:response><d:href>{href}</d:href><d:propstat><d:prop>{props}</d:prop>"
        "<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
    )


def server(seen: list[tuple[str, str, str]]) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        host, path, method = request.url.host, request.url.path, request.method
        seen.append((method, host, path))
        if host == "example.com":
            if path.rstrip("/") == "/.well-known/caldav":
                return httpx.Response(301, headers={"Location": "https://dav.example.net/dav/"})
            return httpx.Response(404)
        principal = "<d:current-user-principal><d:href>/dav/principals/calsync/</d:href></d:current-user-principal>"
        if method == "PROPFIND" and path == "/dav/":
            return multistatus(one("/dav/", principal))
        if method == "PROPFIND" and path.startswith("/dav/principals/"):
            user = path.strip("/").rsplit("/", 1)[1]
            home = f"<c:calendar-home-set><d:href>/dav/calendars/{user}/</d:href></c:calendar-home-set>"
            return multistatus(one(path, principal + home))
        if method == "PROPFIND" and path == "/dav/calendars/bob/":
            calendar = (
                "<d:resourcetype><d:collection/><c:calendar/></d:resourcetype><d:displayname>Work</d:displayname>"
                '<c:supported-calendar-component-set><c:comp name="VEVENT"/></c:supported-calendar-component-set>'
            )
            return multistatus(
                one(path, "<d:resourcetype><d:collection/></d:resourcetype>"), one(path + "work/", calendar)
            )
        if method == "REPORT" and path == "/dav/calendars/bob/work/":
            return multistatus(token="http://dav.example.net/sync/1")
        return httpx.Response(404)

    return handle


@pytest.mark.parametrize(
    ("url", "autodiscover", "expected"),
    [
        ("", "calsync@example.com", "/dav/calendars/bob/work"),  # the connector's home is on dav.example.net
        ("https://example.com/.well-known/caldav", "", "https://dav.example.net/dav/calendars/bob/work"),
    ],
)
def test_a_stored_integration_syncs_on_the_server_its_address_or_url_leads_to(
    monkeypatch: pytest.MonkeyPatch, url: str, autodiscover: str, expected: str
) -> None:
    from calsync.connectors.dav import srv

    monkeypatch.setattr(srv, "lookup_service", lambda *args, **kwargs: None)  # no SRV: https://example.com/.well-known
    seen: list[tuple[str, str, str]] = []
    mock = httpx.MockTransport(server(seen))
    real = connections.connector_class

    def with_mock(name: str, **kwargs: Any) -> Callable[..., Any]:
        cls = real(name, **kwargs)
        return lambda *a, **kw: cls(*a, transport=mock, **kw)

    monkeypatch.setattr(connections, "connector_class", with_mock)
    view = IntegrationView(
        name="acme", company="ACME", connection_type="caldav", auth_mode="delegate", description="", department="",
        url=url, autodiscover=autodiscover, ca_bundle="", username="calsync", client_id="", tenant_id="",
        two_way=True, days_back=30, days_forward=30, full_sync_minutes=1440, interval_minutes=20,
        start_of_sync=None, appointment_activity="", task_activity="", has_password=True, has_client_secret=False,
        has_certificate=False,
    )  # fmt: skip
    built = build_connectors(view, Credentials(password=Secret("pw")), ["bob"])
    try:
        assert built.events is not None
        collection = user_collection(built.events, "bob", CollectionKind.EVENTS)
        assert collection == expected
        built.events.changes(collection, None)
        reports = [(host, path) for method, host, path in seen if method == "REPORT"]
        assert reports == [("dav.example.net", "/dav/calendars/bob/work/")], reports
    finally:
        built.close()
