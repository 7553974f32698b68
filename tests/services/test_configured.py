"""Integrations declared in the configuration file reach the database: added, then updated, secrets encrypted."""

from __future__ import annotations

from pathlib import Path

import pytest

from calsync.config import FolderConnection, load_settings
from calsync.errors import ConfigError
from calsync.services.configured import Applied, apply_configured_integrations
from calsync.services.hub import open_hub
from calsync.services.integrations import open_integrations
from calsync.sync.rules import ConflictPolicy
from tests.services.test_integrations import pem_file

CONFIG = """
[state]
url = "state.db"

[[connections]]
name = "dav"
type = "caldav"
url = "https://dav.example.com/"
username = "calsync"
password_env = "CALSYNC_TEST_DAV_PASSWORD"

[[integrations]]
name = "acme"
company = "ACME"
calendar = "dav"
days_back = {days_back}

[[integrations.users]]
business_user = "T1"
mailbox = "anna"
"""


def _with(lines: str) -> str:
    """``CONFIG`` with ``lines`` added to its integration."""
    return CONFIG.format(days_back=10).replace('calendar = "dav"', f'calendar = "dav"\n{lines}')


def test_configured_integrations_are_added_then_updated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALSYNC_TEST_DAV_PASSWORD", "dav-secret-from-env")
    config = tmp_path / "calsync.toml"
    config.write_text(CONFIG.format(days_back=10), encoding="utf-8")
    first = apply_configured_integrations(load_settings(config))
    assert (first.added, first.updated, first.users) == (("acme",), (), 1)
    config.write_text(CONFIG.format(days_back=20), encoding="utf-8")
    second = apply_configured_integrations(load_settings(config))
    assert (second.added, second.updated) == ((), ("acme",))
    third = apply_configured_integrations(load_settings(config))  # an unchanged file is not an admin's edit
    assert (third.added, third.updated) == ((), ())
    with open_integrations(load_settings(config)) as service:
        view = service.get("acme")
        assert (view.connection_type, view.url, view.days_back, view.has_password) == (
            "caldav",
            "https://dav.example.com/",
            20,
            True,
        )
        assert service.credentials("acme").password is not None
        assert [u.mailbox for u in service.users("acme")] == ["anna"]
    assert b"dav-secret-from-env" not in (tmp_path / "state.db").read_bytes()


def test_an_unset_secret_names_the_integration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALSYNC_TEST_DAV_PASSWORD", raising=False)
    config = tmp_path / "calsync.toml"
    config.write_text(CONFIG.format(days_back=10), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"integrations\.acme\.calendar"):
        apply_configured_integrations(load_settings(config))


def test_the_connections_ca_bundle_is_stored_with_the_integration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALSYNC_TEST_DAV_PASSWORD", "dav-secret-from-env")
    (tmp_path / "certs").mkdir()
    ca = pem_file(tmp_path / "certs" / "company-ca.pem")
    config = tmp_path / "calsync.toml"
    trusting = CONFIG.format(days_back=10).replace(
        'username = "calsync"', 'username = "calsync"\nca_bundle = "certs/company-ca.pem"'
    )
    config.write_text(trusting, encoding="utf-8")
    apply_configured_integrations(load_settings(config))  # relative to the file's folder, stored absolute
    with open_integrations(load_settings(config)) as service:
        assert service.get("acme").ca_bundle == str(ca)
    config.write_text(CONFIG.format(days_back=10), encoding="utf-8")
    assert apply_configured_integrations(load_settings(config)).updated == ("acme",)
    with open_integrations(load_settings(config)) as service:
        assert service.get("acme").ca_bundle == ""


@pytest.mark.parametrize("address", ["calsync@example.com", "example.com"])
def test_a_connection_given_as_an_address_becomes_an_integration_found_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, address: str
) -> None:
    monkeypatch.setenv("CALSYNC_TEST_DAV_PASSWORD", "dav-secret-from-env")
    config = tmp_path / "calsync.toml"
    config.write_text(CONFIG.format(days_back=10).replace("https://dav.example.com/", address), encoding="utf-8")
    assert apply_configured_integrations(load_settings(config)).added == ("acme",)
    with open_integrations(load_settings(config)) as service:
        view = service.get("acme")
        assert (view.url, view.autodiscover) == ("", address)


