"""The connectors of a stored integration, and each user's calendar, task list and address book on them.

``integration_connectors(settings, name)`` builds, from the integration in the state database and its decrypted
credentials, one connector per kind through the registry: events, tasks (``None`` when the protocol has no task
lists) and contacts (``None`` when it has no address books). ``user_collection(connector, mailbox, kind)`` finds a
user's default collection of a kind by discovery and makes one where the protocol allows it and none exists; on
DAV, where a user may have several, it keeps to the one the user's pair synced latest among those still listed
and fit.

CalDAV/CardDAV with one service account: the integration's ``url`` (or an e-mail address/domain, found through
DNS SRV/TXT and ``/.well-known``) reaches the service account's own principal; a user's ``mailbox`` is that user's
principal, given as a name (``bob``), a path (``/remote.php/dav/principals/users/bob/``) or a URL. A name is put
in place of the last segment of the service account's principal path (Radicale ``/alice/`` -> ``/bob/``,
Nextcloud ``…/principals/users/calsync/`` -> ``…/principals/users/bob/``), and that principal's
``calendar-home-set``/``addressbook-home-set`` is the user's home.

Why one service account with rights on every user's home, instead of one account per user: it is how the other
connection types work (EWS impersonation, a Graph app registration), the admin stores one secret instead of one
per user, and a user changing a password does not stop the sync. So the admin must let the service account reach
the users' homes. On Radicale (``[rights] type = from_file``), a rights file such as::

    [calsync]
    user: calsync
    collection: .*
    permissions: RrWw

    [principal]
    user: .+
    collection: {user}
    permissions: RW

    [calendars]
    user: .+
    collection: {user}/[^/]+
    permissions: rw

(the last two sections keep Radicale's ``owner_only`` behaviour for everyone else). On Nextcloud, each user shares
the calendar with the service account, or an admin delegates it (calendar proxy). A home the account may not reach
is an ``AuthError`` naming the mailbox; a principal that does not exist is ``NotFound`` naming it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import urlsplit

from calsync.config import Settings
from calsync.connectors.base import Connector
from calsync.connectors.registry import connector_class
from calsync.errors import AuthError, ConfigError, NotFound
from calsync.model.refs import CollectionInfo
from calsync.services.integration_rules import CalendarType
from calsync.services.integrations import Credentials, IntegrationView, open_integrations

if TYPE_CHECKING:
    from sqlalchemy import URL


class CollectionKind(StrEnum):
    """Which of a user's collections: the calendar for appointments, the task list, the address book."""

    EVENTS = "events"
    TASKS = "tasks"
    CONTACTS = "contacts"

    @property
    def component(self) -> str:
        """The iCalendar component (or vCard) a collection of this kind holds."""
        return {"events": "VEVENT", "tasks": "VTODO", "contacts": "VCARD"}[self.value]


_MADE = {
    CollectionKind.EVENTS: ("calsync-events", "Appointments"),
    CollectionKind.TASKS: ("calsync-tasks", "Tasks"),
    CollectionKind.CONTACTS: ("calsync-contacts", "Contacts"),
}
"""The name and display name of the collection made for a user who has none: a prefixed name, so it is never
taken for (or collides with) a calendar the user made."""


@dataclass(frozen=True, slots=True)
class IntegrationConnectors:
    """The connectors of one integration, one per kind; ``None`` where its server keeps no such collections.

    ``events`` is ``None`` only for a carddav integration (address books alone): giving the CardDAV connector as
    ``events`` would let a caller sync contacts as appointments. ``tasks`` may be the ``events`` connector itself
    (CalDAV keeps tasks in calendars).
    """

    events: Connector | None
    tasks: Connector | None = None
    contacts: Connector | None = None

    @property
    def primary(self) -> Connector:
        """The connector that speaks for the server (events', else contacts'), for checking the connection."""
        found = self.events or self.contacts or self.tasks
        assert found is not None, "an integration has at least one connector"
        return found

    def close(self) -> None:
        """Close every connector that holds connections, each once."""
        seen: list[Connector] = []
        for connector in (self.events, self.tasks, self.contacts):
            if connector is not None and not any(connector is s for s in seen):
                seen.append(connector)
                closer: Callable[[], None] | None = getattr(connector, "close", None)
                if closer is not None:
                    closer()


