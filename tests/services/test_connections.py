"""The connectors of stored integrations and each user's collections on them, end to end.

A Radicale on loopback with three accounts: ``calsync`` (the service account, given rights on every home by a
rights file, as the module docstring of ``services.connections`` tells an admin to do), ``bob`` and ``carol``;
and ``dave``, who has rights on nobody's home but his own. Collections are made on first use and found on the
second call; an item written through the service account lands in the user's own calendar.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import dns.resolver
import httpx
import pytest

from calsync.config import Settings, StateSettings
from calsync.connectors.caldav import CalDavConnector
from calsync.connectors.carddav import CardDavConnector
from calsync.connectors.folder import FolderConnector
from calsync.connectors.graph.addressbook import GraphContactsConnector
from calsync.connectors.graph.connector import GraphConnector
from calsync.connectors.graph.tasks import GraphTasksConnector
from calsync.crypto import Secret
from calsync.errors import AuthError, ConfigError, NotFound
from calsync.model.content import Content
from calsync.services.connections import (
    CollectionKind,
    build_connectors,
    integration_connectors,
    user_collection,
)
from calsync.services.integrations import IntegrationInput, open_integrations
from tests.connectors.dav.pki import make_pki
from tests.connectors.dav.servers import _running, free_port, radicale
from tests.connectors.dav.test_discovery_dns import dns_server
from tests.connectors.graph.conftest import connect, fake, new_mailbox, trust  # noqa: F401 - fixtures used below
from tests.connectors.graph.fake.server import FakeGraph
from tests.samples import event

PASSWORDS = {
    "calsync": "service-pass-4711",
    "bob": "bob-pass-0815",
    "carol": "carol-pass-1234",
    "dave": "dave-pw-99",
    "erin": "erin-pass-2222",
}
RIGHTS = """
[calsync]
user: calsync
collection: .*
permissions: RrWw

[root]
user: .+
collection:
permissions: R

[principal]
user: .+
collection: {user}
permissions: RW

[calendars]
user: .+
collection: {user}/[^/]+
permissions: rw
"""


@dataclass(frozen=True, slots=True)
class Dav:
    url: str


@contextlib.contextmanager
def users_radicale(root: Path) -> Iterator[Dav]:
    """Radicale with htpasswd users and a rights file; every user has logged in once (which makes the principal)."""
    (root / "users").write_text("".join(f"{u}:{p}\n" for u, p in PASSWORDS.items()), encoding="utf-8")
    (root / "rights").write_text(RIGHTS, encoding="utf-8")
    port = free_port()
    args = [
        sys.executable, "-m", "radicale", "--server-hosts", f"127.0.0.1:{port}",
        "--storage-filesystem-folder", str(root / "collections"), "--storage-type", "multifilesystem_nolock",
        "--auth-type", "htpasswd", "--auth-htpasswd-filename", str(root / "users"),
        "--auth-htpasswd-encryption", "plain", "--auth-delay", "0", "--rights-type", "from_file",
        "--rights-file", str(root / "rights"), "--logging-level", "error",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    with _running(args, url, httpx.BasicAuth("calsync", PASSWORDS["calsync"]), True):
        for user, password in PASSWORDS.items():
            httpx.request("PROPFIND", url, auth=(user, password), headers={"Depth": "0"}).raise_for_status()
        yield Dav(url)


@pytest.fixture(scope="module")
def dav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dav]:
    with users_radicale(tmp_path_factory.mktemp("radicale-users")) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(source=None, state=StateSettings(url=str(tmp_path / "state.db")))


def add(settings: Settings, given: IntegrationInput, *mailboxes: str) -> None:
    with open_integrations(settings) as service:
        service.add(given)
        for number, mailbox in enumerate(mailboxes, 1):
            service.add_user(given.name, f"U{number}", mailbox)


def caldav_input(dav: Dav, name: str = "dav", user: str = "calsync") -> IntegrationInput:
    return IntegrationInput(
        name, "ACME", "caldav", "delegate", url=dav.url, username=user, password=Secret(PASSWORDS[user])
    )


def own_view(dav: Dav, user: str) -> tuple[CalDavConnector, CardDavConnector]:
    """The user's own view of their homes, with their own password (what their phone sees)."""
    home = f"{dav.url}{user}/"
    return (
        CalDavConnector(home, username=user, password=PASSWORDS[user]),
        CardDavConnector(home, username=user, password=PASSWORDS[user]),
    )


