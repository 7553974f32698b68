"""Transport and discovery: retries honour Retry-After, statuses become typed errors, homes are found."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from calsync.connectors.caldav import CalDavConnector
from calsync.connectors.dav import xml
from calsync.connectors.dav.transport import TransportSettings, retry_delay, ssl_context
from calsync.errors import AuthError, ProtocolError, RateLimited
from calsync.model.refs import ItemRef
from tests.connectors.dav.pki import make_pki
from tests.connectors.dav.servers import Server


def scripted(*responses: httpx.Response) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    return httpx.MockTransport(handle), seen


def test_a_503_is_retried_after_the_time_the_server_asks_for() -> None:
    mock, seen = scripted(httpx.Response(503, headers={"Retry-After": "7"}), httpx.Response(204))
    slept: list[float] = []
    conn = CalDavConnector("https://dav.test/home/", transport=mock)
    conn.http._sleep = slept.append
    conn.delete("cal", xml_ref("a.ics"))
    assert slept == [7.0] and len(seen) == 2
    assert seen[1].headers["If-Match"] == '"e1"'


def test_a_429_that_persists_is_rate_limited() -> None:
    mock, seen = scripted(*[httpx.Response(429, headers={"Retry-After": "1"})] * 4)
    conn = CalDavConnector("https://dav.test/home/", transport=mock)
    conn.http._sleep = lambda _s: None
    with pytest.raises(RateLimited):
        conn.delete("cal", xml_ref("a.ics"))
    assert len(seen) == 4


def test_retry_after_as_a_date_and_its_cap() -> None:
    assert retry_delay("Wed, 21 Oct 2015 07:28:00 GMT", 0, 60) == 0.0
    assert retry_delay("120", 0, 60) == 60.0
    assert retry_delay(None, 2, 60) == 2.0


def test_a_body_that_is_not_a_multistatus_is_a_protocol_error() -> None:
    mock, _ = scripted(httpx.Response(207, content=b"<html>oops</html>"))
    with pytest.raises(ProtocolError, match="broke the protocol"):
        CalDavConnector("https://dav.test/home/", transport=mock).changes("cal", None)


def test_wrong_credentials_are_an_auth_error_without_the_password(radicale_server: Server) -> None:
    conn = CalDavConnector(radicale_server.calendar_home, username=radicale_server.username, password="s3cret-wrong")
    with pytest.raises(AuthError, match="401") as info:
        conn.changes("nothing", None)
    assert "s3cret-wrong" not in str(info.value)


def test_digest_auth_answers_the_challenge() -> None:
    challenge = 'Digest realm="dav", nonce="abc", qop="auth", algorithm=MD5'
    mock, seen = scripted(httpx.Response(401, headers={"WWW-Authenticate": challenge}), httpx.Response(204))
    conn = CalDavConnector("https://dav.test/home/", username="u", password="p", auth="digest", transport=mock)
    conn.delete("cal", xml_ref("a.ics"))
    assert seen[1].headers["Authorization"].startswith("Digest ")


def test_discovery_from_the_server_root_lists_calendars_with_their_properties(dav_server: Server) -> None:
    home = CalDavConnector(dav_server.calendar_home, username=dav_server.username, password=dav_server.password)
    home.create_calendar("discovered", "Team", "#00aa00ff")
    root = CalDavConnector(dav_server.url, username=dav_server.username, password=dav_server.password)
    found = {info.display_name: info for info in root.discover()}
    team = found["Team"]
    assert team.color.lower().startswith("#00aa00")
    assert {"VEVENT", "VTODO"} <= team.components and team.writable
    assert home.collection_url(team.id.rstrip("/").rsplit("/", 1)[-1]).endswith("/discovered/")


def test_multiget_body_escapes_hrefs() -> None:
    body = xml.multiget("calendar", ["/a/b&c.ics"]).decode()
    assert "<d:href>/a/b&amp;c.ics</d:href>" in body and "calendar-multiget" in body


def xml_ref(href: str) -> ItemRef:
    return ItemRef(href, '"e1"')


def test_a_server_that_refuses_every_connection_is_unavailable_not_an_httpx_error() -> None:
    import socket

    from calsync.errors import Unavailable

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conn = CalDavConnector(f"http://127.0.0.1:{port}/home/")
    slept: list[float] = []
    conn.http._sleep = slept.append
    with pytest.raises(Unavailable, match=r"cannot connect to 127\.0\.0\.1"):
        conn.delete("cal", xml_ref("a.ics"))
    assert len(slept) == conn.http.settings.retries


def test_tls_contexts_are_shared_until_a_certificate_file_changes(tmp_path: Path) -> None:
    """One CA store read per process, not per connector and run; a replaced bundle is read afresh."""
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first_ca = make_pki(tmp_path / "first").ca
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(first_ca.read_bytes())
    settings = TransportSettings(ca_bundle=bundle)
    context = ssl_context(settings)
    assert ssl_context(TransportSettings(ca_bundle=bundle)) is context
    assert ssl_context(TransportSettings()) is not context  # the system store: another context
    bundle.write_bytes(make_pki(tmp_path / "second").ca.read_bytes() + first_ca.read_bytes())  # renewed
    renewed = ssl_context(settings)
    assert renewed is not context
    assert len(renewed.get_ca_certs()) == 2


def test_a_bundle_rewritten_in_place_with_its_mtime_put_back_is_read_again(tmp_path: Path) -> None:
    """``cp -p`` or ``rsync -t`` over the old file: same inode, same size, same mtime; only the ctime tells."""
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    old, new = make_pki(tmp_path / "old").ca.read_bytes(), make_pki(tmp_path / "new").ca.read_bytes()
    size = max(len(old), len(new))
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(old.ljust(size, b"\n"))  # text outside a PEM block is ignored
    settings = TransportSettings(ca_bundle=bundle)
    before, stat = ssl_context(settings), bundle.stat()
    bundle.write_bytes(new.ljust(size, b"\n"))
    os.utime(bundle, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert bundle.stat().st_ctime_ns != stat.st_ctime_ns
    after = ssl_context(settings)
    assert after is not before
    assert after.get_ca_certs() != before.get_ca_certs()
