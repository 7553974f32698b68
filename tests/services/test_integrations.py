"""Integrations and users through the service: every validation rule, defaults, clamping, secrets, rotation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from calsync.config import Settings, StateSettings
from calsync.crypto import KEY_ENV, KEY_FILE_NAME, Cipher, Secret, new_key
from calsync.errors import ConfigError, StateError
from calsync.model.users import UserOptions
from calsync.services.connections import CollectionKind
from calsync.services.hub_binding import HubPair
from calsync.services.integrations import (
    IntegrationInput,
    IntegrationPatch,
    IntegrationService,
    UserPatch,
    open_integrations,
    rotate_secret_key,
    whereabouts,
)
from calsync.state.admin import open_admin_store
from calsync.state.admin_port import IntegrationRecord
from calsync.state.sql import SQLStore, open_store
from calsync.state.store import Link, SideStatus
from tests.connectors.dav.pki import make_pki

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
PASSWORD = "pa55word-never-shown"
CLIENT_SECRET = "client-secret-never-shown"
EWS = IntegrationInput(
    "acme", "ACME", "ews", "impersonation", url="https://ews.acme.com/EWS/Exchange.asmx", username="svc@acme.com",
    password=Secret(PASSWORD),
)  # fmt: skip
GRAPH = IntegrationInput(
    "contoso", "Contoso", "graph", "oauth", client_id="11111111-2222-3333-4444-555555555555", tenant_id="contoso.com",
    client_secret=Secret(CLIENT_SECRET),
)  # fmt: skip


def make_service(url: str) -> Iterator[IntegrationService]:
    store = open_admin_store(url)
    yield IntegrationService(store, Cipher([new_key()], origin="test"), clock=lambda: NOW)
    store.close()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[IntegrationService]:
    yield from make_service(str(tmp_path / "state.db"))


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        ({"name": ""}, "name", "not a valid name"),
        ({"name": "a b"}, "name", "not a valid name"),
        ({"name": "x" * 65}, "name", "not a valid name"),
        ({"company": " "}, "company", "company is required"),
        ({"connection_type": "imap"}, "connection_type", "not one of caldav|carddav|ews|graph|folder"),
        ({"auth_mode": "basic"}, "auth_mode", "not one of impersonation|delegate|oauth"),
        ({"connection_type": "caldav"}, "auth_mode", "caldav connection allows auth mode delegate"),
        ({"url": "ftp://x"}, "url", r"not an http\(s\) URL"),
        ({"url": ""}, "url", "ews needs a url or an autodiscovery address"),
        ({"autodiscover": "not-an-address"}, "autodiscover", "not an e-mail address"),
        ({"username": ""}, "username", "needs the service account's user name"),
        ({"password": None}, "password", "needs the service account's password"),
        ({"days_back": 61}, "days_back", "between 0 and 60, not 61"),
        ({"days_back": -1}, "days_back", "between 0 and 60, not -1"),
        ({"days_forward": 61}, "days_forward", "between 0 and 60"),
        ({"full_sync_minutes": 1441}, "full_sync_minutes", "between 0 and 1440"),
        ({"full_sync_minutes": -5}, "full_sync_minutes", "between 0 and 1440"),
        ({"interval_minutes": 0}, "interval_minutes", "at least 1, not 0"),
        ({"start_of_sync": datetime(2026, 11, 1)}, "start_of_sync", "with a time zone"),
    ],
)
def test_each_rule_names_its_field(
    service: IntegrationService, change: dict[str, Any], where: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        service.add(replace(EWS, **change))
    assert caught.value.where == where
    assert service.integrations() == []


@pytest.mark.parametrize(
    ("given", "where", "message"),
    [
        (replace(GRAPH, auth_mode="delegate"), "auth_mode", "graph connection allows auth mode oauth"),
        (replace(GRAPH, client_id=""), "client_id", "client id"),
        (replace(GRAPH, tenant_id=""), "tenant_id", "tenant id"),
        (replace(GRAPH, client_secret=None), "client_secret", "client secret or a certificate"),
        (
            IntegrationInput("dav", "D", "caldav", "delegate", username="u", password=Secret("pw12")),
            "url",
            "needs a url or an autodiscovery address",
        ),
        (IntegrationInput("f", "D", "folder"), "url", "the folder's path"),
        (replace(GRAPH, autodiscover="a@b.com"), "autodiscover", "found by its url, not by an address"),
    ],
)
def test_connection_rules_per_type(
    service: IntegrationService, given: IntegrationInput, where: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        service.add(given)
    assert caught.value.where == where


def test_a_dav_integration_may_be_found_from_an_address_instead_of_a_url(service: IntegrationService) -> None:
    given = IntegrationInput(
        "dav", "D", "caldav", "delegate", autodiscover="calsync@example.com", username="u", password=Secret("pw12")
    )
    view = service.add(given)
    assert (view.url, view.autodiscover) == ("", "calsync@example.com")


def test_the_defaults_and_a_valid_integration_of_each_kind(service: IntegrationService) -> None:
    view = service.add(EWS)
    assert (view.days_back, view.days_forward, view.interval_minutes, view.two_way) == (30, 30, 20, True)
    assert view.has_password and not view.has_client_secret and not view.has_certificate
    service.add(GRAPH)
    service.add(replace(GRAPH, name="cert", client_secret=None, certificate=Secret("-----BEGIN PRIVATE KEY-----")))
    service.add(IntegrationInput("local", "L", "folder", url="/srv/calendars"))
    service.add(replace(EWS, name="auto", url="", autodiscover="svc@acme.com", auth_mode="delegate"))
    assert [v.name for v in service.integrations()] == ["acme", "auto", "cert", "contoso", "local"]
    assert service.get("cert").has_certificate


def test_the_limits_themselves_are_allowed(service: IntegrationService) -> None:
    view = service.add(replace(EWS, days_back=60, days_forward=0, full_sync_minutes=0, interval_minutes=1))
    assert (view.days_back, view.days_forward, view.full_sync_minutes, view.interval_minutes) == (60, 0, 0, 1)


def test_a_taken_name_and_an_unknown_name_are_config_errors(service: IntegrationService) -> None:
    service.add(EWS)
    with pytest.raises(ConfigError, match="already exists") as caught:
        service.add(EWS)
    assert caught.value.where == "name"
    with pytest.raises(ConfigError, match="no integration called 'nope'; known: acme"):
        service.get("nope")
    with pytest.raises(ConfigError, match="no integration called"):
        service.remove("nope")


@pytest.mark.parametrize(
    ("start", "stored"),
    [
        (None, None),
        (NOW - timedelta(days=3), NOW - timedelta(days=3)),
        (NOW - timedelta(days=30), NOW - timedelta(days=30)),
        (NOW + timedelta(minutes=1), NOW - timedelta(days=30)),
        (NOW - timedelta(days=30, seconds=1), NOW - timedelta(days=30)),
        (NOW - timedelta(days=400), NOW - timedelta(days=30)),
    ],
)
def test_start_of_sync_is_clamped_to_30_days_back(
    service: IntegrationService, start: datetime | None, stored: datetime | None
) -> None:
    assert service.add(replace(EWS, start_of_sync=start)).start_of_sync == stored
    assert service.get("acme").start_of_sync == stored


def test_update_changes_only_what_is_given_and_keeps_the_secrets(service: IntegrationService) -> None:
    service.add(EWS)
    view = service.update("acme", IntegrationPatch(two_way=False, days_back=7, start_of_sync=NOW + timedelta(days=1)))
    assert (view.two_way, view.days_back, view.company) == (False, 7, "ACME")
    assert view.start_of_sync == NOW - timedelta(days=30)
    assert view.has_password
    assert service.credentials("acme").password == Secret(PASSWORD)
    service.update("acme", IntegrationPatch(password=Secret("a-new-password")))
    assert service.credentials("acme").password == Secret("a-new-password")
    with pytest.raises(ConfigError, match="between 0 and 1440") as caught:
        service.update("acme", IntegrationPatch(full_sync_minutes=2000))
    assert caught.value.where == "full_sync_minutes"
    with pytest.raises(ConfigError, match="client id"):
        service.update("acme", IntegrationPatch(auth_mode="oauth"))
    assert service.get("acme").full_sync_minutes == 1440


def pem_file(path: Path, text: str = "") -> Path:
    """A PEM file: ``text``, or by default a real CA certificate (made by the test PKI), as TLS must load it."""
    if not text:
        made = path.parent / f".{path.name}.pki"
        made.mkdir()
        text = make_pki(made).ca.read_text(encoding="ascii")
    path.write_text(text, encoding="ascii")
    return path


def test_a_ca_bundle_is_stored_shown_kept_changed_and_cleared(service: IntegrationService, tmp_path: Path) -> None:
    first, second = pem_file(tmp_path / "company-ca.pem"), pem_file(tmp_path / "new-ca.pem")
    assert service.add(replace(EWS, ca_bundle=str(first))).ca_bundle == str(first)
    assert service.get("acme").ca_bundle == str(first)
    assert service.update("acme", IntegrationPatch(days_back=7)).ca_bundle == str(first)
    assert service.update("acme", IntegrationPatch(ca_bundle=str(second))).ca_bundle == str(second)
    assert service.update("acme", IntegrationPatch(ca_bundle="")).ca_bundle == ""
    dav = IntegrationInput("dav", "D", "caldav", "delegate", url="https://dav.example/", username="u",
                           password=Secret("pw12"), ca_bundle=str(first))  # fmt: skip
    assert service.add(dav).ca_bundle == str(first)
    assert service.add(replace(dav, name="book", connection_type="carddav")).ca_bundle == str(first)
    assert service.add(GRAPH).ca_bundle == ""


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no such file: /.*/missing.pem"),
        ("folder", "no such file"),
        ("not-pem", "holds no PEM certificate"),
        ("relative", "'company-ca.pem' is not an absolute path"),
        ("graph", "a graph connection trusts the system's CAs; a CA bundle is for caldav, carddav, ews"),
        ("folder-type", "a folder connection trusts the system's CAs"),
    ],
)
def test_a_ca_bundle_must_be_an_absolute_pem_file_for_dav_or_ews(
    service: IntegrationService, tmp_path: Path, case: str, message: str
) -> None:
    good = str(pem_file(tmp_path / "company-ca.pem"))
    given = {
        "missing": replace(EWS, ca_bundle=str(tmp_path / "missing.pem")),
        "folder": replace(EWS, ca_bundle=str(tmp_path)),
        "not-pem": replace(EWS, ca_bundle=str(pem_file(tmp_path / "key.pem", "-----BEGIN PRIVATE KEY-----\n"))),
        "relative": replace(EWS, ca_bundle="company-ca.pem"),
        "graph": replace(GRAPH, ca_bundle=good),
        "folder-type": IntegrationInput("local", "L", "folder", url=str(tmp_path), ca_bundle=good),
    }[case]
    with pytest.raises(ConfigError, match=message) as caught:
        service.add(given)
    assert caught.value.where == "ca_bundle" and str(caught.value).startswith("ca_bundle: ")
    service.add(replace(given, ca_bundle=""))
    with pytest.raises(ConfigError, match=message):  # an update is checked the same way, and stores nothing
        service.update(given.name, IntegrationPatch(ca_bundle=given.ca_bundle))
    assert service.get(given.name).ca_bundle == ""


def test_users_start_with_every_option_on(service: IntegrationService) -> None:
    service.add(EWS)
    user = service.add_user("acme", "anna", "anna@acme.com")
    assert user.flags == UserOptions()
    assert all(asdict(user.flags).values())
    assert {f.name for f in fields(UserOptions)} == {
        *("appointments", "delete_in_calendar", "delete_in_business", "no_private_appointments", "tasks"),
        *("delete_tasks_in_calendar", "delete_tasks_in_business", "no_private_tasks", "contacts"),
    }
    assert service.users("acme") == [user]


def test_a_mailbox_is_stored_without_surrounding_spaces(service: IntegrationService) -> None:
    """The admin UI strips what it is given: a mailbox stored with a space from the CLI, the API or the config
    file read as another one at the next edit in the UI, which starts the user's sync afresh."""
    service.add(EWS)
    assert service.add_user("acme", "anna", " anna@acme.com ").mailbox == "anna@acme.com"
    assert service.update_user("acme", "anna", UserPatch(mailbox="\tbob@acme.com ")).mailbox == "bob@acme.com"


