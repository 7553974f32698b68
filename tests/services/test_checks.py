"""The check service on stored integrations: the server line and each user's line, against real Radicale with a
service account and users; a wrong stored password; a folder (no check); EWS (not available yet); and Graph's
own report read through the port, against the fake Graph service."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from calsync.config import Settings, StateSettings
from calsync.connectors.base import Checkable, ConnectionReport, Fetched
from calsync.connectors.caldav import CalDavConnector
from calsync.connectors.graph.checks import Problem
from calsync.connectors.graph.connector import GraphConnector
from calsync.crypto import Secret
from calsync.errors import ConfigError, TlsFailure
from calsync.services.checks import NOT_CHECKABLE, check_connectors, check_integration
from calsync.services.connections import IntegrationConnectors
from calsync.services.hub import BusinessItem, open_hub
from calsync.services.hub_sync import sync_integration
from calsync.services.integrations import IntegrationInput, IntegrationPatch, open_integrations
from calsync.state.store import JobKind
from tests.connectors.dav.pki import make_pki
from tests.connectors.dav.servers import Server, TlsFiles, radicale
from tests.connectors.graph.conftest import connect, fake, new_mailbox, trust  # noqa: F401 - fixtures used below
from tests.connectors.graph.fake.auth import App
from tests.connectors.graph.fake.server import FakeGraph
from tests.services.hubworld import event as business_event
from tests.services.test_connections import PASSWORDS, Dav, add, caldav_input, users_radicale


@pytest.fixture(scope="module")
def dav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dav]:
    with users_radicale(tmp_path_factory.mktemp("radicale-check-users")) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(source=None, state=StateSettings(url=str(tmp_path / "state.db")))


def test_the_server_and_every_user_are_checked(dav: Dav, settings: Settings) -> None:
    add(settings, caldav_input(dav, "acme"), "bob", "ghost", "carol")
    report = check_integration(settings, "acme", users=True)
    assert report.lines() == [
        f"Connected to Radicale at {dav.url} as calsync (calendar home /calsync/)",
        f"bob: home /bob/ with {report.principals[0].line.split(' with ')[1]}",
        f"ghost: not found (no principal at {dav.url.removeprefix('http://')}ghost/)",
        f"carol: home /carol/ with {report.principals[2].line.split(' with ')[1]}",
    ]
    assert [p.problem for p in report.principals] == ["ok", "not_found", "ok"] and not report.ok
    alone = check_integration(settings, "acme", users=False)
    assert alone.ok and alone.principals == ()


def test_users_the_account_may_not_reach_are_named(dav: Dav, settings: Settings) -> None:
    add(settings, caldav_input(dav, "dave-only", "dave"), "dave", "bob")
    report = check_integration(settings, "dave-only", users=True)
    assert report.server.ok and [p.problem for p in report.principals] == ["ok", "access_denied"]
    assert report.principals[1].line == "bob: access denied: give the service account rights on the user's calendars"


def test_a_wrong_stored_password_is_named_and_never_shown(dav: Dav, settings: Settings) -> None:
    add(settings, caldav_input(dav, "stale"), "bob")
    wrong = "an-old-password-5150"
    with open_integrations(settings) as service:
        service.update("stale", IntegrationPatch(password=Secret(wrong)))
    report = check_integration(settings, "stale", users=True)
    assert report.server.problem == "bad_password"
    assert report.lines() == [
        f"Radicale at {dav.url} refused the user name or password of calsync",
        "bob: not checked (no server)",
    ]
    assert wrong not in repr(report) and PASSWORDS["calsync"] not in repr(report)


def test_a_folder_has_no_check(settings: Settings, tmp_path: Path) -> None:
    add(settings, IntegrationInput("files", "ACME", "folder", url=str(tmp_path)), "anna")
    report = check_integration(settings, "files", users=True)
    assert report.server.problem == NOT_CHECKABLE and not report.ok
    assert report.lines() == ["files: this kind of connection has no connection check", "anna: not checked"]
    with pytest.raises(ConfigError, match="no integration called 'nope'"):
        check_integration(settings, "nope", users=False)


def test_graphs_report_is_the_ports_report(request: pytest.FixtureRequest) -> None:
    graph: FakeGraph = request.getfixturevalue("fake")  # the Graph fixtures of tests/connectors/graph
    inside, outside = new_mailbox(graph), new_mailbox(graph)
    graph.apps["chk-port"] = App("chk-port", secret="port-secret-value", allowed={inside})
    conn: GraphConnector = request.getfixturevalue("connect")(client_id="chk-port", client_secret="port-secret-value")
    assert isinstance(conn, Checkable)
    report = check_connectors(IntegrationConnectors(conn, conn.tasks(), conn.contacts()), [inside, outside])
    assert isinstance(report, ConnectionReport)
    assert report.server is report.tenant and report.principals == report.mailboxes  # type: ignore[attr-defined]
    assert report.server.problem == "ok" and report.server.line == f"tenant {graph.tenant}: OK (token granted)"
    assert [p.problem for p in report.principals] == ["ok", "access_policy"]
    assert [p.problem for p in report.principals] == [Problem.OK, Problem.ACCESS_POLICY]
    assert [p.subject for p in report.principals] == [inside, outside] and not report.ok
    graph.apps["chk-port"] = replace(graph.apps["chk-port"], secret="rotated")
    refused = request.getfixturevalue("connect")(client_id="chk-port", client_secret="port-secret-value")
    failed = check_connectors(IntegrationConnectors(refused), [inside])
    assert failed.server.problem == "bad_secret" and [p.problem for p in failed.principals] == ["not_checked"]
    assert "port-secret-value" not in repr(failed)


@pytest.fixture(scope="module")
def tls_dav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, TlsFiles]]:
    """Radicale over HTTPS with a certificate from a test CA that no system store holds (a company CA)."""
    root = tmp_path_factory.mktemp("radicale-company-ca")
    files = make_pki(root)
    with radicale(root, tls=files) as server:
        yield server, files


def test_a_company_ca_is_trusted_through_the_integrations_ca_bundle_only(
    tls_dav: tuple[Server, TlsFiles], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, files = tls_dav
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    given = IntegrationInput("onprem", "ACME", "caldav", "delegate", url=server.url, username=server.username,
                             password=Secret(server.password))  # fmt: skip
    add(settings, given, server.username)
    untrusted = check_integration(settings, "onprem", users=True)
    assert untrusted.server.problem == "tls_failure", untrusted.lines()
    assert untrusted.server.line.startswith("The TLS handshake with 127.0.0.1")
    with open_hub(settings) as hub:
        hub.put_items("onprem", [BusinessItem("B1", "U1", business_event("Visit at the plant"))])
    refused = sync_integration(settings, "onprem", kind=JobKind.MANUAL, full=True)
    assert refused.outcomes and all(isinstance(o.error, TlsFailure) for o in refused.outcomes)

    with open_integrations(settings) as service:
        service.update("onprem", IntegrationPatch(ca_bundle=str(files.ca)))
    trusted = check_integration(settings, "onprem", users=True)
    assert trusted.ok, trusted.lines()
    run = sync_integration(settings, "onprem", kind=JobKind.MANUAL, full=True)
    assert not run.failed, [o.message for o in run.outcomes]
    own = CalDavConnector(server.calendar_home, username=server.username, password=server.password,
                          ca_bundle=files.ca)  # fmt: skip
    (ref,) = own.list_all("calsync-events")
    (fetched,) = own.get("calsync-events", [ref.href])
    assert isinstance(fetched, Fetched) and "SUMMARY:Visit at the plant" in fetched.content.text


def test_a_ca_bundle_tls_cannot_load_is_refused_when_saved(tmp_path: Path) -> None:
    """The marker alone is not a certificate (found by a second reading)."""
    from tests.services.test_integrations import pem_file

    broken = pem_file(tmp_path / "ca.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    given = IntegrationInput(
        "acme", "ACME", "caldav", "delegate", url="https://127.0.0.1:9/", ca_bundle=str(broken), username="svc",
        password=Secret("pw-4711"),
    )  # fmt: skip
    settings = Settings(source=None, state=StateSettings(url=str(tmp_path / "state.db")))
    with open_integrations(settings) as service, pytest.raises(ConfigError) as refused:
        service.add(given)
    assert refused.value.where == "ca_bundle" and "TLS can load" in str(refused.value)


def test_a_ca_bundle_removed_after_it_was_saved_is_a_report_line_naming_it(tmp_path: Path) -> None:
    bundle = make_pki(tmp_path).ca
    given = IntegrationInput(
        "acme", "ACME", "caldav", "delegate", url="https://127.0.0.1:9/", ca_bundle=str(bundle), username="svc",
        password=Secret("pw-4711"),
    )  # fmt: skip
    settings = Settings(source=None, state=StateSettings(url=str(tmp_path / "state.db")))
    with open_integrations(settings) as service:
        service.add(given)
    bundle.unlink()  # renewed under another name
    report = check_integration(settings, "acme", users=False)
    assert not report.ok and "ca_bundle" in report.server.line and str(bundle) in report.server.line