def test_caldav_users_get_their_collections_made_once_then_found(dav: Dav, settings: Settings) -> None:
    add(settings, caldav_input(dav), "bob", "carol")
    built = integration_connectors(settings, "dav")
    assert isinstance(built.events, CalDavConnector) and built.tasks is built.events
    assert isinstance(built.contacts, CardDavConnector) and built.contacts.url == dav.url
    kinds = {
        CollectionKind.EVENTS: built.events,
        CollectionKind.TASKS: built.tasks,
        CollectionKind.CONTACTS: built.contacts,
    }
    first = {(u, k): user_collection(c, u, k) for u in ("bob", "carol") for k, c in kinds.items()}
    assert first[("bob", CollectionKind.EVENTS)] == "/bob/calsync-events"
    assert first[("carol", CollectionKind.TASKS)] == "/carol/calsync-tasks"
    assert first[("carol", CollectionKind.CONTACTS)] == "/carol/calsync-contacts"
    again = integration_connectors(settings, "dav")
    assert again.events is not None and again.tasks is not None and again.contacts is not None
    second = {
        (u, k): user_collection(c, u, k)
        for u in ("bob", "carol")
        for k, c in ((CollectionKind.EVENTS, again.events), (CollectionKind.TASKS, again.tasks),
                     (CollectionKind.CONTACTS, again.contacts))
    }  # fmt: skip
    assert second == first

    bob_calendars, bob_books = own_view(dav, "bob")
    seen = {info.id: info for info in bob_calendars.discover()}
    assert seen["calsync-events"].components == frozenset({"VEVENT"})
    assert seen["calsync-events"].display_name == "Appointments"
    assert seen["calsync-tasks"].components == frozenset({"VTODO"})
    assert [info.id for info in bob_books.discover()] == ["calsync-contacts"]

    ref = built.events.create(first[("bob", CollectionKind.EVENTS)], Content.from_text(event("v1", "Visit")), "v1")
    assert [r.href for r in bob_calendars.list_all("calsync-events")] == [ref.href]
    carol_calendars, _ = own_view(dav, "carol")
    assert carol_calendars.list_all("calsync-events") == []
    built.close()
    again.close()


def test_a_calendar_the_user_made_is_used_for_events_but_never_shared_with_tasks(dav: Dav, settings: Settings) -> None:
    add(settings, caldav_input(dav, "own"), "erin")
    erin, _ = own_view(dav, "erin")
    erin.create_calendar("personal", "Personal")  # events and tasks, as phones make them
    built = integration_connectors(settings, "own")
    assert built.events is not None and built.tasks is not None
    assert user_collection(built.events, "erin", CollectionKind.EVENTS) == "/erin/personal"
    assert user_collection(built.tasks, "erin", CollectionKind.TASKS) == "/erin/calsync-tasks"
    built.close()


def test_a_missing_or_refused_principal_is_an_error_naming_the_mailbox(dav: Dav, settings: Settings) -> None:
    add(settings, caldav_input(dav, "ok"), "bob")
    add(settings, caldav_input(dav, "norights", "dave"), "bob")
    built = integration_connectors(settings, "ok")
    assert built.events is not None and built.contacts is not None
    with pytest.raises(NotFound, match=r"^nobody: no principal at 127\.0\.0\.1:"):
        user_collection(built.events, "nobody", CollectionKind.EVENTS)
    with pytest.raises(ConfigError, match=r"'a/b' is not a principal name or path"):
        user_collection(built.events, "a/b", CollectionKind.EVENTS)
    with pytest.raises(ConfigError, match=r"users\.mailbox: bob: ok keeps no contacts collections"):
        user_collection(built.events, "bob", CollectionKind.CONTACTS)
    refused = integration_connectors(settings, "norights")
    assert refused.events is not None
    with pytest.raises(AuthError, match=r"^bob: .*403"):
        user_collection(refused.events, "bob", CollectionKind.EVENTS)
    built.close()
    refused.close()


