"""From a TOML file and the environment to ``Settings``: every check, with the key path in every error.

The order matters for the messages: connections are read first, so integrations and pairs can say which
connection name they could not find and which ones exist.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from calsync.config.model import (
    Connection,
    ConnectionType,
    DavAuth,
    DavConnection,
    DavServer,
    EndpointRef,
    EwsAuth,
    EwsConnection,
    EwsLogon,
    FolderConnection,
    GraphConnection,
    Integration,
    IntegrationUser,
    LogLevel,
    LogSettings,
    MemoryConnection,
    PairSettings,
    Settings,
    StateSettings,
)
from calsync.config.reader import NAME, NAME_HINT, REQUIRED, Table, home_path, parse_choice
from calsync.errors import ConfigError
from calsync.model.users import UserOptions
from calsync.model.window import MAX_DAYS
from calsync.sync.rules import ConflictPolicy, MassDeleteGuard, Mode

STATE_URL_ENV = "CALSYNC_STATE_URL"
LOG_LEVEL_ENV = "CALSYNC_LOG_LEVEL"
ENV_OVERRIDES = {STATE_URL_ENV: "state.url", LOG_LEVEL_ENV: "log.level"}
"""Environment variables that override keys of the file (12-factor): a set, non-empty variable wins."""

DEFAULT_STATE_FILE = "calsync.db"
"""The SQLite file, next to the configuration file, used when ``[state] url`` is not set."""

_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_TENANT = re.compile(r"^([0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EWS_VERSION = re.compile(r"^\d{1,2}\.\d{1,2}(\.\d{1,5}){0,2}$")
_DB_URL = re.compile(r"^(sqlite|postgresql|postgres)(\+\w+)?://", re.IGNORECASE)
_FOLDER_NAME = re.compile(r"^(?!\.\.?$)[^/\\\x00]*$")
_CALENDAR_TYPES = frozenset({ConnectionType.CALDAV, ConnectionType.EWS, ConnectionType.GRAPH, ConnectionType.FOLDER})
"""What an integration's calendar may be: a connection a stored integration can hold (not ``memory``, whose items
last only as long as one command)."""
_WITH_CONTACTS = frozenset({ConnectionType.CALDAV, ConnectionType.EWS, ConnectionType.GRAPH})
"""Calendar connections whose server keeps the users' contacts too (CalDAV's through CardDAV, same account)."""


class Winner(StrEnum):
    """An integration's conflict policy in its own words (A is the business side, B the calendar)."""

    BUSINESS = "business-wins"
    CALENDAR = "calendar-wins"
    NEWEST = "newest-wins"


_WINNERS = {
    Winner.BUSINESS: ConflictPolicy.A_WINS,
    Winner.CALENDAR: ConflictPolicy.B_WINS,
    Winner.NEWEST: ConflictPolicy.NEWEST_WINS,
}


