"""Finding the home and the collections of an account (RFC 6764, RFC 5397, RFC 4791 section 6, RFC 6352 section 7).

From a base URL: ``/.well-known/caldav`` (or ``carddav``) redirects to the context path; its
``DAV:current-user-principal`` names the principal; the principal's ``calendar-home-set`` (or
``addressbook-home-set``) names the home; a Depth 1 PROPFIND of the home lists the collections.

From an e-mail address or a bare domain (RFC 6764 sections 3 to 6): the DNS SRV record ``_caldavs._tcp.<domain>``
names the host and port, a TXT record of the same name may give the context ``path=``; without a path the
host's ``/.well-known/caldav`` is the start. Only the TLS service (``_caldavs``, ``_carddavs``) is used by
default: a domain that publishes only the plain-text ``_caldav._tcp`` is refused unless plain text is allowed,
since the service account's password would cross the network unencrypted. A domain with no SRV record starts at
``https://<domain>/.well-known/...``. DNS is asked through dnspython (its default resolver unless one is given).

Other users' homes: a service account reaches a user's principal by name (``bob``), path or URL; a name takes the
place of the last path segment of the account's own principal (see ``principal_url``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import quote, urljoin, urlsplit

import httpx

from calsync.connectors.dav import xml
from calsync.errors import ConfigError, NotFound
from calsync.model.refs import CollectionInfo

if TYPE_CHECKING:
    import dns.resolver

logger = logging.getLogger(__name__)

Send = Callable[[str, str, bytes | None, str | None], httpx.Response]
"""(method, url, body, depth) -> response, errors already raised for non-2xx except 3xx/404."""

_PRINCIPAL_PROPS = ("d:current-user-principal", "d:resourcetype", "c:calendar-home-set", "r:addressbook-home-set")
_LIST_PROPS = (
    "d:resourcetype",
    "d:displayname",
    "i:calendar-color",
    "c:supported-calendar-component-set",
    "d:current-user-privilege-set",
)


@dataclass(frozen=True, slots=True)
class HomeKind:
    """What a home holds: the home-set property, the collection resource type and the well-known name."""

    home_set: str
    resource: str
    well_known: str
    default_components: frozenset[str]


CALENDARS = HomeKind(f"{{{xml.CALDAV}}}calendar-home-set", f"{{{xml.CALDAV}}}calendar", "caldav", frozenset())
ADDRESSBOOKS = HomeKind(
    f"{{{xml.CARDDAV}}}addressbook-home-set", f"{{{xml.CARDDAV}}}addressbook", "carddav", frozenset({"VCARD"})
)


def kind_for(report: str) -> HomeKind:
    """The home kind of a store flavour: ``"calendar"`` (CalDAV) or ``"address"`` (CardDAV)."""
    return CALENDARS if report == "calendar" else ADDRESSBOOKS


def start_url(base: str, kind: HomeKind) -> str:
    """Where discovery starts: a URL as given, or for an e-mail address or domain the URL DNS names
    (``service_url``).

    A well-known URL keeps its exact path (RFC 6764 section 5 has no trailing slash): servers behind an exact
    ``location = /.well-known/caldav`` rule (the documented nginx setup of Nextcloud) answer 404 to the slashed one.
    """
    if "://" not in base:
        return service_url(base, kind)
    if urlsplit(base).path.rstrip("/").startswith("/.well-known/"):
        return base.rstrip("/")
    return base if base.endswith("/") else base + "/"


def find_home(send: Send, base: str, kind: HomeKind) -> str:
    """The home URL: the home-set of ``base`` itself, else of its current user principal (following the
    well-known redirect when ``base`` is a server root). Raises ``NotFound`` when neither names one."""
    url = start_url(base, kind)
    for _ in range(3):
        url, found = _propfind_followed(send, url, kind)
        if found is None:
            break
        home = _href(found, kind.home_set)
        if home is not None:
            return urljoin(url, home)
        principal = _href(found, f"{{{xml.DAV}}}current-user-principal")
        if principal is None or urljoin(url, principal) == url:
            return url  # no principal to follow: the URL given is the home
        url = urljoin(url, principal)
    raise NotFound(f"no {kind.well_known} home found from {_where(url)}")


def find_principal(send: Send, base: str, kind: HomeKind) -> str:
    """The URL of the account's own principal (``DAV:current-user-principal``, RFC 5397), reached from ``base``
    as ``find_home`` does. Raises ``NotFound`` when the server names none."""
    url, found = _propfind_followed(send, start_url(base, kind), kind)
    principal = None if found is None else _href(found, f"{{{xml.DAV}}}current-user-principal")
    if principal is None:
        raise NotFound(f"the server names no principal for the account at {_where(url)}")
    return urljoin(url, principal)


def principal_url(own_principal: str, principal: str) -> str:
    """The URL of another user's principal: ``principal`` as a URL or absolute path, or a name put in place of
    the last segment of the account's own principal (``/dav/principals/calsync/`` -> ``/dav/principals/bob/``).

    Why the sibling: servers keep every user's principal in one collection (Radicale ``/<user>/``, Nextcloud
    ``/remote.php/dav/principals/users/<user>/``, SOGo ``/SOGo/dav/<user>/``), so a name is enough for an admin
    to type. Raises ``ConfigError`` for a name that cannot be a path segment.
    """
    if "://" in principal or principal.startswith("/"):
        return urljoin(own_principal, principal if principal.endswith("/") else principal + "/")
    name = principal.strip()
    if not name or "/" in name or name in (".", ".."):
        raise ConfigError(f"{principal!r} is not a principal name or path", where="users.mailbox")
    parent = urljoin(own_principal, "..") if own_principal.endswith("/") else urljoin(own_principal, ".")
    return urljoin(parent, quote(name, safe="@") + "/")


def user_home(send: Send, base: str, principal: str, kind: HomeKind) -> tuple[str, list[CollectionInfo]]:
    """Another user's home, reached from the account at ``base`` (``principal_url``), and its collections of
    ``kind`` with absolute-path ids (the home is not the connector's URL)."""
    home = principal_home(send, principal_url(find_principal(send, base, kind), principal), kind)
    base_path = urlsplit(home).path
    found = list_collections(send, home, kind)
    return home, [replace(info, id=base_path + info.id) if not info.id.startswith("/") else info for info in found]


def principal_home(send: Send, principal: str, kind: HomeKind) -> str:
    """The home named by ``principal``'s home-set (RFC 4791 section 6.2.1, RFC 6352 section 7.1.1).

    Raises ``NotFound`` when the principal does not exist or names no home, and whatever ``send`` raises for a
    refusal (``AuthError`` for 401/403).
    """
    response = send("PROPFIND", principal, xml.propfind(_PRINCIPAL_PROPS), "0")
    if response.status_code == 404 or response.is_redirect:
        raise NotFound(f"no principal at {_where(principal)}")
    found = xml.parse_multistatus(response.content).responses
    home = _href(found[0], kind.home_set) if found else None
    if home is None:
        raise NotFound(f"the principal {_where(principal)} names no {kind.well_known} home")
    return urljoin(principal, home)


def _propfind_followed(send: Send, url: str, kind: HomeKind) -> tuple[str, xml.DavResponse | None]:
    """PROPFIND ``url`` for the principal and home-set, following up to three redirects (a well-known URL, or a
    server root answering 404). Returns the URL answered and its first response (``None``: nothing there)."""
    for _ in range(3):
        response = send("PROPFIND", url, xml.propfind(_PRINCIPAL_PROPS), "0")
        if response.is_redirect and "location" in response.headers:
            url = urljoin(url, response.headers["location"])
            continue
        if response.status_code == 404 and urlsplit(url).path in ("", "/"):
            url = urljoin(url, f"/.well-known/{kind.well_known}")
            continue
        found = xml.parse_multistatus(response.content).responses
        return url, found[0] if found else None
    return url, None


def _where(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc + parts.path


def list_collections(send: Send, home: str, kind: HomeKind) -> list[CollectionInfo]:
    """The collections of ``kind`` in ``home`` with name, colour, components and writability (RFC 3744 5.4)."""
    response = send("PROPFIND", home, xml.propfind(_LIST_PROPS), "1")
    home_path = urlsplit(home).path
    found = []
    for item in xml.parse_multistatus(response.content).responses:
        kinds = item.props.get(f"{{{xml.DAV}}}resourcetype")
        if kinds is None or kinds.find(kind.resource) is None:
            continue
        path = xml.path_of(item.href)
        # a name under the home is decoded (collection_url encodes it); a path elsewhere stays as the server
        # wrote it, since decoding it would make a literal "%41" in a name read as an escape ("A")
        ident = path[len(home_path) :].strip("/") if path.startswith(home_path) else _raw_path(item.href)
        found.append(
            CollectionInfo(
                id=ident,
                display_name=item.text(f"{{{xml.DAV}}}displayname") or ident,
                color=item.text(f"{{{xml.ICAL}}}calendar-color") or "",
                components=_components(item) or kind.default_components or frozenset({"VEVENT", "VTODO"}),
                writable=_writable(item),
            )
        )
    return found


def _href(item: xml.DavResponse, prop: str) -> str | None:
    element = item.props.get(prop)
    if element is None:
        return None
    href = element.find(f"{{{xml.DAV}}}href")
    return None if href is None or not href.text else href.text.strip()


def _components(item: xml.DavResponse) -> frozenset[str]:
    element = item.props.get(f"{{{xml.CALDAV}}}supported-calendar-component-set")
    if element is None:
        return frozenset()
    return frozenset(c.get("name", "") for c in element.iterfind(f"{{{xml.CALDAV}}}comp") if c.get("name"))


def _writable(item: xml.DavResponse) -> bool:
    """Whether the privilege set grants writing content; a server that does not say is taken as writable."""
    element = item.props.get(f"{{{xml.DAV}}}current-user-privilege-set")
    if element is None:
        return True
    names = {p.tag for priv in element.iterfind(f"{{{xml.DAV}}}privilege") for p in priv}
    writes = {f"{{{xml.DAV}}}{n}" for n in ("all", "write", "write-content", "bind")}
    return bool(names & writes)


# -- DNS: RFC 6764 sections 3 and 4 ----------------------------------------------------------------------------


def service_url(address: str, kind: HomeKind, resolver: dns.resolver.Resolver | None = None) -> str:
    """The URL where discovery starts for an e-mail address or a bare domain (RFC 6764): see
    ``calsync.connectors.dav.srv``, imported only here because dnspython costs a connector's start-up 40 ms."""
    from calsync.connectors.dav import srv

    return srv.service_url(address, kind, resolver)


def _raw_path(href: str) -> str:
    """The path of an href as the server encoded it (an href may be a full URL)."""
    return urlsplit(href).path if "://" in href else href
