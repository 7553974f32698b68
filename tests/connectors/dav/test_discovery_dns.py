"""DNS discovery of CalDAV/CardDAV services (RFC 6764 sections 3 to 6) against a real DNS responder on loopback.

The responder is a few lines of dnspython (``dns.message``) answering UDP queries from a table; the resolver is
dnspython's own, pointed at it. ``_caldavs`` wins over ``_caldav``; a plain-text-only domain, a declined service,
a malformed TXT path and a CNAME loop are clear errors; a domain with no record starts at its well-known URL. End
to end, an e-mail address finds a Radicale serving HTTPS through its SRV record and syncs into it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import dns.message
import dns.name
import dns.rcode
import dns.resolver
import dns.rrset
import pytest

from calsync.connectors.base import Fetched
from calsync.connectors.caldav import CalDavConnector
from calsync.connectors.dav.discovery import ADDRESSBOOKS, CALENDARS, service_url
from calsync.errors import ConfigError
from tests.connectors.dav.pki import make_pki
from tests.connectors.dav.servers import Server, TlsFiles, radicale

Zone = dict[tuple[str, str], list[str]]
"""(owner name, record type) -> the records' text, e.g. ("_caldavs._tcp.example.test.", "SRV"): ["0 1 443 dav."]."""


class Responder:
    """A UDP DNS server on a free loopback port answering from ``zone``: NXDOMAIN for a name it does not know,
    an empty answer for a known name without records of the type, a CNAME where the zone has one."""

    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self.asked: list[tuple[str, str]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            self.sock.sendto(self.answer(dns.message.from_wire(data)).to_wire(), peer)

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        question = query.question[0]
        name, rdtype = question.name.to_text(), dns.rdatatype.to_text(question.rdtype)
        self.asked.append((name, rdtype))
        if (name, "CNAME") in self.zone:
            response.answer.append(dns.rrset.from_text_list(name, 60, "IN", "CNAME", self.zone[name, "CNAME"]))
        elif (name, rdtype) in self.zone:
            response.answer.append(dns.rrset.from_text_list(name, 60, "IN", rdtype, self.zone[name, rdtype]))
        elif not any(owner == name for owner, _ in self.zone):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response

    def resolver(self) -> dns.resolver.Resolver:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = self.port
        resolver.lifetime = 2.0
        return resolver

    def __enter__(self) -> Responder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@contextlib.contextmanager
def dns_server(zone: Zone) -> Iterator[Responder]:
    with Responder(zone) as responder:
        yield responder


def test_the_tls_service_and_its_txt_path_make_the_start_url() -> None:
    zone = {
        ("_caldavs._tcp.example.test.", "SRV"): ["10 0 8443 dav.example.test."],
        ("_caldavs._tcp.example.test.", "TXT"): ['"path=/dav/"'],
        ("_caldav._tcp.example.test.", "SRV"): ["0 0 80 plain.example.test."],
    }
    with dns_server(zone) as server:
        assert service_url("anna@example.test", CALENDARS, server.resolver()) == "https://dav.example.test:8443/dav/"
        assert server.asked == [("_caldavs._tcp.example.test.", "SRV"), ("_caldavs._tcp.example.test.", "TXT")]


def test_without_a_txt_path_the_targets_well_known_url_is_the_start() -> None:
    zone = {
        ("_carddavs._tcp.example.test.", "SRV"): [
            "20 5 443 backup.example.test.",
            "10 1 443 b.example.test.",
            "10 9 443 a.example.test.",
        ],
        ("_carddavs._tcp.example.test.", "TXT"): ['"v=1"'],
    }
    with dns_server(zone) as server:
        url = service_url("example.test", ADDRESSBOOKS, server.resolver())
    assert url == "https://a.example.test/.well-known/carddav"  # lowest priority, then highest weight


def test_a_domain_without_records_starts_at_its_own_well_known_url() -> None:
    with dns_server({("other.test.", "A"): ["192.0.2.1"]}) as server:
        assert (
            service_url("bob@Example.TEST", CALENDARS, server.resolver()) == "https://example.test/.well-known/caldav"
        )


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        ({("_caldav._tcp.example.test.", "SRV"): ["0 0 80 dav.example.test."]}, "only without TLS"),
        ({("_caldavs._tcp.example.test.", "SRV"): ["0 0 0 ."]}, "not offered"),
        ({("_caldavs._tcp.example.test.", "SRV"): ["0 0 0 dav.example.test."]}, "port 0"),
        (
            {
                ("_caldavs._tcp.example.test.", "SRV"): ["0 0 443 dav.example.test."],
                ("_caldavs._tcp.example.test.", "TXT"): ['"path=dav"'],
            },
            "not an absolute path",
        ),
        ({("_caldavs._tcp.example.test.", "CNAME"): ["_caldavs._tcp.example.test."]}, "broken"),
    ],
    ids=["plain-text-only", "declined", "port-zero", "relative-path", "cname-loop"],
)
def test_refused_and_bad_records_are_clear_errors(zone: Zone, message: str) -> None:
    with dns_server(zone) as server, pytest.raises(ConfigError, match=message):
        service_url("anna@example.test", CALENDARS, server.resolver())


