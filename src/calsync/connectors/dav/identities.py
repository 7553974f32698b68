"""Finding a DAV collection's items by identity (the UID), whatever their names and dates, and the multiget the
item reads share.

``locate`` answers the ``Locating`` port: the engine takes an identity left out of its answer as deleted, so every
answer it builds on must name every item it matched (an error status for one, or an answer cut short, raises),
and an item counts as holding an identity only when its own data says so, read as ``Content.ident`` reads it.
``store.DavStore`` builds the item operations on this.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote, urlsplit

import httpx

from calsync.connectors.dav import xml
from calsync.connectors.dav.collections import DavCollections
from calsync.errors import InvalidItem, NotFound, ProtocolError
from calsync.model.content import Content

_RESOURCETYPE = f"{{{xml.DAV}}}resourcetype"


class DavIdentities(DavCollections):
    """A server's collections with their items found by identity (``locate``) and read in bulk (``_multiget``)."""

    def _multiget(self, collection: str, hrefs: Sequence[str], *, data: bool = True) -> dict[str, xml.DavResponse]:
        """One multiget of ``hrefs`` (with their data, or etags alone): the server's answer for each name it
        answered; a name it left out is missing from the result."""
        url = self.collection_url(collection)
        base = urlsplit(url).path
        paths = [base + quote(h, safe="@+") if "/" not in h else quote(h, safe="/@+") for h in hrefs]
        response = self._send("REPORT", url, xml.multiget(self.flavor.report, paths, data=data), depth="1")
        return {self._name(base, r.href): r for r in self._multistatus(response, url).responses}

    # -- finding items by identity ------------------------------------------------------------------------------

    def locate(self, collection: str, keys: Sequence[str]) -> dict[str, str]:
        """The name of an item of each identity in ``keys`` that the collection holds, whatever its name and dates
        (``Locating``); keys compare as ``Content.ident`` does (the UID, stripped).

        Up to ``quirks.uid_queries`` keys are asked for one by one (``_query_uid``); more, a key a query could
        miss, or any on a server not identified yet (no request sent: its quirks are not known) are looked for by
        reading every item (``_read_idents``). Raises ``ConnectorError`` when an answer cannot be had or may leave
        an item out: the engine takes a key left out of the result as deleted.
        """
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        if not self._server_named or len(wanted) > self.quirks.uid_queries or not all(map(_queryable, wanted)):
            return self._read_idents(collection, set(wanted))
        found = {key: self._query_uid(collection, key) for key in wanted}
        return {key: href for key, href in found.items() if href is not None}

    def _query_uid(self, collection: str, uid: str) -> str | None:
        """The name of an item whose identity is ``uid`` by a query on the UID per component, the items' data
        telling those of that identity from those whose UID only contains it (``xml.uid_query``)."""
        url = self.collection_url(collection)
        for component in self.flavor.components or ("",):
            response = self._send("REPORT", url, xml.uid_query(self.flavor.report, uid, component), depth="1")
            for name, answer in self._members(url, response).items():
                if self._ident(name, answer) == uid:
                    return name
        return None

    def _read_idents(self, collection: str, wanted: set[str]) -> dict[str, str]:
        """The name of an item of each identity in ``wanted``, by reading every item: a Depth 1 listing, then
        multigets of the server's batch size until all are found.

        Why not one query listing every item's UID (partial data, RFC 4791 section 9.6): Radicale ignores the
        partial request, sends every item whole and refuses an answer of more than 10,000 events; Xandikos parses
        every item to answer it (3,000 events: 10 s, where this took 5 s) and takes longer again to cut each down.
        """
        url = self.collection_url(collection)
        response = self._send("PROPFIND", url, xml.propfind(["d:resourcetype"]), depth="1")
        names = list(self._members(url, response))
        found: dict[str, str] = {}
        for start in range(0, len(names), self.quirks.max_batch):
            batch = names[start : start + self.quirks.max_batch]
            answers = self._multiget(collection, batch)
            for name in batch:
                answer = answers.get(name)
                if answer is None:
                    raise ProtocolError(f"{name}: the server left a listed item out of its answer", connector=self.name)
                if answer.status not in (404, 410) and (ident := self._ident(name, answer)) in wanted:
                    found.setdefault(ident, name)  # 404 or 410: deleted since the listing
            if len(found) == len(wanted):
                break
        return found

    def _members(self, url: str, response: httpx.Response) -> dict[str, xml.DavResponse]:
        """The items an answer names (the collection and sub-collections skipped), for an answer that must name
        every item it matches: one answered with an error status raises ``ProtocolError`` (a 507 for the
        collection says the server cut its answer short, as in RFC 6578 section 3.6), the collection answered
        404 or 410 (Xandikos's answer to a Depth 1 PROPFIND of a missing one) ``NotFound``."""
        base = urlsplit(url).path
        members: dict[str, xml.DavResponse] = {}
        for item in self._multistatus(response, url).responses:
            name = self._name(base, item.href)
            if not name and item.status in (404, 410):
                raise NotFound(f"{base}: {item.status}, not found", connector=self.name)
            if item.status != 200:
                message = f"{base}: the server answered {item.href} with {item.status}"
                raise ProtocolError(message, connector=self.name)
            kind = item.props.get(_RESOURCETYPE)
            if name and (kind is None or len(kind) == 0):
                members.setdefault(name, item)
        return members

    def _ident(self, name: str, answer: xml.DavResponse) -> str | None:
        """The identity of the item in ``answer``, ``None`` for one that has none that can be read (as ``get``
        and the engine read it); raises ``ProtocolError`` when the answer holds no data."""
        data = answer.text(self.flavor.data_prop)
        if answer.status != 200 or not data:
            raise ProtocolError(f"{name}: the server sent no data (status {answer.status})", connector=self.name)
        try:
            return Content.from_text(data.replace("\r\n", "\n").replace("\n", "\r\n"), self.flavor.media_type).ident
        except InvalidItem:
            return None


def _queryable(key: str) -> bool:
    """Whether a query on the UID finds ``key`` wherever ``Content.ident`` reads it: not when it holds a backslash
    (the server compares the UID unescaped, ``Content.ident`` as written) or a character XML cannot carry."""
    return "\\" not in key and key.isprintable()
