"""Integrations declared in the configuration file reach the database: added, then updated, secrets encrypted."""

from __future__ import annotations

from pathlib import Path

import pytest

from calsync.config import load_settings
from calsync.errors import ConfigError
from calsync.services.configured import apply_configured_integrations
from calsync.services.integrations import open_integrations
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
