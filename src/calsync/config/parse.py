"""From a TOML file and the environment to ``Settings``: every check, with the key path in every error.

The order matters for the messages: connections are read first, so integrations and pairs can say which
connection name they could not find and which ones exist. Each ``[[connections]]`` table is checked by
``calsync.config.connections``; this module reads the rest and puts the whole together.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from calsync.config.connections import parse_connection
from calsync.config.model import (
    Connection,
    ConnectionType,
    EndpointRef,
    Integration,
    IntegrationUser,
    LogLevel,
    LogSettings,
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
    connections = tuple(parse_connection(t) for t in _unique(root.tables("connections"), "connection"))
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
