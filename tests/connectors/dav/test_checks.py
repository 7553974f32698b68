"""Check connection for CalDAV/CardDAV against real servers on loopback: Radicale and Xandikos answer with their
product and the account's home; a wrong password, a closed port, a web server that is no DAV server and an
untrusted certificate each get their own plain line, never the password."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from calsync.connectors.base import Checkable
from calsync.connectors.caldav import CalDavConnector
from calsync.connectors.carddav import CardDavConnector
from calsync.connectors.dav.checks import DavProblem
from tests.connectors.dav.pki import make_pki
from tests.connectors.dav.servers import Server, TlsFiles, free_port, radicale

WRONG = "not-the-password-31337"


def test_a_reachable_server_names_its_product_and_the_home(dav_server: Server) -> None:
    conn = CalDavConnector(dav_server.url, username=dav_server.username, password=dav_server.password)
    own = "alice" if dav_server.kind == "radicale" else "/user/"
    assert isinstance(conn, Checkable)
    report = conn.check_connection([own, "nobody-here"])
    product = "Radicale" if dav_server.kind == "radicale" else "Xandikos"
    as_user = " as alice" if dav_server.username else ""
    home = "/alice/" if dav_server.kind == "radicale" else "/user/calendars/"
    assert report.server.line == f"Connected to {product} at {dav_server.url}{as_user} (calendar home {home})"
    assert report.server.problem == DavProblem.OK
    # Radicale's default rights (owner_only) refuse another user's home before saying whether it exists.
    other = DavProblem.ACCESS_DENIED if dav_server.kind == "radicale" else DavProblem.NOT_FOUND
    assert [p.problem for p in report.principals] == [DavProblem.OK, other]
    assert report.principals[0].line.startswith(f"{own}: home {home} with ")
    where = urlsplit(dav_server.url).netloc
    assert report.principals[1].line == (
        "nobody-here: access denied: give the service account rights on the user's calendars"
        if dav_server.kind == "radicale"
        else f"nobody-here: not found (the principal {where}/nobody-here/ names no caldav home)"
    )
    conn.close()


def test_the_address_book_side_checks_its_own_home(dav_server: Server) -> None:
    conn = CardDavConnector(dav_server.url, username=dav_server.username, password=dav_server.password)
    report = conn.check_connection()
    home = "/alice/" if dav_server.kind == "radicale" else "/user/contacts/"
    assert report.ok and report.server.line.endswith(f"(address book home {home})"), report.lines()
    conn.close()


def test_a_wrong_password_is_named_and_never_shown(radicale_server: Server) -> None:
    conn = CalDavConnector(radicale_server.url, username=radicale_server.username, password=WRONG)
    report = conn.check_connection(["alice"])
    assert report.server.problem == DavProblem.BAD_PASSWORD
    assert report.lines() == [
        f"Radicale at {radicale_server.url} refused the user name or password of alice",
        "alice: not checked (no server)",
    ]
    assert WRONG not in repr(report)
    conn.close()


def test_a_closed_port_is_unreachable_at_once() -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    started = time.monotonic()
    report = CalDavConnector(url, username="u", password=WRONG).check_connection(["bob"])
    assert time.monotonic() - started < 2  # no retries with back-off while an admin waits
    assert report.server.problem == DavProblem.UNREACHABLE
    assert report.server.line.startswith(f"Cannot reach {url}: cannot connect to 127.0.0.1")
    assert report.principals[0].problem == DavProblem.NOT_CHECKED


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A plain static web server (Python's http.server): answers GET, refuses OPTIONS and PROPFIND with 501."""
    root = tmp_path_factory.mktemp("www")
    (root / "index.html").write_text("<p>hello</p>", encoding="utf-8")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_a_web_server_that_is_no_dav_server_is_named(web_server: str) -> None:
    report = CalDavConnector(web_server, username="u", password=WRONG).check_connection()
    assert report.server.problem == DavProblem.NOT_DAV
    assert (
        report.server.line
        == f"{web_server} answers, but is not a CalDAV server (PROPFIND: 501 Unsupported method ('PROPFIND'))"
    )


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, TlsFiles]]:
    root = tmp_path_factory.mktemp("radicale-check-tls")
    files = make_pki(root)
    with radicale(root, tls=files) as server:
        yield server, files


def test_an_untrusted_certificate_is_a_tls_failure(tls_server: tuple[Server, TlsFiles], tmp_path: Path) -> None:
    server, files = tls_server
    untrusted = CalDavConnector(server.url, username=server.username, password=server.password)
    report = untrusted.check_connection()
    assert report.server.problem == DavProblem.TLS_FAILURE
    assert (
        report.server.line.startswith("The TLS handshake with 127.0.0.1:")
        and "CERTIFICATE_VERIFY_FAILED" in report.server.line
    )
    trusted = CalDavConnector(server.url, username=server.username, password=server.password, ca_bundle=files.ca)
    assert trusted.check_connection().ok
    untrusted.close()
    trusted.close()
