"""A folder integration's path as the services store it: absolute, ``~`` expanded, spaces stripped, never resolved;
a relative path stored before paths were checked still reaching its folder; other urls stripped, never with a
password."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from calsync.crypto import Secret
from calsync.errors import ConfigError
from calsync.services.integrations import IntegrationInput, IntegrationPatch, IntegrationService
from calsync.state.admin import open_admin_store
from calsync.state.admin_port import IntegrationRecord
from calsync.state.sql import open_store
from calsync.state.store import Link, SideStatus
from tests.services.test_integrations import EWS, make_service

FOLDER = IntegrationInput("files", "F", "folder", "delegate", url="/srv/calendars")
GUID = "11111111-2222-3333-4444-555555555555"
KEY = Secret("client-secret-4711")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[IntegrationService]:
    yield from make_service(str(tmp_path / "state.db"))


@pytest.mark.parametrize("url", ["cal", "./cal", " cal/anna ", "../cal", "~no-such-user-here/cal", "http://x/cal"])
def test_a_folder_path_must_be_absolute_on_add_and_on_update(service: IntegrationService, url: str) -> None:
    with pytest.raises(ConfigError) as added:
        service.add(replace(FOLDER, url=url))
    assert added.value.where == "url"
    assert "not an absolute path" in str(added.value) or "cannot find the home folder" in str(added.value)
    service.add(FOLDER)
    with pytest.raises(ConfigError) as updated:
        service.update("files", IntegrationPatch(url=url))
    assert (updated.value.where, str(updated.value)) == (added.value.where, str(added.value))
    assert service.get("files").url == "/srv/calendars"


def test_a_folder_path_is_stored_stripped_with_its_home_expanded_and_as_written(
    service: IntegrationService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``..`` and symlinks are kept: a real path is what ``whereabouts`` compares, not what is stored."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert service.add(replace(FOLDER, url="  /srv/calendars \t")).url == "/srv/calendars"
    assert service.update("files", IntegrationPatch(url="~/cal ")).url == str(tmp_path / "home" / "cal")
    assert service.update("files", IntegrationPatch(url="/srv/link/../cal/")).url == "/srv/link/../cal"


def test_other_urls_are_stored_stripped(service: IntegrationService) -> None:
    url = "https://ews.acme.com/EWS/Exchange.asmx"
    assert service.add(replace(EWS, url=f" {url} ")).url == url
    assert service.update("acme", IntegrationPatch(url=f"{url}\n")).url == url


@pytest.mark.parametrize(
    ("kind", "auth"), [("caldav", "delegate"), ("carddav", "delegate"), ("ews", "impersonation"), ("graph", "oauth")]
)
def test_a_password_in_a_url_is_refused_and_never_repeated(service: IntegrationService, kind: str, auth: str) -> None:
    """The url is no secret: it is shown, and its pairs are bound to it (``whereabouts``), so a password in it
    would be stored in clear and logged with every warning that names the binding. As calsync.toml refuses it."""
    given = replace(EWS, connection_type=kind, auth_mode=auth, client_id=GUID, tenant_id="acme.com", client_secret=KEY)
    for url, message in (
        ("https://svc:pw-in-url-4711@acme.com/dav/", "a password may not be part of the URL"),
        (
            "https://svc:pw-in-url-4711@[acme.com/",
            r"not a valid http\(s\) URL",
        ),  # cannot be split: refused all the same
    ):
        with pytest.raises(ConfigError, match=message) as refused:
            service.add(replace(given, url=url))
        assert refused.value.where == "url" and "pw-in-url-4711" not in str(refused.value)
    service.add(replace(given, url="https://svc@acme.com/dav/"))  # a user name alone is no secret
    with pytest.raises(ConfigError, match="a password may not be part of the URL") as updated:
        service.update("acme", IntegrationPatch(url="https://svc:pw-in-url-4711@acme.com/dav/"))
    assert updated.value.where == "url" and "pw-in-url-4711" not in str(updated.value)
    assert service.get("acme").url == "https://svc@acme.com/dav/"


def test_a_relative_path_stored_before_is_kept_when_given_again_and_its_pairs_keep_their_state(
    tmp_path: Path,
) -> None:
    """A database from before holds the path as typed; the admin form sends it back unchanged with any edit."""
    url = str(tmp_path / "state.db")
    admin = open_admin_store(url)
    admin.add_integration(IntegrationRecord("files", "F", "folder", "delegate", url="cal"))
    admin.close()
    store = open_store(url)
    try:
        with store.open_pair("files/anna/events") as state:
            state.put_link(Link("one", SideStatus("a", "1", "d"), SideStatus("b", "1", "d")))
        for service in make_service(url):
            assert service.update("files", IntegrationPatch(url="cal", days_back=5)).url == "cal"
            assert service.update("files", IntegrationPatch(description="kept")).url == "cal"
            with pytest.raises(ConfigError, match="url: 'other' is not an absolute path"):
                service.update("files", IntegrationPatch(url="other"))
            with pytest.raises(ConfigError, match="url: 'cal' is not an absolute path"):
                service.update("files", IntegrationPatch(url=" cal"))  # typed again, so checked
        with store.open_pair("files/anna/events") as state:
            assert list(state.links()) == ["one"]
    finally:
        store.close()


def test_a_url_becoming_a_folder_path_is_checked(service: IntegrationService) -> None:
    service.add(replace(EWS, url="https://ews.acme.com/EWS/Exchange.asmx"))
    with pytest.raises(ConfigError, match="is not an absolute path") as refused:
        service.update("acme", IntegrationPatch(connection_type="folder", auth_mode="delegate"))
    assert refused.value.where == "url"
