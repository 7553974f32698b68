"""The settings as values: frozen dataclasses and enums, built by ``calsync.config.parse`` (connections by
``calsync.config.connections``) and passed down.

Nothing here reads a file or the environment except ``SecretRef.reveal()``, which is called by the code that
opens a connection at the moment it needs the secret, never while loading or printing settings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from calsync.errors import ConfigError, SecretUnavailable
from calsync.model.users import UserOptions
from calsync.sync.rules import ConflictPolicy, MassDeleteGuard, Mode

_URL_PASSWORD = re.compile(r"(://[^/@:]*:)[^/@]*@")


class ConnectionType(StrEnum):
    """The stores calsync can talk to (``calsync.connectors.registry.RUNNABLE`` says which this version syncs)."""

    FOLDER = "folder"
    MEMORY = "memory"
    CALDAV = "caldav"
    CARDDAV = "carddav"
    EWS = "ews"
    GRAPH = "graph"


class EwsAuth(StrEnum):
    """How an EWS service account reaches the users' mailboxes."""

    IMPERSONATION = "impersonation"
    DELEGATE = "delegate"


class EwsLogon(StrEnum):
    """How an EWS service account proves who it is: a UPN and password (Basic or NTLM), or OAuth2 client
    credentials of an app registration (hybrid modern authentication)."""

    BASIC = "basic"
    NTLM = "ntlm"
    OAUTH2 = "oauth2"


class DavAuth(StrEnum):
    """How a CalDAV/CardDAV connection sends its credentials."""

    BASIC = "basic"
    DIGEST = "digest"


class DavServer(StrEnum):
    """The servers with a row in the DAV quirks table; unset, the server is recognised from its headers."""

    RADICALE = "radicale"
    XANDIKOS = "xandikos"
    NEXTCLOUD = "nextcloud"
    ICLOUD = "icloud"
    GOOGLE = "google"


class LogLevel(StrEnum):
    """How much calsync logs (to standard error)."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a secret is kept: an environment variable or a file, never the secret itself.

    Why a reference: settings are printed, logged and shown in the admin UI; a value that is not there cannot
    leak. ``reveal()`` reads the secret when a connection is opened.
    """

    env: str = ""
    file: Path | None = None

    def reveal(self, environ: Mapping[str, str] | None = None) -> str:
        """The secret; raises ``ConfigError`` when the variable is unset or the file unreadable or empty."""
        if self.env:
            value = (os.environ if environ is None else environ).get(self.env, "")
            if not value:
                raise SecretUnavailable("the environment variable is not set or empty", where=self.env)
            return value
        assert self.file is not None
        try:
            value = self.file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretUnavailable(f"cannot read the secret file: {exc.strerror}", where=str(self.file)) from exc
        if not value:
            raise SecretUnavailable("the secret file is empty", where=str(self.file))
        return value

    def __str__(self) -> str:
        return f"environment variable {self.env}" if self.env else f"file {self.file}"


@dataclass(frozen=True, slots=True)
class FolderConnection:
    """A local folder of ``.ics`` (or ``.vcf``) files; each subfolder is a collection."""

    name: str
    path: Path
    extension: str = ".ics"
    read_only: bool = False
    fsync: bool = False
    type: ConnectionType = ConnectionType.FOLDER


@dataclass(frozen=True, slots=True)
class MemoryConnection:
    """A store held in memory for the length of one command: for tests and trying things out."""

    name: str
    read_only: bool = False
    type: ConnectionType = ConnectionType.MEMORY


@dataclass(frozen=True, slots=True)
class DavConnection:
    """A CalDAV or CardDAV account (``type`` says which) and how to reach it.

    ``ca_bundle`` replaces the system CAs (a private CA); ``client_cert``/``client_key`` are for servers that
    ask for a client certificate (the key may be inside the certificate file); ``server`` names the quirks-table
    row when detection from the response headers would guess wrong (e.g. behind a reverse proxy).
    """

    name: str
    type: ConnectionType
    url: str
    username: str
    password: SecretRef
    verify_tls: bool = True
    read_only: bool = False
    auth: DavAuth = DavAuth.BASIC
    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    proxy: str | None = None
    timeout: float = 30.0
    server: DavServer | None = None