def integration_connectors(settings: Settings, integration: str) -> IntegrationConnectors:
    """The connectors of the stored integration called ``integration``, built with its decrypted credentials.

    caldav: events and tasks on one CalDAV connector, contacts on a CardDAV connector for the same server and
    account; carddav: contacts only; graph: events, To Do tasks and contacts for the integration's users'
    mailboxes; folder: events only (``url`` is the path). The caller closes them (``close()``). Nothing is read or
    written yet (an address is looked up at the first request). EWS keeps its autodiscover results in the state
    database.
    Raises ``ConfigError`` for an unknown integration.
    """
    from calsync.services.hub import state_url

    with open_integrations(settings) as service:
        view = service.get(integration)
        secrets = service.credentials(integration)
        mailboxes = [user.mailbox for user in service.users(integration)]
    return build_connectors(view, secrets, mailboxes, cache_url=state_url(settings))


def build_connectors(
    view: IntegrationView, secrets: Credentials, mailboxes: Sequence[str], *, cache_url: URL | None = None
) -> IntegrationConnectors:
    """``integration_connectors`` for an integration already read (``mailboxes``: its users', for Graph;
    ``cache_url``: the state database where EWS keeps autodiscover results, else they live in memory)."""
    kind = CalendarType(view.connection_type)
    if kind is CalendarType.FOLDER:
        return IntegrationConnectors(connector_class("folder", where="connection_type")(view.url, name=view.name))
    if kind is CalendarType.CALDAV:
        calendars = _dav("caldav", view, secrets)
        return IntegrationConnectors(calendars, calendars, _dav("carddav", view, secrets))
    if kind is CalendarType.CARDDAV:
        return IntegrationConnectors(None, None, _dav("carddav", view, secrets))
    if kind is CalendarType.GRAPH:
        return _graph(view, secrets, mailboxes)
    return _ews(view, secrets, mailboxes, cache_url)


def _dav(type_name: str, view: IntegrationView, secrets: Credentials) -> Connector:
    """A CalDAV or CardDAV connector on the integration's URL or address; TLS trusts the integration's CA bundle
    when it names one (the discovery of its home too).

    An address goes to the connector as it is: it finds the server (DNS, then the well-known URL, whose redirect
    may lead to another host) and the account's home at its first request, and names collections on that host.
    """
    password = secrets.password.reveal() if secrets.password is not None else ""
    factory = connector_class(type_name, where="connection_type")
    address = view.url or view.autodiscover
    return factory(address, name=view.name, username=view.username, password=password, ca_bundle=_ca_bundle(view))


def _ca_bundle(view: IntegrationView) -> Path | None:
    """The PEM file of CAs the integration trusts instead of the system's (a company CA), if it names one;
    ``ConfigError`` naming ``ca_bundle`` when it cannot be loaded any more (removed or replaced since saved)."""
    from calsync.services.integration_rules import loadable_ca_bundle

    return loadable_ca_bundle(view.ca_bundle) if view.ca_bundle else None


@runtime_checkable
class _SharesTransport(Protocol):
    """A connection whose task and contact connectors share its token cache and transport (Graph)."""

    def tasks(self) -> Connector: ...

    def contacts(self) -> Connector: ...


def _graph(view: IntegrationView, secrets: Credentials, mailboxes: Sequence[str]) -> IntegrationConnectors:
    """One Graph connection for calendars; To Do and contacts share its token cache and transport."""
    events = connector_class("graph", where="connection_type")(
        view.name,
        tenant_id=view.tenant_id,
        client_id=view.client_id,
        client_secret=secrets.client_secret.reveal() if secrets.client_secret is not None else "",
        certificate_pem=secrets.certificate.reveal() if secrets.certificate is not None else "",
        mailboxes=mailboxes,
    )
    if not isinstance(events, _SharesTransport):
        raise ConfigError("the graph connector offers no To Do or contacts connectors", where="connection_type")
    return IntegrationConnectors(events, events.tasks(), events.contacts())


def _ews(
    view: IntegrationView, secrets: Credentials, mailboxes: Sequence[str], cache_url: URL | None
) -> IntegrationConnectors:
    """EWS: one session for the service account; calendars, tasks and contacts of every mapped mailbox."""
    factory = connector_class("ews", where="connection_type")
    from calsync.connectors.ews.connector import EwsConnector
    from calsync.connectors.ews.settings import Access, EwsSettings, Logon

    oauth = view.auth_mode == "oauth"
    settings = EwsSettings(
        username=view.username,
        password=secrets.password.reveal() if secrets.password is not None else "",
        url=view.url,
        autodiscover_email=view.autodiscover,
        logon=Logon.OAUTH2 if oauth else Logon.BASIC,
        access=Access.DELEGATE if view.auth_mode == "delegate" else Access.IMPERSONATION,
        client_id=view.client_id,
        client_secret=secrets.client_secret.reveal() if secrets.client_secret is not None else "",
        tenant_id=view.tenant_id,
        ca_bundle=_ca_bundle(view),
    )
    from calsync.services.connector_cache import StoredAutodiscoverCache

    cache = StoredAutodiscoverCache(cache_url) if cache_url is not None else None
    events = factory(view.name, settings=settings, mailboxes=mailboxes, cache=cache)
    assert isinstance(events, EwsConnector)
    return IntegrationConnectors(events, events.tasks(), events.contacts())