def test_user_rules_name_their_field(service: IntegrationService) -> None:
    service.add(EWS)
    service.add_user("acme", "anna", "anna@acme.com")
    cases = [
        (("acme", "bob", "not-an-address"), "users.mailbox", "not an e-mail address"),
        (("acme", "bob", ""), "users.mailbox", "required"),
        (("acme", "bob", "ANNA@acme.com"), "users.mailbox", "already mapped to 'anna'"),
        (("acme", "anna", "anna2@acme.com"), "users.business_user", "already a user"),
        (("acme", "b b", "b@acme.com"), "users.business_user", "not a valid name"),
        (("nope", "bob", "b@acme.com"), "integration", "no integration called"),
    ]
    for args, where, message in cases:
        with pytest.raises(ConfigError, match=message) as caught:
            service.add_user(*args)
        assert caught.value.where == where


def test_update_and_remove_a_user(service: IntegrationService) -> None:
    service.add(IntegrationInput("dav", "D", "caldav", "delegate", url="https://dav.example/", username="u",
                                 password=Secret("pw12")))  # fmt: skip
    service.add_user("dav", "anna", "/principals/anna/")
    view = service.update_user("dav", "anna", UserPatch(tasks=False, contacts=False, mailbox="/principals/a/"))
    assert view.flags == UserOptions(tasks=False, contacts=False)
    assert view.mailbox == "/principals/a/"
    with pytest.raises(ConfigError, match="no user 'bob'"):
        service.update_user("dav", "bob", UserPatch(tasks=False))
    service.remove_user("dav", "anna")
    assert service.users("dav") == []
    with pytest.raises(ConfigError, match="no user 'anna'"):
        service.remove_user("dav", "anna")


