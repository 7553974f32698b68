"""The ``ews`` connection's options: logon, explicit version, CA bundle, time zone, OAuth2 client credentials."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from calsync.config import SecretRef
from calsync.config.model import EwsAuth, EwsConnection, EwsLogon
from calsync.config.parse import parse_settings
from calsync.errors import ConfigError

BASE = (
    '[[connections]]\nname = "e"\ntype = "ews"\nauth = "delegate"\nurl = "https://mail.example.com/EWS/Exchange.asmx"\n'
)
PASSWORD = 'username = "svc@example.com"\npassword_env = "P"\n'


def _parse(text: str, base: Path) -> EwsConnection:
    settings = parse_settings(tomllib.loads(text), source="calsync.toml", base=base, environ={})
    (connection,) = settings.connections
    assert isinstance(connection, EwsConnection)
    return connection


def test_the_defaults_are_basic_logon_probed_version_and_utc(tmp_path: Path) -> None:
    ews = _parse(BASE + PASSWORD, tmp_path)
    assert (ews.auth, ews.logon, ews.version, ews.timezone) == (EwsAuth.DELEGATE, EwsLogon.BASIC, "", "UTC")
    assert ews.verify_tls and ews.ca_bundle is None and ews.timeout == 60.0


def test_every_option(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    text = (
        BASE
        + PASSWORD
        + (
            'logon = "ntlm"\nversion = "15.1.2507.6"\nca_bundle = "ca.pem"\ntimezone = "Europe/Berlin"\n'
            'autodiscover_url = "https://autodiscover.example.com/autodiscover/autodiscover.svc"\ntimeout = 20\n'
        )
    )
    ews = _parse(text, tmp_path)
    assert ews.logon is EwsLogon.NTLM and ews.version == "15.1.2507.6" and ews.ca_bundle == tmp_path / "ca.pem"
    assert ews.timezone == "Europe/Berlin" and ews.timeout == 20.0
    assert ews.password == SecretRef(env="P")


def test_oauth2_takes_client_credentials_instead_of_a_password(tmp_path: Path) -> None:
    text = BASE + (
        'logon = "oauth2"\nclient_id = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"\ntenant_id = "contoso.com"\n'
        'client_secret_env = "S"\n'
    )
    ews = _parse(text, tmp_path)
    assert ews.password is None and ews.client_secret == SecretRef(env="S") and ews.tenant_id == "contoso.com"


@pytest.mark.parametrize(
    ("extra", "where", "words"),
    [
        ('username = "CONTOSO\\\\svc"\npassword_env = "P"\n', "username", "user principal name"),
        (PASSWORD + 'version = "Exchange2016"\n', "version", "15.1"),
        (PASSWORD + 'timezone = "Mars/Olympus"\n', "timezone", "IANA time zone"),
        (PASSWORD + 'ca_bundle = "missing.pem"\n', "ca_bundle", "no such file"),
        (PASSWORD + 'logon = "kerberos"\n', "logon", "basic | ntlm | oauth2"),
        ('logon = "oauth2"\nclient_id = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"\n', "tenant_id", "required"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, extra: str, where: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _parse(BASE + extra, tmp_path)
    assert caught.value.where.endswith(where) and words in str(caught.value)