# -- one user's collections --------------------------------------------------------------------------------------


@runtime_checkable
class _DavHomes(Protocol):
    """A DAV store that reaches other users' homes (``DavStore.user_collections``)."""

    name: str

    def user_collections(self, principal: str) -> tuple[str, list[CollectionInfo]]: ...


@runtime_checkable
class _PerMailbox(Protocol):
    """A connector built for a list of mailboxes whose default collection is named by the mailbox (Graph)."""

    name: str
    mailboxes: tuple[str, ...]

    def discover(self) -> list[CollectionInfo]: ...


def user_collection(connector: Connector, mailbox: str, kind: CollectionKind, *, last: Iterable[str] = ()) -> str:
    """The collection id of ``mailbox``'s default collection of ``kind`` on ``connector``.

    Found by discovery; made when none exists and the protocol allows it (CalDAV MKCALENDAR, CardDAV extended
    MKCOL), so a second call finds the one the first call made. Idempotent. ``last``: the collections the user's
    pair synced, latest first, the first of them kept that discovery still finds fit (``choose_collection``;
    iterated only as far as needed, and again by a dry run's ``made_collection``). Raises ``NotFound`` when
    the mailbox or principal does not exist, ``AuthError`` when the account may not reach it, ``ConfigError`` when
    the connector keeps no collections of ``kind``; each names the mailbox.
    """
    found = _user_collection(connector, mailbox, kind, create=True, last=last)
    assert found is not None  # made when missing
    return found


def existing_user_collection(
    connector: Connector, mailbox: str, kind: CollectionKind, *, last: Iterable[str] = ()
) -> str | None:
    """``user_collection`` without making one: ``None`` when the user has none yet.

    Why: a lookup must not write. Asking a technician's presence must not give them a calendar. Given the same
    ``last``, it names the collection a sync would use, so a dry run and presence read the one the sync writes.
    """
    return _user_collection(connector, mailbox, kind, create=False, last=last)


def made_collection(connector: Connector, mailbox: str, kind: CollectionKind, *, last: Iterable[str] = ()) -> str:
    """The id of the collection a sync would make for ``mailbox`` (writing nothing), a dry run's stand-in: calsync's
    own in the user's DAV home (as the first of ``last`` naming it spells it, so the binding is the one a sync
    would make), else the mailbox."""
    if not isinstance(connector, _DavHomes):
        return mailbox
    path = connector.user_collections(mailbox)[0].rstrip("/") + "/" + _MADE[kind][0]  # the home may be a URL
    own = urlsplit(path).path
    return next((synced for synced in last if urlsplit(synced).path.rstrip("/") == own), path)


def _user_collection(
    connector: Connector, mailbox: str, kind: CollectionKind, *, create: bool, last: Iterable[str]
) -> str | None:
    try:
        if isinstance(connector, _DavHomes):
            return _dav_collection(connector, mailbox, kind, create=create, last=last)
        if isinstance(connector, _PerMailbox):
            return _mailbox_collection(connector, mailbox, kind)
        return _named_collection(connector, mailbox, kind, create=create)
    except (NotFound, AuthError) as exc:
        if str(exc).startswith(f"{mailbox}:"):
            raise
        raise type(exc)(f"{mailbox}: {exc}", connector=exc.connector, href=exc.href) from exc


def _dav_collection(
    connector: _DavHomes, mailbox: str, kind: CollectionKind, *, create: bool, last: Iterable[str]
) -> str | None:
    """The collection ``choose_collection`` picks among the user's; else the one calsync makes."""
    made = _maker(connector, kind, mailbox)
    home, found = connector.user_collections(mailbox)
    chosen = choose_collection(found, kind, last)
    if chosen is not None or not create:
        return chosen
    name, display = _MADE[kind]
    path = home.rstrip("/") + "/" + name  # the whole URL: the home may be on another host than the connector's URL
    made(path, display)
    chosen = choose_collection(connector.user_collections(mailbox)[1], kind)
    if chosen is None:
        raise NotFound(f"{mailbox}: {path} was made but does not hold {kind.component}", connector=connector.name)
    return chosen


