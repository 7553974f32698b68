"""The item logic the CalDAV and CardDAV connectors share: changes, listing, multiget and guarded writes.

Each public method is one remote operation: build the body (``xml``, pure) -> send (``transport``) -> parse
(``xml``, pure). Hrefs given to the engine are item names relative to their collection (``a1.ics``), so they
stay valid whatever the server's path layout; the collection id is a name under the home (or an absolute path):
``collections.DavCollections`` addresses collections and sends the requests.

Tokens are ``sync:<RFC 6578 token>``, or ``ctag:<getctag>`` on a server without sync-collection. An invalid or
expired sync token (403 or 409, or any 403/409/412 naming ``DAV:valid-sync-token``: Xandikos answers 412) falls
back to a complete listing, never to an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from urllib.parse import quote, unquote, urlsplit

import httpx

from calsync.connectors.base import ChangeSet, ConnectionReport, Fetched, FetchFailed, hrefs_for_key, other_identity
from calsync.connectors.dav import checks, xml
from calsync.connectors.dav.collections import Flavor
from calsync.connectors.dav.identities import DavIdentities
from calsync.connectors.dav.transport import raise_for_status
from calsync.errors import (
    AlreadyExists,
    ConnectorError,
    InvalidItem,
    NotFound,
    PreconditionFailed,
    ProtocolError,
    ReadOnly,
)
from calsync.model.content import Content
from calsync.model.refs import ItemRef

__all__ = ["DavStore", "Flavor"]

_GETETAG = f"{{{xml.DAV}}}getetag"
_TOKEN_STATUSES = (403, 409)
_PAGES = 50
"""Answers of one sync-collection a server that cuts its answers short (507) may give before a run goes on."""
_INVALID_CONTENT = frozenset(
    f"{{{ns}}}{name}"
    for ns in (xml.CALDAV, xml.CARDDAV)
    for name in (
        "valid-calendar-data",
        "valid-calendar-object-resource",
        "supported-calendar-data",
        "supported-calendar-component",
        "valid-address-data",
        "supported-address-data",
        "max-resource-size",
    )
)
"""Preconditions (RFC 4791 section 5.3.2.1, RFC 6352 section 6.3.2.1) that mean: this item's content is refused."""