def test_secrets_never_appear_in_a_view_or_a_repr(service: IntegrationService) -> None:
    service.add(EWS)
    service.add(GRAPH)
    shown = " ".join(repr(x) for x in (EWS, GRAPH, service.integrations(), service.credentials("acme")))
    shown += repr(service.credentials("contoso")) + repr(IntegrationPatch(password=Secret(PASSWORD)))
    assert PASSWORD not in shown
    assert CLIENT_SECRET not in shown
    assert service.credentials("contoso").client_secret == Secret(CLIENT_SECRET)


def test_secrets_are_stored_encrypted(tmp_path: Path) -> None:
    for _ in make_service(str(tmp_path / "state.db")):
        pass
    store = open_admin_store(str(tmp_path / "state.db"))
    service = IntegrationService(store, Cipher([new_key()], origin="test"))
    service.add(EWS)
    store.close()
    assert PASSWORD.encode() not in (tmp_path / "state.db").read_bytes()


def test_a_wrong_key_is_a_clear_error_when_secrets_are_read(tmp_path: Path) -> None:
    url = str(tmp_path / "state.db")
    store = open_admin_store(url)
    IntegrationService(store, Cipher([new_key()], origin="first")).add(EWS)
    with pytest.raises(StateError, match="key from second: the key is not the one"):
        IntegrationService(store, Cipher([new_key()], origin="second")).credentials("acme")
    store.close()