def choose_collection(found: Sequence[CollectionInfo], kind: CollectionKind, last: Iterable[str] = ()) -> str | None:
    """The collection of a DAV user's (``found`` by discovery) that calsync syncs ``kind`` with: the first of
    ``last`` that is listed and fit (writable, holding ``kind``); else the best fit one: calsync's own, then one
    holding nothing else, then (events only) a calendar holding tasks too (a task list holds only VTODO: a mixed
    calendar is the events' already); ties by id, so every call picks the same.

    ``last``: the collections the user's pair synced, latest first: the one its state is bound to, then those
    whose links it keeps shelved (``hub_binding.SyncedCalendars``), read only as far as needed. Why first: the
    ranking picks anew each run, so a calendar the user adds later that ranks higher (an events-only one beside
    the mixed one synced so far, or one whose id sorts first) would take over, and the pair would create every
    item there again while the copies in the old one stay: each appointment twice. Why all of them: the one it is
    bound to may be in another home (the user moved to another mailbox and back) or on another server (the
    integration re-pointed and back), while one it synced here before still is, with its copies. Paths are
    case-sensitive, so only a trailing slash may differ; the one kept is returned as ``last`` spells it, so the
    pair's binding, which names it, stays the same (the connector names a collection one way either way).
    """
    fit = [info for info in found if _fit(info, kind)]
    listed = {info.id.rstrip("/") for info in fit}
    kept = next((synced for synced in last if synced and synced.rstrip("/") in listed), None)
    if kept is not None:
        return kept
    mine = _MADE[kind][0]
    ranked = [(not info.id.rstrip("/").endswith("/" + mine), bool(_others(info, kind)), info.id) for info in fit]
    return min(ranked)[2] if ranked else None


def _fit(info: CollectionInfo, kind: CollectionKind) -> bool:
    """Whether calsync may sync ``kind`` into ``info``: writable and holding that kind (a task list nothing else)."""
    holds = kind.component in info.components and info.writable
    return holds and not (_others(info, kind) and kind is CollectionKind.TASKS)


def _others(info: CollectionInfo, kind: CollectionKind) -> frozenset[str]:
    return info.components - {kind.component, "VJOURNAL"}


def _maker(connector: _DavHomes, kind: CollectionKind, mailbox: str) -> Callable[[str, str], None]:
    """How to make a collection of ``kind`` on this DAV store; ``ConfigError`` when it keeps none of that kind."""
    if kind is CollectionKind.CONTACTS:
        make_book: Callable[[str, str], None] | None = getattr(connector, "create_addressbook", None)
        if make_book is not None:
            return make_book
    else:
        make_calendar: Callable[..., None] | None = getattr(connector, "create_calendar", None)
        if make_calendar is not None:
            calendar = make_calendar
            return lambda path, display: calendar(path, display, components=(kind.component,))
    raise ConfigError(f"{mailbox}: {connector.name} keeps no {kind} collections", where="users.mailbox")


def _mailbox_collection(connector: _PerMailbox, mailbox: str, kind: CollectionKind) -> str:
    """The mailbox's default collection, named by the mailbox (Graph's default calendar, To Do list, Contacts).

    Why a shallow copy: ``discover()`` walks every mailbox the connector was built for, so asking for one user's
    would cost one request per user of the integration; the copy shares the token cache and connection pool and
    walks only ``mailbox``.
    """
    known = {m.lower(): m for m in connector.mailboxes}
    if mailbox.lower() not in known:
        raise ConfigError(f"{mailbox} is not a mailbox {connector.name} was built for", where="users.mailbox")
    scoped = copy.copy(connector)
    scoped.mailboxes = (known[mailbox.lower()],)
    found = scoped.discover()
    default = next((c for c in found if c.id.lower() == mailbox.lower()), None)
    if default is None:
        raise NotFound(f"{mailbox}: no default {kind} collection", connector=connector.name)
    if kind.component not in default.components:
        raise ConfigError(f"{mailbox}: {connector.name} keeps no {kind} collections here", where="users.mailbox")
    return default.id


def _named_collection(connector: Connector, mailbox: str, kind: CollectionKind, *, create: bool) -> str | None:
    """A collection named after the mailbox (folder, memory), made when missing."""
    if any(info.id == mailbox for info in connector.discover()):
        return mailbox
    if not mailbox or mailbox.startswith(".") or "/" in mailbox or "\\" in mailbox:
        raise ConfigError(f"{mailbox!r} cannot name a collection of {connector.name}", where="users.mailbox")
    if not create:
        return None
    make: Callable[[str], None] | None = getattr(connector, "make_collection", None)
    root: Path | None = getattr(connector, "root", None)
    if make is not None:
        make(mailbox)
    elif isinstance(root, Path):
        (root / mailbox).mkdir(exist_ok=True)
    else:
        raise NotFound(f"{mailbox}: no {kind} collection on {connector.name}", connector=connector.name)
    return mailbox