def test_carddav_is_contacts_only(dav: Dav, settings: Settings) -> None:
    add(settings, replace(caldav_input(dav, "books"), connection_type="carddav"), "bob")
    built = integration_connectors(settings, "books")
    assert built.events is None and built.tasks is None and isinstance(built.contacts, CardDavConnector)
    assert built.primary is built.contacts
    assert user_collection(built.contacts, "bob", CollectionKind.CONTACTS) == "/bob/calsync-contacts"
    with pytest.raises(ConfigError, match="keeps no events collections"):
        user_collection(built.contacts, "bob", CollectionKind.EVENTS)
    built.close()


def test_a_folder_integration_makes_a_folder_per_user(settings: Settings, tmp_path: Path) -> None:
    root = tmp_path / "calendars"
    root.mkdir()
    add(settings, IntegrationInput("files", "ACME", "folder", url=str(root)), "anna@example.com")
    built = integration_connectors(settings, "files")
    assert isinstance(built.events, FolderConnector) and built.tasks is None and built.contacts is None
    assert user_collection(built.events, "anna@example.com", CollectionKind.EVENTS) == "anna@example.com"
    assert (root / "anna@example.com").is_dir()
    assert user_collection(built.events, "anna@example.com", CollectionKind.EVENTS) == "anna@example.com"
    with pytest.raises(ConfigError, match="cannot name a collection"):
        user_collection(built.events, "../escape", CollectionKind.EVENTS)


def test_ews_builds_calendars_tasks_and_contacts_and_an_unknown_integration_is_named(settings: Settings) -> None:
    from calsync.connectors.ews.addressbook import EwsContactsConnector
    from calsync.connectors.ews.cache import Discovered
    from calsync.connectors.ews.connector import EwsConnector
    from calsync.connectors.ews.tasks import EwsTasksConnector
    from calsync.services.connector_cache import StoredAutodiscoverCache

    add(
        settings,
        IntegrationInput(
            "exchange", "ACME", "ews", "impersonation", url="https://mail.example.com/EWS/Exchange.asmx",
            username="svc@example.com", password=Secret("ews-secret-value"),
        ),
        "anna@example.com",
    )  # fmt: skip
    built = integration_connectors(settings, "exchange")
    assert isinstance(built.events, EwsConnector)
    assert isinstance(built.tasks, EwsTasksConnector) and isinstance(built.contacts, EwsContactsConnector)
    cache = built.events.session.cache
    assert isinstance(cache, StoredAutodiscoverCache)  # in the state database, not exchangelib's temp file
    cache.put("example.com|svc@example.com", Discovered("https://mail.example.com/EWS/Exchange.asmx", "15.1.2507.6"))
    built.close()
    again = integration_connectors(settings, "exchange")
    assert isinstance(again.events, EwsConnector)
    found = again.events.session.cache.get("example.com|svc@example.com")
    assert found == Discovered("https://mail.example.com/EWS/Exchange.asmx", "15.1.2507.6")
    again.events.session.cache.forget("example.com|svc@example.com")
    assert again.events.session.cache.get("example.com|svc@example.com") is None
    again.close()
    with pytest.raises(ConfigError, match="no integration called 'nope'"):
        integration_connectors(settings, "nope")


def test_the_ca_bundle_reaches_the_dav_and_ews_connectors(settings: Settings, tmp_path: Path) -> None:
    from calsync.connectors.ews.connector import EwsConnector

    ca = make_pki(tmp_path).ca
    add(settings, replace(caldav_input(Dav("https://dav.example.com/")), ca_bundle=str(ca)))
    exchange = IntegrationInput("exchange", "ACME", "ews", "impersonation", url="https://mail.example.com/EWS/",
                                username="svc@example.com", password=Secret("ews-pw"), ca_bundle=str(ca))  # fmt: skip
    add(settings, exchange)
    dav = integration_connectors(settings, "dav")
    assert isinstance(dav.events, CalDavConnector) and isinstance(dav.contacts, CardDavConnector)
    assert dav.events.http.settings.ca_bundle == dav.contacts.http.settings.ca_bundle == ca
    ews = integration_connectors(settings, "exchange")
    assert isinstance(ews.events, EwsConnector) and ews.events.session.settings.ca_bundle == ca
    for built in (dav, ews):
        built.close()


