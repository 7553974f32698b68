"""What an integration and a user may be: the values the services accept, and every rule that checks them.

Why here and not in the state layer: the REST API, the admin UI and the CLI all go through the services, so
one set of rules with one wording of each error serves all three. Each error is a ``ConfigError`` whose
``where`` is the field's name (``days_back``, ``users.mailbox``), so a form can put it next to the field.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Set
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from calsync.config.reader import home_path
from calsync.crypto import Secret
from calsync.errors import ConfigError

MAX_DAYS = 60
MAX_FULL_SYNC_MINUTES = 1440
START_OF_SYNC_MAX_AGE = timedelta(days=30)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_MAILBOX = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_E = TypeVar("_E", bound=StrEnum)


class CalendarType(StrEnum):
    """The calendar servers an integration can connect to."""

    CALDAV = "caldav"
    CARDDAV = "carddav"
    EWS = "ews"
    GRAPH = "graph"
    FOLDER = "folder"


class AuthMode(StrEnum):
    """How the service account reaches the users' calendars."""

    IMPERSONATION = "impersonation"
    DELEGATE = "delegate"
    OAUTH = "oauth"


_AUTH_ALLOWED = {
    CalendarType.CALDAV: (AuthMode.DELEGATE,),
    CalendarType.CARDDAV: (AuthMode.DELEGATE,),
    CalendarType.EWS: (AuthMode.IMPERSONATION, AuthMode.DELEGATE, AuthMode.OAUTH),
    CalendarType.GRAPH: (AuthMode.OAUTH,),
    CalendarType.FOLDER: (AuthMode.DELEGATE,),
}


@dataclass(frozen=True, slots=True)
class IntegrationInput:
    """An integration as an admin gives it; secrets are ``Secret`` values (``None``: not given)."""

    name: str
    company: str
    connection_type: str
    auth_mode: str = AuthMode.DELEGATE
    description: str = ""
    department: str = ""
    url: str = ""
    autodiscover: str = ""
    ca_bundle: str = ""
    username: str = ""
    password: Secret | None = None
    client_id: str = ""
    tenant_id: str = ""
    client_secret: Secret | None = None
    certificate: Secret | None = None
    two_way: bool = True
    days_back: int = 30
    days_forward: int = 30
    full_sync_minutes: int = 1440
    interval_minutes: int = 20
    start_of_sync: datetime | None = None
    appointment_activity: str = ""
    task_activity: str = ""


def check_name(name: str, where: str = "name") -> str:
    """``name`` if it is a usable identifier (letters, digits, ``_.-``, at most 64, starting alphanumeric)."""
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"{name!r} is not a valid name: use 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or "
            "digit",
            where=where,
        )
    return name


def check_integration(
    given: IntegrationInput, stored_secrets: Set[str] = frozenset(), stored_path: str | None = None
) -> IntegrationInput:
    """``given`` as it is to be stored (its url settled, see ``_settled_url``); raise ``ConfigError`` naming the
    first field that breaks a rule.

    ``stored_secrets`` names the secrets (``password``, ``client_secret``, ``certificate``) already stored, so an
    update need not give them again; ``stored_path`` is the folder path already stored, kept as it is when given
    again.
    """
    check_name(given.name)
    if not given.company.strip():
        raise ConfigError("the company is required: an integration is one company's business source", where="company")
    kind = _choice(CalendarType, given.connection_type, "connection_type")
    auth = _choice(AuthMode, given.auth_mode, "auth_mode")
    if auth not in _AUTH_ALLOWED[kind]:
        allowed = ", ".join(_AUTH_ALLOWED[kind])
        raise ConfigError(f"a {kind} connection allows auth mode {allowed}, not {auth}", where="auth_mode")
    given = replace(given, url=_settled_url(given.url, kind, stored_path))
    _check_address(given, kind)
    _check_ca_bundle(given.ca_bundle, kind)
    has = {name for name in ("password", "client_secret", "certificate") if getattr(given, name)} | set(stored_secrets)
    if auth is AuthMode.OAUTH:
        _check_oauth(given, has)
    elif kind is not CalendarType.FOLDER:
        _require(given.username, "username", f"{auth} access needs the service account's user name")
        if "password" not in has:
            raise ConfigError(f"{auth} access needs the service account's password", where="password")
    _check_settings(given)
    return given