class DavStore(DavIdentities):
    """Items of collections under one home URL, reached through one transport: changes, listing, multiget and
    guarded writes."""

    # -- reading ------------------------------------------------------------------------------------------------

    def changes(self, collection: str, token: str | None) -> ChangeSet:
        """RFC 6578 section 3.2 sync-collection from ``token``; ctag + etag listing where that is unavailable.

        ``None``, or a token the server no longer accepts, gives a complete listing. An answer the server cut
        short (507 for the collection, RFC 6578 section 3.6) is continued from the token it gave, up to
        ``_PAGES`` answers; a listing still cut short then is not complete, so no item is taken as deleted for
        missing from it, and the next run goes on from where this one stopped.
        """
        token, written = _read_token(token)
        if (token is not None and token.startswith("ctag:")) or not self.quirks.sync_collection:
            return self._ctag_changes(collection, token)
        since = token[5:] if token is not None and token.startswith("sync:") else None
        url = self.collection_url(collection)
        response = self._send("REPORT", url, xml.sync_collection(since), depth="1")
        if since is not None and _expired_token(response):
            return self.changes(collection, None)  # the token expired: list everything again
        if response.status_code in (*_TOKEN_STATUSES, 400, 405, 501) and since is None:
            return self._ctag_changes(collection, None)  # no sync-collection here
        changed: dict[str, ItemRef] = {}
        deleted: dict[str, None] = {}
        cursor, truncated = since, False
        for page in range(_PAGES):
            if page:
                response = self._send("REPORT", url, xml.sync_collection(cursor), depth="1")
            status = self._multistatus(response, url)
            truncated = self._sync_page(urlsplit(url).path, status, changed, deleted)
            progressed = status.sync_token is not None and status.sync_token != cursor
            cursor = status.sync_token or cursor
            if not truncated or not progressed:
                break
        changes, gone = list(changed.values()), list(deleted)
        if since is not None:
            self._recheck(collection, [h for h in written if h not in changed and h not in deleted], changes, gone)
        new_token = f"sync:{cursor}" if cursor else None
        return ChangeSet(changes, gone, new_token, complete=since is None and not truncated)

    def _sync_page(
        self, base: str, status: xml.Multistatus, changed: dict[str, ItemRef], deleted: dict[str, None]
    ) -> bool:
        """Add one sync-collection answer's members to ``changed`` and ``deleted`` (a later answer overrides an
        earlier one); whether the server cut it short (a 507 response, RFC 6578 section 3.6)."""
        truncated = False
        for item in status.responses:
            name = self._name(base, item.href)
            if item.status == 507:
                truncated = True
            elif not name or name == unquote(base):
                continue
            elif item.status in (404, 410):
                changed.pop(name, None)
                deleted[name] = None
            elif (etag := item.text(_GETETAG)) is not None:
                deleted.pop(name, None)
                changed[name] = ItemRef(name, etag)
        return truncated

    def _recheck(self, collection: str, hrefs: Sequence[str], changed: list[ItemRef], deleted: list[str]) -> None:
        """Add our last run's writes that the changes since the token do not name: each at its version now,
        deleted when the server answers 404 or 410 for it, or to be read when it answers nothing (see
        ``absorb_writes``). Etag-only multigets of the server's batch size (a first
        sync writes thousands); nothing when all were named."""
        if not hrefs:
            return
        found: dict[str, xml.DavResponse] = {}
        for start in range(0, len(hrefs), self.quirks.max_batch):
            found.update(self._multiget(collection, hrefs[start : start + self.quirks.max_batch], data=False))
        for href in hrefs:
            item = found.get(href)
            if item is not None and item.status in (404, 410):
                deleted.append(href)  # gone only when the server says so: an answer may leave an href out
            elif item is not None and (etag := item.text(_GETETAG)) is not None:
                changed.append(ItemRef(href, etag))
            else:
                changed.append(ItemRef(href, ""))  # not answered: read again, where a missing item is NotFound

    def _ctag_changes(self, collection: str, token: str | None) -> ChangeSet:
        """The calendarserver getctag of the collection; when it moved, a complete Depth 1 etag listing."""
        url = self.collection_url(collection)
        response = self._send("PROPFIND", url, xml.propfind(["cs:getctag"]), depth="0")
        found = self._multistatus(response, url).responses
        ctag = found[0].text(f"{{{xml.CS}}}getctag") if found else None
        new_token = f"ctag:{ctag}" if ctag else None
        if token is not None and new_token == token:
            return ChangeSet([], [], token)
        return ChangeSet(self._etags(url), [], new_token, complete=True)

    def list_all(self, collection: str) -> list[ItemRef]:
        """Every item's ref by a Depth 1 PROPFIND of getetag (RFC 4918 section 9.1)."""
        return self._etags(self.collection_url(collection))

    def _etags(self, url: str) -> list[ItemRef]:
        response = self._send("PROPFIND", url, xml.propfind(["d:getetag", "d:resourcetype"]), depth="1")
        return self._refs(url, response)

    def _refs(self, url: str, response: httpx.Response) -> list[ItemRef]:
        """The item refs of a multistatus listing (the collection itself and sub-collections are skipped)."""
        base = urlsplit(url).path
        refs = []
        for item in self._multistatus(response, url).responses:
            name = self._name(base, item.href)
            etag = item.text(_GETETAG)
            kind = item.props.get(f"{{{xml.DAV}}}resourcetype")
            if name and etag is not None and item.status == 200 and (kind is None or len(kind) == 0):
                refs.append(ItemRef(name, etag))
        return refs

    def get(self, collection: str, hrefs: Sequence[str]) -> Iterator[Fetched | FetchFailed]:
        """RFC 4791 section 7.9 / RFC 6352 section 8.7 multiget; each missing or unreadable item is a value."""
        if not hrefs:
            return
        found = self._multiget(collection, hrefs)
        for href in hrefs:
            item = found.get(href)
            if item is None:  # a short answer: taken for a deletion, it would delete the other side's copy
                message = f"{href}: the server left it out of its answer; read again next run"
                yield FetchFailed(href, ProtocolError(message, connector=self.name, href=href))
                continue
            if item.status in (404, 410):
                yield FetchFailed(href, NotFound(f"{href} does not exist", connector=self.name, href=href))
                continue
            data = item.text(self.flavor.data_prop)
            etag = item.text(_GETETAG)
            if not data or etag is None:
                message = f"{href}: the server returned no data or etag (status {item.status})"
                yield FetchFailed(href, InvalidItem(message, connector=self.name, href=href))
                continue
            text = data.replace("\r\n", "\n").replace("\n", "\r\n")  # XML parsing turned CRLF into LF
            yield Fetched(ItemRef(href, etag), Content.from_text(text, self.flavor.media_type))

    # -- writing ------------------------------------------------------------------------------------------------

    def create(self, collection: str, content: Content, key: str) -> ItemRef:
        """PUT with ``If-None-Match: *`` at the hrefs derived from ``key`` (RFC 4791 section 5.3.2), in order.

        A 412 means the name is taken: by a first copy (a retry after a crash), which is returned when its content
        is the same, else ``AlreadyExists``; or by an unrelated item, and the next candidate href is tried. A UID
        already used at another href (``no-uid-conflict``) is ``AlreadyExists`` naming that href.
        """
        self._writable()
        found = ""
        candidates = hrefs_for_key(key, self.flavor.extension)
        for href in candidates:
            url = self.item_url(collection, href)
            response = self._put(url, content, {"If-None-Match": "*"})
            self._check_content(response, href)
            self._check_uid_conflict(collection, response, key, content, href)
            if response.status_code == 412:
                held = self._held(collection, href)
                if held is None:
                    continue  # unreadable or just deleted: not ours
                found = held[1].ident
                if found == key:
                    return self._same(held, content, key)
                continue
            raise_for_status(response, self.name, href=href)
            return ItemRef(href, self._etag_after_put(url, response))
        raise other_identity(key, candidates[-1], found, self.name)

    def update(self, collection: str, ref: ItemRef, content: Content) -> ItemRef:
        """PUT with ``If-Match`` the version seen (RFC 9110 section 13.1.1); a lost race is ``PreconditionFailed``."""
        self._writable()
        url = self.item_url(collection, ref.href)
        response = self._put(url, content, {"If-Match": ref.version})
        self._check_content(response, ref.href)
        if response.status_code in (404, 410, 412):
            raise PreconditionFailed(
                f"{ref.href} changed or vanished since it was read", connector=self.name, href=ref.href
            )
        raise_for_status(response, self.name, href=ref.href)
        return ItemRef(ref.href, self._etag_after_put(url, response))

    def delete(self, collection: str, ref: ItemRef) -> None:
        """DELETE with ``If-Match`` (RFC 4918 section 9.6); already gone is no error, a newer version is."""
        self._writable()
        response = self._send("DELETE", self.item_url(collection, ref.href), None, headers={"If-Match": ref.version})
        if response.status_code in (404, 410):
            return
        if response.status_code == 412:
            raise PreconditionFailed(f"{ref.href} changed since it was read", connector=self.name, href=ref.href)
        raise_for_status(response, self.name, href=ref.href)

    def absorb_writes(self, collection: str, token: str | None, written: Iterable[ItemRef]) -> str | None:
        """The sync token with the names of the items we wrote, read again by the next ``changes()`` when the
        changes since the token do not name them.

        Why: a server whose token names the collection's content (Xandikos) reports nothing for an item we
        created that a user deleted before the next run: the content is again what the token names. A server
        whose token counts changes (Radicale) names our writes anyway, so nothing more is read there. A ctag
        token needs nothing: our writes move the ctag, so the next run lists everything.
        """
        token, before = _read_token(token)
        names = {*before, *(ref.href for ref in written)}
        if token is None or not token.startswith("sync:") or not names:
            return token
        return token + "\n" + " ".join(quote(name, safe="/@+") for name in sorted(names))

    # -- the connection and new collections -------------------------------------------------------------------

    def check_connection(self, principals: Sequence[str] = ()) -> ConnectionReport:
        """The server and each principal's home, one plain line each (see ``dav.checks``); never raises."""
        return checks.check_connection(self, principals)

    def make(self, collection: str, method: str, body: bytes) -> None:
        """MKCALENDAR or extended MKCOL at ``collection``; one that exists already (405) is left as it is."""
        self._writable()
        response = self._send(method, self.collection_url(collection), body)
        if response.status_code != 405:
            raise_for_status(response, self.name)

    def _put(self, url: str, content: Content, guard: dict[str, str]) -> httpx.Response:
        headers = {"Content-Type": f"{self.flavor.media_type}; charset=utf-8", **guard}
        return self._send("PUT", url, content.text.encode("utf-8"), headers=headers)

    def _etag_after_put(self, url: str, response: httpx.Response) -> str:
        etag: str | None = response.headers.get("ETag")
        if etag and self.quirks.put_returns_etag and not etag.startswith("W/"):
            return etag
        found = self._multistatus(self._send("PROPFIND", url, xml.propfind(["d:getetag"]), depth="0"), url)
        etag = found.responses[0].text(_GETETAG) if found.responses else None
        if not etag:
            raise ProtocolError(f"{urlsplit(url).path}: the server gave no etag for a stored item", connector=self.name)
        return etag

    def _check_content(self, response: httpx.Response, href: str) -> None:
        """Raise ``InvalidItem`` when the server refused the item's content (Xandikos says so with a 412)."""
        code = response.status_code
        if code < 400:
            return
        refused = bool(xml.error_conditions(response.content) & _INVALID_CONTENT)
        if refused or code in (400, 413, 415, 422):
            why = ", ".join(sorted(xml.error_conditions(response.content))) or response.reason_phrase
            message = f"{href}: the server refused the content ({code} {why})"
            raise InvalidItem(message, connector=self.name, href=href)

    def _held(self, collection: str, href: str) -> tuple[ItemRef, Content] | None:
        """The item holding ``href`` with its content, or ``None`` when it is gone or unreadable."""
        (result,) = self.get(collection, [href])
        if not isinstance(result, Fetched):
            return None
        try:
            result.content.scanned()
        except InvalidItem:
            return None
        return result.ref, result.content

    def _same(self, held: tuple[ItemRef, Content], content: Content, key: str) -> ItemRef:
        ref, existing = held
        if existing.digest != content.digest:
            raise AlreadyExists(f"{key} exists with other content", connector=self.name, href=ref.href)
        return ref

    def _check_uid_conflict(
        self, collection: str, response: httpx.Response, key: str, content: Content, href: str
    ) -> None:
        """Raise ``AlreadyExists`` naming the item that holds the UID of a create (at ``href``) refused for it.

        The server names that item in ``no-uid-conflict`` (RFC 4791 section 5.3.2.1), or only says the UID is
        taken (Radicale with 409, Xandikos with 412) or answers a bare 409: the item is then found by its UID
        (``locate``), since the engine reads it to match it. A 409 with neither the condition nor an item holding the
        UID (a missing collection, RFC 4918 section 9.7.1), and an item at ``href`` itself (a retried create),
        are left to the caller.
        """
        code = response.status_code
        named = self.flavor.uid_conflict in xml.error_conditions(response.content)
        if not (code == 409 or (code in (403, 412) and named)):
            return
        conflict = xml.error_href(response.content, self.flavor.uid_conflict)
        base = urlsplit(self.collection_url(collection)).path
        other = self._name(base, conflict) if conflict is not None else self._holder(collection, content)
        if (other is None and not named) or other == href:
            return
        held = f"used by {other}" if other else "used by another item the server does not name"
        raise AlreadyExists(f"{key}: its UID is {held}", connector=self.name, href=other or "")

    def _holder(self, collection: str, content: Content) -> str | None:
        """The name of the item whose UID is ``content``'s (``locate``); ``None`` when none is found or the search
        fails: the create's refusal is then the error."""
        try:
            uid = content.ident
            return self.locate(collection, [uid]).get(uid)
        except ConnectorError:
            return None

    def _writable(self) -> None:
        if self.capabilities.read_only:
            raise ReadOnly(f"{self.name} is read-only", connector=self.name)


def _read_token(token: str | None) -> tuple[str | None, list[str]]:
    """The server's token (``sync:…``, ``ctag:…``) and the item names ``absorb_writes`` added after a line break
    (percent-encoded, space-separated; an RFC 6578 token is a URI, so it holds no line break)."""
    if token is None or "\n" not in token:
        return token, []
    token, _, names = token.partition("\n")
    return token, [unquote(name) for name in names.split(" ") if name]


def _expired_token(response: httpx.Response) -> bool:
    """Whether a sync-collection answer refuses the token (RFC 6578 section 3.2): 403 or 409 as RFC 6578 says,
    or a 412 naming ``DAV:valid-sync-token`` as Xandikos sends for a token of a collection made again."""
    code = response.status_code
    if code in _TOKEN_STATUSES:
        return True
    return code == 412 and f"{{{xml.DAV}}}valid-sync-token" in xml.error_conditions(response.content)
