"""Where a CalDAV or CardDAV connector's collections are and how its requests reach them.

The addresses (a collection is a name under the home, or an absolute path or URL as the server encodes it),
discovery of homes and collections (``discovery``), and ``_send``, through
which every request goes and which learns the server's quirks from its first answer. ``store.DavStore`` builds
the item operations on this.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

import httpx

from calsync.connectors.base import Capabilities
from calsync.connectors.dav import xml
from calsync.connectors.dav.discovery import HomeKind, find_home, kind_for, list_collections, user_home
from calsync.connectors.dav.quirks import Quirks, quirks_for
from calsync.connectors.dav.transport import AuthScheme, DavTransport, TransportSettings, raise_for_status
from calsync.connectors.dav.transport import translate_errors as _translate
from calsync.errors import ProtocolError
from calsync.model.refs import CollectionInfo

_PATH_SAFE = "/%@:+!$&'()*,;="
"""What stays as it is when a collection path is encoded: the separators, escapes and sub-delimiters a path may
hold (RFC 3986 section 3.3)."""


@dataclass(frozen=True, slots=True)
class Flavor:
    """What differs between CalDAV and CardDAV collections, as data.

    ``queries_window``: ``list(window)`` asks the server for the window (a calendar-query), where the server's
    quirks allow it; an address book's listing is whole anyway (contacts have no time), so it always honours one.
    """

    media_type: str
    extension: str
    report: str
    data_prop: str
    uid_conflict: str
    queries_window: bool = False
    components: tuple[str, ...] = ()
    """The components a query by UID looks in (none: the query names no component)."""


class DavCollections:
    """A server's collections under one home URL: how each is addressed, how they are found, and the transport
    every request goes through (``DavStore`` reads and writes their items)."""

    flavor: Flavor
    quirks: Quirks

    default_name = "dav"

    def __init__(
        self,
        url: str,
        *,
        name: str = "",
        username: str = "",
        password: str = "",
        auth: AuthScheme | str = AuthScheme.BASIC,
        verify_tls: bool = True,
        ca_bundle: Path | None = None,
        client_cert: Path | None = None,
        client_key: Path | None = None,
        proxy: str | None = None,
        timeout: float = 30.0,
        read_only: bool = False,
        server: str = "",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        name = name or self.default_name
        settings = TransportSettings(
            username=username,
            password=password,
            auth=AuthScheme(auth),
            verify_tls=verify_tls,
            ca_bundle=ca_bundle,
            client_cert=client_cert,
            client_key=client_key,
            proxy=proxy,
            timeout=timeout,
        )
        self.name = name
        self.given_url = url
        self._home: str | None = (url if url.endswith("/") else url + "/") if "://" in url else None
        self.http = DavTransport(settings, connector=name, transport=transport, trusted=url if "://" in url else "")
        self._server_named = bool(server)
        self.capabilities = Capabilities(
            has_sync_token=True, read_only=read_only, formats=frozenset({self.flavor.media_type})
        )
        self._use(quirks_for(server))

    # -- addresses ----------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The URL collections are named under: the one given, or, for an e-mail address or a domain, the
        account's home, found (DNS, well-known URL, principal) the first time it is needed."""
        if self._home is None:
            self._home = self.home()
        return self._home

    def collection_url(self, collection: str) -> str:
        """The URL of ``collection``: a name under the home, or an absolute path or URL as given.

        The path is percent-encoded where it is not yet (ids found by discovery are decoded paths: a space or an
        ``ü`` in them is encoded here, an escape already there is kept), so every request names it one way.
        """
        target = collection if collection.startswith(("/", "http://", "https://")) else quote(collection, safe="@")
        parts = urlsplit(urljoin(self.url, target.rstrip("/") + "/"))
        return urlunsplit(parts._replace(path=quote(parts.path, safe=_PATH_SAFE)))

    def item_url(self, collection: str, href: str) -> str:
        """The URL of the item named ``href`` in ``collection`` (an absolute path is taken as it is)."""
        if href.startswith("/"):
            return urljoin(self.collection_url(collection), quote(href, safe="/@+"))
        return self.collection_url(collection) + quote(href, safe="@+")

    def _name(self, collection_path: str, href: str) -> str:
        """The item name of a server href; an href outside the collection is kept as its full path.

        Both paths are compared decoded: a server may encode a collection named ``my cal`` or ``Küche`` (or
        ``a+b``) otherwise than we did, and the href it returns is decoded by ``xml.path_of``.
        """
        path, base = xml.path_of(href), unquote(collection_path)
        return path[len(base) :] if path.startswith(base) else path

    def close(self) -> None:
        """Close the pooled connections."""
        self.http.close()

    # -- collections --------------------------------------------------------------------------------------------

    def collections(self, kind: HomeKind) -> list[CollectionInfo]:
        """The collections of ``kind`` in the home found from the URL; ids are relative to the URL when the
        home is the URL itself (decoded names, as ``collection_url`` resolves them), absolute paths as the server
        encodes them otherwise."""
        with _translate(self.name, self.given_url):
            home = find_home(self._discovery_send, self.given_url, kind)
            found = list_collections(self._discovery_send, home, kind)
        if self._home is None and kind == kind_for(self.flavor.report):
            self._home = home  # found from an address: the home it names collections under
        if home == self.url:
            return found
        base = urlsplit(home).path  # a path elsewhere is named encoded: decoded, a literal "%41" would read as "A"
        return [
            replace(info, id=base + quote(info.id, safe="@+")) if not info.id.startswith("/") else info
            for info in found
        ]

    def home(self) -> str:
        """The account's own home URL, found from the configured URL or address."""
        with _translate(self.name, self.given_url):
            return find_home(self._discovery_send, self.given_url, kind_for(self.flavor.report))

    def user_collections(self, principal: str) -> tuple[str, list[CollectionInfo]]:
        """Another user's home and its collections, the user named by ``principal`` as
        ``discovery.principal_url`` reads it; ``NotFound``/``AuthError`` when it is missing or refused.

        Ids are absolute paths, or whole URLs when the home is on another server than ``url`` (a well-known URL
        may redirect to another host): ``collection_url`` must name them on the server that holds them. Such a
        server does not get the credentials (``dav.transport``): one that asks for them is an ``AuthError``.
        """
        with _translate(self.name, self.given_url):
            home, found = user_home(self._discovery_send, self.given_url, principal, kind_for(self.flavor.report))
            if _origin(home) != _origin(self.url):
                found = [replace(info, id=urljoin(home, info.id)) for info in found]
        return home, found

    def _discovery_send(self, method: str, url: str, body: bytes | None, depth: str | None) -> httpx.Response:
        response = self._send(method, url, body, depth=depth)
        if not response.is_redirect and response.status_code != 404:
            raise_for_status(response, self.name)
        return response

    # -- internals ----------------------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        *,
        depth: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if depth is not None:
            sent["Depth"] = depth
        response = self.http.request(method, url, body=body, headers=sent)
        if not self._server_named:
            self._use(quirks_for("", response.headers))
            self._server_named = True
        return response

    def _use(self, quirks: Quirks) -> None:
        """Take ``quirks`` as the server's, with the capabilities that follow from them."""
        self.quirks = quirks
        self.capabilities = replace(
            self.capabilities,
            max_batch=quirks.max_batch,
            filters_window=quirks.time_range_query or not self.flavor.queries_window,
        )

    def _multistatus(self, response: httpx.Response, url: str) -> xml.Multistatus:
        raise_for_status(response, self.name)
        if response.status_code != 207:
            raise ProtocolError(f"{urlsplit(url).path}: expected 207 Multi-Status, got {response.status_code}")
        with _translate(self.name, url):
            return xml.parse_multistatus(response.content)


def _origin(url: str) -> tuple[str, str]:
    """Scheme and host (with port) of ``url``: what a path alone cannot name."""
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()
