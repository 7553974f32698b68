"""The transport keys of ``caldav``/``carddav`` connections: each good value reaches the settings, each bad one is a
``ConfigError`` naming the file and the key, and the server names match the quirks table's rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from calsync.config import DavAuth, DavConnection, DavServer, Settings, load_settings
from calsync.connectors.dav.quirks import KNOWN
from calsync.errors import ConfigError

DAV = (
    '[[connections]]\nname = "d"\ntype = "caldav"\nurl = "https://dav.example.com/"\nusername = "u"\n'
    'password_env = "P"\n'
)


def load(tmp_path: Path, extra: str) -> DavConnection:
    path = tmp_path / "calsync.toml"
    path.write_text(DAV + extra, encoding="utf-8")
    settings: Settings = load_settings(path, {})
    connection = settings.connection("d")
    assert isinstance(connection, DavConnection)
    return connection


def test_the_defaults_verify_tls_with_basic_auth_and_detect_the_server(tmp_path: Path) -> None:
    dav = load(tmp_path, "")
    assert (dav.auth, dav.verify_tls, dav.timeout, dav.server) == (DavAuth.BASIC, True, 30.0, None)
    assert (dav.ca_bundle, dav.client_cert, dav.client_key, dav.proxy) == (None, None, None, None)


def test_every_transport_key_reaches_the_settings(tmp_path: Path) -> None:
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_text("PEM\n", encoding="utf-8")
    dav = load(
        tmp_path,
        'auth = "digest"\nca_bundle = "ca.pem"\nclient_cert = "client.pem"\nclient_key = "client.key"\n'
        'proxy = "http://proxy.example.com:3128"\ntimeout = 7.5\nserver = "nextcloud"\n',
    )
    assert dav.auth is DavAuth.DIGEST and dav.server is DavServer.NEXTCLOUD
    assert (dav.ca_bundle, dav.client_cert, dav.client_key) == (
        tmp_path / "ca.pem",
        tmp_path / "client.pem",
        tmp_path / "client.key",
    )
    assert (dav.proxy, dav.timeout) == ("http://proxy.example.com:3128", 7.5)


def test_an_integer_timeout_is_seconds(tmp_path: Path) -> None:
    assert load(tmp_path, "timeout = 90\n").timeout == 90.0


def test_the_server_names_are_the_quirks_table_rows() -> None:
    assert {s.value for s in DavServer} == set(KNOWN)


@pytest.mark.parametrize(
    ("extra", "key", "words"),
    [
        ('auth = "ntlm"\n', "auth", "basic | digest"),
        ('ca_bundle = "missing.pem"\n', "ca_bundle", "no such file"),
        ("ca_bundle = 3\n", "ca_bundle", "must be a string"),
        ('client_cert = "missing.pem"\n', "client_cert", "no such file"),
        ('client_key = "ca.pem"\n', "client_key", "needs client_cert"),
        ('client_cert = "ca.pem"\nclient_key = "nope.key"\n', "client_key", "no such file"),
        ('proxy = "socks4://proxy:1080"\n', "proxy", "https:// URL"),
        ('proxy = "http://u:secret@proxy:3128"\n', "proxy", "password may not be part"),
        ('proxy = "socks5://u:secret@proxy:1080"\n', "proxy", "password may not be part"),
        ('proxy = "http://u:secret@[::1:3128"\n', "proxy", "not a URL that can be read"),
        ("timeout = 0\n", "timeout", "more than 0"),
        ("timeout = 601\n", "timeout", "at most 600"),
        ('timeout = "30"\n', "timeout", "must be a number"),
        ('server = "exchange"\n', "server", "radicale | xandikos | nextcloud | icloud | google"),
        ("verify_tls = 1\n", "verify_tls", "true or false"),
    ],
)
def test_a_bad_transport_value_names_the_key(tmp_path: Path, extra: str, key: str, words: str) -> None:
    (tmp_path / "ca.pem").write_text("PEM\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load(tmp_path, extra)
    assert info.value.where == f"{tmp_path / 'calsync.toml'}: connections[1].{key}"
    assert words in str(info.value) and "secret" not in str(info.value)


@pytest.mark.parametrize("address", ["anna@example.com", "example.com", "dav.example.co.uk"])
def test_an_e_mail_address_or_a_domain_may_stand_for_the_url(tmp_path: Path, address: str) -> None:
    path = tmp_path / "calsync.toml"
    path.write_text(DAV.replace('"https://dav.example.com/"', f'"{address}"'), encoding="utf-8")
    connection = load_settings(path, {}).connection("d")
    assert isinstance(connection, DavConnection) and connection.url == address


def test_spaces_around_a_url_or_an_address_mean_nothing(tmp_path: Path) -> None:
    """As the services store an integration's url: read as written, a configured one would differ at every start."""
    path = tmp_path / "calsync.toml"
    for url in (" https://dav.example.com/ ", " anna@example.com "):
        text = DAV.replace('"https://dav.example.com/"', f'"{url}"') + 'proxy = " http://proxy.example.com:3128 "\n'
        path.write_text(text, encoding="utf-8")
        connection = load_settings(path, {}).connection("d")
        assert isinstance(connection, DavConnection)
        assert (connection.url, connection.proxy) == (url.strip(), "http://proxy.example.com:3128")


@pytest.mark.parametrize("url", ["ftp://dav.example.com/", "anna@localhost", "a@b@example.com", "example.com/dav"])
def test_what_is_neither_a_url_nor_an_address_is_refused(tmp_path: Path, url: str) -> None:
    path = tmp_path / "calsync.toml"
    path.write_text(DAV.replace('"https://dav.example.com/"', f'"{url}"'), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path, {})
    assert info.value.where == f"{path}: connections[1].url"