def settings_for(tmp_path: Path) -> Settings:
    return Settings(tmp_path / "calsync.toml", StateSettings(str(tmp_path / "state.db")))


def test_rotating_the_key_file_re_encrypts_every_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    settings = settings_for(tmp_path)
    with open_integrations(settings) as service:
        service.add(EWS)
        service.add(GRAPH)
    old_key = (tmp_path / KEY_FILE_NAME).read_bytes()
    assert rotate_secret_key(settings) == 2
    assert (tmp_path / KEY_FILE_NAME).read_bytes() != old_key
    assert not (tmp_path / f"{KEY_FILE_NAME}.new").exists()
    with open_integrations(settings) as service:
        assert service.credentials("acme").password == Secret(PASSWORD)
        assert service.credentials("contoso").client_secret == Secret(CLIENT_SECRET)
    monkeypatch.setenv(KEY_ENV, old_key.decode().strip())
    with open_integrations(settings) as service, pytest.raises(StateError):
        service.credentials("acme")


def test_rotating_a_key_from_the_environment_needs_the_new_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(tmp_path)
    monkeypatch.setenv(KEY_ENV, new_key().decode())
    with open_integrations(settings) as service:
        service.add(EWS)
    with pytest.raises(ConfigError, match="give the new key too"):
        rotate_secret_key(settings)
    fresh = new_key().decode()
    assert rotate_secret_key(settings, Secret(fresh)) == 1
    monkeypatch.setenv(KEY_ENV, fresh)
    with open_integrations(settings) as service:
        assert service.credentials("acme").password == Secret(PASSWORD)
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_several_integrations_side_by_side_on_postgresql(postgres_url: str) -> None:
    for service in make_service(postgres_url):
        service.add(EWS)
        service.add(replace(GRAPH, start_of_sync=NOW - timedelta(days=90)))
        service.add_user("acme", "anna", "anna@acme.com")
        service.add_user("contoso", "anna", "anna@contoso.com")
        service.update_user("contoso", "anna", UserPatch(delete_in_business=False))
        assert service.get("contoso").start_of_sync == NOW - timedelta(days=30)
        assert service.users("acme")[0].flags == UserOptions()
        assert service.users("contoso")[0].flags == UserOptions(delete_in_business=False)
        assert service.credentials("acme").password == Secret(PASSWORD)
        service.remove("acme")
        assert [v.name for v in service.integrations()] == ["contoso"]