def test_graph_builds_events_todo_and_contacts_for_the_users_mailboxes(settings: Settings) -> None:
    secret = "graph-secret-never-shown"
    add(
        settings,
        IntegrationInput(
            "m365", "ACME", "graph", "oauth", client_id="3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            tenant_id="contoso.onmicrosoft.com", client_secret=Secret(secret),
        ),
        "anna@contoso.onmicrosoft.com", "jonas@contoso.onmicrosoft.com",
    )  # fmt: skip
    built = integration_connectors(settings, "m365")
    assert isinstance(built.events, GraphConnector)
    assert isinstance(built.tasks, GraphTasksConnector) and isinstance(built.contacts, GraphContactsConnector)
    assert built.events.mailboxes == ("anna@contoso.onmicrosoft.com", "jonas@contoso.onmicrosoft.com")
    assert built.tasks.transport is built.events.transport and built.contacts.transport is built.events.transport
    assert secret not in repr(built)
    built.close()


def test_graph_users_default_collections_are_their_mailboxes(request: pytest.FixtureRequest) -> None:
    graph: FakeGraph = request.getfixturevalue("fake")  # the Graph fixtures of tests/connectors/graph
    anna, jonas = new_mailbox(graph), new_mailbox(graph)
    conn: GraphConnector = request.getfixturevalue("connect")(mailboxes=[anna, jonas])
    assert user_collection(conn, anna, CollectionKind.EVENTS) == anna
    assert user_collection(conn.tasks(), jonas.upper(), CollectionKind.TASKS) == jonas
    assert user_collection(conn.contacts(), anna, CollectionKind.CONTACTS) == anna
    with pytest.raises(ConfigError, match="not a mailbox graph was built for"):
        user_collection(conn, "stranger@contoso.onmicrosoft.com", CollectionKind.EVENTS)
    with pytest.raises(ConfigError, match="keeps no contacts collections"):
        user_collection(conn, anna, CollectionKind.CONTACTS)


def test_an_address_without_url_is_found_through_dns(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = make_pki(tmp_path)
    with radicale(tmp_path, tls=files) as server, dns_server({}) as dns_at:
        port = urlsplit(server.url).port
        dns_at.zone[("_caldavs._tcp.example.test.", "SRV")] = [f"0 0 {port} localhost."]
        dns_at.zone[("_carddavs._tcp.example.test.", "SRV")] = [f"0 0 {port} localhost."]
        monkeypatch.setattr(dns.resolver, "default_resolver", dns_at.resolver())
        monkeypatch.setenv("SSL_CERT_FILE", str(files.ca))  # the test CA, trusted as a system CA would be
        given = IntegrationInput("dns", "ACME", "caldav", "delegate", url=server.url, username=server.username,
                                 password=Secret(server.password))  # fmt: skip
        add(settings, given)
        with open_integrations(settings) as service:
            view = replace(service.get("dns"), url="", autodiscover="alice@example.test")
            secrets = service.credentials("dns")
        built = build_connectors(view, secrets, [])
        assert isinstance(built.events, CalDavConnector) and isinstance(built.contacts, CardDavConnector)
        assert built.events.url == f"https://localhost:{port}/{server.username}/"  # the home the address led to
        collection = user_collection(built.events, "alice", CollectionKind.EVENTS)
        ref = built.events.create(collection, Content.from_text(event("d1", "Found by DNS")), "d1")
        assert collection == "/alice/calsync-events"
        assert [r.href for r in built.events.list_all(collection)] == [ref.href]
        assert user_collection(built.contacts, "alice", CollectionKind.CONTACTS) == "/alice/calsync-contacts"
        built.close()