def clamp_start(start: datetime | None, now: datetime) -> datetime | None:
    """The start of sync to store: one in the future or more than 30 days back becomes 30 days back.

    Why clamp rather than refuse: the business system's admin means "from about then"; a start the servers
    cannot serve (no history that far, nothing yet in the future) is moved to the nearest useful one.
    """
    if start is None:
        return None
    if start.tzinfo is None or start.utcoffset() is None:
        raise ConfigError(
            "give the start of sync with a time zone (e.g. 2026-01-05T08:00+01:00)", where="start_of_sync"
        )
    earliest = now - START_OF_SYNC_MAX_AGE
    return earliest if start > now or start < earliest else start


ADDRESSED = frozenset({CalendarType.EWS, CalendarType.GRAPH})
"""Connection types whose mailboxes are e-mail addresses, whose case means nothing."""


def check_mailbox(mailbox: str, connection_type: str) -> str:
    """``mailbox`` without surrounding spaces if it suits the connection: an e-mail address for EWS and Graph, any
    principal otherwise. Why stripped: the admin UI strips what it is given, so a mailbox stored with a space from
    the CLI, the API or the config file would later read as another mailbox."""
    mailbox = mailbox.strip()
    if not mailbox:
        raise ConfigError("the mailbox or principal is required", where="users.mailbox")
    if connection_type in ADDRESSED and not _MAILBOX.fullmatch(mailbox):
        raise ConfigError(f"{mailbox!r} is not an e-mail address, which {connection_type} needs", where="users.mailbox")
    return mailbox


def _choice(enum: type[_E], value: str, where: str) -> _E:
    try:
        return enum(value)
    except ValueError:
        allowed = "|".join(member.value for member in enum)
        raise ConfigError(f"{value!r} is not one of {allowed}", where=where) from None


def _settled_url(url: str, kind: CalendarType, stored_path: str | None) -> str:
    """The url to store: without surrounding spaces; for a folder, its absolute path with ``~`` expanded.

    Why a folder's path must be absolute: the folder connector opens it as stored, so a relative path would reach
    another folder whenever the service starts in another working folder. Symlinks and ``..`` are kept as written
    (``whereabouts`` compares real paths). A path already stored is kept as it is when given again: an integration
    saved before paths were checked keeps reaching its folder, and can still be edited.
    """
    if kind is not CalendarType.FOLDER:
        return url.strip()
    if url == stored_path or not url.strip():
        return url
    path = home_path(url.strip(), "url")
    if not path.is_absolute():
        raise ConfigError(
            f"{url.strip()!r} is not an absolute path: give the folder's full path (a relative one would depend on "
            "the folder the service is started in)",
            where="url",
        )
    return str(path)


def _check_address(given: IntegrationInput, kind: CalendarType) -> None:
    if given.url and kind is not CalendarType.FOLDER:
        _check_no_password(given.url)
    if given.url and kind is not CalendarType.FOLDER and not given.url.startswith(("https://", "http://")):
        raise ConfigError(f"{given.url!r} is not an http(s) URL", where="url")
    if given.autodiscover and not _discovery_address(given.autodiscover, kind):
        wanted = "an e-mail address or domain" if kind in _BY_DNS else "an e-mail address"
        raise ConfigError(f"{given.autodiscover!r} is not {wanted}", where="autodiscover")
    if given.autodiscover and kind not in _DISCOVERABLE:
        raise ConfigError(f"a {kind} connection is found by its url, not by an address", where="autodiscover")
    if kind in _DISCOVERABLE and not (given.url or given.autodiscover):
        raise ConfigError(f"{kind} needs a url or an autodiscovery address", where="url")
    if kind is CalendarType.FOLDER:
        _require(given.url, "url", "a folder connection needs a url (the folder's path)")