def test_the_files_conflict_policy_goes_into_the_integrations_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALSYNC_TEST_DAV_PASSWORD", "dav-secret-from-env")
    config = tmp_path / "calsync.toml"

    def apply(extra: str) -> Applied:
        config.write_text(_with(extra), encoding="utf-8")
        return apply_configured_integrations(load_settings(config))

    assert apply('conflict = "newest-wins"').added == ("acme",)
    with open_hub(load_settings(config)) as hub:
        assert hub.rules("acme").conflict is ConflictPolicy.NEWEST_WINS
        hub.set_rules("acme", {"conflict": "newest-wins", "selection": {"tag": "[sync]"}})  # an admin's edit
    assert apply('conflict = "newest-wins"').updated == ()  # unchanged: the rules are not touched
    assert apply('conflict = "calendar-wins"').updated == ("acme",)
    with open_hub(load_settings(config)) as hub:
        rules = hub.rules("acme")
    assert (rules.conflict, rules.selection.tag) == (ConflictPolicy.B_WINS, "[sync]")  # the other rules are kept
    assert apply("").updated == ("acme",)  # no conflict key: the default, business-wins
    with open_hub(load_settings(config)) as hub:
        assert hub.rules("acme").conflict is ConflictPolicy.A_WINS


def test_a_one_way_integration_leaves_the_stored_conflict_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALSYNC_TEST_DAV_PASSWORD", "dav-secret-from-env")
    config = tmp_path / "calsync.toml"
    config.write_text(_with("two_way = false"), encoding="utf-8")
    apply_configured_integrations(load_settings(config))
    with open_hub(load_settings(config)) as hub:
        hub.set_rules("acme", {"conflict": "b-wins"})
    assert apply_configured_integrations(load_settings(config)).updated == ()
    with open_hub(load_settings(config)) as hub:
        assert hub.rules("acme").conflict is ConflictPolicy.B_WINS


def test_settings_a_stored_integration_has_no_place_for_are_refused_not_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``enabled`` has no stored counterpart, nor has an address book apart from the calendar's server: the file
    is refused (naming the key) instead of being applied without them."""
    monkeypatch.setenv("CALSYNC_TEST_DAV_PASSWORD", "dav-secret-from-env")
    config = tmp_path / "calsync.toml"
    contacts = '\n[[connections]]\nname = "books"\ntype = "carddav"\nurl = "https://dav.example.com/"\n'
    contacts += 'username = "calsync"\npassword_env = "CALSYNC_TEST_DAV_PASSWORD"\n'
    for extra, key in (("enabled = false", "enabled"), ('addressbook = "books"', "addressbook")):
        config.write_text(_with(extra).replace("[[integrations]]", contacts + "\n[[integrations]]"), encoding="utf-8")
        with pytest.raises(ConfigError, match=rf"integrations\[1\]\.{key}"):
            load_settings(config)
    assert not (tmp_path / "state.db").exists()
    config.write_text(_with('addressbook = "dav"'), encoding="utf-8")  # the calendar's own server: accepted
    assert apply_configured_integrations(load_settings(config)).added == ("acme",)


@pytest.mark.parametrize(("path", "folder"), [("cal", "etc/cal"), (" ../cal ", "etc/../cal"), ("~/cal", "home/cal")])
def test_a_folder_calendar_is_stored_as_the_path_its_pairs_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str, folder: str
) -> None:
    """Relative to the file's folder, whatever folder the service starts in; spaced or not, the integration and a
    ``[[pairs]]`` entry on the same connection reach one folder, and the next start finds nothing changed."""
    for name in ("etc", "home", "elsewhere"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path / "elsewhere")
    config = tmp_path / "etc" / "calsync.toml"
    files = f'[[connections]]\nname = "files"\ntype = "folder"\npath = "{path}"\n\n[[integrations]]'
    text = CONFIG.format(days_back=10).replace("[[integrations]]", files).replace('"dav"\ndays', '"files"\ndays')
    config.write_text(text, encoding="utf-8")
    settings = load_settings(config)
    connection = settings.connection("files")
    assert isinstance(connection, FolderConnection)
    assert apply_configured_integrations(settings).added == ("acme",)
    with open_integrations(settings) as service:
        assert service.get("acme").url == str(tmp_path / folder) == str(connection.path)
    assert apply_configured_integrations(load_settings(config)).updated == ()


def test_a_spaced_url_in_the_file_is_not_an_edit_at_every_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The services store a url stripped, and the file's is read stripped: else it would differ at each start
    (an update is an admin's edit: it brings an offline integration back every time)."""
    monkeypatch.setenv("CALSYNC_TEST_DAV_PASSWORD", "dav-secret-from-env")
    config = tmp_path / "calsync.toml"
    spaced = CONFIG.format(days_back=10).replace(
        'url = "https://dav.example.com/"', 'url = "https://dav.example.com/ "'
    )
    config.write_text(spaced, encoding="utf-8")
    assert apply_configured_integrations(load_settings(config)).added == ("acme",)
    again = apply_configured_integrations(load_settings(config))
    assert (again.added, again.updated) == ((), ())