@dataclass(frozen=True, slots=True)
class EwsConnection:
    """An Exchange service account reached through EWS, at ``url`` or found by autodiscover.

    ``auth`` picks how the account opens the users' mailboxes (ApplicationImpersonation or delegate access),
    ``logon`` how it signs in (``password`` for basic/NTLM; ``client_id``, ``tenant_id`` and ``client_secret``
    for OAuth2). ``version`` (``15.1`` or a full build) skips version probing; ``ca_bundle`` is a PEM file
    of CAs trusted instead of the system's; ``timezone`` is the IANA zone all-day items are written in;
    ``autodiscover_url`` names the autodiscover service when the address's domain does not lead to it.
    """

    name: str
    auth: EwsAuth
    username: str
    password: SecretRef | None
    url: str = ""
    autodiscover_email: str = ""
    verify_tls: bool = True
    read_only: bool = False
    logon: EwsLogon = EwsLogon.BASIC
    version: str = ""
    ca_bundle: Path | None = None
    timezone: str = "UTC"
    autodiscover_url: str = ""
    client_id: str = ""
    tenant_id: str = ""
    client_secret: SecretRef | None = None
    timeout: float = 60.0
    type: ConnectionType = ConnectionType.EWS


@dataclass(frozen=True, slots=True)
class GraphConnection:
    """A Microsoft 365 tenant through an app registration: a client secret or a certificate (PEM with key)."""

    name: str
    tenant_id: str
    client_id: str
    client_secret: SecretRef | None = None
    certificate: SecretRef | None = None
    read_only: bool = False
    type: ConnectionType = ConnectionType.GRAPH


Connection = FolderConnection | MemoryConnection | DavConnection | EwsConnection | GraphConnection


@dataclass(frozen=True, slots=True)
class IntegrationUser:
    """One business user and the mailbox (EWS, Graph) or principal (CalDAV) that holds their calendar."""

    business_user: str
    mailbox: str
    options: UserOptions = field(default_factory=UserOptions)


@dataclass(frozen=True, slots=True)
class Integration:
    """One business source (a company, optionally one department) synced with one calendar connection.

    ``addressbook`` is ``""`` or ``calendar`` itself: a stored integration holds one connection, and its users'
    contacts are synced with that connection's server. ``conflict`` goes into the integration's rules.
    """

    name: str
    company: str
    calendar: str
    description: str = ""
    department: str = ""
    addressbook: str = ""
    two_way: bool = True
    conflict: ConflictPolicy = ConflictPolicy.A_WINS
    days_back: int = 30
    days_forward: int = 30
    interval_minutes: int = 20
    full_sync_minutes: int = 1440
    users: tuple[IntegrationUser, ...] = ()


@dataclass(frozen=True, slots=True)
class EndpointRef:
    """``connection:collection`` as written in a pair."""

    connection: str
    collection: str

    def __str__(self) -> str:
        return f"{self.connection}:{self.collection}"


@dataclass(frozen=True, slots=True)
class PairSettings:
    """One pair as configured; ``window`` is (days back, days forward), ``None`` for everything."""

    name: str
    a: EndpointRef
    b: EndpointRef
    mode: Mode = Mode.TWO_WAY
    conflict: ConflictPolicy = ConflictPolicy.A_WINS
    delete_on_a: bool = True
    delete_on_b: bool = True
    window: tuple[int, int] | None = (30, 30)
    mass_delete: MassDeleteGuard = field(default_factory=MassDeleteGuard)


@dataclass(frozen=True, slots=True)
class StateSettings:
    """Where calsync keeps its state: a SQLite path or URL, or a PostgreSQL URL (password by reference)."""

    url: str
    password: SecretRef | None = None

    def __repr__(self) -> str:
        return f"StateSettings(url={redact_url(self.url)!r}, password={self.password!r})"


@dataclass(frozen=True, slots=True)
class LogSettings:
    """How calsync logs."""

    level: LogLevel = LogLevel.WARNING


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything one calsync installation is configured with."""

    source: Path | None
    state: StateSettings
    log: LogSettings = field(default_factory=LogSettings)
    connections: tuple[Connection, ...] = ()
    integrations: tuple[Integration, ...] = ()
    pairs: tuple[PairSettings, ...] = ()

    def connection(self, name: str) -> Connection:
        """The connection called ``name``; raises ``ConfigError`` listing the known names."""
        for connection in self.connections:
            if connection.name == name:
                return connection
        known = ", ".join(c.name for c in self.connections) or "none"
        raise ConfigError(f"no connection called {name!r}; known: {known}", where=self._where())

    def pair(self, name: str) -> PairSettings:
        """The pair called ``name``; raises ``ConfigError`` listing the known names."""
        for pair in self.pairs:
            if pair.name == name:
                return pair
        known = ", ".join(p.name for p in self.pairs) or "none"
        raise ConfigError(f"no pair called {name!r}; known: {known}", where=self._where())

    def _where(self) -> str:
        return str(self.source) if self.source is not None else "settings"


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (URLs from the environment may carry one)."""
    return _URL_PASSWORD.sub(r"\1***@", url)