def _check_no_password(url: str) -> None:
    """Refuse a url holding a password (``https://svc:pw@host/``), as calsync.toml does, without repeating it.

    Why: the url is no secret. It is stored in clear, shown, and its pairs are bound to it (``whereabouts``), so a
    password in it would reach the state database and the warnings a run logs; the password field is encrypted.
    """
    try:
        password = urlsplit(url).password
    except ValueError:  # an unbalanced [ in the host, say: its password could not be told from the rest
        raise ConfigError("the url is not a valid http(s) URL", where="url") from None
    if password:
        raise ConfigError("a password may not be part of the URL: give it in the password field", where="url")


def _discovery_address(value: str, kind: CalendarType) -> bool:
    """An e-mail address; for CalDAV and CardDAV, whose server DNS names for a domain, a bare domain too."""
    return bool(_MAILBOX.fullmatch(value) or (kind in _BY_DNS and _DOMAIN.fullmatch(value)))


_BY_DNS = (CalendarType.CALDAV, CalendarType.CARDDAV)
_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,}\.?")
_DISCOVERABLE = (CalendarType.EWS, CalendarType.CALDAV, CalendarType.CARDDAV)
"""Connections that may be found from an e-mail address: EWS by autodiscover, CalDAV and CardDAV through DNS
(RFC 6764: SRV and TXT records, then the well-known URL)."""


def _check_ca_bundle(value: str, kind: CalendarType) -> None:
    """A CA bundle, when given, must be usable now: a typo or a missing file found when the admin saves it, not as
    a TLS failure at the first sync. Why a path and not the PEM itself: the file is the company CA the host's
    administrators already keep up to date (renewals reach calsync without an edit here)."""
    if not value:
        return
    if kind not in _CUSTOM_TLS:
        allowed = ", ".join(_CUSTOM_TLS)
        raise ConfigError(f"a {kind} connection trusts the system's CAs; a CA bundle is for {allowed}", where=_CA)
    if not Path(value).is_absolute():
        raise ConfigError(f"{value!r} is not an absolute path (give the PEM file's full path)", where=_CA)
    loadable_ca_bundle(value)


def loadable_ca_bundle(value: str) -> Path:
    """The CA bundle at ``value`` if TLS can load it now; else ``ConfigError`` naming ``ca_bundle``.

    Checked when an integration is saved and again each time its connectors are built: the file may have been
    replaced or removed since, and a TLS library error would name neither the setting nor the file.
    """
    path = Path(value)
    if not path.is_file():  # also keeps a FIFO or a device from being read below
        raise ConfigError(f"no such file: {value}", where=_CA)
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {value}: {exc.strerror}", where=_CA) from exc
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise ConfigError(f"{value} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", where=_CA)
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=pem.decode("ascii", "replace"))
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"{value} holds no certificate TLS can load ({exc})", where=_CA) from exc
    return path


_CA = "ca_bundle"
_CUSTOM_TLS = (CalendarType.CALDAV, CalendarType.CARDDAV, CalendarType.EWS)
"""Connections whose server may have a certificate from a private CA (on-premises Exchange, a self-hosted DAV
server); Microsoft 365 has public certificates, and a folder has no TLS."""


def _check_oauth(given: IntegrationInput, has: Set[str]) -> None:
    _require(given.client_id, "client_id", "oauth needs the app registration's client id")
    _require(given.tenant_id, "tenant_id", "oauth needs the tenant id")
    if not has & {"client_secret", "certificate"}:
        raise ConfigError("oauth needs a client secret or a certificate", where="client_secret")


def _check_settings(given: IntegrationInput) -> None:
    for field in ("days_back", "days_forward"):
        _between(getattr(given, field), 0, MAX_DAYS, field)
    _between(given.full_sync_minutes, 0, MAX_FULL_SYNC_MINUTES, "full_sync_minutes")
    if given.interval_minutes < 1:
        raise ConfigError(f"must be at least 1, not {given.interval_minutes}", where="interval_minutes")


def _between(value: int, low: int, high: int, where: str) -> None:
    if not low <= value <= high:
        raise ConfigError(f"must be between {low} and {high}, not {value}", where=where)


def _require(value: str, where: str, message: str) -> None:
    if not value.strip():
        raise ConfigError(message, where=where)