def test_a_stored_start_of_sync_is_not_clamped_again_by_an_unrelated_update(tmp_path: Path) -> None:
    store = open_admin_store(str(tmp_path / "state.db"))
    cipher = Cipher([new_key()], origin="test")
    IntegrationService(store, cipher, clock=lambda: NOW).add(replace(EWS, start_of_sync=NOW - timedelta(days=10)))
    later = IntegrationService(store, cipher, clock=lambda: NOW + timedelta(days=40))
    assert later.update("acme", IntegrationPatch(days_back=5)).start_of_sync == NOW - timedelta(days=10)
    changed = later.update("acme", IntegrationPatch(start_of_sync=NOW))
    assert changed.start_of_sync == NOW + timedelta(days=10)
    store.close()


def test_rotating_the_key_re_encrypts_webhook_signing_secrets_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from calsync.services.access import EventType, open_access

    monkeypatch.delenv(KEY_ENV, raising=False)
    settings = settings_for(tmp_path)
    with open_integrations(settings) as service:
        service.add(EWS)
    with open_access(settings) as access:
        access.webhooks.add("acme", "https://127.0.0.1:9/hook", secret=Secret("s" * 20))
    assert rotate_secret_key(settings) == 2
    with open_access(settings) as access:
        access.webhooks.enqueue("acme", EventType.PING, {}, "p1")
        access.webhooks.deliver_due(datetime.now(UTC) + timedelta(days=1))
        (delivery,) = access.webhooks.deliveries("acme")
    assert "decrypt" not in delivery.last_error and "key" not in delivery.last_error, delivery.last_error
    assert delivery.attempts == 1


def test_a_case_only_change_of_an_e_mail_mailbox_keeps_the_users_sync_state(tmp_path: Path) -> None:
    """``Anna@`` and ``anna@`` are one Exchange mailbox; a CalDAV principal's case makes another one. A mailbox
    change keeps the state either way: the pair's binding decides at its next run, which keeps the links of
    another mailbox apart (``PairState.bind``). A pair no run has bound yet trusts its links at its next run, so
    it is forgotten when the mailbox is another one, and only then."""
    url = str(tmp_path / "state.db")
    store = open_store(url)
    try:
        for service in make_service(url):
            service.add(EWS)
            service.add(IntegrationInput("dav", "D", "caldav", "delegate", url="https://dav.example/", username="u",
                                         password=Secret("pw12")))  # fmt: skip
            service.add_user("acme", "anna", "anna@acme.com")
            service.add_user("dav", "anna", "/principals/anna/")
            ews, dav = (HubPair(service.get(name), "anna", CollectionKind.EVENTS) for name in ("acme", "dav"))
            for pair, mailbox in ((ews, "anna@acme.com"), (dav, "/principals/anna/")):
                _linked(store, pair.name, pair.binding(mailbox))
                _linked(store, pair.name.replace("events", "tasks"))  # made before pairs were bound
            service.update_user("acme", "anna", UserPatch(mailbox="Anna@ACME.com"))
            service.update_user("dav", "anna", UserPatch(mailbox="/principals/Anna/"))
        assert [_links(store, f"{name}/anna/{kind}") for name in ("acme", "dav") for kind in ("events", "tasks")] == [
            ["one"], ["one"], ["one"], []
        ]  # fmt: skip
        assert ews.binding("anna@acme.com") == ews.binding("Anna@ACME.com")
        assert dav.binding("/principals/anna/") != dav.binding("/principals/Anna/")
    finally:
        store.close()


