"""The ``[[connections]]`` tables to ``Connection`` values: one builder per connection type, with its checks.

Why apart from ``parse``: a connection is the one part of the file that says how to reach a server (URLs,
credentials, certificates, proxies, Exchange's logon and version), so its checks are many and concern no other
table; integrations and pairs only name a connection, which ``parse`` looks up once these values are built.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

from calsync.config.model import (
    Connection,
    ConnectionType,
    DavAuth,
    DavConnection,
    DavServer,
    EwsAuth,
    EwsConnection,
    EwsLogon,
    FolderConnection,
    GraphConnection,
    MemoryConnection,
)
from calsync.config.reader import NAME, NAME_HINT, REQUIRED, Table

_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_TENANT = re.compile(r"^([0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EWS_VERSION = re.compile(r"^\d{1,2}\.\d{1,2}(\.\d{1,5}){0,2}$")


def parse_connection(t: Table) -> Connection:
    """One ``[[connections]]`` table, checked by the builder its ``type`` names; unknown keys are errors."""
    name = t.text("name", pattern=NAME, hint=NAME_HINT)
    kind = t.choice("type", ConnectionType)
    read_only = t.flag("read_only", False)
    connection = _BUILDERS[kind](t, name, kind, read_only)
    t.finish()
    return connection


def _folder(t: Table, name: str, kind: ConnectionType, read_only: bool) -> FolderConnection:
    extension = t.text("extension", ".ics")
    if extension not in (".ics", ".vcf"):
        raise t.error("extension", f"{extension!r} is not allowed; use one of: .ics | .vcf")
    return FolderConnection(name, t.path_value("path"), extension, read_only, t.flag("fsync", False))


def _memory(t: Table, name: str, kind: ConnectionType, read_only: bool) -> MemoryConnection:
    return MemoryConnection(name, read_only)


def _dav(t: Table, name: str, kind: ConnectionType, read_only: bool) -> DavConnection:
    url = _dav_url(t, "url")
    password = t.secret("password")
    assert password is not None
    client_cert = _pem_file(t, "client_cert")
    client_key = _pem_file(t, "client_key")
    if client_key is not None and client_cert is None:
        raise t.error("client_key", "needs client_cert (the certificate the key belongs to)")
    server = t.choice("server", DavServer) if t.has("server") else None
    return DavConnection(
        name,
        kind,
        url,
        t.text("username"),
        password,
        verify_tls=t.flag("verify_tls", True),
        read_only=read_only,
        auth=t.choice("auth", DavAuth, DavAuth.BASIC),
        ca_bundle=_pem_file(t, "ca_bundle"),
        client_cert=client_cert,
        client_key=client_key,
        proxy=_proxy_url(t, "proxy"),
        timeout=t.number("timeout", 30.0, 0.0, 600.0),
        server=server,
    )


def _proxy_url(t: Table, key: str) -> str | None:
    """An optional http(s) proxy URL; its password, like every secret, may not be written in the file."""
    value = t.text(key, "").strip()
    if not value:
        return None
    parts = _parts(t, key, value, "a password may not be part of the proxy URL")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise t.error(key, f"{value!r} is not an http:// or https:// URL")
    return value


def _parts(t: Table, key: str, value: str, no_password: str) -> SplitResult:
    """``value`` split as a URL, refused first when it holds a password, so that no later message repeats it."""
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:  # an unreadable URL may hold one where it cannot be told apart: the value is not repeated
        raise t.error(key, "is not a URL that can be read") from None
    if password:
        raise t.error(key, no_password)
    return parts


def _pem_file(t: Table, key: str) -> Path | None:
    """An optional PEM file that must exist now: a typo found when the file is loaded, not at the first sync."""
    if not t.has(key):
        return None
    path = t.path_value(key)
    if not path.is_file():
        raise t.error(key, f"no such file: {path}")
    return path


def _ews(t: Table, name: str, kind: ConnectionType, read_only: bool) -> EwsConnection:
    auth = t.choice("auth", EwsAuth)
    logon = t.choice("logon", EwsLogon, EwsLogon.BASIC)
    username = t.text("username", "" if logon is EwsLogon.OAUTH2 else REQUIRED)
    if "\\" in username:
        raise t.error("username", "give the user principal name (svc-calsync@contoso.com), not DOMAIN\\user")
    password = t.secret("password", required=logon is not EwsLogon.OAUTH2)
    url = _http_url(t, "url", required=False)
    email = t.text("autodiscover_email", "", pattern=_EMAIL, hint="an e-mail address")
    if bool(url) == bool(email):
        raise t.error("url", "give the EWS url or autodiscover_email (exactly one of them)")
    oauth = logon is EwsLogon.OAUTH2
    return EwsConnection(
        name,
        auth,
        username,
        password,
        url,
        email,
        t.flag("verify_tls", True),
        read_only,
        logon=logon,
        version=t.text("version", "", pattern=_EWS_VERSION, hint="an Exchange version such as 15.1 or 15.1.2507.6"),
        ca_bundle=_pem_file(t, "ca_bundle"),
        timezone=_zone_name(t, "timezone"),
        autodiscover_url=_http_url(t, "autodiscover_url", required=False),
        client_id=t.text("client_id", REQUIRED if oauth else "", pattern=_GUID, hint="the app's client id, a GUID"),
        tenant_id=t.text("tenant_id", REQUIRED if oauth else "", pattern=_TENANT, hint="the tenant's GUID or domain"),
        client_secret=t.secret("client_secret", required=oauth),
        timeout=t.number("timeout", 60.0, 0.0, 600.0),
    )


def _zone_name(t: Table, key: str) -> str:
    """An IANA zone that has a Windows name (Exchange knows zones only by those)."""
    from calsync.model.timezones import iana_to_windows

    value = t.text(key, "UTC")
    if value != "UTC" and iana_to_windows(value) is None:
        raise t.error(key, f"{value!r} is not an IANA time zone with a Windows name (such as Europe/Berlin)")
    return value


def _graph(t: Table, name: str, kind: ConnectionType, read_only: bool) -> GraphConnection:
    tenant = t.text("tenant_id", pattern=_TENANT, hint="the tenant's GUID or a domain such as contoso.com")
    client = t.text("client_id", pattern=_GUID, hint="the app registration's application (client) id, a GUID")
    secret = t.secret("client_secret", required=False)
    certificate = t.secret("certificate", required=False)
    if (secret is None) == (certificate is None):
        both = "client_secret_env or client_secret_file, or certificate_file or certificate_env"
        raise t.error("client_secret_env", f"give exactly one credential: {both}")
    return GraphConnection(name, tenant, client, secret, certificate, read_only)


_BUILDERS: dict[ConnectionType, Callable[[Table, str, ConnectionType, bool], Connection]] = {
    ConnectionType.FOLDER: _folder,
    ConnectionType.MEMORY: _memory,
    ConnectionType.CALDAV: _dav,
    ConnectionType.CARDDAV: _dav,
    ConnectionType.EWS: _ews,
    ConnectionType.GRAPH: _graph,
}


def _dav_url(t: Table, key: str) -> str:
    """The account's home URL, or an e-mail address or domain whose server DNS names (RFC 6764): the
    connector finds the home from it when it first needs it. Spaces around it mean nothing (see ``_http_url``)."""
    value = t.text(key, REQUIRED).strip()
    if "://" in value:
        return _http_url(t, key, required=True)
    domain = value.rpartition("@")[2]
    if value.count("@") > 1 or "." not in domain.strip(".") or any(c in value for c in " /\\:?#"):
        raise t.error(key, f"{value!r} is neither an http:// or https:// URL nor an e-mail address or domain")
    return value


def _http_url(t: Table, key: str, *, required: bool) -> str:
    """An http(s) URL without the spaces around it, as the services store an integration's url (and as
    ``Table.path_value`` reads a path): else a configured integration's url would differ from the stored one at
    every start, and an update is an admin's edit that brings an offline integration back."""
    value = t.text(key, REQUIRED if required else "").strip()
    if not value:
        return ""
    parts = _parts(t, key, value, "a password may not be part of the URL: use password_env or password_file")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise t.error(key, f"{value!r} is not an http:// or https:// URL")
    return value