def test_an_address_that_is_no_domain_is_refused() -> None:
    with pytest.raises(ConfigError, match="not an e-mail address or domain"):
        service_url("anna@localhost", CALENDARS, dns.resolver.Resolver(configure=False))


def test_unreachable_dns_falls_back_to_the_well_known_url() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
        silent.bind(("127.0.0.1", 0))
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = int(silent.getsockname()[1])
        resolver.lifetime = 0.3
        assert service_url("anna@example.test", CALENDARS, resolver) == "https://example.test/.well-known/caldav"


@pytest.fixture(scope="module")
def tls_radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, TlsFiles]]:
    root = tmp_path_factory.mktemp("radicale-dns")
    files = make_pki(root)
    with radicale(root, tls=files) as server:
        yield server, files


@contextlib.contextmanager
def found_by_address(
    tls_radicale: tuple[Server, TlsFiles], monkeypatch: pytest.MonkeyPatch, calendar: str, title: str
) -> Iterator[tuple[CalDavConnector, CalDavConnector, Responder, str]]:
    """A calendar made in alice's home by URL, then DNS naming the server for ``example.test``: yields a connector
    given the address ``alice@example.test``, the one given the home URL, the DNS responder and the port."""
    server, files = tls_radicale
    port = server.url.rsplit(":", 1)[1].rstrip("/")
    zone = {("_caldavs._tcp.example.test.", "SRV"): [f"0 0 {port} localhost."]}
    account = {"username": server.username, "password": server.password, "ca_bundle": files.ca}
    home = CalDavConnector(server.calendar_home, **account)  # type: ignore[arg-type]
    home.create_calendar(calendar, title)
    with dns_server(zone) as dns_at:
        monkeypatch.setattr(dns.resolver, "default_resolver", dns_at.resolver())
        conn = CalDavConnector("alice@example.test", **account)  # type: ignore[arg-type]
        try:
            yield conn, home, dns_at, port
        finally:
            conn.close()
            home.close()


def test_an_email_address_finds_radicale_through_its_srv_record(
    tls_radicale: tuple[Server, TlsFiles], monkeypatch: pytest.MonkeyPatch
) -> None:
    with found_by_address(tls_radicale, monkeypatch, "by-dns", "Found by DNS") as (conn, _home, _dns, port):
        found = {info.display_name: info.id for info in conn.discover()}
        report = conn.check_connection()
    assert found["Found by DNS"] == "by-dns"  # relative to the home the address led to, as collections are named
    assert report.ok and report.lines() == [
        f"Connected to Radicale at https://localhost:{port}/.well-known/caldav as alice (calendar home /alice/)"
    ]


def test_a_connector_given_an_address_names_collections_under_the_home_it_finds(
    tls_radicale: tuple[Server, TlsFiles], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a configuration file's ``url = "alice@example.test"``: no home URL anywhere, yet items land in it."""
    from calsync.model.content import Content
    from tests.samples import event

    with found_by_address(tls_radicale, monkeypatch, "from-address", "From an address") as (conn, home, dns_at, port):
        ref = conn.create("from-address", Content.from_text(event("by-address")), "by-address")
        assert conn.url == f"https://localhost:{port}/alice/"
        assert dns_at.asked.count(("_caldavs._tcp.example.test.", "SRV")) == 1  # found once, then remembered
        (fetched,) = home.get("from-address", [ref.href])
    assert isinstance(fetched, Fetched) and fetched.content.ident == "by-address"
