"""WebDAV, CalDAV and CardDAV request bodies and response parsers: pure functions, no I/O.

Why pure: every body is tested without a server, and every parser is fed the exact bytes real servers sent.
Bodies are built by string templates (the elements are fixed; only hrefs, tokens and times are inserted, escaped)
because that is several times faster than building an ElementTree for a 1,000-href multiget.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CARDDAV = "urn:ietf:params:xml:ns:carddav"
CS = "http://calendarserver.org/ns/"
ICAL = "http://apple.com/ns/ical/"

_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n'
_NS = f'xmlns:d="{DAV}" xmlns:c="{CALDAV}" xmlns:r="{CARDDAV}" xmlns:cs="{CS}" xmlns:i="{ICAL}"'


def escape(text: str) -> str:
    """``text`` safe inside XML character data and double-quoted attributes (``xml.sax.saxutils.escape``
    would import ``urllib.request``, a sixth of a connector's start-up)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


class ProtocolViolation(ValueError):
    """A response body is not the multistatus the request calls for (RFC 4918 section 13)."""


@dataclass(frozen=True, slots=True)
class DavResponse:
    """One ``DAV:response`` of a multistatus: its href, status and the properties found (by Clark name).

    ``props`` maps ``{namespace}name`` to the property element; ``status`` is the response-level status (a
    removed member in sync-collection, a missing href in a multiget) or the 200 propstat's.
    """

    href: str
    status: int
    props: dict[str, ET.Element] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        """The text of property ``name`` (``None`` when absent)."""
        element = self.props.get(name)
        return None if element is None else (element.text or "")


@dataclass(frozen=True, slots=True)
class Multistatus:
    """A parsed multistatus: its responses and, for sync-collection, the new sync token."""

    responses: list[DavResponse]
    sync_token: str | None = None


def propfind(props: Iterable[str]) -> bytes:
    """A PROPFIND body asking for ``props`` (prefixed names such as ``d:getetag``). RFC 4918 section 9.1."""
    inner = "".join(f"<{p}/>" for p in props)
    return f"{_HEAD}<d:propfind {_NS}><d:prop>{inner}</d:prop></d:propfind>".encode()


def sync_collection(token: str | None, props: Iterable[str] = ("d:getetag",)) -> bytes:
    """A sync-collection REPORT body from ``token`` (``None``: the initial sync). RFC 6578 section 3.2."""
    token_xml = f"<d:sync-token>{escape(token)}</d:sync-token>" if token else "<d:sync-token/>"
    inner = "".join(f"<{p}/>" for p in props)
    return (
        f"{_HEAD}<d:sync-collection {_NS}>{token_xml}<d:sync-level>1</d:sync-level>"
        f"<d:prop>{inner}</d:prop></d:sync-collection>"
    ).encode()


def calendar_query(component: str, start: datetime, end: datetime) -> bytes:
    """A calendar-query REPORT for etags of ``component`` items overlapping ``[start, end)``.

    RFC 4791 section 7.8 and 9.9: the server matches a recurring series when any instance overlaps the range,
    even one whose DTSTART is before it, so the window's series are found without expanding them here.
    """
    rng = f'start="{_utc(start)}" end="{_utc(end)}"'
    return (
        f'{_HEAD}<c:calendar-query {_NS}><d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR">'
        f'<c:comp-filter name="{escape(component)}"><c:time-range {rng}/></c:comp-filter></c:comp-filter>'
        "</c:filter></c:calendar-query>"
    ).encode()


def uid_query(report: str, uid: str, component: str = "") -> bytes:
    """A query for the etag and data of the items whose UID contains ``uid``, octet by octet: a calendar-query of
    ``component`` (RFC 4791 section 9.7.5) or an addressbook-query (RFC 6352 section 10.5.4).

    Why contains, and why the data: a CalDAV text-match is a substring match (RFC 4791 has no ``match-type``), so
    the caller tells the items from their data anyway; asking a CardDAV server for ``equals`` as well would miss
    a UID stored with spaces around it, which ``Content.ident`` strips.
    """
    match = f'<{{p}}:text-match collation="i;octet">{escape(uid)}</{{p}}:text-match>'
    if report == "calendar":
        uid_filter = f'<c:prop-filter name="UID">{match.format(p="c")}</c:prop-filter>'
        inner = f'<c:comp-filter name="VCALENDAR"><c:comp-filter name="{escape(component)}">{uid_filter}'
        body = f"<c:calendar-query {_NS}><d:prop><d:getetag/><c:calendar-data/></d:prop><c:filter>{inner}"
        return f"{_HEAD}{body}</c:comp-filter></c:comp-filter></c:filter></c:calendar-query>".encode()
    uid_filter = f'<r:prop-filter name="UID">{match.format(p="r")}</r:prop-filter>'
    body = f"<r:addressbook-query {_NS}><d:prop><d:getetag/><r:address-data/></d:prop><r:filter>{uid_filter}"
    return f"{_HEAD}{body}</r:filter></r:addressbook-query>".encode()


def multiget(report: str, hrefs: Iterable[str], *, data: bool = True) -> bytes:
    """A calendar-multiget (RFC 4791 section 7.9) or addressbook-multiget (RFC 6352 section 8.7) body.

    ``report`` is ``"calendar"`` or ``"address"``; ``hrefs`` are absolute paths, already percent-encoded;
    ``data=False`` asks for the etags alone.
    """
    prefix, prop = ("c", "calendar-data") if report == "calendar" else ("r", "address-data")
    body = "".join(f"<d:href>{escape(h)}</d:href>" for h in hrefs)
    element = f"{prefix}:{'calendar' if report == 'calendar' else 'addressbook'}-multiget"
    wanted = f"<d:getetag/><{prefix}:{prop}/>" if data else "<d:getetag/>"
    return (f"{_HEAD}<{element} {_NS}><d:prop>{wanted}</d:prop>{body}</{element}>").encode()


def mkcalendar(display_name: str, color: str = "", components: Iterable[str] = ("VEVENT", "VTODO")) -> bytes:
    """A MKCALENDAR body setting the name, colour and supported components. RFC 4791 section 5.3.1."""
    comps = "".join(f'<c:comp name="{escape(c)}"/>' for c in components)
    return (
        f"{_HEAD}<c:mkcalendar {_NS}><d:set><d:prop>{_name_color(display_name, color)}"
        f"<c:supported-calendar-component-set>{comps}</c:supported-calendar-component-set>"
        "</d:prop></d:set></c:mkcalendar>"
    ).encode()


def mkcol_addressbook(display_name: str, color: str = "") -> bytes:
    """An extended MKCOL body making an address book. RFC 5689 section 3, RFC 6352 section 6.3.1."""
    return (
        f"{_HEAD}<d:mkcol {_NS}><d:set><d:prop><d:resourcetype><d:collection/><r:addressbook/>"
        f"</d:resourcetype>{_name_color(display_name, color)}</d:prop></d:set></d:mkcol>"
    ).encode()


def parse_multistatus(body: bytes) -> Multistatus:
    """The responses of a 207 body; raises ``ProtocolViolation`` when it is not a DAV multistatus."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ProtocolViolation(f"the multistatus is not well-formed XML: {exc}") from exc
    if root.tag != f"{{{DAV}}}multistatus":
        raise ProtocolViolation(f"expected a DAV:multistatus, got {root.tag}")
    responses = [_response(r) for r in root.iterfind(f"{{{DAV}}}response")]
    token = root.find(f"{{{DAV}}}sync-token")
    return Multistatus(responses, None if token is None else (token.text or "").strip() or None)


def error_conditions(body: bytes) -> set[str]:
    """The precondition names in a ``DAV:error`` body (Clark names), e.g. ``{DAV:}valid-sync-token``."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return set()
    return {child.tag for child in root} if root.tag == f"{{{DAV}}}error" else set()


def error_href(body: bytes, condition: str) -> str | None:
    """The ``DAV:href`` inside precondition ``condition`` (CalDAV ``no-uid-conflict`` names the other item)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    found = root.find(f"{condition}/{{{DAV}}}href")
    return None if found is None or not found.text else found.text.strip()


def path_of(href: str) -> str:
    """The decoded path of an href that may be absolute (``https://host/path``) or a path already."""
    return unquote(urlsplit(href).path) if "://" in href else unquote(href)


def _response(element: ET.Element) -> DavResponse:
    href_el = element.find(f"{{{DAV}}}href")
    if href_el is None or not href_el.text:
        raise ProtocolViolation("a DAV:response without an href")
    status_el = element.find(f"{{{DAV}}}status")
    props: dict[str, ET.Element] = {}
    codes: list[int] = []
    for propstat in element.iterfind(f"{{{DAV}}}propstat"):
        code = _status(propstat.findtext(f"{{{DAV}}}status", ""))
        codes.append(code)
        if code == 200:
            for prop in propstat.iterfind(f"{{{DAV}}}prop"):
                props.update((child.tag, child) for child in prop)
    ok = 200 in codes or not codes
    status = _status(status_el.text) if status_el is not None else (200 if ok else codes[0])
    return DavResponse(href_el.text.strip(), status, props)


def _status(line: str | None) -> int:
    """The code of an HTTP status line such as ``HTTP/1.1 404 Not Found``."""
    parts = (line or "").split()
    if len(parts) < 2 or not parts[1].isdigit():
        raise ProtocolViolation(f"not an HTTP status line: {line!r}")
    return int(parts[1])


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _name_color(display_name: str, color: str) -> str:
    name = f"<d:displayname>{escape(display_name)}</d:displayname>" if display_name else ""
    return name + (f"<i:calendar-color>{escape(color)}</i:calendar-color>" if color else "")
