"""Finding the home and the collections of an account (RFC 6764, RFC 5397, RFC 4791 section 6, RFC 6352 section 7).

From a base URL: ``/.well-known/caldav`` (or ``carddav``) redirects to the context path; its
``DAV:current-user-principal`` names the principal; the principal's ``calendar-home-set`` (or
``addressbook-home-set``) names the home; a Depth 1 PROPFIND of the home lists the collections. From an e-mail
address only the domain is known: ``https://<domain>/.well-known/...`` is tried (RFC 6764 section 5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from calsync.connectors.dav import xml
from calsync.errors import NotFound
from calsync.model.refs import CollectionInfo

Send = Callable[[str, str, bytes | None, str | None], httpx.Response]
"""(method, url, body, depth) -> response, errors already raised for non-2xx except 3xx/404."""

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


def start_url(base: str, kind: HomeKind) -> str:
    """Where discovery starts: a URL as given, or ``https://<domain>/.well-known/<kind>`` for an e-mail address.

    A well-known URL keeps its exact path (RFC 6764 section 5 has no trailing slash): servers behind an exact
    ``location = /.well-known/caldav`` rule (the documented nginx setup of Nextcloud) answer 404 to the slashed one.
    """
    if "://" not in base:
        domain = base.rpartition("@")[2].rstrip("/")
        return f"https://{domain}/.well-known/{kind.well_known}"
    if urlsplit(base).path.rstrip("/").startswith("/.well-known/"):
        return base.rstrip("/")
    return base if base.endswith("/") else base + "/"


def find_home(send: Send, base: str, kind: HomeKind) -> str:
    """The home URL: the home-set of ``base`` itself, else of its current user principal (following the
    well-known redirect when ``base`` is a server root). Raises ``NotFound`` when neither names one."""
    url = start_url(base, kind)
    props = ["d:current-user-principal", "d:resourcetype", "c:calendar-home-set", "r:addressbook-home-set"]
    for _ in range(3):
        response = send("PROPFIND", url, xml.propfind(props), "0")
        if response.is_redirect and "location" in response.headers:
            url = urljoin(url, response.headers["location"])
            continue
        if response.status_code == 404 and urlsplit(url).path in ("", "/"):
            url = urljoin(url, f"/.well-known/{kind.well_known}")
            continue
        found = xml.parse_multistatus(response.content).responses
        if not found:
            break
        home = _href(found[0], kind.home_set)
        if home is not None:
            return urljoin(url, home)
        principal = _href(found[0], f"{{{xml.DAV}}}current-user-principal")
        if principal is None or urljoin(url, principal) == url:
            return url  # no principal to follow: the URL given is the home
        url = urljoin(url, principal)
    raise NotFound(f"no {kind.well_known} home found from {urlsplit(url).netloc}{urlsplit(url).path}")


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
        ident = path[len(home_path) :].strip("/") if path.startswith(home_path) else path
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