def load_settings(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the configuration file at ``path``, then apply ``ENV_OVERRIDES`` from ``environ``.

    Raises ``ConfigError`` naming the file (and the key) for a missing or unreadable file (a folder, say),
    invalid TOML and every invalid or unknown setting. A leading ``~`` in ``path`` is the user's home, as in the
    paths inside the file; a UTF-8 byte order mark (which some Windows editors write) is skipped.
    """
    file = home_path(str(path), str(path))
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError("no such file", where=str(file)) from None
    except IsADirectoryError:
        raise ConfigError("is a folder, not a configuration file", where=str(file)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror or exc}", where=str(file)) from exc
    except UnicodeDecodeError:
        raise ConfigError("the file is not UTF-8 text", where=str(file)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=str(file)) from None
    settings = parse_settings(data, source=str(file), base=file.absolute().parent, environ=environ)
    return replace(settings, source=file)


def parse_settings(
    data: Mapping[str, object], *, source: str, base: Path, environ: Mapping[str, str] | None = None
) -> Settings:
    """Validate parsed TOML ``data``; relative paths resolve against ``base`` (the file's folder)."""
    env = os.environ if environ is None else environ
    root = Table(data, "", source, base)
    state = _state(root.table("state"), env)
    log = _log(root.table("log"), env)
    connections = _connections(root.tables("connections"))
    by_name = {c.name: c for c in connections}
    integrations = tuple(_integration(t, by_name) for t in _unique(root.tables("integrations"), "integration"))
    pairs = tuple(_pair(t, by_name) for t in _unique(root.tables("pairs"), "pair"))
    root.finish()
    return Settings(None, state, log, connections, integrations, pairs)


# -- state and logging ---------------------------------------------------------------------------------------


def _state(t: Table, env: Mapping[str, str]) -> StateSettings:
    url = _state_url(t.text("url", ""), t.base, t.where("url"), from_file=True)
    if env.get(STATE_URL_ENV):
        url = _state_url(env[STATE_URL_ENV], Path.cwd(), STATE_URL_ENV, from_file=False)
    url = url or str(t.base / DEFAULT_STATE_FILE)
    password = t.secret("password", required=False)
    if password is not None and not url.lower().startswith("postgres"):
        raise t.error("password_env", "a password applies only to a postgresql:// url")
    t.finish()
    return StateSettings(url, password)


def _state_url(value: str, base: Path, where: str, *, from_file: bool) -> str:
    """A SQLite path (relative: to ``base``) or a ``sqlite://`` / ``postgresql://`` URL."""
    if not value:
        return ""
    if "://" not in value:
        path = home_path(value, where)
        return str(path if path.is_absolute() else base / path)
    if not _DB_URL.match(value):
        raise ConfigError(
            "unsupported database; use a SQLite file path, sqlite:///path or postgresql://user@host/database",
            where=where,
        )
    if from_file and urlsplit(value).password:
        message = "a password may not be written in the file: use [state] password_env or password_file"
        raise ConfigError(f"{message}, or the environment variable CALSYNC_STATE_URL", where=where)
    scheme, _, rest = value.partition(":///")
    if scheme.lower().startswith("sqlite") and rest and not rest.startswith("/") and rest != ":memory:":
        path = home_path(rest, where)  # sqlite:///~/state.db is in the home folder, as ~/state.db is
        return f"{scheme}:///{path if path.is_absolute() else base / path}"
    return value


def _log(t: Table, env: Mapping[str, str]) -> LogSettings:
    level = t.choice("level", LogLevel, LogLevel.WARNING, fold_case=True)
    t.finish()
    if env.get(LOG_LEVEL_ENV):
        level = parse_choice(env[LOG_LEVEL_ENV].lower(), LogLevel, LOG_LEVEL_ENV)
    return LogSettings(level)


# -- connections ---------------------------------------------------------------------------------------------


def _connections(tables: Sequence[Table]) -> tuple[Connection, ...]:
    return tuple(_connection(t) for t in _unique(tables, "connection"))


def _connection(t: Table) -> Connection:
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
    value = t.text(key, "")
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise t.error(key, f"{value!r} is not an http:// or https:// URL")
    if parts.password:
        raise t.error(key, "a password may not be part of the proxy URL")
    return value


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
    connector finds the home from it when it first needs it."""
    value = t.text(key, REQUIRED)
    if "://" in value:
        return _http_url(t, key, required=True)
    domain = value.rpartition("@")[2]
    if value.count("@") > 1 or "." not in domain.strip(".") or any(c in value for c in " /\\:?#"):
        raise t.error(key, f"{value!r} is neither an http:// or https:// URL nor an e-mail address or domain")
    return value


def _http_url(t: Table, key: str, *, required: bool) -> str:
    value = t.text(key, REQUIRED if required else "")
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise t.error(key, f"{value!r} is not an http:// or https:// URL")
    if parts.password:
        raise t.error(key, "a password may not be part of the URL: use password_env or password_file")
    return value


# -- integrations --------------------------------------------------------------------------------------------


def _integration(t: Table, connections: Mapping[str, Connection]) -> Integration:
    name = t.text("name", pattern=NAME, hint=NAME_HINT)
    calendar = _connection_name(t, "calendar", connections, _CALENDAR_TYPES, required=True)
    addressbook = _addressbook(t, connections[calendar])
    if not t.flag("enabled", True):  # true is what happens anyway: files that say so stay valid
        raise t.error(
            "enabled",
            "= false is not supported: every integration in the file is applied and synced; to stop one, "
            "remove it from the file and run `calsync integrations remove NAME`",
        )
    two_way = t.flag("two_way", True)
    if t.has("conflict") and not two_way:
        raise t.error("conflict", "applies only when two_way = true")
    winner = t.choice("conflict", Winner, Winner.BUSINESS)
    integration = Integration(
        name,
        t.text("company"),
        calendar,
        description=t.text("description", ""),
        department=t.text("department", ""),
        addressbook=addressbook,
        two_way=two_way,
        conflict=_WINNERS[winner],
        days_back=t.integer("days_back", 30, 0, MAX_DAYS),
        days_forward=t.integer("days_forward", 30, 0, MAX_DAYS),
        interval_minutes=t.integer("interval_minutes", 20, 1, 1440),
        full_sync_minutes=t.integer("full_sync_minutes", 1440, 0, 1440),
        users=_users(t.tables("users")),
    )
    t.finish()
    return integration


def _addressbook(t: Table, calendar: Connection) -> str:
    """``addressbook``: the calendar connection itself, or nothing. Why no other: a stored integration holds one
    connection, and its users' contacts are synced with that connection's server, so naming another would be
    accepted here and then silently ignored."""
    name = t.text("addressbook", "")
    if name and name != calendar.name:
        raise t.error(
            "addressbook",
            f"must be the calendar connection {calendar.name!r} or left out: an integration syncs contacts with "
            "its calendar's server (for caldav: CardDAV with the same account)",
        )
    if name and calendar.type not in _WITH_CONTACTS:
        raise t.error("addressbook", f"a {calendar.type} connection keeps no contacts; leave addressbook out")
    return name


def _users(tables: Sequence[Table]) -> tuple[IntegrationUser, ...]:
    """The users of one integration; each business user and mailbox once (two mappings would fight)."""
    users = tuple(_user(t) for t in tables)
    for key in ("business_user", "mailbox"):
        first: dict[str, str] = {}
        for t, user in zip(tables, users, strict=True):
            value = str(getattr(user, key)).lower()
            if value in first:
                raise t.error(key, f"{value!r} is already mapped by {first[value]}")
            first[value] = t.path
    return users


def _user(t: Table) -> IntegrationUser:
    user = IntegrationUser(
        t.text("business_user"),
        t.text("mailbox"),
        UserOptions(**{name: t.flag(name, True) for name in UserOptions.__dataclass_fields__}),
    )
    t.finish()
    return user


def _connection_name(
    t: Table,
    key: str,
    connections: Mapping[str, Connection],
    types: frozenset[ConnectionType],
    *,
    required: bool,
) -> str:
    name = t.text(key, REQUIRED if required else "")
    if not name:
        return ""
    connection = connections.get(name)
    if connection is None:
        raise t.error(key, f"no connection called {name!r}; known: {', '.join(connections) or 'none'}")
    if connection.type not in types:
        raise t.error(
            key,
            f"connection {name!r} is a {connection.type} connection; use one of type {' | '.join(sorted(types))}",
        )
    return name


# -- pairs ---------------------------------------------------------------------------------------------------


def _pair(t: Table, connections: Mapping[str, Connection]) -> PairSettings:
    name = t.text("name", pattern=NAME, hint=NAME_HINT)
    a, b = _endpoint(t, "a", connections), _endpoint(t, "b", connections)
    if a == b:
        raise t.error("b", f"a and b are the same collection ({a})")
    mode = t.choice("mode", Mode, Mode.TWO_WAY)
    if t.has("conflict") and mode is not Mode.TWO_WAY:
        raise t.error("conflict", f"applies only to two-way pairs; this pair's mode is {mode}")
    pair = PairSettings(
        name,
        a,
        b,
        mode,
        t.choice("conflict", ConflictPolicy, ConflictPolicy.A_WINS),
        delete_on_a=t.flag("delete_on_a", True),
        delete_on_b=t.flag("delete_on_b", True),
        window=_window(t),
        mass_delete=_guard(t.table("mass_delete")),
    )
    t.finish()
    return pair


def _endpoint(t: Table, key: str, connections: Mapping[str, Connection]) -> EndpointRef:
    value = t.text(key)
    connection, colon, collection = value.partition(":")
    if not colon:
        raise t.error(key, f'{value!r} must be "connection:collection" ("connection:" for its top folder)')
    if connection not in connections:
        raise t.error(key, f"no connection called {connection!r}; known: {', '.join(connections) or 'none'}")
    if connections[connection].type is ConnectionType.FOLDER and not _FOLDER_NAME.match(collection):
        raise t.error(key, f"{collection!r} is not a subfolder name (no '/', not '.' or '..')")
    return EndpointRef(connection, collection)


def _window(t: Table) -> tuple[int, int] | None:
    value = t.raw("window", [30, 30])
    if value == "all":
        return None
    if isinstance(value, list) and len(value) == 2:
        back, forward = value
        if all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_DAYS for v in (back, forward)):
            return back, forward
    raise t.error("window", f'must be [days_back, days_forward], each from 0 to {MAX_DAYS}, or "all"; not {value!r}')


def _guard(t: Table) -> MassDeleteGuard:
    default = MassDeleteGuard()
    guard = MassDeleteGuard(
        max_share=t.number("max_share", default.max_share, 0.0, 1.0),
        max_count=t.integer("max_count", default.max_count, 0),
        min_items=t.integer("min_items", default.min_items, 1),
    )
    t.finish()
    return guard


def _unique(tables: Sequence[Table], what: str) -> Sequence[Table]:
    """``tables`` after checking that no two share a ``name`` (names are keys: in the state, in pairs)."""
    first: dict[str, str] = {}
    for t in tables:
        name = t.data.get("name")
        if isinstance(name, str):
            if name in first:
                raise t.error("name", f"the {what} name {name!r} is already used by {first[name]}")
            first[name] = t.path
    return tables