def test_an_integration_that_reaches_another_server_or_account_keeps_its_pairs_state(tmp_path: Path) -> None:
    """The links name the first server's items; the pairs' binding names the server (``whereabouts``), so each
    pair's next run shelves them and starts afresh, and takes them up if the integration is pointed back (a
    migration rolled back, a typo fixed). Deleted here, a copy left there of an item deleted meanwhile was
    imported again, and an edit made there met as a conflict. A pair no run has bound yet would trust its links
    there: it is forgotten with the move, and only then."""
    url = str(tmp_path / "state.db")
    store = open_store(url)
    pairs = ("acme/anna/events", "acme2/anna/events", "acme/anna/tasks")  # the tasks' made before pairs were bound
    try:
        for service in make_service(url):
            service.add(replace(EWS, url="http://127.0.0.1:5232/EWS/Exchange.asmx"))
            service.add(replace(EWS, name="acme2"))
            first = _binding(service)
            _linked(store, "acme/anna/events", first)
            _linked(store, "acme2/anna/events")  # a name alike, another's
            _linked(store, "acme/anna/tasks")
            service.update("acme", IntegrationPatch(url="http://127.0.0.1:41234/EWS/Exchange.asmx", days_back=9))
            assert _binding(service) == first  # this machine, another port: the demo's server started again
            assert [_links(store, pair) for pair in pairs] == [["one"], ["one"], ["one"]]
            for patch in (IntegrationPatch(username="other@acme.com"), IntegrationPatch(url="https://mail.example/")):
                service.update("acme", patch)
                assert _binding(service) != first
                assert [_links(store, pair) for pair in pairs] == [["one"], ["one"], []]  # kept for the binding
    finally:
        store.close()


def _linked(store: SQLStore, pair: str, binding: str | None = None) -> None:
    """Pair ``pair`` with one link, bound to ``binding`` (``None``: as a pair made before pairs were bound)."""
    with store.open_pair(pair) as state:
        if binding is not None:
            state.bind(binding)
        state.put_link(Link("one", SideStatus("a", "1", "d"), SideStatus("b", "1", "d")))


def _links(store: SQLStore, pair: str) -> list[str]:
    with store.open_pair(pair) as state:
        return list(state.links())


def _binding(service: IntegrationService) -> str:
    return HubPair(service.get("acme"), "anna", CollectionKind.EVENTS).binding("anna@acme.com")


def test_whereabouts_follow_a_folder_however_spelled_and_the_demo_server_on_any_port(tmp_path: Path) -> None:
    (tmp_path / "cal").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "cal", target_is_directory=True)
    folder = IntegrationInput("f", "F", "folder", "delegate", url=str(tmp_path / "cal"))
    assert whereabouts(replace(folder, url=f"{tmp_path}/link/../cal/")) == whereabouts(folder)
    assert whereabouts(replace(folder, url=str(tmp_path / "link"))) == whereabouts(folder)
    assert whereabouts(replace(folder, url=f"{tmp_path}/cal ")) != whereabouts(folder)  # another folder to open
    dav = IntegrationInput("d", "D", "caldav", "delegate", url="http://127.0.0.1:5232/", username="u")
    assert whereabouts(replace(dav, url="http://127.0.0.1:41000/", username=" u")) == whereabouts(dav)
    assert whereabouts(replace(dav, url="https://dav.example/")) != whereabouts(dav)
    assert whereabouts(replace(dav, username="v")) != whereabouts(dav)


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("https://svc:s3cret@dav.example:8443/dav/", "https://svc@dav.example:8443/dav/"),
        ("https://:s3cret@[2001:db8::1]/dav/", "https://@[2001:db8::1]/dav/"),
        ("https://svc:s3cret@dav.example:99999/", "(an unreadable URL)"),
    ],
)
def test_whereabouts_never_hold_a_password_a_url_stored_before_may_carry(url: str, named: str) -> None:
    """Bindings are shown in job warnings and logs; urls with passwords are refused now, not always before."""
    found = whereabouts(IntegrationInput("d", "D", "caldav", "delegate", url=url))
    assert "s3cret" not in found and named in found


def test_an_integration_whose_folder_cannot_be_resolved_can_still_be_updated(tmp_path: Path) -> None:
    """Resolving raises for a symlink loop or an unknown ``~user``: the update that fixes the path failed with it.
    Only the loop can be saved now; the others are stored as a database from before paths were checked holds them."""
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    good = tmp_path / "cal"
    good.mkdir()
    url = str(tmp_path / "state.db")
    for service in make_service(url):
        service.add(IntegrationInput("f0", "F", "folder", "delegate", url=str(tmp_path / "loop" / "cal")))
        store = open_admin_store(url)
        for number, bad in enumerate(("~no-such-user-here/cal", "http://[::1:5232/"), 1):
            store.add_integration(IntegrationRecord(f"f{number}", "F", "folder", "delegate", url=bad))
        store.close()
        for name in ("f0", "f1", "f2"):
            assert whereabouts(service.get(name)) == whereabouts(service.get(name))
            assert service.update(name, IntegrationPatch(url=str(good))).url == str(good)
